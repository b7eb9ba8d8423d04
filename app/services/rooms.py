"""Rooms (考场) per school with seats, seat assignment, proctors, attendance and incident notes.

Rules: a room belongs to one school and seats its own school's students; a seat holds one student
and a student has one seat (database constraints); a room cannot shrink below an occupied seat;
automatic assignment fills the school's rooms in name order, first free seat first, students in
exam-number order, all or nothing. Who may see or act on a room: the provincial admin, the league
admin of the room's league, and the proctors assigned to it. Every change is audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import (
    Attendance,
    Exam,
    IncidentNote,
    Room,
    School,
    SeatAssignment,
    StudentProfile,
    User,
    room_proctors,
)
from app.services import audit


class RoomError(ValueError):
    """A refused room change, with Chinese and English reasons."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


def can_manage(user: User, league_code: str) -> bool:
    """Admins everywhere; league admins in their league."""
    return user.role == "admin" or (user.role == "league_admin" and user.league_code == league_code)


def can_see_room(session: Session, user: User, room: Room) -> bool:
    """Managers of the room's league and the room's own proctors."""
    if can_manage(user, room.school.league_code):
        return True
    return user.role == "proctor" and is_proctor_of(session, user.id, room.id)


def is_proctor_of(session: Session, user_id: int, room_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(room_proctors).where(
        room_proctors.c.user_id == user_id, room_proctors.c.room_id == room_id)) > 0


def proctor_room_ids(session: Session, user_id: int) -> list[int]:
    """The rooms a proctor is assigned to."""
    return list(session.scalars(select(room_proctors.c.room_id).where(room_proctors.c.user_id == user_id)))


def _check_fields(name: str, seats: int) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 64:
        raise RoomError("考场名称不能为空且不超过 64 字", "the room name must be 1–64 characters")
    if not isinstance(seats, int) or not 0 < seats <= 1000:
        raise RoomError("座位数应为 1–1000", "seats must be 1–1000")
    return name


def create_room(session: Session, school: School, *, name: str, seats: int, location: str = "",
                actor: audit.Actor, now: datetime) -> Room:
    """A new room in a school (names are unique within the school)."""
    name = _check_fields(name, seats)
    if session.scalar(select(Room.id).where(Room.school_id == school.id, Room.name == name)) is not None:
        raise RoomError(f"该校已有考场“{name}”", f'the school already has a room "{name}"')
    room = Room(school_id=school.id, name=name, seats=seats, location=(location or "")[:128])
    session.add(room)
    session.flush()
    audit.record(session, actor=actor, action="room.create", object_type="room", object_id=room.id, now=now,
                 league_code=school.league_code, after={"school": school.name, "name": name, "seats": seats})
    return room


def update_room(session: Session, room: Room, *, name: str, seats: int, actor: audit.Actor, now: datetime) -> None:
    """Rename or resize a room; it cannot shrink below an occupied seat."""
    name = _check_fields(name, seats)
    highest = session.scalar(select(func.max(SeatAssignment.seat)).where(SeatAssignment.room_id == room.id)) or 0
    if seats < highest:
        raise RoomError(f"{highest} 号座位已有考生，座位数不能少于 {highest}", f"seat {highest} is taken; keep at least {highest} seats")
    before = {"name": room.name, "seats": room.seats}
    room.name, room.seats = name, seats
    audit.record(session, actor=actor, action="room.update", object_type="room", object_id=room.id, now=now,
                 league_code=room.school.league_code, before=before, after={"name": name, "seats": seats})


def seats_of(session: Session, room: Room) -> list[tuple[int, StudentProfile | None]]:
    """Every seat of the room with its student (or None)."""
    taken = {seat: profile for seat, profile in session.execute(
        select(SeatAssignment.seat, StudentProfile).join(StudentProfile, StudentProfile.user_id == SeatAssignment.student_id)
        .where(SeatAssignment.room_id == room.id))}
    return [(n, taken.get(n)) for n in range(1, room.seats + 1)]


def assign_seat(session: Session, profile: StudentProfile, room: Room, seat: int | None, *, actor: audit.Actor,
                now: datetime) -> int:
    """Seat a student (the given seat, or the first free one); moves them if already seated elsewhere."""
    if room.school_id != profile.school_id:
        raise RoomError("考生只能安排在本校的考场", "a student can only sit in a room of their own school")
    used = set(session.scalars(select(SeatAssignment.seat).where(SeatAssignment.room_id == room.id,
                                                                 SeatAssignment.student_id != profile.user_id)))
    if seat is None:
        seat = next((n for n in range(1, room.seats + 1) if n not in used), None)
        if seat is None:
            raise RoomError(f"{room.name} 已满", f"room {room.name} is full")
    if not 0 < seat <= room.seats:
        raise RoomError(f"座位号应在 1–{room.seats} 之间", f"the seat must be 1–{room.seats}")
    if seat in used:
        raise RoomError(f"{seat} 号座位已有考生", f"seat {seat} is taken")
    current = session.get(SeatAssignment, profile.user_id)
    before = {"room_id": current.room_id, "seat": current.seat} if current else None
    if current is None:
        session.add(SeatAssignment(student_id=profile.user_id, room_id=room.id, seat=seat))
    else:
        current.room_id, current.seat = room.id, seat
    session.flush()
    audit.record(session, actor=actor, action="seat.assign", object_type="student", object_id=profile.user_id, now=now,
                 league_code=profile.league_code, before=before, after={"room_id": room.id, "seat": seat})
    return seat


