"""Regrading: a corrected key (a new question version) or a section's policy, dry run first, then applied.

Rules:
- A change either pins another version of an exam question (same type and the same option, item
  and prompt ids, so saved answers still mean the same) or sets a section's scoring policy.
- The dry run rescores every scored attempt on the changed paper (only the affected questions;
  the rest keep their stored item scores, manual grades stay) and lists every attempt whose score
  changes and every rank that moves (overall or in the league). Nothing is written but the plan.
- Applying re-runs the same computation and refuses if it no longer matches the dry run (the
  paper, a score or a grade changed since): what is applied is exactly what was shown. It writes
  the new pins, every changed score, a new exam revision (so cached papers are dropped), a fresh
  ranking and one audit entry, in one transaction; published results get a new version. Large
  exams apply in a background job (``regrade.apply``).
"""
from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.domain import ranking, scoring
from app.domain.questions import canonical, validate_question
from app.models import (
    Attempt,
    Exam,
    ExamQuestion,
    ExamSection,
    QuestionReview,
    QuestionVersion,
    Regrade,
    Response,
)
from app.services import audit, bank_store, grading, papers, publication, rankings
from app.services.jobs import Progress, handler
from app.services.rankings import ResultsError

INLINE_LIMIT = 2000  # attempts; the web applies larger regrades in a background job
_ID_FIELDS = ("options", "items", "prompts")


def _refuse(zh: str, en: str) -> ResultsError:
    return ResultsError("regrade", zh, en, 422)


# --- correcting a key -----------------------------------------------------------------------------


def correct_key(session: Session, exam: Exam, exam_question_id: int, answer: Any, *, user_id: int | None,
                now: datetime, actor: audit.Actor) -> QuestionVersion:
    """Write a corrected key as a new version of the pinned question (the bank keeps every version).

    ``answer`` has the question's answer shape (an option id, a list of ids, true/false, an order,
    a prompt → option map); for a fill-in-blank question it is one list of accepted answers per
    blank. If the pinned version was the approved one, the correction becomes the approved version.
    """
    pinned = session.get(ExamQuestion, exam_question_id)
    if pinned is None or pinned.exam_id != exam.id:
        raise ResultsError("not_found", "本考试没有这道题", "no such question in this exam", 404)
    content = copy.deepcopy(pinned.version.content)
    if content["type"] == "fill_blank":
        if not isinstance(answer, list) or len(answer) != len(content.get("blanks", [])):
            raise _refuse("填空题的答案应按空给出", "give the accepted answers of each blank")
        for blank, accepted in zip(content["blanks"], answer):
            blank["answers"] = [str(a) for a in (accepted if isinstance(accepted, list) else [accepted])]
    elif content["type"] in ("single", "multiple", "true_false", "ordering", "matching"):
        content["answer"] = answer
    else:
        raise _refuse("该题型不能直接更正答案", "this question type has no key to correct here")
    issues = validate_question(content, where="regrade")
    if issues:
        raise _refuse("更正后的答案无效：" + "；".join(i.zh for i in issues),
                      "the corrected key is invalid: " + "; ".join(i.en for i in issues))
    content = canonical(content)
    if content == pinned.version.content:
        raise _refuse("答案没有变化", "the key is unchanged")
    question = pinned.question
    version = bank_store.add_version(session, question, content, bank_store.image_map_of(pinned.version),
                                     actor_id=user_id, now=now, note=f"更正答案（考试 {exam.id}）")
    if question.approved_version_id == pinned.version_id:
        question.approved_version = version
    session.add(QuestionReview(question_id=question.id, version_id=version.id, actor_id=user_id, action="edit",
                               comment=f"regrade of exam {exam.id}", at=now))
    audit.record(session, actor=actor, action="question.correct_key", object_type="question", object_id=question.id,
                 now=now, before={"version": pinned.version.number}, after={"version": version.number})
    return version


# --- changes and the changed paper ----------------------------------------------------------------


