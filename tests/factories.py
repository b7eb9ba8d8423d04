"""Test data factories (a session in, model objects out), through the real services."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import School, User
from app.services import accounts, students
from app.services.audit import Actor

PASSWORD = "correct-horse-42"
CHEAP = accounts.HashParams(1, 1024, 1)
_seq = itertools.count(1)
NOW = datetime(2026, 6, 14, 6, 0, tzinfo=UTC)
ACTOR = Actor(None, "test")


class Factory:
    """Creates users, schools and students in the given session."""

    def __init__(self, session: Session, config):
        self.session = session
        self.config = config

    def school(self, league_code: str = "150100", name: str | None = None) -> School:
        """A school in a league."""
        school = School(name=name or f"测试中学{next(_seq)}", league_code=league_code)
        self.session.add(school)
        self.session.flush()
        return school

    def user(self, role: str = "teacher", login_name: str | None = None, **kwargs) -> User:
        """A staff account with the test password."""
        if role == "league_admin":
            kwargs.setdefault("league_code", "150100")
        if role == "teacher":
            kwargs.setdefault("subjects", ["physics"])
        return accounts.create_user(self.session, login_name=login_name or f"{role}{next(_seq)}", role=role,
                                    password=PASSWORD, now=NOW, actor=ACTOR, hash_params=CHEAP, **kwargs)

    def student(self, league_code: str = "150100", subject: str = "physics", exam_number: str | None = None,
                name: str = "测试考生", school: School | None = None, national_id: str | None = None):
        """A student (account + profile); returns the profile."""
        school = school or self.session.scalar(select(School).where(School.league_code == league_code)) \
            or self.school(league_code)
        user = students.create_student(
            self.session,
            students.StudentInput(exam_number=exam_number or f"2026{league_code}{next(_seq):05d}", name=name,
                                  school_id=school.id, subject_code=subject, national_id=national_id),
            password=PASSWORD, now=NOW, actor=ACTOR, hash_params=CHEAP,
            id_keys=students.IdKeys(self.config["ID_ENCRYPTION_KEYS"], self.config["ID_HASH_KEY"]))
        return user.student
