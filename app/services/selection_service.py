"""Selection (入围) of one subject's students on a stored ranking: what-if previews and fixing.

The rule itself — the five steps of DESIGN §3 — is ``app.domain.selection.select``; a preview is
that call on the stored ranking with the rule being edited, and fixing stores its decision for
every attempt, with the step that admitted each student.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.selection import BOUNDARY_TIES, SelectionResult, SelectionRules
from app.domain.selection import select as select_students
from app.models import Exam, RankingRun, SelectionDecision, SelectionRule
from app.services import audit, rankings
from app.services.rankings import ResultsError


def default_boundary_ties(exam: Exam) -> str:
    """The round's boundary_ties (admit_all unless the round says otherwise)."""
    return exam.round.boundary_ties if exam.round is not None else "admit_all"


def _count(raw: Any, name_zh: str, name_en: str) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise ResultsError("rules", f"{name_zh}应为非负整数", f"{name_en} must be a whole number ≥ 0", 422) from None
    if value < 0:
        raise ResultsError("rules", f"{name_zh}应为非负整数", f"{name_en} must be a whole number ≥ 0", 422)
    return value


def parse_rules(data: Mapping[str, Any], *, default_ties: str = "admit_all",
                leagues: set[str] | None = None) -> SelectionRules:
    """Rules from form or CLI fields: cutoff, quota, reserve, boundary_ties, min_<league>, max_<league>.

    League limits may also come as ``league_min``/``league_max`` mappings. Blank limits mean none.
    Every problem is a ResultsError with a clear message; contradictions are refused by
    SelectionRules.check.
    """
    try:
        cutoff = float(str(data.get("cutoff", "0")).strip() or 0)
    except ValueError:
        raise ResultsError("rules", "分数线应为数字", "the cut-off must be a number", 422) from None
    quota = _count(data.get("quota", 0), "总名额", "the quota")
    reserve = _count(data.get("reserve_count", 0) or 0, "候补人数", "the reserve count")
    ties = str(data.get("boundary_ties") or default_ties)
    if ties not in BOUNDARY_TIES:
        raise ResultsError("rules", "边界并列规则无效", "unknown boundary_ties", 422)
    league_min: dict[str, int] = {}
    league_max: dict[str, int] = {}
    for target, prefix, mapping_name, zh in ((league_min, "min_", "league_min", "最少"),
                                              (league_max, "max_", "league_max", "最多")):
        raw_map = data.get(mapping_name)
        items = dict(raw_map).items() if isinstance(raw_map, Mapping) else \
            ((k[len(prefix):], v) for k, v in data.items() if isinstance(k, str) and k.startswith(prefix))
        for league, value in items:
            if value is None or str(value).strip() == "":
                continue
            if leagues is not None and str(league) not in leagues:
                raise ResultsError("rules", f"未知盟市代码：{league}", f"unknown league code: {league}", 422)
            target[str(league)] = _count(value, f"盟市 {league} 的{zh}入围人数", f"{mapping_name}[{league}]")
    rules = SelectionRules(cutoff=cutoff, quota=quota, league_min=league_min, league_max=league_max,
                           boundary_ties=ties, reserve_count=reserve)
    try:
        rules.check()
    except ValueError as exc:
        raise ResultsError("rules", f"选拔规则有矛盾：{exc}", f"contradictory rules: {exc}", 422) from None
    return rules


def rules_of(rule: SelectionRule) -> SelectionRules:
    """The domain rules of a stored rule."""
    return SelectionRules(cutoff=rule.cutoff, quota=rule.quota, league_min=dict(rule.league_min or {}),
                          league_max=dict(rule.league_max or {}), boundary_ties=rule.boundary_ties,
                          reserve_count=rule.reserve_count)


@dataclass(frozen=True)
class Preview:
    """A what-if: who the rules would admit on the stored ranking."""

    run: RankingRun
    rules: SelectionRules
    result: SelectionResult


def preview(session: Session, exam: Exam, rules: SelectionRules, *, run: RankingRun | None = None) -> Preview:
    """Apply ``rules`` to the stored ranking without storing anything (the what-if page)."""
    run = run or rankings.current_run(session, exam.id)
    if run is None:
        raise ResultsError("no_ranking", "尚未计算排名", "the ranking has not been computed yet")
    rows = rankings.as_ranked_rows(rankings.stored_rows(session, run.id))
    return Preview(run, rules, select_students(rows, rules))


def current_fixed(session: Session, exam_id: int) -> SelectionRule | None:
    """The selection fixed most recently for the exam, or None."""
    return session.scalar(select(SelectionRule).where(SelectionRule.exam_id == exam_id,
                                                      SelectionRule.state == "fixed")
                          .order_by(SelectionRule.id.desc()).limit(1))


def fix(session: Session, exam: Exam, rules: SelectionRules, *, user_id: int | None, now: datetime,
        actor: audit.Actor) -> SelectionRule:
    """Fix the selection on the up-to-date ranking and store every decision with its step; audited."""
    rankings.allow_long_statements(session)
    run = rankings.ensure_current(session, exam, now=now, actor=actor)
    if run.pending_manual:
        raise ResultsError("pending_manual", f"还有 {run.pending_manual} 份答卷的简答题未阅完，不能确定入围名单",
                           f"{run.pending_manual} attempt(s) still await manual grading")
    result = preview(session, exam, rules, run=run).result
    previous = current_fixed(session, exam.id)
    if previous is not None:
        previous.state = "superseded"
    rule = SelectionRule(exam_id=exam.id, state="fixed", cutoff=rules.cutoff, quota=rules.quota,
                         league_min=dict(rules.league_min), league_max=dict(rules.league_max),
                         boundary_ties=rules.boundary_ties, reserve_count=rules.reserve_count, run_id=run.id,
                         created_at=now, created_by_id=user_id, fixed_at=now, fixed_by_id=user_id,
                         admitted_count=len(result.admitted), reserve_total=len(result.reserve))
    session.add(rule)
    session.flush()
    rankings.bulk_insert(
        session, "selection_decisions",
        ("rule_id", "attempt_id", "status", "step", "reason_zh", "reason_en", "reserve_position"),
        ((rule.id, d.attempt_id, d.status, d.step, d.reason_zh[:255], d.reason_en[:255], d.reserve_position)
         for d in result.decisions.values()))
    audit.record(session, actor=actor, action="selection.fix", object_type="exam", object_id=exam.id, now=now,
                 before={"rule": previous.id} if previous else None,
                 after={"rule": rule.id, "run": run.id, "cutoff": rules.cutoff, "quota": rules.quota,
                        "league_min": dict(rules.league_min), "league_max": dict(rules.league_max),
                        "boundary_ties": rules.boundary_ties, "reserve_count": rules.reserve_count,
                        "admitted": len(result.admitted), "reserve": len(result.reserve)})
    return rule


def decisions(session: Session, rule_id: int | None) -> dict[int, Any]:
    """attempt id -> decision of a fixed rule (read-only rows with SelectionDecision's attributes)."""
    if rule_id is None:
        return {}
    return {d.attempt_id: d for d in session.execute(select(*SelectionDecision.__table__.columns)
                                                     .where(SelectionDecision.rule_id == rule_id))}
