"""Authoring exams: rounds, exam specs (the form's fields, or a YAML file), blueprints, publishing.

A spec is validated whole before anything is written; every problem comes back located and in
Chinese and English. Publishing a selection exam draws its blueprint once and pins every
question's approved version, so all students answer the same questions and later edits of the bank
never reach the exam.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import scoring, shuffle
from app.domain.questions import Issue
from app.models import Exam, ExamQuestion, ExamSection, League, Question, SelectionRound, Subject
from app.services import audit

TIE_BREAK_SIMPLE = ("fewer_wrong", "less_time")


class ExamSpecError(Exception):
    """A refused exam spec or action; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(f"{i.location}: {i.en}" for i in issues))


def _issue(where: str, zh: str, en: str) -> Issue:
    return Issue(where, "exam.spec", zh, en)


def _time(value: Any, where: str, issues: list[Issue]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            issues.append(_issue(where, f"时间格式无效：{value}（例如 2026-06-14T14:00:00+08:00）",
                                 f"invalid time {value} (e.g. 2026-06-14T14:00:00+08:00)"))
            return None
    if parsed.tzinfo is None:
        issues.append(_issue(where, "时间需注明时区（例如 +08:00）", "a time needs its zone (e.g. +08:00)"))
        return None
    return parsed.astimezone(UTC)


@dataclass
class SectionSpec:
    """A validated section."""

    name: str
    policy: str | None
    policy_params: dict[str, Any]
    points_per_question: float | None
    fixed_keys: list[str]
    blueprint: list[dict[str, Any]]


def validate_spec(session: Session, spec: dict[str, Any]) -> tuple[dict[str, Any], list[SectionSpec], list[Issue]]:
    """Check an exam spec completely; return cleaned fields, sections and every issue."""
    issues: list[Issue] = []
    if not isinstance(spec, dict):
        return {}, [], [_issue("spec", "考试定义应为字段集合", "the exam spec must be a mapping")]
    known = {"round", "subject", "title", "instructions", "kind", "opens_at", "closes_at", "latest_start",
             "duration_minutes", "grace_seconds", "access_code", "eligibility", "tie_breaks", "sections",
             "shuffle_questions", "shuffle_options", "publish"}
    for name in spec:
        if name not in known:
            issues.append(_issue(str(name), f"未知字段“{name}”", f'unknown field "{name}"'))
    subject = spec.get("subject")
    if session.get(Subject, subject or "") is None:
        issues.append(_issue("subject", f"未知学科：{subject}", f"unknown subject: {subject}"))
    title = str(spec.get("title") or "").strip()
    if not title or len(title) > 200:
        issues.append(_issue("title", "标题不能为空且不超过 200 字", "the title must be 1–200 characters"))
    kind = spec.get("kind", "selection")
    if kind not in ("selection", "practice"):
        issues.append(_issue("kind", "考试类型应为 selection 或 practice", "kind must be selection or practice"))
    opens = _time(spec.get("opens_at"), "opens_at", issues)
    closes = _time(spec.get("closes_at"), "closes_at", issues)
    latest = _time(spec.get("latest_start"), "latest_start", issues)
    if spec.get("opens_at") is None:
        issues.append(_issue("opens_at", "缺少开考时间", "opens_at is missing"))
    if spec.get("closes_at") is None:
        issues.append(_issue("closes_at", "缺少结束时间", "closes_at is missing"))
    if opens and closes and closes <= opens:
        issues.append(_issue("closes_at", "结束时间必须晚于开考时间", "closes_at must be after opens_at"))
    if latest and opens and closes and not opens <= latest <= closes:
        issues.append(_issue("latest_start", "最晚入场时间应在开考与结束之间", "latest_start must lie between opens_at and closes_at"))
    duration = spec.get("duration_minutes")
    if duration is None and session.get(Subject, subject or "") is not None:
        duration = session.get(Subject, subject).default_minutes
    if not isinstance(duration, int) or isinstance(duration, bool) or not 1 <= duration <= 600:
        issues.append(_issue("duration_minutes", "时长应为 1–600 分钟的整数", "duration_minutes must be a whole number 1–600"))
    grace = spec.get("grace_seconds", 60)
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= 600:
        issues.append(_issue("grace_seconds", "宽限时间应为 0–600 秒", "grace_seconds must be 0–600"))
    access_code = spec.get("access_code")
    if access_code is not None and (not isinstance(access_code, str) or not 4 <= len(access_code) <= 32):
        issues.append(_issue("access_code", "考试口令应为 4–32 个字符", "the access code must be 4–32 characters"))
    eligibility = spec.get("eligibility") or {}
    if not isinstance(eligibility, dict):
        issues.append(_issue("eligibility", "报考范围应为字段集合", "eligibility must be a mapping"))
        eligibility = {}
    for code in eligibility.get("leagues", []) or []:
        if session.get(League, str(code)) is None:
            issues.append(_issue("eligibility.leagues", f"未知盟市代码：{code}", f"unknown league code: {code}"))
    sections: list[SectionSpec] = []
    raw_sections = spec.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        issues.append(_issue("sections", "至少需要一个部分", "at least one section is needed"))
        raw_sections = []
    names = set()
    for i, raw in enumerate(raw_sections, 1):
        where = f"sections[{i}]"
        if not isinstance(raw, dict):
            issues.append(_issue(where, "每个部分应为字段集合", "each section must be a mapping"))
            continue
        name = str(raw.get("name") or f"第{i}部分").strip()
        if name in names:
            issues.append(_issue(where + ".name", f"部分名称重复：{name}", f"duplicate section name: {name}"))
        names.add(name)
        policy = raw.get("policy")
        if policy is not None and policy not in scoring.POLICIES:
            issues.append(_issue(where + ".policy", f"未知评分规则：{policy}（可用：{'、'.join(scoring.POLICIES)}）",
                                 f"unknown scoring policy {policy}; known: {', '.join(scoring.POLICIES)}"))
        points = raw.get("points_per_question")
        if points is not None and (not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0):
            issues.append(_issue(where + ".points_per_question", "每题分值应为正数", "points_per_question must be positive"))
        fixed = [str(k) for k in raw.get("questions", []) or []]
        blueprint = raw.get("blueprint", []) or []
        if not fixed and not blueprint:
            issues.append(_issue(where, "部分需要指定题目（questions）或抽题规则（blueprint）",
                                 "a section needs questions or a blueprint"))
        cells = []
        for j, cell in enumerate(blueprint, 1):
            try:
                cells.append(_cell(cell))
            except (ValueError, TypeError, KeyError):
                issues.append(_issue(f"{where}.blueprint[{j}]", "抽题规则应写成 {type, difficulty: [低, 高], knowledge_point, count}",
                                     "a blueprint cell is {type, difficulty: [lo, hi], knowledge_point, count}"))
        sections.append(SectionSpec(name, policy, dict(raw.get("policy_params") or {}), points, fixed,
                                    [c for c in blueprint if isinstance(c, dict)]))
    tie_breaks = [str(t) for t in spec.get("tie_breaks", []) or []]
    for t in tie_breaks:
        if t not in TIE_BREAK_SIMPLE and not (t.startswith("section:") and t[8:] in names):
            issues.append(_issue("tie_breaks", f"未知的并列处理规则：{t}", f"unknown tie-break: {t}"))
    if subject and session.get(Subject, subject) is not None and sections:
        issues.extend(_check_questions(session, subject, sections))
    cleaned = {"subject": subject, "title": title, "kind": kind, "opens_at": opens, "closes_at": closes,
               "latest_start_at": latest, "duration_minutes": duration, "grace_seconds": grace,
               "access_code": access_code, "eligibility": eligibility, "tie_breaks": tie_breaks,
               "instructions": str(spec.get("instructions") or ""),
               "shuffle_questions": bool(spec.get("shuffle_questions", True)),
               "shuffle_options": bool(spec.get("shuffle_options", True)), "round": spec.get("round")}
    return cleaned, sections, issues


def _cell(raw: dict[str, Any]) -> shuffle.BlueprintCell:
    lo, hi = raw.get("difficulty", [1, 5])
    return shuffle.BlueprintCell(str(raw["type"]), (float(lo), float(hi)), raw.get("knowledge_point") or None,
                                 int(raw["count"]))


def _pool(session: Session, subject: str) -> list[shuffle.PoolItem]:
    rows = session.scalars(select(Question).where(Question.subject_code == subject, Question.status == "approved",
                                                  Question.approved_version_id.is_not(None))).all()
    return [shuffle.PoolItem(q.key, q.type, float(q.difficulty), tuple(t.path for t in q.tags)) for q in rows]


def _check_questions(session: Session, subject: str, sections: list[SectionSpec]) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for i, section in enumerate(sections, 1):
        for key in section.fixed_keys:
            q = session.scalar(select(Question).where(Question.subject_code == subject, Question.key == key))
            if q is None:
                issues.append(_issue(f"sections[{i}].questions", f"题库中没有试题 {key}", f"no question {key} in the bank"))
            elif q.approved_version_id is None or q.status == "retired":
                issues.append(_issue(f"sections[{i}].questions", f"试题 {key} 尚未审核通过", f"question {key} is not approved"))
            if key in seen:
                issues.append(_issue(f"sections[{i}].questions", f"试题 {key} 重复使用", f"question {key} is used twice"))
            seen.add(key)
    pool = [item for item in _pool(session, subject) if item.key not in seen]
    for i, section in enumerate(sections, 1):
        if not section.blueprint:
            continue
        try:
            picked = shuffle.blueprint_draw(pool, [_cell(c) for c in section.blueprint], "availability-check")
        except shuffle.BlueprintError as exc:
            issues.append(_issue(f"sections[{i}].blueprint", "抽题规则无法满足：" + exc.message_zh,
                                 "the blueprint cannot be met: " + exc.message_en))
            continue
        except (ValueError, TypeError, KeyError):
            continue
        taken = set(picked)
        pool = [item for item in pool if item.key not in taken]
    return issues


def blueprint_availability(session: Session, subject: str, cells: list[dict[str, Any]]) -> list[int]:
    """How many approved questions fit each blueprint cell (shown next to the cell in the form)."""
    return shuffle.blueprint_availability(_pool(session, subject), [_cell(c) for c in cells])


def ensure_round(session: Session, name: str, *, now: datetime) -> SelectionRound:
    """The selection round with this name, created if needed."""
    existing = session.scalar(select(SelectionRound).where(SelectionRound.name == name))
    if existing is not None:
        return existing
    year = next((int(name[i:i + 4]) for i in range(len(name) - 3) if name[i:i + 4].isdigit()), now.year)
    selection_round = SelectionRound(name=name, year=year, created_at=now)
    session.add(selection_round)
    session.flush()
    return selection_round


def create_exam(session: Session, spec: dict[str, Any], *, actor: audit.Actor, creator_id: int | None,
                now: datetime) -> Exam:
    """Create an exam from a spec (validated whole first); publish it if the spec says so."""
    cleaned, sections, issues = validate_spec(session, spec)
    if issues:
        raise ExamSpecError(issues)
    selection_round = ensure_round(session, cleaned["round"], now=now) if cleaned["round"] else None
    exam = Exam(round=selection_round, subject_code=cleaned["subject"], title=cleaned["title"],
                instructions=cleaned["instructions"], kind=cleaned["kind"], state="draft",
                opens_at=cleaned["opens_at"], closes_at=cleaned["closes_at"],
                latest_start_at=cleaned["latest_start_at"], duration_minutes=cleaned["duration_minutes"],
                grace_seconds=cleaned["grace_seconds"], access_code=cleaned["access_code"],
                eligibility=cleaned["eligibility"], tie_breaks=cleaned["tie_breaks"],
                shuffle_questions=cleaned["shuffle_questions"], shuffle_options=cleaned["shuffle_options"],
                seed=secrets.token_hex(16), created_by_id=creator_id, created_at=now)
    exam.sections = [ExamSection(position=i, name=s.name, policy=s.policy, policy_params=s.policy_params,
                                 points_per_question=s.points_per_question, blueprint=s.blueprint,
                                 fixed_keys=s.fixed_keys) for i, s in enumerate(sections, 1)]
    session.add(exam)
    session.flush()
    audit.record(session, actor=actor, action="exam.create", object_type="exam", object_id=exam.id, now=now,
                 after={"title": exam.title, "subject": exam.subject_code, "kind": exam.kind,
                        "opens_at": exam.opens_at, "closes_at": exam.closes_at})
    if spec.get("publish"):
        publish(session, exam, actor=actor, now=now)
    return exam


def publish(session: Session, exam: Exam, *, actor: audit.Actor, now: datetime) -> Exam:
    """Draw blueprints once and pin the approved version of every question; the exam is then frozen."""
    if exam.state != "draft":
        raise ExamSpecError([_issue("state", "考试已发布，不能再次发布", "the exam is already published")])
    sections = [SectionSpec(s.name, s.policy, s.policy_params, s.points_per_question, list(s.fixed_keys),
                            list(s.blueprint)) for s in exam.sections]
    issues = _check_questions(session, exam.subject_code, sections)
    if issues:
        raise ExamSpecError(issues)
    by_key = {q.key: q for q in session.scalars(select(Question).where(Question.subject_code == exam.subject_code))}
    used = {k for s in exam.sections for k in s.fixed_keys}
    pool = [item for item in _pool(session, exam.subject_code) if item.key not in used]
    for section in exam.sections:
        keys = list(section.fixed_keys)
        if section.blueprint:
            drawn = shuffle.blueprint_draw(pool, [_cell(c) for c in section.blueprint], f"{exam.seed}:{section.position}")
            keys += drawn
            pool = [item for item in pool if item.key not in set(drawn)]
        for position, key in enumerate(keys, 1):
            question = by_key[key]
            version = question.approved_version
            points = version.content.get("points", question.points)
            if version.content["type"] == "group":
                points = sum(float(p["points"]) for p in version.content["parts"])
            elif section.points_per_question:
                points = section.points_per_question
            session.add(ExamQuestion(exam_id=exam.id, section_id=section.id, position=position,
                                     question_id=question.id, version_id=version.id, points=float(points)))
    if not any(s.fixed_keys or s.blueprint for s in exam.sections):
        raise ExamSpecError([_issue("sections", "考试没有题目", "the exam has no questions")])
    exam.state = "published"
    exam.published_at = now
    session.flush()
    audit.record(session, actor=actor, action="exam.publish", object_type="exam", object_id=exam.id, now=now,
                 after={"questions": sum(len(s.questions) for s in exam.sections)})
    return exam


def exam_is_open_for(exam: Exam, *, profile, now: datetime) -> bool:
    """Whether a student is eligible for a published exam (subject, then league/school/list narrowing)."""
    if exam.state != "published" or profile is None or profile.subject_code != exam.subject_code:
        return False
    rules = exam.eligibility or {}
    if rules.get("leagues") and profile.league_code not in {str(c) for c in rules["leagues"]}:
        return False
    if rules.get("schools") and profile.school_id not in {int(s) for s in rules["schools"]}:
        return False
    if rules.get("exam_numbers") and profile.exam_number not in {str(n) for n in rules["exam_numbers"]}:
        return False
    return True


def student_exams(session: Session, profile, *, now: datetime) -> list[Exam]:
    """Published exams a student is eligible for, soonest first."""
    if profile is None:
        return []
    exams = session.scalars(select(Exam).where(Exam.state == "published", Exam.subject_code == profile.subject_code)
                            .order_by(Exam.opens_at)).all()
    return [e for e in exams if exam_is_open_for(e, profile=profile, now=now)]


def duration(exam: Exam) -> timedelta:
    """The exam's working time."""
    return timedelta(minutes=exam.duration_minutes)
