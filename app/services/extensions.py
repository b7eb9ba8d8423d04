"""Time extensions from the monitor (one student, a room, a school, a league, the whole exam) and reopening.

Rules:
- An extension needs a reason and 1–360 minutes; it is applied with ``attempts.grant_time`` to every
  attempt in progress within the target (and within the actor's own scope), each grant recording the
  target it came from; the page learns the new deadline at its next heartbeat.
- An exam-wide extension (an outage credit) also leaves one exam-level grant, so students who start
  later get it too (``attempts.start`` adds exam-level grants). Room, school and league grants cover
  those sitting at the time; a later starter there loses nothing, having not sat through the outage.
- Attempts already past deadline + grace are finalized first (any read does that); a finalized
  attempt is not extended but reopened: ``reopen`` puts it back in progress for the given minutes,
  the old score is kept in the audit entry and the attempt is scored again when it is finalized anew.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Attempt, Exam, Room, SeatAssignment, StudentProfile, TimeGrant, WriterToken
from app.services import attempts, audit
from app.services.attempts import AttemptError
from app.services.monitor import Scope

TARGETS = ("attempt", "room", "school", "league", "exam")
MAX_MINUTES = 360


def _check(minutes: Any, reason: str) -> tuple[int, str]:
    reason = (reason or "").strip()
    if not reason:
        raise AttemptError("reason_required", 422, "必须填写原因", "a reason is required")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes <= MAX_MINUTES:
        raise AttemptError("invalid_request", 422, f"分钟数应为 1–{MAX_MINUTES}", f"minutes must be 1–{MAX_MINUTES}")
    return minutes, reason[:1000]


def _targets(session: Session, exam: Exam, target: str, value: str | None, scope: Scope) -> list[Attempt]:
    query = (select(Attempt).join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
             .outerjoin(SeatAssignment, SeatAssignment.student_id == Attempt.student_id)
             .where(Attempt.exam_id == exam.id, Attempt.state == "in_progress"))
    try:
        if target == "attempt":
            query = query.where(Attempt.id == int(value or 0))
        elif target == "room":
            query = query.where(SeatAssignment.room_id == int(value or 0))
        elif target == "school":
            query = query.where(StudentProfile.school_id == int(value or 0))
        elif target == "league":
            query = query.where(StudentProfile.league_code == (value or ""))
        elif target != "exam":
            raise AttemptError("invalid_request", 422, "未知的延时范围", "unknown extension target")
    except ValueError:
        raise AttemptError("invalid_request", 422, "延时对象无效", "invalid extension target") from None
    if scope.league_code:
        query = query.where(StudentProfile.league_code == scope.league_code)
    if scope.school_id is not None:
        query = query.where(StudentProfile.school_id == scope.school_id)
    if scope.room_ids is not None:
        query = query.where(SeatAssignment.room_id.in_(list(scope.room_ids) or [-1]))
    return list(session.scalars(query.order_by(Attempt.id)))


def _league_of_target(session: Session, target: str, value: str | None) -> str | None:
    if target == "league":
        return value
    if target == "room":
        room = session.get(Room, int(value)) if value and value.isdigit() else None
        return room.school.league_code if room else None
    return None


def extend(session: Session, exam: Exam, *, target: str, value: str | None, minutes: int, reason: str,
           actor: audit.Actor, scope: Scope, now: datetime) -> dict[str, Any]:
    """Extend every in-progress attempt in the target (see the module rules); returns what changed."""
    minutes, reason = _check(minutes, reason)
    if target not in TARGETS:
        raise AttemptError("invalid_request", 422, "未知的延时范围", "unknown extension target")
    if target == "exam" and (scope.league_code or scope.room_ids is not None or scope.school_id is not None):
        raise AttemptError("forbidden", 403, "只有全区管理员可以为整场考试延时", "only the provincial admin extends a whole exam")
    if target == "league" and scope.league_code and value != scope.league_code:
        raise AttemptError("forbidden", 403, "只能为本盟市延时", "you may extend only your own league")
    if target == "room" and scope.room_ids is not None and (not (value or "").isdigit() or int(value) not in scope.room_ids):
        raise AttemptError("forbidden", 403, "只能为您监考的考场延时", "you may extend only your own rooms")
    for attempt in _targets(session, exam, "exam", None, scope):
        attempts.finalize_if_overdue(session, attempt, now=now)
    found = _targets(session, exam, target, value, scope)
    if target == "attempt" and not found:
        raise AttemptError("not_found", 404, "该考生没有进行中的作答（已交卷的请使用“重新开放”）",
                           "no attempt in progress (reopen a finalized one instead)")
    seconds = minutes * 60
    for attempt in found:
        grant = attempts.grant_time(session, attempt, seconds=seconds, reason=reason, granted_by_id=actor.user_id, now=now)
        grant.scope, grant.scope_value = target, (value or str(exam.id))[:64]
    if target == "exam":
        session.add(TimeGrant(exam_id=exam.id, attempt_id=None, seconds=seconds, scope="exam", scope_value=str(exam.id),
                              reason=reason, granted_by_id=actor.user_id, granted_at=now))
    session.flush()
    result = {"exam_id": exam.id, "target": target, "value": value, "minutes": minutes, "attempts": len(found),
              "attempt_ids": [a.id for a in found][:500]}
    leagues = set(session.scalars(select(StudentProfile.league_code).where(
        StudentProfile.user_id.in_([a.student_id for a in found] or [-1]))))
    league = scope.league_code or (next(iter(leagues)) if len(leagues) == 1 and target != "exam" else None) \
        or _league_of_target(session, target, value)
    audit.record(session, actor=actor, action="exam.extend", object_type="exam", object_id=exam.id, now=now,
                 league_code=league, after=result, reason=reason)
    return result


def reopen(session: Session, attempt: Attempt, *, minutes: int, reason: str, actor: audit.Actor,
           now: datetime, league_code: str | None) -> dict[str, Any]:
    """Put a finalized attempt back in progress until now + minutes; the old score is superseded."""
    minutes, reason = _check(minutes, reason)
    if attempt.state != "finalized":
        raise AttemptError("invalid_state", 409, "只能重新开放已结束的作答", "only a finalized attempt can be reopened")
    before = {"state": attempt.state, "finalized_reason": attempt.finalized_reason, "deadline": attempt.deadline,
              "score_total": attempt.score_total, "sections": (attempt.score_detail or {}).get("sections"),
              "finalized_at": attempt.finalized_at, "submitted_at": attempt.submitted_at}
    deadline = now + timedelta(seconds=minutes * 60)
    added = max(0, int((deadline - attempt.deadline).total_seconds()))
    session.execute(update(Attempt).where(Attempt.id == attempt.id, Attempt.state == "finalized").values(
        state="in_progress", deadline=deadline, extra_seconds=Attempt.extra_seconds + added, finalized_at=None,
        finalized_reason=None, submitted_at=None, scored_at=None, score_total=None, score_detail=None,
        wrong_count=None, needs_manual=False))
    session.execute(update(WriterToken).where(WriterToken.attempt_id == attempt.id).values(revoked=True))
    session.add(TimeGrant(exam_id=attempt.exam_id, attempt_id=attempt.id, seconds=minutes * 60, scope="reopen",
                          scope_value=str(attempt.id), reason=reason, granted_by_id=actor.user_id, granted_at=now))
    session.refresh(attempt)
    audit.record(session, actor=actor, action="attempt.reopen", object_type="attempt", object_id=attempt.id, now=now,
                 league_code=league_code, before=before,
                 after={"state": "in_progress", "deadline": deadline, "minutes": minutes}, reason=reason)
    return {"attempt_id": attempt.id, "deadline": deadline.isoformat()}


def close_window(session: Session, exam: Exam, *, reason: str, actor: audit.Actor, now: datetime) -> dict[str, Any]:
    """End the exam's window now: nobody can start any more; students already writing keep their time.

    Results are published only after the window closes (``publication.publish``), so that no one can
    start an exam whose ranking is already out. Attempts in progress keep their deadlines (the
    finalize sweep closes them); the change is audited with the old and new times and the reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise AttemptError("reason_required", 422, "必须填写原因", "a reason is required")
    if exam.closes_at <= now:
        raise AttemptError("invalid_state", 409, "考试已经结束", "the exam window is already closed")
    if exam.opens_at >= now:
        raise AttemptError("invalid_state", 409, "考试尚未开始，请修改考试时间而不是结束考试",
                           "the exam has not opened yet; change its schedule instead")
    before = {"closes_at": exam.closes_at, "latest_start_at": exam.latest_start_at}
    exam.closes_at = now
    if exam.latest_start_at is not None and exam.latest_start_at > now:
        exam.latest_start_at = now
    writing = session.scalar(select(func.count()).select_from(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.state == "in_progress")) or 0
    audit.record(session, actor=actor, action="exam.close", object_type="exam", object_id=exam.id, now=now,
                 before=before, after={"closes_at": now, "latest_start_at": exam.latest_start_at, "in_progress": writing},
                 reason=reason[:1000])
    return {"in_progress": writing, "closes_at": now.isoformat()}
