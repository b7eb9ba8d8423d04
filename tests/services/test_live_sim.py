"""The live simulation: picks the open exam, finds or creates students, sits them through the real services."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, School, StudentProfile
from app.services import live_sim
from tests import exam_fixtures as fx


@pytest.mark.committing
def test_simulated_students_sit_and_submit(committing_db):
    now = utcnow()
    fx.load_bank(committing_db, now)
    exam = fx.make_exam(committing_db, now, title="模拟直播考试")
    committing_db.add(School(name="模拟中学", league_code="150100"))
    committing_db.commit()
    assert live_sim.choose_exam(committing_db, now).id == exam.id
    ids = live_sim.ensure_students(committing_db, exam, 3, now=now, password_hash="x")
    assert len(ids) == 3
    assert all(p.exam_number.startswith("SIM") for p in committing_db.scalars(select(StudentProfile)))
    exam_id = exam.id
    committing_db.remove()  # the students run in sessions of their own
    random.seed(7)
    factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    outcomes = [live_sim.sit(factory, exam_id, uid, minutes=0.003, log=print, pace=0) for uid in ids]
    assert set(outcomes) <= {"submitted", "absent", "vanished"} and "submitted" in outcomes
    with factory() as check:
        submitted = check.scalars(select(Attempt).where(Attempt.exam_id == exam_id,
                                                        Attempt.finalized_reason == "submitted")).all()
        assert len(submitted) == outcomes.count("submitted")
        assert all(a.scored_at is not None for a in submitted)
