"""Item and test analysis of an exam: the response matrix, the statistics, and the bank write-back.

Which data: finalized, scored attempts of the exam (voided and absent ones are excluded); each
question of the paper is one item (a material group counts as one item, the sum of its parts).
An item a teacher still has to grade in any attempt is left out until it is graded.

How items enter each statistic (rules in app/domain/statistics.py, rasch.py and dif.py):
- classical statistics use points (partial credit as it was earned; facility = points / max);
- Rasch calibration and DIF use full credit as 1 and anything less as 0;
- DIF compares each league (focal) with all other leagues (reference), matched on the number of
  items answered with full credit.

The Rasch difficulty written back to ``Question.measured_difficulty`` is in logits, items of that
exam centred at 0 (positive = harder than the exam's average item); a later calibration of
another exam that uses the question replaces it.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import dif, rasch
from app.domain import statistics as st
from app.models import Attempt, Exam, ExamQuestion, League, Question, Response, School, StudentProfile
from app.services import audit, papers

CHOICE_TYPES = ("single", "multiple", "true_false")
MISFIT_MNSQ = 1.5


@dataclass(frozen=True)
class ItemInfo:
    """One question of the paper as the analysis sees it."""

    exam_question_id: int
    question_id: int
    number: int  # 1-based position in the paper
    key: str
    type: str
    section: str
    max_points: float
    stem: str
    options: list[tuple[str, str]]  # (option id, text) for choice questions, canonical order
    answer: list[str]  # keyed option ids (choice questions)


@dataclass(frozen=True)
class StudentRow:
    """One analysed attempt."""

    attempt_id: int
    exam_number: str
    league_code: str
    school: str
    total: float
    time_used_seconds: int | None


@dataclass
class ResponseMatrix:
    """Points, whether answered, and the choices made, for students × items."""

    items: list[ItemInfo]
    students: list[StudentRow]
    points: np.ndarray
    answered: np.ndarray
    choices: list[list[Any]]  # per item, per student: the canonical response of a choice question
    pending: list[ItemInfo] = field(default_factory=list)  # awaiting manual grading, not analysed


@dataclass
class ItemResult:
    """Everything computed about one item."""

    info: ItemInfo
    facility: float
    discrimination: float
    point_biserial: float
    alpha_if_deleted: float
    omission_rate: float
    mean_seconds: float | None  # not recorded per question yet
    options: list[st.OptionRow] | None
    curve: st.OptionCurve | None
    rasch_difficulty: float | None
    rasch_se: float | None
    infit: float | None
    outfit: float | None
    extreme: str
    dif: dict[str, dif.MHResult]
    dif_class: str | None
    flags: list[st.Flag]


@dataclass
class LeagueSummary:
    """Scores of one league's students."""

    code: str
    name_zh: str
    name_en: str
    totals: list[float]
    stats: st.Distribution


@dataclass
class ExamAnalysis:
    """The analysis of one exam."""

    exam_id: int
    title: str
    subject_code: str
    max_score: float
    n_students: int
    distribution: st.Distribution
    alpha: float
    kr20: float | None
    sem: float
    mean_time_seconds: float | None
    items: list[ItemResult]
    pending: list[ItemInfo]
    leagues: list[LeagueSummary]
    totals: list[float]
    person_reliability: float | None
    rasch_converged: bool

    @property
    def flagged(self) -> list[ItemResult]:
        """Items with at least one error or warning, most serious first."""
        order = {"error": 0, "warning": 1, "info": 2}
        rows = [i for i in self.items if any(f.severity != "info" for f in i.flags)]
        return sorted(rows, key=lambda i: min(order[f.severity] for f in i.flags))

    def item(self, exam_question_id: int) -> ItemResult | None:
        """The result of one item, if analysed."""
        return next((i for i in self.items if i.info.exam_question_id == exam_question_id), None)


# --- the matrix ------------------------------------------------------------------------------------


def _item_infos(session: Session, paper: papers.Paper) -> list[ItemInfo]:
    keys = dict(session.execute(select(Question.id, Question.key).where(
        Question.id.in_([q.question_id for q in paper.questions.values()]))).all())
    infos, number = [], 0
    for section in paper.sections:
        for qid in section.question_ids:
            q = paper.questions[qid]
            content = q.content
            number += 1
            qtype = content.get("type", "")
            if qtype in ("single", "multiple"):
                options = [(str(o["id"]), str(o.get("text", ""))) for o in content.get("options", [])]
                answer = content.get("answer")
                keyed = [str(a) for a in (answer if isinstance(answer, list) else [answer]) if a is not None]
            elif qtype == "true_false":
                options = [("true", ""), ("false", "")]
                keyed = ["true" if content.get("answer") else "false"]
            else:
                options, keyed = [], []
            infos.append(ItemInfo(qid, q.question_id, number, keys.get(q.question_id, content.get("key", "")), qtype,
                                  section.name, float(q.points), str(content.get("stem", ""))[:200], options, keyed))
    return infos


