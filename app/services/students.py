"""Creating student accounts with their registration profile."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import people
from app.domain.national_id import NationalIdError
from app.models import School, StudentProfile, Subject, User
from app.services import audit, national_ids
from app.services.accounts import AccountError, HashParams, new_session_token
from app.services.passwords import hash_password


@dataclass(frozen=True)
class StudentInput:
    """One student's registration, as typed or imported."""

    exam_number: str
    name: str
    school_id: int
    subject_code: str
    gender: str = "U"
    grade: str = ""
    national_id: str | None = None


@dataclass(frozen=True)
class IdKeys:
    """Keys for national IDs (from configuration)."""

    encryption_keys: str
    hash_key: str


def create_student(session: Session, data: StudentInput, *, password: str, now: datetime,
                   actor: audit.Actor, id_keys: IdKeys | None,
                   hash_params: HashParams = HashParams()) -> User:
    """Create the account (login name = exam number) and the profile; audited."""
    exam_number = data.exam_number.strip()
    if not people.valid_exam_number(exam_number):
        raise AccountError(f"准考证号格式无效：{exam_number}", f"invalid exam number: {exam_number}")
    name = people.normalize_name(data.name)
    if not people.valid_name(name):
        raise AccountError(f"姓名无效：{data.name}", f"invalid name: {data.name}")
    school = session.get(School, data.school_id)
    if school is None:
        raise AccountError("学校不存在", "unknown school")
    if session.get(Subject, data.subject_code) is None:
        raise AccountError(f"未知学科：{data.subject_code}", f"unknown subject: {data.subject_code}")
    if session.scalar(select(User.id).where(User.login_name == exam_number)) is not None:
        raise AccountError(f"准考证号已存在：{exam_number}", f"exam number already registered: {exam_number}")
    stored = None
    if data.national_id:
        if id_keys is None:
            raise AccountError("未配置身份证号密钥", "national ID keys are not configured")
        try:
            stored = national_ids.protect(data.national_id, keys=id_keys.encryption_keys,
                                          hash_key=id_keys.hash_key)
        except NationalIdError as exc:
            raise AccountError(exc.zh, exc.en) from None
        if session.scalar(select(StudentProfile.user_id)
                          .where(StudentProfile.national_id_hash == stored.keyed_hash)) is not None:
            raise AccountError("身份证号已被其他考生使用", "this national ID is already registered")
    user = User(login_name=exam_number, display_name=name, role="student",
                password_hash=hash_password(password, hash_params.as_tuple()),
                session_token=new_session_token(), is_active=True, created_at=now)
    user.student = StudentProfile(
        exam_number=exam_number, name=name, gender=data.gender, grade=data.grade, school_id=school.id,
        league_code=school.league_code, subject_code=data.subject_code,
        national_id_encrypted=stored.encrypted if stored else None,
        national_id_hash=stored.keyed_hash if stored else None,
        national_id_masked=stored.masked if stored else None,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="student.create", object_type="student", object_id=user.id,
                 now=now, league_code=school.league_code,
                 after={"exam_number": exam_number, "name": name, "school": school.name,
                        "subject": data.subject_code, "national_id": stored.masked if stored else None})
    return user
