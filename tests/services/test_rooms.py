"""Rooms, seats, proctors, attendance and incident notes."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditEntry, SeatAssignment
from app.services import rooms
from app.services.audit import Actor

A = Actor(None, "test")


@pytest.fixture
def school(make):
    return make.school("150100", "考场测试中学")


def test_room_create_update_and_limits(db_session, school, make, now):
    room = rooms.create_room(db_session, school, name="第1考场", seats=2, actor=A, now=now)
    with pytest.raises(rooms.RoomError):
        rooms.create_room(db_session, school, name="第1考场", seats=2, actor=A, now=now)
    with pytest.raises(rooms.RoomError):
        rooms.create_room(db_session, school, name="x", seats=0, actor=A, now=now)
    student = make.student(school=school)
    assert rooms.assign_seat(db_session, student, room, 2, actor=A, now=now) == 2
    with pytest.raises(rooms.RoomError) as shrink:
        rooms.update_room(db_session, room, name="第1考场", seats=1, actor=A, now=now)
    assert "2" in shrink.value.zh
    rooms.update_room(db_session, room, name="一号机房", seats=40, actor=A, now=now)
    assert room.name == "一号机房" and room.seats == 40


def test_seats_are_unique_and_rooms_belong_to_the_school(db_session, school, make, now):
    room = rooms.create_room(db_session, school, name="A", seats=2, actor=A, now=now)
    first, second, third = (make.student(school=school) for _ in range(3))
    rooms.assign_seat(db_session, first, room, 1, actor=A, now=now)
    with pytest.raises(rooms.RoomError):
        rooms.assign_seat(db_session, second, room, 1, actor=A, now=now)
    assert rooms.assign_seat(db_session, second, room, None, actor=A, now=now) == 2
    with pytest.raises(rooms.RoomError) as full:
        rooms.assign_seat(db_session, third, room, None, actor=A, now=now)
    assert "已满" in full.value.zh
    other = make.student(school=make.school("150200"))
    with pytest.raises(rooms.RoomError):
        rooms.assign_seat(db_session, other, room, None, actor=A, now=now)


def test_auto_assign_fills_rooms_in_order_all_or_nothing(db_session, school, make, now):
    students = [make.student(school=school, exam_number=f"AUTO{i:04d}") for i in range(5)]
    rooms.create_room(db_session, school, name="A", seats=3, actor=A, now=now)
    with pytest.raises(rooms.RoomError):
        rooms.auto_assign(db_session, school, actor=A, now=now)
    assert db_session.scalar(select(SeatAssignment).limit(1)) is None
    rooms.create_room(db_session, school, name="B", seats=3, actor=A, now=now)
    assert rooms.auto_assign(db_session, school, actor=A, now=now) == 5
    seats = {s.student_id: (s.room.name, s.seat) for s in db_session.scalars(select(SeatAssignment))}
    assert [seats[s.user_id] for s in students] == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2)]
    assert rooms.unseated_count(db_session, school) == 0


def test_proctors_attendance_and_incidents(db_session, school, make, now):
    from tests import exam_fixtures as fx

    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    room = rooms.create_room(db_session, school, name="A", seats=5, actor=A, now=now)
    proctor, teacher = make.user(role="proctor"), make.user(role="teacher")
    with pytest.raises(rooms.RoomError):
        rooms.set_proctors(db_session, room, [teacher.id], actor=A, now=now)
    rooms.set_proctors(db_session, room, [proctor.id], actor=A, now=now)
    assert rooms.proctor_room_ids(db_session, proctor.id) == [room.id]
    assert rooms.can_see_room(db_session, proctor, room)
    assert not rooms.can_see_room(db_session, make.user(role="proctor"), room)
    assert not rooms.can_see_room(db_session, make.user(role="league_admin", league_code="150200"), room)
    student = make.student(school=school)
    with pytest.raises(rooms.RoomError):
        rooms.mark_attendance(db_session, exam, room, student.user_id, "absent", actor=A, now=now)
    rooms.assign_seat(db_session, student, room, 1, actor=A, now=now)
    rooms.mark_attendance(db_session, exam, room, student.user_id, "absent", actor=A, now=now)
    row = rooms.mark_attendance(db_session, exam, room, student.user_id, "present", actor=A, now=now)
    assert row.status == "present"
    with pytest.raises(rooms.RoomError):
        rooms.add_incident(db_session, room, exam, "  ", student_id=None, actor=A, now=now)
    rooms.add_incident(db_session, room, exam, "3 号机死机，已换机", student_id=student.user_id, actor=A, now=now)
    assert [n.text for n in rooms.incidents(db_session, room, exam)] == ["3 号机死机，已换机"]
    actions = set(db_session.scalars(select(AuditEntry.action)))
    assert {"room.create", "room.proctors", "seat.assign", "attendance.mark", "incident.note"} <= actions
