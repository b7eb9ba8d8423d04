"""The live monitor of an open exam: each eligible student's state, grouped by league, school and room.

Status of a student, in this order: an attempt voided → ``voided``; an attempt finalized after a
submit → ``submitted``, finalized otherwise (time over, staff) → ``finalized``; an attempt in progress →
``in_progress``; an absent attempt, or no attempt and marked absent by the proctor → ``absent``; else
``not_started``. A student in progress whose last heartbeat is older than ``STALE_AFTER`` (one
minute) is flagged ``stale`` (not seen). Integrity events (tab hidden, blur, paste…) are counted as
evidence, never as a verdict. The monitor only reads: overdue attempts are finalized by the sweep.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import timing
from app.models import (
    Attempt,
    AttemptEvent,
    Attendance,
    Exam,
    League,
    Room,
    School,
    SeatAssignment,
    StudentProfile,
    User,
)
from app.services import rooms as room_service

STALE_AFTER = timedelta(minutes=1)
STATUSES = ("not_started", "in_progress", "submitted", "finalized", "absent", "voided")


@dataclass(frozen=True)
class Scope:
    """What one viewer may see: a league, a school, a set of rooms (None: no limit)."""

    league_code: str | None = None
    school_id: int | None = None
    room_ids: frozenset[int] | None = None

    def narrowed(self, *, league: str | None = None, school: int | None = None, room: int | None = None) -> Scope:
        """The viewer's scope further narrowed by filters (never widened)."""
        rooms = self.room_ids
        if room is not None:
            rooms = frozenset({room}) if rooms is None or room in rooms else frozenset()
        if league and self.league_code and league != self.league_code:
            rooms = frozenset()
        return Scope(self.league_code or league or None, school if school is not None else self.school_id, rooms)


def scope_for(session: Session, user: User) -> Scope | None:
    """The viewer's scope: admin all, league admin their league, proctor their rooms; None: not allowed."""
    if user.role == "admin":
        return Scope()
    if user.role == "league_admin":
        return Scope(league_code=user.league_code)
    if user.role == "proctor":
        return Scope(room_ids=frozenset(room_service.proctor_room_ids(session, user.id)))
    return None


def _eligible(exam: Exam, scope: Scope):
    query = (select(StudentProfile, SeatAssignment.seat, Room.id, Room.name, School.name, User.is_active)
             .join(User, User.id == StudentProfile.user_id)
             .join(School, School.id == StudentProfile.school_id)
             .outerjoin(SeatAssignment, SeatAssignment.student_id == StudentProfile.user_id)
             .outerjoin(Room, Room.id == SeatAssignment.room_id)
             .where(StudentProfile.subject_code == exam.subject_code))
    rules = exam.eligibility or {}
    if rules.get("leagues"):
        query = query.where(StudentProfile.league_code.in_([str(c) for c in rules["leagues"]]))
    if rules.get("schools"):
        query = query.where(StudentProfile.school_id.in_([int(s) for s in rules["schools"]]))
    if rules.get("exam_numbers"):
        query = query.where(StudentProfile.exam_number.in_([str(n) for n in rules["exam_numbers"]]))
    if scope.league_code:
        query = query.where(StudentProfile.league_code == scope.league_code)
    if scope.school_id is not None:
        query = query.where(StudentProfile.school_id == scope.school_id)
    if scope.room_ids is not None:
        query = query.where(SeatAssignment.room_id.in_(list(scope.room_ids) or [-1]))
    return query.order_by(StudentProfile.league_code, School.name, Room.name, SeatAssignment.seat,
                          StudentProfile.exam_number)


def status_of(attempt: Attempt | None, attendance: str | None) -> str:
    """The monitor's status (see the module docstring)."""
    if attempt is None:
        return "absent" if attendance == "absent" else "not_started"
    if attempt.state == "finalized":
        return "submitted" if attempt.finalized_reason == "submitted" else "finalized"
    return attempt.state  # in_progress | absent | voided


