"""Drafting exams from the web form: the list with attempt counts, editing a draft, the live
availability of blueprint cells and an example of sections for a subject.

Creating and publishing are ``exam_authoring.create_exam`` and ``exam_authoring.publish``; this
module adds what the authoring pages need around them, validating with the same ``validate_spec``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from app.domain import shuffle
from app.domain.questions import Issue
from app.models import Attempt, Exam, ExamSection
from app.services import audit, exam_authoring
from app.services.exam_authoring import ExamSpecError


@dataclass(frozen=True)
class ExamRow:
    """An exam in the list, with how many attempts it has and how many are finalized."""

    exam: Exam
    attempts: int
    finalized: int


def list_exams(session: Session, *, subjects: set[str] | None, round_id: int | None = None) -> list[ExamRow]:
    """Exams newest first; ``subjects`` None means every subject (admins), else only those."""
    finalized = func.count(case((Attempt.state == "finalized", Attempt.id)))
    query = (select(Exam, func.count(Attempt.id), finalized)
             .outerjoin(Attempt, Attempt.exam_id == Exam.id)
             .options(selectinload(Exam.round))
             .group_by(Exam.id).order_by(Exam.opens_at.desc(), Exam.id.desc()))
    if subjects is not None:
        query = query.where(Exam.subject_code.in_(sorted(subjects) or [""]))
    if round_id is not None:
        query = query.where(Exam.round_id == round_id)
    return [ExamRow(exam, total, done) for exam, total, done in session.execute(query)]


def _summary(exam: Exam) -> dict[str, Any]:
    return {"title": exam.title, "subject": exam.subject_code, "kind": exam.kind, "opens_at": exam.opens_at,
            "closes_at": exam.closes_at, "duration_minutes": exam.duration_minutes,
            "sections": [s.name for s in exam.sections]}


def update_draft(session: Session, exam: Exam, spec: dict[str, Any], *, actor: audit.Actor,
                 now: datetime) -> Exam:
    """Replace a draft's fields and sections with a spec validated whole first; a published exam is frozen."""
    # Lock the row: a publication running at the same time either finishes first (and this refuses)
    # or waits for this change.
    session.refresh(exam, with_for_update=True)
    if exam.state != "draft":
        raise ExamSpecError([Issue("state", "exam.spec", "考试已发布，不能再修改（试题已固定）",
                                   "the exam is published and can no longer be edited "
                                   "(its questions are pinned)")])
    cleaned, sections, issues = exam_authoring.validate_spec(session, spec)
    if issues:
        raise ExamSpecError(issues)
    before = _summary(exam)
    exam.round = exam_authoring.ensure_round(session, cleaned["round"], now=now) if cleaned["round"] else None
    for name in ("subject", "title", "kind", "instructions", "opens_at", "closes_at", "latest_start_at",
                 "duration_minutes", "grace_seconds", "access_code", "eligibility", "tie_breaks",
                 "shuffle_questions", "shuffle_options"):
        setattr(exam, "subject_code" if name == "subject" else name, cleaned[name])
    # Sections are updated in place by position (a delete-then-insert in one flush would collide on
    # the unique (exam_id, position)); surplus ones are removed.
    existing = list(exam.sections)
    for position, new in enumerate(sections, 1):
        row = existing[position - 1] if position <= len(existing) else None
        if row is None:
            row = ExamSection(position=position)
            exam.sections.append(row)
        row.name, row.policy, row.policy_params = new.name, new.policy, new.policy_params
        row.points_per_question = new.points_per_question
        row.blueprint, row.fixed_keys = new.blueprint, new.fixed_keys
    for row in existing[len(sections):]:
        exam.sections.remove(row)
    session.flush()
    audit.record(session, actor=actor, action="exam.update", object_type="exam", object_id=exam.id, now=now,
                 before=before, after=_summary(exam))
    return exam