def auto_assign(session: Session, school: School, *, actor: audit.Actor, now: datetime) -> int:
    """Seat every unseated student of a school (see the module rule); refuses whole if seats run out."""
    rooms = session.scalars(select(Room).where(Room.school_id == school.id).order_by(Room.name)).all()
    waiting = session.scalars(select(StudentProfile).where(
        StudentProfile.school_id == school.id,
        ~StudentProfile.user_id.in_(select(SeatAssignment.student_id))).order_by(StudentProfile.exam_number)).all()
    free: list[tuple[Room, int]] = []
    for room in rooms:
        used = set(session.scalars(select(SeatAssignment.seat).where(SeatAssignment.room_id == room.id)))
        free.extend((room, n) for n in range(1, room.seats + 1) if n not in used)
    if len(free) < len(waiting):
        raise RoomError(f"座位不足：{len(waiting)} 名考生待安排，只有 {len(free)} 个空座位",
                        f"not enough seats: {len(waiting)} students waiting, {len(free)} free seats")
    for profile, (room, seat) in zip(waiting, free):
        session.add(SeatAssignment(student_id=profile.user_id, room_id=room.id, seat=seat))
    session.flush()
    audit.record(session, actor=actor, action="seat.auto_assign", object_type="school", object_id=school.id, now=now,
                 league_code=school.league_code, after={"assigned": len(waiting), "rooms": len(rooms)})
    return len(waiting)


def set_proctors(session: Session, room: Room, user_ids: list[int], *, actor: audit.Actor, now: datetime) -> None:
    """Replace the room's proctors (only accounts with the proctor role)."""
    users = [session.get(User, uid) for uid in user_ids]
    if any(u is None or u.role != "proctor" for u in users):
        raise RoomError("只能指派监考老师账号", "only proctor accounts can be assigned to a room")
    before = sorted(session.scalars(select(room_proctors.c.user_id).where(room_proctors.c.room_id == room.id)))
    session.execute(delete(room_proctors).where(room_proctors.c.room_id == room.id))
    for uid in sorted(set(user_ids)):
        session.execute(room_proctors.insert().values(room_id=room.id, user_id=uid))
    audit.record(session, actor=actor, action="room.proctors", object_type="room", object_id=room.id, now=now,
                 league_code=room.school.league_code, before={"proctors": before},
                 after={"proctors": sorted(set(user_ids))})


def proctors_of(session: Session, room: Room) -> list[User]:
    return list(session.scalars(select(User).join(room_proctors, room_proctors.c.user_id == User.id)
                                .where(room_proctors.c.room_id == room.id).order_by(User.login_name)))


def mark_attendance(session: Session, exam: Exam, room: Room, student_id: int, status: str, *, actor: audit.Actor,
                    now: datetime) -> Attendance:
    """Mark a seated student present or absent for an exam (the latest mark counts)."""
    if status not in ("present", "absent"):
        raise RoomError("考勤状态应为到场或缺考", "attendance is present or absent")
    seat = session.get(SeatAssignment, student_id)
    if seat is None or seat.room_id != room.id:
        raise RoomError("该考生不在本考场", "this student is not seated in this room")
    row = session.scalar(select(Attendance).where(Attendance.exam_id == exam.id, Attendance.student_id == student_id))
    before = {"status": row.status} if row else None
    if row is None:
        row = Attendance(exam_id=exam.id, student_id=student_id, status=status, marked_by_id=actor.user_id, marked_at=now)
        session.add(row)
    else:
        row.status, row.marked_by_id, row.marked_at = status, actor.user_id, now
    session.flush()
    audit.record(session, actor=actor, action="attendance.mark", object_type="student", object_id=student_id, now=now,
                 league_code=room.school.league_code, before=before, after={"exam_id": exam.id, "status": status})
    return row


def add_incident(session: Session, room: Room, exam: Exam | None, text: str, *, student_id: int | None,
                 actor: audit.Actor, now: datetime) -> IncidentNote:
    """Record an incident note (append-only evidence)."""
    text = (text or "").strip()
    if not text or len(text) > 2000:
        raise RoomError("情况说明不能为空且不超过 2000 字", "the note must be 1–2000 characters")
    if student_id is not None:
        seat = session.get(SeatAssignment, student_id)
        if seat is None or seat.room_id != room.id:
            raise RoomError("该考生不在本考场", "this student is not seated in this room")
    note = IncidentNote(exam_id=exam.id if exam else None, room_id=room.id, student_id=student_id,
                        author_id=actor.user_id, at=now, text=text)
    session.add(note)
    session.flush()
    audit.record(session, actor=actor, action="incident.note", object_type="room", object_id=room.id, now=now,
                 league_code=room.school.league_code, after={"exam_id": note.exam_id, "student_id": student_id},
                 reason=text[:500])
    return note


def incidents(session: Session, room: Room, exam: Exam | None) -> list[IncidentNote]:
    query = select(IncidentNote).where(IncidentNote.room_id == room.id).order_by(IncidentNote.at.desc())
    if exam is not None:
        query = query.where(IncidentNote.exam_id == exam.id)
    return list(session.scalars(query.limit(200)))


@dataclass
class RoomRow:
    """A room in a list, with its occupancy."""

    room: Room
    assigned: int


def rooms_of_school(session: Session, school: School) -> list[RoomRow]:
    counts = dict(session.execute(select(SeatAssignment.room_id, func.count()).group_by(SeatAssignment.room_id)).all())
    return [RoomRow(r, counts.get(r.id, 0)) for r in session.scalars(
        select(Room).where(Room.school_id == school.id).order_by(Room.name))]


def unseated_count(session: Session, school: School) -> int:
    return session.scalar(select(func.count()).select_from(StudentProfile).where(
        StudentProfile.school_id == school.id, ~StudentProfile.user_id.in_(select(SeatAssignment.student_id)))) or 0
