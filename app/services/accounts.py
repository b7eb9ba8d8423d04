"""Accounts: creating users, checking passwords, rotating sessions."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ROLES, League, Subject, User
from app.services import audit
from app.services.passwords import burn_time, hash_password, verify_password
from app.services.transactions import begin_writes


class AccountError(ValueError):
    """A refused account change, with Chinese and English reasons."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class HashParams:
    """argon2id parameters (time cost, memory KiB, parallelism)."""

    time_cost: int = 2
    memory_cost: int = 19456
    parallelism: int = 1

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.time_cost, self.memory_cost, self.parallelism)


def new_session_token() -> str:
    """A fresh, unguessable session token."""
    return secrets.token_urlsafe(32)


def create_user(
    session: Session,
    *,
    login_name: str,
    role: str,
    password: str,
    now: datetime,
    actor: audit.Actor,
    display_name: str | None = None,
    league_code: str | None = None,
    subjects: list[str] | None = None,
    hash_params: HashParams = HashParams(),
) -> User:
    """Create a staff or student account; refuses unknown roles, leagues, subjects and duplicates."""
    login_name = login_name.strip()
    if not login_name or len(login_name) > 64:
        raise AccountError("用户名不能为空且不超过 64 个字符", "the username must be 1–64 characters")
    if role not in ROLES:
        raise AccountError(f"未知角色：{role}", f"unknown role: {role}")
    if len(password) < 8:
        raise AccountError("密码至少 8 个字符", "the password must have at least 8 characters")
    if session.scalar(select(User.id).where(User.login_name == login_name)) is not None:
        raise AccountError(f"用户名已存在：{login_name}", f"the username is taken: {login_name}")
    if role == "league_admin" and not league_code:
        raise AccountError("盟市管理员必须指定盟市", "a league admin needs a league (--league CODE)")
    if league_code and session.get(League, league_code) is None:
        raise AccountError(f"未知盟市代码：{league_code}", f"unknown league code: {league_code}")
    subject_rows: list[Subject] = []
    for code in subjects or []:
        subject = session.get(Subject, code)
        if subject is None:
            raise AccountError(f"未知学科：{code}", f"unknown subject: {code}")
        subject_rows.append(subject)
    if subjects and role != "teacher":
        raise AccountError("只有教师可以指定学科", "only teachers have subjects")
    user = User(
        login_name=login_name,
        display_name=(display_name or login_name)[:64],
        role=role,
        league_code=league_code,
        password_hash=hash_password(password, hash_params.as_tuple()),
        session_token=new_session_token(),
        is_active=True,
        created_at=now,
    )
    user.subjects = subject_rows
    session.add(user)
    session.flush()
    audit.record(
        session, actor=actor, action="user.create", object_type="user", object_id=user.id, now=now,
        after={"login_name": login_name, "role": role, "league": league_code, "subjects": subjects or []},
        league_code=league_code,
    )
    return user


def authenticate(session: Session, login_name: str, password: str, *, now: datetime) -> User | None:
    """Return the user when the password matches, rotating the session token.

    Rotating the token ends every other session of the user: the newest login is the one that
    counts (a student has one active session). Unknown users cost the same time as known ones.
    """
    user = session.scalar(select(User).where(User.login_name == login_name.strip()))
    if user is None:
        burn_time((2, 19456, 1))
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        return None
    # SQLite: the login view reads first (app.database.reads_first), so the single write lock is not
    # held through the ~20 ms password check of every login in a room; take it only for the writes.
    begin_writes(session)
    user.session_token = new_session_token()
    user.last_login_at = now
    return user


def end_session(session: Session, user: User) -> None:
    """Log out everywhere: the old token stops working."""
    user.session_token = new_session_token()


def set_password(session: Session, user: User, password: str, *, now: datetime, actor: audit.Actor,
                 hash_params: HashParams = HashParams()) -> None:
    """Replace a password and end the user's sessions."""
    if len(password) < 8:
        raise AccountError("密码至少 8 个字符", "the password must have at least 8 characters")
    user.password_hash = hash_password(password, hash_params.as_tuple())
    user.session_token = new_session_token()
    audit.record(session, actor=actor, action="user.password_reset", object_type="user",
                 object_id=user.id, now=now, league_code=user.league_code)
