"""违纪作废 (voiding an attempt) and 缺考 (marking absent): both take attempts out of the ranking.

Rules:
- Voiding needs two staff: one requests it with a reason, another approves (the database refuses
  one person doing both). Provincial admins act on any attempt, league admins on their league's.
  Only a finalized attempt can be voided; each step is audited; an approval after publication
  publishes the next results version.
- A student with no attempt can be marked absent (an ``absent`` attempt: it blocks a later start
  and is listed, unranked). Marking every remaining student absent at once waits until nobody can
  start any more (the latest start time or the close has passed).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Attempt, Exam, StudentProfile, User, Voiding
from app.services import audit, publication
from app.services.exam_authoring import exam_is_open_for
from app.services.rankings import ResultsError, mark_changed

STAFF_WHO_VOID = ("admin", "league_admin")


def _league_of(session: Session, attempt: Attempt) -> str | None:
    return session.scalar(select(StudentProfile.league_code).where(StudentProfile.user_id == attempt.student_id))


def _check_staff(session: Session, staff: User, attempt: Attempt) -> str | None:
    league = _league_of(session, attempt)
    if staff.role not in STAFF_WHO_VOID or (staff.role == "league_admin" and staff.league_code != league):
        raise ResultsError("forbidden", "您无权处理该考生的作答", "you may not act on this attempt", 403)
    return league


def request_void(session: Session, attempt: Attempt, *, staff: User, reason: str, now: datetime,
                 actor: audit.Actor) -> Voiding:
    """The first of two staff asks for an attempt to be voided, with a reason."""
    league = _check_staff(session, staff, attempt)
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ResultsError("reason", "请写明作废原因（至少 4 个字）", "give the reason (at least 4 characters)", 422)
    if attempt.state != "finalized":
        raise ResultsError("state", "只能作废已交卷的作答", "only a finalized attempt can be voided")
    if session.scalar(select(Voiding.id).where(Voiding.attempt_id == attempt.id, Voiding.state == "pending")):
        raise ResultsError("pending", "该作答已有待审批的作废申请", "a voiding of this attempt is already waiting")
    voiding = Voiding(attempt_id=attempt.id, state="pending", reason=reason, requested_by_id=staff.id,
                      requested_at=now, previous_state=attempt.state)
    session.add(voiding)
    session.flush()
    audit.record(session, actor=actor, action="attempt.void_request", object_type="attempt", object_id=attempt.id,
                 now=now, after={"voiding": voiding.id}, reason=reason, league_code=league)
    return voiding


def decide(session: Session, voiding: Voiding, *, staff: User, approve: bool, note: str, now: datetime,
           actor: audit.Actor) -> Voiding:
    """The second staff member approves (the attempt is voided and leaves the ranks) or rejects."""
    attempt = session.get(Attempt, voiding.attempt_id)
    league = _check_staff(session, staff, attempt)
    if voiding.state != "pending":
        raise ResultsError("decided", "该作废申请已处理", "this voiding has already been decided")
    if staff.id == voiding.requested_by_id:
        raise ResultsError("two_people", "作废须由另一位工作人员审批", "another staff member must approve a voiding", 403)
    voiding.state = "approved" if approve else "rejected"
    voiding.decided_by_id, voiding.decided_at, voiding.decision_note = staff.id, now, (note or "").strip() or None
    if approve:
        done = session.execute(update(Attempt).where(Attempt.id == attempt.id, Attempt.state == "finalized")
                               .values(state="voided")).rowcount
        if not done:
            raise ResultsError("state", "该作答已不是已交卷状态", "the attempt is no longer finalized")
        session.refresh(attempt)
        mark_changed(session, attempt.exam_id, now)
    session.flush()
    audit.record(session, actor=actor, action="attempt.void" if approve else "attempt.void_rejected",
                 object_type="attempt", object_id=attempt.id, now=now, league_code=league,
                 before={"state": voiding.previous_state}, after={"state": attempt.state, "voiding": voiding.id},
                 reason=voiding.reason)
    if approve:
        publication.after_change(session, attempt.exam, user_id=staff.id, now=now, actor=actor,
                                 reason=f"违纪作废 #{voiding.id}")
    return voiding


def pending_and_recent(session: Session, exam_id: int, *, league: str | None = None) -> list[Voiding]:
    """The exam's voidings (a league admin's: their league's), pending first."""
    query = select(Voiding).join(Attempt, Attempt.id == Voiding.attempt_id).where(Attempt.exam_id == exam_id)
    if league:
        query = query.join(StudentProfile, StudentProfile.user_id == Attempt.student_id) \
            .where(StudentProfile.league_code == league)
    rows = session.scalars(query.order_by(Voiding.id.desc())).all()
    return sorted(rows, key=lambda v: v.state != "pending")


def _absent_attempt(exam: Exam, student_id: int, now: datetime) -> Attempt:
    return Attempt(exam_id=exam.id, student_id=student_id, state="absent", seed="absent", layout=[], started_at=now,
                   deadline=now, extra_seconds=0, last_seq=0, finalized_at=now, finalized_reason="staff")


def mark_absent(session: Session, exam: Exam, student: User, *, staff: User, reason: str, now: datetime,
                actor: audit.Actor) -> Attempt:
    """Mark one registered student absent (缺考); refused if they have started."""
    if staff.role not in STAFF_WHO_VOID or (staff.role == "league_admin" and student.student is not None
                                            and staff.league_code != student.student.league_code):
        raise ResultsError("forbidden", "您无权处理该考生", "you may not act on this student", 403)
    if not exam_is_open_for(exam, profile=student.student, now=now):
        raise ResultsError("not_registered", "该考生不在本场考试名单中", "the student is not registered for this exam", 422)
    if session.scalar(select(Attempt.id).where(Attempt.exam_id == exam.id, Attempt.student_id == student.id)):
        raise ResultsError("started", "该考生已有作答记录，不能标记缺考", "the student has an attempt; not absent")
    attempt = _absent_attempt(exam, student.id, now)
    session.add(attempt)
    session.flush()
    mark_changed(session, exam.id, now)
    audit.record(session, actor=actor, action="attempt.absent", object_type="attempt", object_id=attempt.id, now=now,
                 league_code=student.student.league_code, after={"student": student.login_name},
                 reason=(reason or "").strip() or None)
    return attempt


def mark_all_absent(session: Session, exam: Exam, *, now: datetime, actor: audit.Actor) -> int:
    """Mark every registered student without an attempt absent, once no one can start any more."""
    last_start = exam.latest_start_at or exam.closes_at
    if now < last_start:
        raise ResultsError("still_open", "考试仍可入场，暂不能批量标记缺考",
                           "students can still start; mark absentees after the last start time")
    started = set(session.scalars(select(Attempt.student_id).where(Attempt.exam_id == exam.id)))
    profiles = session.scalars(select(StudentProfile).where(StudentProfile.subject_code == exam.subject_code)).all()
    count = 0
    for profile in profiles:
        if profile.user_id in started or not exam_is_open_for(exam, profile=profile, now=now):
            continue
        session.add(_absent_attempt(exam, profile.user_id, now))
        count += 1
    session.flush()
    if count:
        mark_changed(session, exam.id, now)
    audit.record(session, actor=actor, action="attempt.absent_all", object_type="exam", object_id=exam.id, now=now,
                 after={"marked": count})
    return count
