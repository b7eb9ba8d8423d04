"""Manual grading of short answers: a blind queue per question, 双评 with arbitration, and rescoring.

Rules:
- Only teachers of the exam's subject (and provincial admins) grade. The queue shows the
  question, its rubric and reference answer and the student's answer; never a name, a school or
  an exam number: an answer is known by a code derived from the exam's secret seed.
- With double marking (``ResultSettings.double_marking``) two different graders mark each answer
  independently (neither sees the other's points); when they differ by more than the threshold a
  third grader arbitrates. How points are decided is ``app.domain.double_marking.resolve``.
- When an answer's points become final the attempt is rescored: the item takes the final points
  (a material group adds them to its automatically scored parts), sections and total are summed
  again by the same rule as at finalization, and ``needs_manual`` clears once nothing is pending.
"""
from __future__ import annotations

import copy
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import double_marking, scoring
from app.domain.double_marking import ARBITER, FIRST, REVIEW, SECOND, Outcome
from app.domain.textnorm import normalize_text
from app.models import Attempt, Exam, ManualGrade, Response, User
from app.services import attempt_scoring, audit, papers
from app.services.rankings import ResultsError, mark_changed, settings_for

Finals = Mapping[tuple[int, str], float]  # (exam question id, part key) -> final points


@dataclass(frozen=True)
class ManualItem:
    """One place in a paper that a teacher grades: a short answer, or a short-answer part of a group."""

    exam_question_id: int
    part_key: str
    number: int  # the question's number in paper order (1-based)
    content: dict[str, Any]  # the short answer itself (stem, reference answer, rubric)
    max_points: float
    parent_stem: str | None = None  # a group's material, shown above its part

    @property
    def key(self) -> tuple[int, str]:
        return (self.exam_question_id, self.part_key)


def manual_items(paper: papers.Paper) -> list[ManualItem]:
    """Every manually graded place of the paper, in paper order."""
    items: list[ManualItem] = []
    number = 0
    for section in paper.sections:
        for qid in section.question_ids:
            number += 1
            q = paper.questions[qid]
            if q.content.get("type") == "short_answer":
                items.append(ManualItem(qid, "", number, q.content, float(q.points)))
            elif q.content.get("type") == "group":
                for part in q.content.get("parts") or ():
                    if part.get("type") == "short_answer":
                        items.append(ManualItem(qid, part["key"], number, part, float(part["points"]),
                                                q.content.get("stem")))
    return items