def build_matrix(session: Session, exam: Exam) -> ResponseMatrix:
    """The response matrix of an exam's finalized, scored attempts (students in exam-number order)."""
    paper = papers.load(session, exam)
    infos = _item_infos(session, paper)
    rows = session.execute(
        select(Attempt, StudentProfile.exam_number, StudentProfile.league_code, School.name)
        .join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
        .join(School, School.id == StudentProfile.school_id)
        .where(Attempt.exam_id == exam.id, Attempt.state == "finalized", Attempt.scored_at.is_not(None))
        .order_by(StudentProfile.exam_number)).all()
    details = [(a.score_detail or {}).get("items", {}) for a, *_ in rows]
    pending_ids = {i.exam_question_id for i in infos
                   if any(d.get(str(i.exam_question_id), {}).get("manual") for d in details)}
    items = [i for i in infos if i.exam_question_id not in pending_ids]
    n, k = len(rows), len(items)
    points, answered = np.zeros((n, k)), np.zeros((n, k), dtype=bool)
    for s, detail in enumerate(details):
        for j, info in enumerate(items):
            cell = detail.get(str(info.exam_question_id), {})
            points[s, j] = float(cell.get("points") or 0.0)
            answered[s, j] = bool(cell.get("answered"))
    choice_cols = {info.exam_question_id: j for j, info in enumerate(items) if info.type in CHOICE_TYPES}
    choices: list[list[Any]] = [[None] * n if info.type in CHOICE_TYPES else [] for info in items]
    if choice_cols and rows:
        position = {a.id: s for s, (a, *_) in enumerate(rows)}
        responses = session.execute(select(Response.attempt_id, Response.exam_question_id, Response.value).where(
            Response.attempt_id.in_(list(position)), Response.exam_question_id.in_(list(choice_cols))))
        for attempt_id, eq_id, value in responses:
            choices[choice_cols[eq_id]][position[attempt_id]] = value
    students = [StudentRow(a.id, number, league, school, float(a.score_total or 0.0),
                           (a.score_detail or {}).get("time_used_seconds"))
                for a, number, league, school in rows]
    return ResponseMatrix(items, students, points, answered, choices,
                          [i for i in infos if i.exam_question_id in pending_ids])