def _ids(content: dict[str, Any]) -> dict[str, list[str]]:
    ids = {f: sorted(o["id"] for o in content.get(f) or ()) for f in _ID_FIELDS}
    ids["parts"] = [p.get("key") for p in content.get("parts") or ()]
    ids["blanks"] = [len(content.get("blanks") or ())]
    return ids


def check_changes(session: Session, exam: Exam, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate and normalise a list of changes; every problem raises a ResultsError."""
    if not changes:
        raise _refuse("没有要重新评分的改动", "no change to regrade")
    paper = papers.load(session, exam)
    sections = {s.id: s for s in paper.sections}
    clean = []
    for change in changes:
        kind = change.get("kind")
        try:
            numbers = {k: int(change[k]) for k in ("exam_question_id", "version_id", "section_id") if k in change}
        except (TypeError, ValueError):
            raise _refuse("请选择题目、版本或部分", "choose the question, the version or the section") from None
        if kind == "version":
            if "exam_question_id" not in numbers or "version_id" not in numbers:
                raise _refuse("请选择题目和版本", "choose the question and the version")
            qid, version_id = numbers["exam_question_id"], numbers["version_id"]
            pinned = paper.questions.get(qid)
            version = session.get(QuestionVersion, version_id)
            if pinned is None:
                raise ResultsError("not_found", "本考试没有这道题", "no such question in this exam", 404)
            if version is None or version.question_id != pinned.question_id:
                raise _refuse("该版本不属于这道题", "that version belongs to another question")
            if version.id == pinned.version_id:
                raise _refuse("该版本已在使用中", "that version is already pinned")
            if version.content.get("type") != pinned.content.get("type") or _ids(version.content) != _ids(pinned.content):
                raise _refuse("新版本的题型或选项与原题不同，已作答的答案将无法对应",
                              "the new version changes the type or the options; saved answers would not match")
            clean.append({"kind": "version", "exam_question_id": qid, "version_id": version_id})
        elif kind == "policy":
            section = sections.get(numbers.get("section_id", -1))
            if section is None:
                raise ResultsError("not_found", "本考试没有这个部分", "no such section in this exam", 404)
            policy = change.get("policy") or None
            params = dict(change.get("policy_params") or {})
            if policy is not None and policy not in scoring.POLICIES:
                raise _refuse(f"未知评分规则：{policy}", f"unknown scoring policy: {policy}")
            probe = replace(paper, sections=(replace(section, policy=policy, policy_params=params),))
            try:
                from app.services import attempt_scoring

                attempt_scoring.compute(probe, {})
            except ValueError as exc:
                raise _refuse(f"评分规则不适用：{exc}", f"the policy does not fit: {exc}") from None
            clean.append({"kind": "policy", "section_id": section.id, "policy": policy, "policy_params": params})
        else:
            raise _refuse("未知的改动类型", f"unknown change kind: {kind!r}")
    return clean


def changed_paper(session: Session, exam: Exam, changes: list[dict[str, Any]]) -> tuple[papers.Paper, set[int]]:
    """The paper as it would be after the changes, and the questions whose scores may change."""
    paper = papers.load(session, exam)
    questions = dict(paper.questions)
    sections = list(paper.sections)
    affected: set[int] = set()
    for change in changes:
        if change["kind"] == "version":
            version = session.get(QuestionVersion, change["version_id"])
            qid = change["exam_question_id"]
            questions[qid] = replace(questions[qid], version_id=version.id, content=version.content,
                                     images=dict(version.images or {}))
            affected.add(qid)
        else:
            index = next(i for i, s in enumerate(sections) if s.id == change["section_id"])
            sections[index] = replace(sections[index], policy=change["policy"],
                                      policy_params=dict(change["policy_params"]))
            affected.update(sections[index].question_ids)
    return replace(paper, sections=tuple(sections), questions=questions), affected


@dataclass
class Evaluation:
    """The outcome of rescoring: what changes, what moves, and the new values to write."""

    score_changes: list[list[Any]]  # [attempt id, old total, new total]: total, a subtotal or wrong count changed
    rank_moves: list[list[Any]]  # [attempt id, old rank, new rank, old league rank, new league rank]
    checked: int
    updates: list[dict[str, Any]]


def evaluate(session: Session, exam: Exam, paper: papers.Paper, affected: set[int]) -> Evaluation:
    """Rescore every scored attempt's affected questions on ``paper`` and rank before and after."""
    rankings.allow_long_statements(session)
    attempts = session.execute(select(Attempt.id, Attempt.score_detail, Attempt.score_total, Attempt.wrong_count,
                                      Attempt.needs_manual)
                               .where(Attempt.exam_id == exam.id, Attempt.scored_at.is_not(None))
                               .order_by(Attempt.id)).all()
    responses: dict[int, dict[int, Any]] = defaultdict(dict)
    for attempt_id, qid, value in session.execute(
            select(Response.attempt_id, Response.exam_question_id, Response.value)
            .join(Attempt, Attempt.id == Response.attempt_id)
            .where(Attempt.exam_id == exam.id, Response.exam_question_id.in_(sorted(affected)))):
        responses[attempt_id][qid] = value
    outcomes = grading.outcomes(session, exam)
    changes, updates, new_values = [], [], {}
    for attempt_id, detail, total, wrong, needs_manual in attempts:
        detail = detail or {}
        new_detail, new_total, new_wrong, new_manual = grading.rescored_detail(
            paper, detail, affected, responses.get(attempt_id, {}), grading.finals_of(outcomes.get(attempt_id, {})))
        scores_differ = (new_total != total or new_detail.get("sections") != detail.get("sections")
                         or new_wrong != wrong or new_manual != needs_manual)
        if scores_differ:
            changes.append([attempt_id, total, new_total])
            new_values[attempt_id] = (new_total, new_detail.get("sections") or {}, new_wrong)
        if scores_differ or new_detail.get("items") != detail.get("items"):  # e.g. only the policy's name
            updates.append({"id": attempt_id, "score_detail": new_detail, "score_total": new_total,
                            "wrong_count": new_wrong, "needs_manual": new_manual})
    inputs = rankings.load_inputs(session, exam)
    before = rankings.rank_inputs(exam, inputs)
    after_entries = [replace(e, total=new_values[e.attempt_id][0], sections=new_values[e.attempt_id][1],
                             wrong_count=new_values[e.attempt_id][2]) if e.attempt_id in new_values else e
                     for e in inputs.entries]
    after = {row.attempt_id: row for row in ranking.rank(after_entries, list(exam.tie_breaks or ()))}
    moves = []
    for row in before:
        new = after[row.attempt_id]
        if row.rank is not None and (row.rank, row.league_rank) != (new.rank, new.league_rank):
            moves.append([row.attempt_id, row.rank, new.rank, row.league_rank, new.league_rank])
    moves.sort(key=lambda m: (m[2] if m[2] is not None else 10**9, m[0]))
    return Evaluation(changes, moves, len(attempts), updates)


# --- dry run and apply ----------------------------------------------------------------------------


def dry_run(session: Session, exam: Exam, changes: list[dict[str, Any]], *, reason: str, user_id: int | None,
            now: datetime, actor: audit.Actor) -> Regrade:
    """Store a regrade plan listing every score that would change and every rank that would move."""
    reason = (reason or "").strip()
    if not reason:
        raise _refuse("请写明重新评分的原因", "give the reason for the regrade")
    clean = check_changes(session, exam, changes)
    paper, affected = changed_paper(session, exam, clean)
    result = evaluate(session, exam, paper, affected)
    plan = Regrade(exam_id=exam.id, state="planned", base_revision=exam.revision, changes=clean, reason=reason,
                   score_changes=result.score_changes, rank_moves=result.rank_moves,
                   attempts_checked=result.checked, created_at=now, created_by_id=user_id)
    session.add(plan)
    session.flush()
    audit.record(session, actor=actor, action="regrade.dry_run", object_type="exam", object_id=exam.id, now=now,
                 after={"regrade": plan.id, "changes": clean, "scores_changed": len(result.score_changes),
                        "ranks_moved": len(result.rank_moves)}, reason=reason)
    return plan


def apply(session: Session, plan: Regrade, *, user_id: int | None, now: datetime, actor: audit.Actor) -> Regrade:
    """Apply a planned regrade exactly as its dry run showed it, in the caller's one transaction."""
    exam = session.get(Exam, plan.exam_id)
    if plan.state != "planned":
        raise _refuse("该重新评分方案不是待执行状态", "this regrade is not waiting to be applied")
    if exam.revision != plan.base_revision:
        raise ResultsError("stale", "试卷在预览后已被修改，请重新预览", "the paper changed since the dry run; run it again")
    paper, affected = changed_paper(session, exam, plan.changes)
    result = evaluate(session, exam, paper, affected)
    if result.score_changes != plan.score_changes or result.rank_moves != plan.rank_moves:
        raise ResultsError("stale", "成绩在预览后有变化，请重新预览", "scores changed since the dry run; run it again")
    for change in plan.changes:
        if change["kind"] == "version":
            pinned = session.get(ExamQuestion, change["exam_question_id"])
            pinned.version = session.get(QuestionVersion, change["version_id"])
        else:
            section = session.get(ExamSection, change["section_id"])
            section.policy, section.policy_params = change["policy"], dict(change["policy_params"])
    exam.revision += 1
    for start in range(0, len(result.updates), 2000):
        session.execute(update(Attempt), result.updates[start:start + 2000])
    session.flush()
    papers.forget(exam.id)
    rankings.mark_changed(session, exam.id, now)
    plan.state, plan.applied_at, plan.applied_by_id = "applied", now, user_id
    audit.record(session, actor=actor, action="exam.regrade", object_type="exam", object_id=exam.id, now=now,
                 before={"revision": plan.base_revision},
                 after={"regrade": plan.id, "revision": exam.revision, "changes": plan.changes,
                        "scores_changed": len(plan.score_changes), "ranks_moved": len(plan.rank_moves)},
                 reason=plan.reason)
    rankings.compute(session, exam, now=now, actor=actor)
    publication.after_change(session, exam, user_id=user_id, now=now, actor=actor, reason=f"重新评分 #{plan.id}")
    return plan


def needs_job(plan: Regrade) -> bool:
    """Whether the web should apply this regrade in a background job."""
    return plan.attempts_checked > INLINE_LIMIT


def is_large(session: Session, exam: Exam) -> bool:
    """Whether a dry run of this exam belongs in a background job (more scored attempts than INLINE_LIMIT)."""
    from sqlalchemy import func

    scored = session.scalar(select(func.count()).select_from(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.scored_at.is_not(None)))
    return scored > INLINE_LIMIT


@handler("regrade.dry_run")
def _dry_run_job(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """Make a regrade plan in the worker (a large exam's dry run takes longer than a request may)."""
    exam = session.get(Exam, int(payload["exam_id"]))
    actor = audit.Actor(payload.get("user_id"), str(payload.get("actor") or "job"), None)
    plan = dry_run(session, exam, list(payload["changes"]), reason=str(payload["reason"]),
                   user_id=payload.get("user_id"), now=now, actor=actor)
    return {"regrade": plan.id, "scores_changed": len(plan.score_changes), "ranks_moved": len(plan.rank_moves)}


@handler("regrade.apply")
def _apply_job(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """Apply a regrade plan in the worker (one transaction; the runner commits it)."""
    plan = session.get(Regrade, int(payload["regrade_id"]))
    actor = audit.Actor(payload.get("user_id"), str(payload.get("actor") or "job"), None)
    apply(session, plan, user_id=payload.get("user_id"), now=now, actor=actor)
    return {"regrade": plan.id, "scores_changed": len(plan.score_changes), "ranks_moved": len(plan.rank_moves)}
