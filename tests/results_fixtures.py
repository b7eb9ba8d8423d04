"""Test data for results: exams with scored attempts (set directly, or sat through the real services)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Attempt, Exam, School, User
from app.services import attempts, papers
from tests import exam_fixtures as fx

SECTIONS = ("选择", "填空与排序", "综合")  # the section names of exam_fixtures.make_exam
C = attempts.Client("127.0.0.1", "pytest")
_numbers = itertools.count(1)


@dataclass
class Spec:
    """One attempt to create: its student's league and school, its scores and state."""

    total: float
    league: str = "150100"
    school: int = 0  # index of the school within the league
    sections: dict[str, float] = field(default_factory=dict)
    wrong: int = 0
    time_used: int = 3600
    state: str = "finalized"
    name: str = "测试考生"
    needs_manual: bool = False


def schools(make, league: str, count: int) -> list[School]:
    """``count`` schools in a league."""
    return [make.school(league) for _ in range(count)]


def seeded_exam(db_session: Session, now: datetime, make, specs: list[Spec], *, tie_breaks: tuple[str, ...] = (),
                schools_per_league: int = 3) -> tuple[Exam, list[Attempt]]:
    """A published exam whose attempts carry the given stored scores (as if scored at finalization)."""
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now, tie_breaks=list(tie_breaks))
    by_league: dict[str, list[School]] = {}
    created = []
    for spec in specs:
        if spec.league not in by_league:
            by_league[spec.league] = schools(make, spec.league, schools_per_league)
        school = by_league[spec.league][spec.school % schools_per_league]
        profile = make.student(league_code=spec.league, school=school, name=spec.name,
                               exam_number=f"2026{spec.league}{next(_numbers):06d}")
        scored = spec.state in ("finalized", "voided")
        sections = spec.sections or {SECTIONS[0]: spec.total}
        attempt = Attempt(exam_id=exam.id, student_id=profile.user_id, state=spec.state, seed="seed", layout=[],
                          started_at=now, deadline=now + timedelta(hours=2), last_seq=0,
                          finalized_at=now if spec.state != "in_progress" else None,
                          scored_at=now if scored else None, score_total=spec.total if scored else None,
                          score_detail={"items": {}, "sections": sections, "time_used_seconds": spec.time_used}
                          if scored else None,
                          wrong_count=spec.wrong if scored else None, needs_manual=spec.needs_manual)
        db_session.add(attempt)
        created.append(attempt)
    db_session.flush()
    return exam, created


def question_ids(db_session: Session, exam: Exam) -> dict[str, int]:
    """Question key -> exam question id."""
    paper = papers.load(db_session, exam)
    return {q.content["key"]: q.id for q in paper.questions.values()}


def sit(db_session: Session, exam: Exam, user: User, answers: dict[str, Any], now: datetime,
        used: timedelta = timedelta(minutes=40)) -> Attempt:
    """Take the exam through the real services: pledge, start, open, save canonical answers, submit."""
    ids = question_ids(db_session, exam)
    paper = papers.load(db_session, exam)
    attempts.accept_pledge(db_session, exam=exam, user=user, now=now, client=C)
    attempt = attempts.start(db_session, exam=exam, user=user, now=now, client=C)
    page = attempts.open_page(db_session, attempt, now=now, client=C)
    for seq, (key, value) in enumerate(answers.items(), 1):
        qid = ids[key]
        attempts.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq, question_id=qid,
                      answer=attempts.to_opaque(paper.questions[qid].content, attempt.seed, value), now=now)
    attempts.submit(db_session, attempt, token=page["token"], now=now + used, client=C)
    db_session.refresh(attempt)
    return attempt


def live_exam(db_session: Session, now: datetime, **extra: Any) -> Exam:
    """A published exam over the test bank, open now."""
    fx.load_bank(db_session, now)
    return fx.make_exam(db_session, now, **extra)


def attempt_of(db_session: Session, exam: Exam, user: User) -> Attempt:
    """The user's attempt of the exam."""
    return db_session.scalar(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.student_id == user.id))


def closed(exam: Exam, now: datetime) -> Exam:
    """The exam with its window closed at ``now`` (results are published only after it closes)."""
    exam.closes_at = min(exam.closes_at, now)
    return exam