@dataclass
class CellReport:
    """One blueprint cell: what it asks for and how many approved questions fit it on its own."""

    index: int  # 1-based
    requested: int | None
    available: int | None
    label_zh: str
    label_en: str

    @property
    def ok(self) -> bool:
        return self.requested is not None and self.available is not None and self.available >= self.requested


@dataclass
class SectionReport:
    """A section's fixed question keys and its blueprint cells with their availability."""

    name: str
    fixed_keys: list[str] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)


def availability(session: Session, subject: str,
                 raw_sections: Any) -> tuple[list[SectionReport], list[Issue]]:
    """Per section and cell, requested vs available approved questions; and every located problem of
    the sections (malformed cells, unknown or unapproved keys, a blueprint the pool cannot meet —
    the same checks, and messages, as saving and publishing).

    A cell's "available" counts the approved questions matching it on its own, leaving out those the
    exam fixes by key (publication never draws them); cells competing for the same questions are
    reported in the issues.
    """
    _, _, issues = exam_authoring.validate_spec(session, {"subject": subject, "sections": raw_sections})
    issues = [i for i in issues if i.location.startswith(("sections", "subject"))]
    sections = raw_sections if isinstance(raw_sections, list) else []
    fixed_everywhere = {str(k) for raw in sections
                        if isinstance(raw, dict) and isinstance(raw.get("questions"), list)
                        for k in raw["questions"]}
    known_subject = not any(i.location == "subject" for i in issues)
    pool = [item for item in exam_authoring._pool(session, subject)
            if item.key not in fixed_everywhere] if known_subject else []
    reports = []
    for index, raw in enumerate(sections, 1):
        if not isinstance(raw, dict):
            continue
        fixed = raw.get("questions")
        report = SectionReport(str(raw.get("name") or f"第{index}部分").strip(),
                               [str(k) for k in fixed] if isinstance(fixed, list) else [])
        blueprint = raw.get("blueprint") if isinstance(raw.get("blueprint"), list) else []
        for j, cell in enumerate(blueprint, 1):
            try:
                parsed = exam_authoring._cell(cell)
                if parsed.count < 0 or parsed.difficulty[0] > parsed.difficulty[1]:
                    raise ValueError
            except (ValueError, TypeError, KeyError, AttributeError):
                report.cells.append(CellReport(j, None, None, "格式错误", "malformed"))
                continue
            zh, en = parsed.describe()
            available = shuffle.blueprint_availability(pool, [parsed])[0] if known_subject else None
            report.cells.append(CellReport(j, parsed.count, available, zh, en))
        reports.append(report)
    return reports, issues


SECTION_PLAN = (  # type, section title, usual count, scoring policy
    ("single", "单项选择题", 10, None), ("multiple", "多项选择题", 5, "gaokao_partial"),
    ("true_false", "判断题", 5, None), ("fill_blank", "填空题", 5, None), ("ordering", "排序题", 2, None),
    ("matching", "匹配题", 2, None), ("short_answer", "简答题", 2, None), ("group", "材料题", 1, None),
)
NUMERALS = "一二三四五六七八九十"


def example_sections(session: Session, subject: str) -> list[dict[str, Any]]:
    """A sensible start for a subject's sections: one section per question type the approved pool
    has, each drawing the usual count (or all there are); a generic three-section shape when the
    pool is empty."""
    pool = exam_authoring._pool(session, subject)
    by_type: dict[str, int] = {}
    for item in pool:
        by_type[item.type] = by_type.get(item.type, 0) + 1
    plan = [(t, name, min(n, by_type[t]), policy) for t, name, n, policy in SECTION_PLAN if by_type.get(t)]
    if not plan:
        plan = [(t, name, n, policy) for t, name, n, policy in SECTION_PLAN[:2] + SECTION_PLAN[3:4]]
    sections = []
    for number, (qtype, name, count, policy) in enumerate(plan):
        section: dict[str, Any] = {"name": f"{NUMERALS[number]}、{name}"}
        if policy:
            section["policy"] = policy
        section["blueprint"] = [{"type": qtype, "difficulty": [1, 5], "count": count}]
        sections.append(section)
    return sections
