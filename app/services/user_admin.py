"""User management: search and filter, disable, league admins, teachers' subjects, proctors' rooms.

Scope rule: the provincial admin acts on everyone but themself for disabling; a league admin acts
only on students of their league and on teachers and proctors registered to their league, never on
admins or other league admins, and only the provincial admin appoints league admins. Every change
is audited with before and after.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from app.models import League, Room, School, StudentProfile, Subject, User, room_proctors
from app.services import audit
from app.services.accounts import AccountError, new_session_token


def league_of(user: User) -> str | None:
    """The league a user belongs to: the student's league, or the staff account's."""
    return user.student.league_code if user.student else user.league_code


def can_act_on(viewer: User, target: User) -> bool:
    """Whether ``viewer`` may manage ``target`` (see the module rule)."""
    if viewer.role == "admin":
        return True
    if viewer.role != "league_admin" or target.role in ("admin", "league_admin"):
        return False
    return league_of(target) == viewer.league_code


@dataclass(frozen=True)
class Filters:
    """The user list's filters."""

    q: str = ""
    role: str = ""
    league: str = ""
    school_id: int | None = None
    subject: str = ""
    active: str = ""  # "", "1", "0"


def search(session: Session, viewer: User, filters: Filters, *, page: int = 1, per_page: int = 50) -> tuple[list[User], bool]:
    """Users matching the filters in the viewer's scope; returns (rows, has_next)."""
    query = select(User).outerjoin(StudentProfile, StudentProfile.user_id == User.id).order_by(User.role, User.login_name)
    if viewer.role == "league_admin":
        query = query.where(or_(User.league_code == viewer.league_code, StudentProfile.league_code == viewer.league_code))
    if filters.role:
        query = query.where(User.role == filters.role)
    if filters.league:
        query = query.where(or_(User.league_code == filters.league, StudentProfile.league_code == filters.league))
    if filters.school_id is not None:
        query = query.where(StudentProfile.school_id == filters.school_id)
    if filters.subject:
        query = query.where(StudentProfile.subject_code == filters.subject)
    if filters.active in ("0", "1"):
        query = query.where(User.is_active.is_(filters.active == "1"))
    if filters.q:
        like = f"%{filters.q}%"
        query = query.where(or_(User.login_name.like(like), User.display_name.like(like), StudentProfile.name.like(like)))
    rows = session.scalars(query.limit(per_page + 1).offset((max(1, page) - 1) * per_page)).all()
    return list(rows[:per_page]), len(rows) > per_page


def set_active(session: Session, target: User, active: bool, *, viewer: User, actor: audit.Actor, now: datetime) -> None:
    """Disable (sessions end at once) or enable an account."""
    if target.id == viewer.id and not active:
        raise AccountError("不能停用自己的账号", "you cannot disable your own account")
    before = target.is_active
    target.is_active = active
    if not active:
        target.session_token = new_session_token()
    audit.record(session, actor=actor, action="user.enable" if active else "user.disable", object_type="user",
                 object_id=target.id, now=now, league_code=league_of(target), before={"is_active": before},
                 after={"is_active": active})


def make_league_admin(session: Session, target: User, league_code: str, *, viewer: User, actor: audit.Actor,
                      now: datetime) -> None:
    """Appoint a staff account league admin of a league (provincial admin only)."""
    if viewer.role != "admin":
        raise AccountError("只有全区管理员可以任命盟市管理员", "only the provincial admin appoints league admins")
    if target.role == "student":
        raise AccountError("考生账号不能成为管理员", "a student account cannot become an admin")
    if session.get(League, league_code or "") is None:
        raise AccountError(f"未知盟市代码：{league_code}", f"unknown league code: {league_code}")
    before = {"role": target.role, "league": target.league_code}
    target.role, target.league_code = "league_admin", league_code
    target.subjects = []
    session.execute(delete(room_proctors).where(room_proctors.c.user_id == target.id))
    target.session_token = new_session_token()
    audit.record(session, actor=actor, action="user.role", object_type="user", object_id=target.id, now=now,
                 league_code=league_code, before=before, after={"role": "league_admin", "league": league_code})


def set_teacher_subjects(session: Session, target: User, codes: list[str], *, actor: audit.Actor, now: datetime) -> None:
    """Replace a teacher's subjects."""
    if target.role != "teacher":
        raise AccountError("只有教师可以指定学科", "only teachers have subjects")
    subjects = [session.get(Subject, c) for c in codes]
    if any(s is None for s in subjects):
        raise AccountError("未知学科", "unknown subject")
    before = sorted(target.subject_codes)
    target.subjects = subjects
    audit.record(session, actor=actor, action="user.subjects", object_type="user", object_id=target.id, now=now,
                 league_code=target.league_code, before={"subjects": before}, after={"subjects": sorted(codes)})


def set_proctor_rooms(session: Session, target: User, room_ids: list[int], *, viewer: User, actor: audit.Actor,
                      now: datetime) -> None:
    """Replace a proctor's rooms (a league admin only assigns rooms of their league)."""
    if target.role != "proctor":
        raise AccountError("只有监考老师可以分配考场", "only proctors are assigned rooms")
    rooms = [session.get(Room, rid) for rid in room_ids]
    for room in rooms:
        if room is None or (viewer.role == "league_admin" and room.school.league_code != viewer.league_code):
            raise AccountError("考场不存在或不在您的盟市", "no such room in your league")
    current = set(session.scalars(select(room_proctors.c.room_id).where(room_proctors.c.user_id == target.id)))
    keep = current
    if viewer.role == "league_admin":  # rooms of other leagues stay as they are
        keep = {rid for rid in current if session.get(Room, rid).school.league_code != viewer.league_code}
    session.execute(delete(room_proctors).where(room_proctors.c.user_id == target.id))
    for rid in sorted(keep | set(room_ids)):
        session.execute(room_proctors.insert().values(room_id=rid, user_id=target.id))
    audit.record(session, actor=actor, action="user.rooms", object_type="user", object_id=target.id, now=now,
                 league_code=target.league_code or (viewer.league_code if viewer.role == "league_admin" else None),
                 before={"rooms": sorted(current)}, after={"rooms": sorted(keep | set(room_ids))})


def rooms_of(session: Session, user: User) -> list[tuple[Room, School]]:
    """A proctor's rooms with their schools."""
    return list(session.execute(select(Room, School).join(School, School.id == Room.school_id)
                                .join(room_proctors, room_proctors.c.room_id == Room.id)
                                .where(room_proctors.c.user_id == user.id).order_by(School.name, Room.name)).all())