def student_rows(session: Session, exam: Exam, scope: Scope, *, now: datetime) -> list[dict[str, Any]]:
    """One row per eligible student in scope, with status, last seen, seat and integrity-event count."""
    found = session.execute(_eligible(exam, scope)).all()
    ids = [row[0].user_id for row in found]
    attempts = {a.student_id: a for a in session.scalars(select(Attempt).where(Attempt.exam_id == exam.id))} if ids else {}
    marks = dict(session.execute(select(Attendance.student_id, Attendance.status).where(Attendance.exam_id == exam.id)).all())
    events = dict(session.execute(
        select(AttemptEvent.attempt_id, func.count()).join(Attempt, Attempt.id == AttemptEvent.attempt_id)
        .where(Attempt.exam_id == exam.id, AttemptEvent.kind.like("integrity:%"))
        .group_by(AttemptEvent.attempt_id)).all())
    rows = []
    for profile, seat, room_id, room_name, school_name, active in found:
        attempt = attempts.get(profile.user_id)
        status = status_of(attempt, marks.get(profile.user_id))
        last_seen = attempt.last_seen_at if attempt else None
        rows.append({
            "student_id": profile.user_id, "exam_number": profile.exam_number, "name": profile.name,
            "league": profile.league_code, "school_id": profile.school_id, "school": school_name,
            "room_id": room_id, "room": room_name, "seat": seat, "status": status,
            "attendance": marks.get(profile.user_id), "active": active,
            "attempt_id": attempt.id if attempt else None,
            "last_seen": last_seen.isoformat() if last_seen else None,
            "stale": status == "in_progress" and (last_seen is None or now - last_seen > STALE_AFTER),
            "remaining_seconds": timing.remaining_seconds(attempt.deadline, now) if status == "in_progress" else None,
            "deadline": attempt.deadline.isoformat() if attempt else None,
            "extra_seconds": attempt.extra_seconds if attempt else 0,
            "integrity_events": events.get(attempt.id, 0) if attempt else 0,
            "score": attempt.score_total if attempt and attempt.state == "finalized" else None,
        })
    return rows


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for row in rows:
        counts[row["status"]] += 1
    counts["stale"] = sum(1 for r in rows if r["stale"])
    counts["integrity_events"] = sum(r["integrity_events"] for r in rows)
    counts["total"] = len(rows)
    return counts


def group(rows: list[dict[str, Any]], key: str, label: str) -> list[dict[str, Any]]:
    """Counts per league, school or room."""
    buckets: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[(row[key], row[label])].append(row)
    return [{"id": k[0], "name": k[1], **_counts(v)} for k, v in sorted(buckets.items(), key=lambda kv: str(kv[0][1]))]


def needs_attention(row: dict[str, Any]) -> bool:
    """Not seen for over a minute, integrity events, or absent."""
    return row["stale"] or row["integrity_events"] > 0 or row["status"] == "absent"


def snapshot(session: Session, exam: Exam, scope: Scope, *, now: datetime,
             max_students: int | None = None) -> dict[str, Any]:
    """Everything the monitor page shows, as JSON-ready data.

    Counts always cover everyone in scope; past ``max_students`` the student list keeps only those
    needing attention (a province-wide list of thousands helps nobody; filter by school or room).
    """
    rows = student_rows(session, exam, scope, now=now)
    leagues = {code: name for code, name in session.execute(select(League.code, League.name_zh))}
    for row in rows:
        row["league_name"] = leagues.get(row["league"], row["league"])
    listed = rows
    if max_students is not None and len(rows) > max_students:
        listed = [r for r in rows if needs_attention(r)][:max_students]
    return {
        "exam": {"id": exam.id, "title": exam.title, "subject": exam.subject_code,
                 "opens_at": exam.opens_at.isoformat(), "closes_at": exam.closes_at.isoformat()},
        "server_time": now.isoformat(), "stale_after_seconds": int(STALE_AFTER.total_seconds()),
        "totals": _counts(rows),
        "leagues": group(rows, "league", "league_name"),
        "schools": group(rows, "school_id", "school"),
        "rooms": group([r for r in rows if r["room_id"]], "room_id", "room"),
        "students": listed,
        "students_truncated": len(listed) < len(rows),
    }


def open_exams(session: Session, *, now: datetime) -> list[Exam]:
    """Published exams open now or within the last day (a monitor is useful a while after the close)."""
    return list(session.scalars(select(Exam).where(Exam.state == "published", Exam.opens_at <= now + timedelta(hours=12),
                                                   Exam.closes_at >= now - timedelta(days=1)).order_by(Exam.opens_at)))
