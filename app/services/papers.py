"""A published exam's paper, loaded once per process and exam revision.

The exam page, every save and every score need the exam's structure and pinned question content.
That never changes while the exam is published (a regrade bumps ``Exam.revision``), so it is read
from the database once and kept, keyed by (exam id, revision): autosave does no per-request work
that could be done once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exam, ExamQuestion, ExamSection, QuestionVersion


@dataclass(frozen=True)
class PaperQuestion:
    """One pinned question of a paper."""

    id: int  # ExamQuestion id: what the page and the API name the question by
    section_id: int
    position: int
    question_id: int
    version_id: int
    points: float
    content: dict[str, Any]
    images: dict[str, str]
    # Rendered stem/option HTML of this pinned version, filled on first use (presentation.student_view):
    # the exam page of every student shows the same texts, only their order and ids differ.
    rendered: dict[tuple, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class PaperSection:
    """A section with its scoring policy and question ids in paper order."""

    id: int
    position: int
    name: str
    policy: str | None
    policy_params: dict[str, Any]
    question_ids: tuple[int, ...]


@dataclass(frozen=True)
class Paper:
    """Everything fixed about a published exam's questions."""

    exam_id: int
    revision: int
    sections: tuple[PaperSection, ...]
    questions: dict[int, PaperQuestion] = field(default_factory=dict)

    @property
    def max_points(self) -> float:
        return sum(q.points for q in self.questions.values())


_CACHE: dict[tuple[int, int, str], Paper] = {}
_LOCK = threading.Lock()


def load(session: Session, exam: Exam) -> Paper:
    """The paper of a published exam (cached by exam id and revision)."""
    return load_by_key(session, exam.id, exam.revision, exam.seed)


def load_by_key(session: Session, exam_id: int, revision: int, seed: str) -> Paper:
    """The paper by the exam's id, revision and seed, for callers that read those three without the Exam row."""
    key = (exam_id, revision, seed)  # the random seed makes a reused id a different key
    paper = _CACHE.get(key)
    if paper is not None:
        return paper
    sections = session.scalars(select(ExamSection).where(ExamSection.exam_id == exam_id)
                               .order_by(ExamSection.position)).all()
    rows = session.execute(
        select(ExamQuestion, QuestionVersion.content, QuestionVersion.images)
        .join(QuestionVersion, QuestionVersion.id == ExamQuestion.version_id)
        .where(ExamQuestion.exam_id == exam_id)
        .order_by(ExamQuestion.section_id, ExamQuestion.position)).all()
    questions = {eq.id: PaperQuestion(eq.id, eq.section_id, eq.position, eq.question_id, eq.version_id,
                                      float(eq.points), content, dict(images or {}))
                 for eq, content, images in rows}
    paper = Paper(exam_id, revision, tuple(
        PaperSection(s.id, s.position, s.name, s.policy, dict(s.policy_params or {}),
                     tuple(q.id for q in sorted((q for q in questions.values() if q.section_id == s.id),
                                                key=lambda q: q.position)))
        for s in sections), questions)
    with _LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = paper
    return paper


def forget(exam_id: int) -> None:
    """Drop cached papers of an exam (after a change in tests or a regrade in this process)."""
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == exam_id]:
            del _CACHE[key]
