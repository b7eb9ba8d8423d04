"""What each role's home page summarises."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import League, School, StudentProfile, User


@dataclass
class LeagueRow:
    """One league's counts on the admin dashboard."""

    code: str
    name_zh: str
    name_en: str
    schools: int
    students: int


@dataclass
class AdminSummary:
    """The admin dashboard: leagues in scope with counts, and totals."""

    leagues: list[LeagueRow] = field(default_factory=list)
    staff_by_role: dict[str, int] = field(default_factory=dict)

    @property
    def total_students(self) -> int:
        return sum(r.students for r in self.leagues)


def league_scope(user: User) -> str | None:
    """The league a user is confined to (league admins), or None for province-wide roles."""
    return user.league_code if user.role == "league_admin" else None


def admin_summary(session: Session, user: User) -> AdminSummary:
    """Counts per league; a league admin sees only their own league."""
    scope = league_scope(user)
    schools = dict(session.execute(select(School.league_code, func.count()).group_by(School.league_code)).all())
    students = dict(session.execute(
        select(StudentProfile.league_code, func.count()).group_by(StudentProfile.league_code)).all())
    query = select(League).order_by(League.code)
    if scope:
        query = query.where(League.code == scope)
    summary = AdminSummary()
    for league in session.scalars(query):
        summary.leagues.append(LeagueRow(league.code, league.name_zh, league.name_en,
                                         schools.get(league.code, 0), students.get(league.code, 0)))
    staff = select(User.role, func.count()).where(User.role != "student").group_by(User.role)
    if scope:
        staff = staff.where(User.league_code == scope)
    summary.staff_by_role = dict(session.execute(staff).all())
    return summary


def teacher_summary(session: Session, user: User) -> dict:
    """A teacher's subjects (their banks)."""
    return {"subjects": list(user.subjects)}


def proctor_summary(session: Session, user: User) -> dict:
    """A proctor's rooms (with their schools), for the proctor's home page."""
    from app.models import Room, room_proctors

    rooms = session.scalars(select(Room).join(room_proctors, room_proctors.c.room_id == Room.id)
                            .where(room_proctors.c.user_id == user.id).order_by(Room.name)).all()
    return {"rooms": list(rooms)}