# --- the analysis ----------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def analyse(session: Session, exam: Exam) -> ExamAnalysis:
    """Classical statistics, Rasch calibration, DIF across leagues and flags for every item of ``exam``."""
    m = build_matrix(session, exam)
    x = m.points
    n, k = x.shape
    max_points = np.array([i.max_points for i in m.items]) if k else np.zeros(0)
    totals = x.sum(axis=1)
    p = st.facility(x, max_points) if n else np.full(k, np.nan)
    d = st.upper_lower_discrimination(x, max_points, totals) if n else np.full(k, np.nan)
    r = st.point_biserial(x) if n > 1 else np.full(k, np.nan)
    alpha_del = st.alpha_if_deleted(x) if k > 2 else np.full(k, np.nan)
    full = (x >= max_points[None, :] - 1e-9).astype(float) if k else x
    partial_free = bool(k) and bool(np.all((x == 0) | (x >= max_points[None, :] - 1e-9)))
    fit = rasch.fit(full) if n >= 2 and k >= 2 else None
    leagues = [s.league_code for s in m.students]
    dif_results: dict[Hashable, list[dif.MHResult]] = dif.dif_by_group(full, leagues) if n and k else {}
    items = []
    with np.errstate(invalid="ignore"):
        for j, info in enumerate(m.items):
            options = curve = None
            if info.type in CHOICE_TYPES and n:
                options = st.distractor_table(m.choices[j], [o for o, _ in info.options], info.answer, totals)
                curve = st.option_curve(m.choices[j], [o for o, _ in info.options], totals)
            by_league = {str(code): results[j] for code, results in dif_results.items()}
            dif_class = dif.worst_class(list(by_league.values()))
            flags = st.item_flags(facility_p=float(p[j]), discrimination=float(d[j]), point_biserial_r=float(r[j]),
                                  options=options, n_students=n)
            b = se = infit = outfit = None
            extreme = ""
            if fit is not None:
                b, se = _num(fit.item_difficulty[j]), _num(fit.item_se[j])
                infit, outfit = _num(fit.item_infit[j]), _num(fit.item_outfit[j])
                extreme = fit.item_extreme[j]
                if n >= st.MIN_STUDENTS_FOR_FLAGS and max(infit or 0, outfit or 0) > MISFIT_MNSQ:
                    flags.append(st.Flag("rasch_misfit", "warning", {"infit": infit, "outfit": outfit}))
            if dif_class in ("B", "C"):
                worst = max((res for res in by_league.values() if res.ets_class == dif_class),
                            key=lambda res: abs(res.delta))
                league = next(code for code, res in by_league.items() if res is worst)
                flags.append(st.Flag("dif", "warning" if dif_class == "C" else "info",
                                     {"class": dif_class, "league": league, "delta": worst.delta}))
            items.append(ItemResult(info, _num(p[j]), _num(d[j]), _num(r[j]), _num(alpha_del[j]),
                                    float(1 - m.answered[:, j].mean()) if n else float("nan"), None,
                                    options, curve, b, se, infit, outfit, extreme, by_league, dif_class, flags))
    official = [s.total for s in m.students]
    max_score = float(sum(i.max_points for i in m.items) + sum(i.max_points for i in m.pending))
    distribution = st.describe(official, max_score=max_score or None)
    alpha = st.cronbach_alpha(x) if n else float("nan")
    times = [s.time_used_seconds for s in m.students if s.time_used_seconds is not None]
    return ExamAnalysis(
        exam.id, exam.title, exam.subject_code, max_score, n, distribution, alpha,
        st.kr20(full) if partial_free and n > 1 else None,
        st.standard_error_of_measurement(float(np.std(totals, ddof=1)) if n > 1 else 0.0, alpha),
        float(np.mean(times)) if times else None, items, m.pending,
        _league_summaries(session, m.students, max_score), official,
        _num(fit.person_reliability) if fit is not None else None, bool(fit and fit.converged))


def _league_summaries(session: Session, students: list[StudentRow], max_score: float) -> list[LeagueSummary]:
    by_code: dict[str, list[float]] = {}
    for s in students:
        by_code.setdefault(s.league_code, []).append(s.total)
    names = {lg.code: lg for lg in session.scalars(select(League).where(League.code.in_(list(by_code))))}
    return [LeagueSummary(code, names[code].name_zh, names[code].name_en, totals,
                          st.describe(totals, max_score=max_score or None))
            for code, totals in sorted(by_code.items())]


# --- writing back and looking across exams ---------------------------------------------------------


def write_back_difficulties(session: Session, exam: Exam, result: ExamAnalysis, *, actor: audit.Actor,
                            now: datetime) -> int:
    """Store each calibrated item's Rasch difficulty on its bank question; returns how many changed."""
    changed = {}
    for item in result.items:
        if item.rasch_difficulty is None:
            continue
        question = session.get(Question, item.info.question_id)
        value = round(item.rasch_difficulty, 3)
        if question is not None and question.measured_difficulty != value:
            changed[question.key] = {"before": question.measured_difficulty, "after": value}
            question.measured_difficulty = value
    audit.record(session, actor=actor, action="analysis.write_back", object_type="exam", object_id=exam.id,
                 after={"measured_difficulty": changed, "students": result.n_students}, now=now)
    return len(changed)


@dataclass
class QuestionUse:
    """One exam that used a question, with the item's statistics there."""

    exam: Exam
    n_students: int
    item: ItemResult | None  # None while it awaits grading


def question_history(session: Session, question_id: int) -> list[QuestionUse]:
    """The question's statistics in every published exam that used it, newest first."""
    exams = session.scalars(select(Exam).join(ExamQuestion, ExamQuestion.exam_id == Exam.id)
                            .where(ExamQuestion.question_id == question_id, Exam.state != "draft")
                            .order_by(Exam.opens_at.desc(), Exam.id.desc())).all()
    uses = []
    for exam in exams:
        eq_id = session.scalar(select(ExamQuestion.id).where(ExamQuestion.exam_id == exam.id,
                                                            ExamQuestion.question_id == question_id))
        result = analyse(session, exam)
        uses.append(QuestionUse(exam, result.n_students, result.item(eq_id)))
    return uses