def answer_text(item: ManualItem, value: Any) -> str | None:
    """The student's text for a manual item, or None when it was left empty (nothing to grade)."""
    if item.part_key:
        value = value.get(item.part_key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not normalize_text(value):
        return None
    return value


# --- final points and rescoring -------------------------------------------------------------------


def outcomes(session: Session, exam: Exam, attempt_ids: Iterable[int] | None = None
             ) -> dict[int, dict[tuple[int, str], Outcome]]:
    """attempt id -> {(question, part): outcome} for every graded answer (optionally some attempts)."""
    settings = settings_for(session, exam.id, create=False)
    query = select(ManualGrade.attempt_id, ManualGrade.exam_question_id, ManualGrade.part_key, ManualGrade.slot,
                   ManualGrade.points).join(Attempt, Attempt.id == ManualGrade.attempt_id) \
        .where(Attempt.exam_id == exam.id)
    if attempt_ids is not None:
        query = query.where(ManualGrade.attempt_id.in_(list(attempt_ids)))
    marks: dict[int, dict[tuple[int, str], dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for attempt_id, qid, part, slot, points in session.execute(query):
        marks[attempt_id][(qid, part)][slot] = points
    return {attempt_id: {key: double_marking.resolve(slots, double=settings.double_marking,
                                                     threshold=settings.double_threshold)
                         for key, slots in by_item.items()}
            for attempt_id, by_item in marks.items()}


def finals_of(by_item: Mapping[tuple[int, str], Outcome]) -> dict[tuple[int, str], float]:
    """Only the answers whose points are final."""
    return {key: outcome.points for key, outcome in by_item.items() if outcome.final}


class _Points:
    __slots__ = ("points",)

    def __init__(self, points: float):
        self.points = points


def rescored_detail(paper: papers.Paper, detail: Mapping[str, Any], qids: Iterable[int],
                    responses: Mapping[int, Any], finals: Finals) -> tuple[dict[str, Any], float, int, bool]:
    """Score questions ``qids`` again on ``paper`` and return (detail, total, wrong answers, needs manual).

    The other questions keep their stored item scores. Scoring is attempt_scoring.compute (the rule
    used at finalization) on a paper cut down to those questions, then final manual points are
    added; section subtotals follow scoring.section_total (floored at 0 per section).
    """
    qids = set(qids)
    sub = replace(paper, sections=tuple(replace(s, question_ids=tuple(q for q in s.question_ids if q in qids))
                                        for s in paper.sections))
    fresh = attempt_scoring.compute(sub, dict(responses))["items"]
    by_question: dict[int, list[ManualItem]] = defaultdict(list)
    for item in manual_items(paper):
        if item.exam_question_id in qids:
            by_question[item.exam_question_id].append(item)
    for qid, items in by_question.items():
        score = fresh[str(qid)]
        pending = False
        for item in items:
            if item.key in finals:
                score["points"] = round(score["points"] + finals[item.key], 2)
            elif answer_text(item, responses.get(qid)) is not None:
                pending = True
        score["manual"] = pending
    new = copy.deepcopy(dict(detail))
    items = new.setdefault("items", {})
    items.update(fresh)
    sections = {}
    for section in paper.sections:
        sections[section.name] = scoring.section_total(_Points(items[str(q)]["points"])
                                                       for q in section.question_ids if str(q) in items)
    new["sections"] = sections
    total = round(sum(sections.values()), 2)
    wrong = sum(int(bool(item.get("wrong"))) for item in items.values())
    needs_manual = any(item.get("manual") for item in items.values())
    return new, total, wrong, needs_manual


def responses_of(session: Session, attempt_id: int, qids: Iterable[int] | None = None) -> dict[int, Any]:
    """An attempt's saved answers by exam question id."""
    query = select(Response.exam_question_id, Response.value).where(Response.attempt_id == attempt_id)
    if qids is not None:
        query = query.where(Response.exam_question_id.in_(list(qids)))
    return dict(session.execute(query).all())


def rescore(session: Session, attempt: Attempt, *, qids: Iterable[int] | None = None, now: datetime) -> float:
    """Score an attempt's questions again (all, or ``qids``) with its final manual points; returns the total."""
    exam = attempt.exam
    paper = papers.load(session, exam)
    qids = list(paper.questions) if qids is None else list(qids)
    finals = finals_of(outcomes(session, exam, [attempt.id]).get(attempt.id, {}))
    detail, total, wrong, needs_manual = rescored_detail(paper, attempt.score_detail or {}, qids,
                                                         responses_of(session, attempt.id, qids), finals)
    attempt.score_detail, attempt.score_total = detail, total
    attempt.wrong_count, attempt.needs_manual = wrong, needs_manual
    mark_changed(session, exam.id, now)
    return total


# --- the blind queue ------------------------------------------------------------------------------


def may_grade(user: User, exam: Exam) -> bool:
    """Teachers of the exam's subject and provincial admins grade."""
    return user.role == "admin" or (user.role == "teacher" and exam.subject_code in user.subject_codes)


def blind_code(exam: Exam, attempt_id: int) -> str:
    """How graders name an answer: derived from the exam's secret seed, it reveals nobody."""
    return hashlib.sha256(f"{exam.seed}:answer:{attempt_id}".encode()).hexdigest()[:8].upper()


def find_item(paper: papers.Paper, exam_question_id: int, part_key: str) -> ManualItem | None:
    """The manual item at (question, part), or None."""
    return next((i for i in manual_items(paper) if i.key == (exam_question_id, part_key)), None)


@dataclass(frozen=True)
class QueueEntry:
    """An answer waiting for this grader, with what the grader may see."""

    item: ManualItem
    attempt_id: int
    slot: int
    code: str
    answer: str
    earlier_marks: tuple[float, ...] = ()  # only an arbiter sees the two marks


@dataclass(frozen=True)
class ItemProgress:
    """How far grading of one manual item has come."""

    item: ManualItem
    answered: int
    final: int
    needs_first: int
    needs_second: int
    needs_arbiter: int


def _gradable(session: Session, exam: Exam, item: ManualItem) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Response.attempt_id, Response.value).join(Attempt, Attempt.id == Response.attempt_id)
        .where(Attempt.exam_id == exam.id, Attempt.state == "finalized",
               Response.exam_question_id == item.exam_question_id)).all()
    result = []
    for attempt_id, value in rows:
        text = answer_text(item, value)
        if text is not None:
            result.append((attempt_id, text))
    return result


def _marks(session: Session, item: ManualItem, attempt_ids: list[int]) -> dict[int, dict[int, tuple[float, int]]]:
    marks: dict[int, dict[int, tuple[float, int]]] = defaultdict(dict)
    if not attempt_ids:
        return marks
    for attempt_id, slot, points, grader in session.execute(
            select(ManualGrade.attempt_id, ManualGrade.slot, ManualGrade.points, ManualGrade.grader_id)
            .where(ManualGrade.exam_question_id == item.exam_question_id, ManualGrade.part_key == item.part_key)):
        marks[attempt_id][slot] = (points, grader)
    return marks


def _resolve(session: Session, exam: Exam, slots: Mapping[int, tuple[float, int]]) -> Outcome:
    settings = settings_for(session, exam.id, create=False)
    return double_marking.resolve({slot: points for slot, (points, _) in slots.items()},
                                  double=settings.double_marking, threshold=settings.double_threshold)


_SLOT_FOR = {double_marking.NEEDS_FIRST: FIRST, double_marking.NEEDS_SECOND: SECOND,
             double_marking.NEEDS_ARBITER: ARBITER}


def progress(session: Session, exam: Exam) -> list[ItemProgress]:
    """Per manual item: answers to grade, final, and waiting for a first, second or arbitrating grader."""
    paper = papers.load(session, exam)
    result = []
    for item in manual_items(paper):
        answers = _gradable(session, exam, item)
        marks = _marks(session, item, [a for a, _ in answers])
        counts = defaultdict(int)
        for attempt_id, _ in answers:
            counts[_resolve(session, exam, marks.get(attempt_id, {})).state] += 1
        result.append(ItemProgress(item, len(answers), counts[double_marking.FINAL],
                                   counts[double_marking.NEEDS_FIRST], counts[double_marking.NEEDS_SECOND],
                                   counts[double_marking.NEEDS_ARBITER]))
    return result


def queue(session: Session, exam: Exam, item: ManualItem, grader: User, *, limit: int = 1) -> list[QueueEntry]:
    """Up to ``limit`` answers this grader may mark next for the item (empty when nothing is left).

    A grader never marks the same answer twice (not as second grader, not as arbiter). Graders
    walk the answers in different orders, so two of them rarely reach for the same one.
    """
    if not may_grade(grader, exam):
        raise ResultsError("forbidden", "您不是本学科的阅卷教师", "you do not grade this subject", 403)
    answers = _gradable(session, exam, item)
    marks = _marks(session, item, [a for a, _ in answers])
    answers.sort(key=lambda pair: hashlib.sha256(f"{grader.id}:{pair[0]}".encode()).digest())
    found: list[QueueEntry] = []
    for attempt_id, text in answers:
        slots = marks.get(attempt_id, {})
        outcome = _resolve(session, exam, slots)
        if outcome.final or any(g == grader.id for _, g in slots.values()):
            continue
        slot = _SLOT_FOR[outcome.state]
        earlier = tuple(slots[s][0] for s in (FIRST, SECOND) if s in slots) if slot == ARBITER else ()
        found.append(QueueEntry(item, attempt_id, slot, blind_code(exam, attempt_id), text, earlier))
        if len(found) >= limit:
            break
    return found


def next_entry(session: Session, exam: Exam, item: ManualItem, grader: User) -> QueueEntry | None:
    """The next answer this grader may mark for the item, or None when nothing is left for them."""
    found = queue(session, exam, item, grader, limit=1)
    return found[0] if found else None


def entry_for(session: Session, exam: Exam, item: ManualItem, attempt_id: int, grader: User) -> QueueEntry | None:
    """One given answer as the grader would see it in the queue (None if it is not waiting for them)."""
    for candidate_id, text in _gradable(session, exam, item):
        if candidate_id != attempt_id:
            continue
        slots = _marks(session, item, [attempt_id]).get(attempt_id, {})
        outcome = _resolve(session, exam, slots)
        if outcome.final or any(g == grader.id for _, g in slots.values()):
            return None
        slot = _SLOT_FOR[outcome.state]
        earlier = tuple(slots[s][0] for s in (FIRST, SECOND) if s in slots) if slot == ARBITER else ()
        return QueueEntry(item, attempt_id, slot, blind_code(exam, attempt_id), text, earlier)
    return None


def record(session: Session, exam: Exam, *, attempt_id: int, exam_question_id: int, part_key: str, slot: int,
           grader: User, points: float, comment: str | None, now: datetime, actor: audit.Actor) -> Outcome:
    """Store one grader's mark for one answer; rescore the attempt when its points become final.

    Refused: a grader outside the subject, an answer that is not waiting for this slot (someone
    else just marked it), a grader marking the same answer twice, points outside 0..max.
    """
    if not may_grade(grader, exam):
        raise ResultsError("forbidden", "您不是本学科的阅卷教师", "you do not grade this subject", 403)
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.exam_id != exam.id or attempt.state != "finalized":
        raise ResultsError("not_found", "找不到该答卷", "answer not found", 404)
    paper = papers.load(session, exam)
    item = find_item(paper, exam_question_id, part_key)
    if item is None:
        raise ResultsError("not_found", "该题不需要人工阅卷", "this question is not graded by hand", 404)
    if answer_text(item, responses_of(session, attempt_id, [exam_question_id]).get(exam_question_id)) is None:
        raise ResultsError("blank", "该题未作答，无需评分", "the answer is empty; nothing to grade", 422)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points <= item.max_points:
        raise ResultsError("points", f"分数应在 0 到 {item.max_points:g} 之间",
                           f"points must be between 0 and {item.max_points:g}", 422)
    slots = _marks(session, item, [attempt_id]).get(attempt_id, {})
    if any(g == grader.id for _, g in slots.values()):
        raise ResultsError("graded_twice", "同一份答卷不能由同一位教师评两次",
                           "a grader may mark an answer only once", 409)
    state = _resolve(session, exam, slots).state
    if _SLOT_FOR.get(state) != slot:
        raise ResultsError("taken", "这份答卷刚由其他教师评过，请评下一份",
                           "another grader has just marked this answer; take the next one", 409)
    try:
        with session.begin_nested():
            session.add(ManualGrade(attempt_id=attempt_id, exam_question_id=exam_question_id, part_key=part_key,
                                    slot=slot, grader_id=grader.id, points=float(points), comment=comment or None,
                                    graded_at=now))
    except IntegrityError:
        raise ResultsError("taken", "这份答卷刚由其他教师评过，请评下一份",
                           "another grader has just marked this answer; take the next one", 409) from None
    slots = {**slots, slot: (float(points), grader.id)}
    outcome = _resolve(session, exam, slots)
    audit.record(session, actor=actor, action="grade.mark", object_type="attempt", object_id=attempt_id, now=now,
                 after={"question": exam_question_id, "part": part_key, "slot": slot, "points": float(points),
                        "state": outcome.state, "final": outcome.points})
    if outcome.final:
        rescore(session, attempt, qids=[exam_question_id], now=now)
    return outcome


def review_correction(session: Session, exam: Exam, *, attempt: Attempt, exam_question_id: int, part_key: str,
                      points: float, staff: User, note: str, now: datetime, actor: audit.Actor) -> float:
    """A score review's correction of a manual item (slot 4, overrides the graders); returns the new total."""
    paper = papers.load(session, exam)
    item = find_item(paper, exam_question_id, part_key)
    if item is None:
        raise ResultsError("not_found", "该题不需要人工阅卷", "this question is not graded by hand", 404)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points <= item.max_points:
        raise ResultsError("points", f"分数应在 0 到 {item.max_points:g} 之间",
                           f"points must be between 0 and {item.max_points:g}", 422)
    existing = session.scalar(select(ManualGrade).where(
        ManualGrade.attempt_id == attempt.id, ManualGrade.exam_question_id == exam_question_id,
        ManualGrade.part_key == part_key, ManualGrade.slot == REVIEW))
    before = existing.points if existing else None
    if existing is None:
        session.add(ManualGrade(attempt_id=attempt.id, exam_question_id=exam_question_id, part_key=part_key,
                                slot=REVIEW, grader_id=staff.id, points=float(points), comment=note, graded_at=now))
    else:
        existing.points, existing.grader_id, existing.comment, existing.graded_at = float(points), staff.id, note, now
    session.flush()
    audit.record(session, actor=actor, action="grade.review_correction", object_type="attempt", object_id=attempt.id,
                 now=now, before={"points": before}, after={"question": exam_question_id, "part": part_key,
                                                             "points": float(points)}, reason=note)
    return rescore(session, attempt, qids=[exam_question_id], now=now)
