"""Minors' personal data: reveal with permission and audit, key rotation, purge after retention, own-data export.

China's PIPL treats minors' data and ID numbers as sensitive. The rules applied here:
- a national ID is stored encrypted; only a provincial admin (or the league admin of the student's
  league) may reveal it, for a stated reason, and every reveal is audited;
- keys rotate without downtime: ``ID_ENCRYPTION_KEYS`` lists the new key first, ``rotate_keys``
  re-encrypts every stored ID with it, then the old key can be dropped from the list;
- after a selection round's retention period, ``purge_round`` anonymizes the personal fields of
  its students (name, gender, grade, national ID, login) while keeping exam numbers, schools,
  leagues, scores and ranks, so statistics and published snapshots (which hold no names) still verify;
- a student can download everything the platform holds about them.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Attempt,
    AttemptEvent,
    Exam,
    ExamConsent,
    Response,
    SelectionRound,
    StudentProfile,
    User,
)
from app.services import audit, national_ids
from app.services.accounts import new_session_token

ANONYMIZED_NAME = "已匿名"


class PrivacyError(Exception):
    """A refused privacy action, in Chinese and English."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


def may_reveal(viewer: User, profile: StudentProfile) -> bool:
    """Provincial admins, and league admins for students of their league."""
    return viewer.role == "admin" or (viewer.role == "league_admin" and viewer.league_code == profile.league_code)


def reveal_national_id(session: Session, viewer: User, profile: StudentProfile, *, reason: str, keys: str,
                       actor: audit.Actor, now: datetime) -> str:
    """Decrypt one student's national ID for an authorised viewer with a reason; audited."""
    if not may_reveal(viewer, profile):
        raise PermissionError("not allowed to reveal this ID")
    if not reason or not reason.strip():
        raise PrivacyError("查看身份证号必须填写原因", "a reason is required to reveal a national ID")
    if profile.national_id_encrypted is None:
        raise PrivacyError("该考生没有登记身份证号", "no national ID is stored for this student")
    value = national_ids.reveal(profile.national_id_encrypted, keys=keys)
    audit.record(session, actor=actor, action="privacy.reveal_id", object_type="student", object_id=profile.user_id,
                 reason=reason.strip(), league_code=profile.league_code, now=now,
                 after={"exam_number": profile.exam_number, "masked": profile.national_id_masked})
    return value


def rotate_keys(session: Session, *, keys: str, actor: audit.Actor, now: datetime, batch: int = 500) -> int:
    """Re-encrypt every stored national ID with the first (newest) key; returns how many were rotated."""
    count = 0
    last_id = 0
    while True:
        rows = session.scalars(select(StudentProfile).where(StudentProfile.national_id_encrypted.is_not(None),
                                                            StudentProfile.user_id > last_id)
                               .order_by(StudentProfile.user_id).limit(batch)).all()
        if not rows:
            break
        for profile in rows:
            profile.national_id_encrypted = national_ids.rotate(profile.national_id_encrypted, keys=keys)
            count += 1
            last_id = profile.user_id
        session.flush()
    audit.record(session, actor=actor, action="privacy.rotate_keys", object_type="national_ids",
                 after={"rotated": count}, now=now)
    return count


def round_students(session: Session, selection_round: SelectionRound) -> list[StudentProfile]:
    """Students who sat any exam of the round."""
    exam_ids = [e.id for e in selection_round.exams]
    if not exam_ids:
        return []
    user_ids = session.scalars(select(Attempt.student_id).where(Attempt.exam_id.in_(exam_ids)).distinct()).all()
    return list(session.scalars(select(StudentProfile).where(StudentProfile.user_id.in_(user_ids))))


def purge_round(session: Session, selection_round: SelectionRound, *, actor: audit.Actor, now: datetime,
                force: bool = False) -> int:
    """Anonymize the personal fields of the round's students; idempotent; returns how many changed.

    Refused before the retention period ends (retention_days after the round's last exam closed),
    unless ``force``. Keeps exam numbers, schools, leagues, attempts, scores and ranks.
    """
    last_close = max((e.closes_at for e in selection_round.exams), default=None)
    if selection_round.retention_days is not None and last_close is not None and not force:
        until = last_close + timedelta(days=selection_round.retention_days)
        if now < until:
            raise PrivacyError(f"保留期至 {until.date().isoformat()} 才结束", f"the retention period runs until {until.date()}")
    changed = 0
    for profile in round_students(session, selection_round):
        if profile.name == ANONYMIZED_NAME and profile.national_id_encrypted is None:
            continue
        profile.name = ANONYMIZED_NAME
        profile.gender = "U"
        profile.grade = ""
        profile.national_id_encrypted = None
        profile.national_id_hash = None
        profile.national_id_masked = None
        profile.extra_time_reason = None
        user = profile.user
        user.display_name = ANONYMIZED_NAME
        user.is_active = False
        user.session_token = new_session_token()
        changed += 1
    session.flush()
    audit.record(session, actor=actor, action="privacy.purge_round", object_type="round", object_id=selection_round.id,
                 after={"anonymized": changed, "round": selection_round.name}, now=now)
    return changed


def export_own_data(session: Session, user: User) -> dict[str, Any]:
    """Everything held about a student: profile, consents, attempts with answers, events, results."""
    profile = user.student
    data: dict[str, Any] = {
        "account": {"login_name": user.login_name, "created_at": user.created_at.isoformat(),
                    "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None},
        "profile": None, "consents": [], "attempts": [],
    }
    if profile is not None:
        data["profile"] = {"exam_number": profile.exam_number, "name": profile.name, "gender": profile.gender,
                           "grade": profile.grade, "school": profile.school.name, "league": profile.league.name_zh,
                           "subject": profile.subject_code, "national_id": profile.national_id_masked,
                           "extra_minutes": profile.extra_minutes}
    for consent in session.scalars(select(ExamConsent).where(ExamConsent.student_id == user.id)):
        data["consents"].append({"exam_id": consent.exam_id, "accepted_at": consent.accepted_at.isoformat(),
                                 "ip": consent.ip})
    for attempt in session.scalars(select(Attempt).where(Attempt.student_id == user.id).order_by(Attempt.id)):
        exam = session.get(Exam, attempt.exam_id)
        published = exam.results_published_at is not None or exam.kind == "practice"
        data["attempts"].append({
            "exam": exam.title, "state": attempt.state, "started_at": attempt.started_at.isoformat(),
            "deadline": attempt.deadline.isoformat(),
            "submitted_at": attempt.submitted_at.isoformat() if attempt.submitted_at else None,
            "answers": [{"question": r.exam_question_id, "answer": r.value, "saved_at": r.saved_at.isoformat()}
                        for r in session.scalars(select(Response).where(Response.attempt_id == attempt.id))],
            "events": [{"kind": e.kind, "at": e.at.isoformat(), "ip": e.ip}
                       for e in session.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt.id))],
            # Scores only once published: the export must not leak what the result page does not show.
            "score": attempt.score_total if published else None,
        })
    return data


def export_own_data_bytes(session: Session, user: User) -> bytes:
    """The same as JSON bytes (UTF-8, readable)."""
    return json.dumps(export_own_data(session, user), ensure_ascii=False, indent=2).encode("utf-8")
