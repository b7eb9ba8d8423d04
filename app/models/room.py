"""Exam-day operations: rooms (考场) per school with seats, seat assignments, proctors, attendance, incidents.

Seat assignments live in their own table rather than as columns of ``students``: a student has at most
one seat (primary key), a seat holds at most one student (unique room + seat), and moving a student is
one row's update. A room's seat count is a check, not a list of rows, so resizing a room is one field.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime
from app.models.league import School

ATTENDANCE_STATES = ("present", "absent")

room_proctors = Table(
    "room_proctors",
    Base.metadata,
    Column("room_id", Integer, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Room(Base):
    """A school computer room used as an exam room, with a number of seats."""

    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("school_id", "name"),
        CheckConstraint("seats > 0 AND seats <= 1000", name="seats_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    seats: Mapped[int] = mapped_column()
    location: Mapped[str] = mapped_column(String(128), default="")

    school: Mapped[School] = relationship()


class SeatAssignment(Base):
    """A student's seat: one per student, one student per seat."""

    __tablename__ = "seat_assignments"
    __table_args__ = (
        UniqueConstraint("room_id", "seat"),
        CheckConstraint("seat > 0", name="seat_positive"),
    )

    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    seat: Mapped[int] = mapped_column()

    room: Mapped[Room] = relationship()


class Attendance(Base):
    """A proctor's mark for one student at one exam: present or absent (the latest mark counts)."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("exam_id", "student_id"),
        CheckConstraint("status IN ('present','absent')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IncidentNote(Base):
    """A proctor's note of something that happened in a room during an exam (evidence, append-only)."""

    __tablename__ = "incident_notes"
    __table_args__ = (Index("ix_incident_notes_exam_room", "exam_id", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int | None] = mapped_column(ForeignKey("exams.id", ondelete="SET NULL"))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
