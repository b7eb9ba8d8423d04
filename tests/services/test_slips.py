"""Login slips: the PDF read back holds each student's exam number, password and Chinese name."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.models import AuditEntry, CredentialBatch, Job, SlipFile, User
from app.services import credentials, jobs, rooms, slips
from app.services.accounts import HashParams
from app.services.audit import Actor
from app.services.passwords import verify_password

A = Actor(None, "test")
CHEAP = HashParams(1, 1024, 1)


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def room_with_students(db_session, make, now):
    school = make.school("150100", "凭条测试中学")
    room = rooms.create_room(db_session, school, name="第3考场", seats=30, actor=A, now=now)
    names = ["乌云其其格", "巴特尔", "张晓彤"]
    people = [make.student(school=school, name=n, exam_number=f"SLIP{i:04d}") for i, n in enumerate(names)]
    for p in people:
        rooms.assign_seat(db_session, p, room, None, actor=A, now=now)
    return school, room, people


def test_pdf_from_a_batch_contains_numbers_passwords_and_chinese_names(app, db_session, room_with_students, now):
    _school, room, people = room_with_students
    batch = credentials.create_batch(db_session, {p.user_id: f"pw{p.user_id}xyz" for p in people}, kind="import",
                                     created_by_id=None, league_code="150100", now=now,
                                     secret_key=app.config["SECRET_KEY"])
    with app.test_request_context():
        pdf, count = slips.pdf_for_batch(db_session, batch_id=batch.id, school_id=None, room_id=room.id,
                                         base_url="http://exam.example", now=now, actor=A,
                                         secret_key=app.config["SECRET_KEY"])
    assert count == 3 and pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for p in people:
        assert p.exam_number in text and f"pw{p.user_id}xyz" in text
    assert "乌云其其格" in text and "第3考场" in text and "http://exam.example" in text
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "slips.generate")) is not None


def test_expired_batches_are_purged_and_cannot_make_slips(app, db_session, room_with_students, now):
    _, _room, people = room_with_students
    batch = credentials.create_batch(db_session, {people[0].user_id: "abc"}, kind="import", created_by_id=None,
                                     league_code=None, now=now, secret_key=app.config["SECRET_KEY"], ttl_hours=1)
    later = now + timedelta(hours=2)
    with pytest.raises(credentials.BatchUnavailable):
        credentials.read_batch(db_session, batch, now=later, secret_key=app.config["SECRET_KEY"])
    assert batch.sealed is None or db_session.get(CredentialBatch, batch.id).sealed is None


def test_reset_mode_job_makes_new_passwords_and_stores_the_pdf(app, db_session, room_with_students, now):
    _, room, people = room_with_students
    old_hashes = {p.user_id: p.user.password_hash for p in people}
    job = slips.enqueue(db_session, mode="reset", batch_id=None, school_id=None, room_id=room.id,
                        base_url="http://x", actor=A, now=now, reason="凭条遗失")
    with app.test_request_context():
        jobs.run(db_session, job, now=lambda: now)
    job = db_session.get(Job, job.id)
    assert job.state == "done", job.error
    slip_file = db_session.get(SlipFile, job.result["slip_file_id"])
    batch = db_session.get(CredentialBatch, job.result["batch_id"])
    passwords = credentials.read_batch(db_session, batch, now=now, secret_key=app.config["SECRET_KEY"])
    text = pdf_text(slip_file.content)
    for p in people:
        user = db_session.get(User, p.user_id)
        assert user.password_hash != old_hashes[p.user_id]
        assert verify_password(user.password_hash, passwords[p.user_id]) and passwords[p.user_id] in text
    assert slip_file.expires_at == batch.expires_at
    resets = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "user.password_reset")).all()
    assert len(resets) == 3 and resets[0].reason == "凭条遗失"
    credentials.purge(db_session, batch, now=now, actor=A)
    assert batch.sealed is None and db_session.get(SlipFile, slip_file.id).content is None


def test_slip_requests_are_checked(db_session, now):
    with pytest.raises(slips.SlipError):
        slips.enqueue(db_session, mode="reset", batch_id=None, school_id=None, room_id=None, base_url="x", actor=A, now=now)
    with pytest.raises(slips.SlipError):
        slips.enqueue(db_session, mode="batch", batch_id=None, school_id=1, room_id=None, base_url="x", actor=A, now=now)
