"""Scoring a finalized attempt, exactly once, from its frozen responses and the pinned paper."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.domain import scoring
from app.models import Attempt, Response
from app.services.papers import Paper


def _policy_for(section_policy: str | None, qtype: str) -> str | None:
    """A section's policy applies to the question types it can score; others use their default."""
    if section_policy and qtype in scoring.POLICIES[section_policy].scorers:
        return section_policy
    return None


def compute(paper: Paper, responses: dict[int, Any]) -> dict[str, Any]:
    """Per-question points, section subtotals, total, wrong answers and whether a teacher must grade."""
    items: dict[str, dict[str, Any]] = {}
    sections: dict[str, float] = {}
    wrong = 0
    needs_manual = False
    for section in paper.sections:
        scores = []
        for qid in section.question_ids:
            q = paper.questions[qid]
            policy = _policy_for(section.policy, q.content["type"])
            params = {k: v for k, v in section.policy_params.items()
                      if policy and k in scoring.POLICIES[policy].params.get(q.content["type"], ())}
            score = scoring.score_response(q.content, responses.get(qid), q.points if q.content["type"] != "group"
                                           else None, policy, **params)
            scores.append(score)
            items[str(qid)] = {"points": score.points, "max": score.max_points, "policy": score.policy,
                               "answered": score.answered, "wrong": score.wrong, "manual": score.needs_manual}
            wrong += int(score.wrong)
            needs_manual = needs_manual or score.needs_manual
        sections[section.name] = scoring.section_total(scores)
    total = round(sum(sections.values()), 2)
    return {"items": items, "sections": sections, "total": total, "wrong": wrong, "needs_manual": needs_manual}


def score_attempt(session: Session, attempt: Attempt, paper: Paper, *, now: datetime) -> bool:
    """Score a finalized, not yet scored attempt; returns False if it was already scored (never twice)."""
    responses = {r.exam_question_id: r.value for r in session.scalars(
        select(Response).where(Response.attempt_id == attempt.id))}
    result = compute(paper, responses)
    end = attempt.submitted_at or attempt.finalized_at or now
    time_used = max(0, int((min(end, attempt.deadline) - attempt.started_at).total_seconds()))
    detail = {"items": result["items"], "sections": result["sections"], "time_used_seconds": time_used}
    done = session.execute(
        update(Attempt).where(Attempt.id == attempt.id, Attempt.scored_at.is_(None), Attempt.state == "finalized")
        .values(scored_at=now, score_total=result["total"], score_detail=detail, wrong_count=result["wrong"],
                needs_manual=result["needs_manual"])).rowcount
    return bool(done)
