"""Login slips (准考证/登录凭条): a PDF per school or room, and a print-friendly HTML view.

Passwords exist in plaintext only inside a live ``CredentialBatch`` (see ``credentials`` for the
design): slips are made from such a batch right after an import or a reset, or by resetting the
passwords of the school's or room's students (mode ``reset``), which makes a new batch. The PDF is
made by a background job (``slips.generate``) with WeasyPrint and the Noto CJK font, kept in a
``SlipFile`` that expires with its batch, and every generation, download and print view is audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CredentialBatch, Exam, Room, School, SeatAssignment, SlipFile, StudentProfile, User
from app.services import audit, credentials
from app.services.accounts import HashParams
from app.services.jobs import Progress, handler
from app.services.jobs import enqueue as enqueue_job

JOB_KIND = "slips.generate"


class SlipError(ValueError):
    """A refused slip request, with Chinese and English reasons."""

    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


@dataclass
class Slip:
    """What one slip shows."""

    exam_number: str
    name: str
    password: str
    subject: str
    school: str
    room: str
    seat: str
    time: str
    league_code: str


def _students(session: Session, *, school_id: int | None, room_id: int | None, user_ids: set[int] | None):
    query = (select(StudentProfile, SeatAssignment, Room).join(User, User.id == StudentProfile.user_id)
             .outerjoin(SeatAssignment, SeatAssignment.student_id == StudentProfile.user_id)
             .outerjoin(Room, Room.id == SeatAssignment.room_id)
             .order_by(Room.name, SeatAssignment.seat, StudentProfile.exam_number))
    if room_id is not None:
        query = query.where(SeatAssignment.room_id == room_id)
    elif school_id is not None:
        query = query.where(StudentProfile.school_id == school_id)
    rows = session.execute(query).all()
    return [r for r in rows if user_ids is None or r[0].user_id in user_ids]


def exam_times(session: Session, zone: str) -> dict[str, str]:
    """The next published exam per subject, as 'date start–end' in the display zone."""
    from zoneinfo import ZoneInfo

    times: dict[str, str] = {}
    for exam in session.scalars(select(Exam).where(Exam.state == "published", Exam.kind == "selection")
                                .order_by(Exam.opens_at)):
        if exam.subject_code in times:
            continue
        start = exam.opens_at.astimezone(ZoneInfo(zone))
        times[exam.subject_code] = f"{start:%Y-%m-%d %H:%M}（{exam.duration_minutes} 分钟 / min）"
    return times


def build_slips(session: Session, passwords: dict[int, str], *, school_id: int | None, room_id: int | None,
                zone: str = "Asia/Shanghai") -> list[Slip]:
    """The slips of a school or room, for the students whose password is in ``passwords``."""
    from app.models import Subject

    subjects = {s.code: s.name_zh for s in session.scalars(select(Subject))}
    schools = {s.id: s.name for s in session.scalars(select(School))}
    times = exam_times(session, zone)
    slips = []
    for profile, seat, room in _students(session, school_id=school_id, room_id=room_id, user_ids=set(passwords)):
        slips.append(Slip(profile.exam_number, profile.name, passwords[profile.user_id],
                          subjects.get(profile.subject_code, profile.subject_code), schools.get(profile.school_id, ""),
                          room.name if room else "", str(seat.seat) if seat else "",
                          times.get(profile.subject_code, ""), profile.league_code))
    return slips


def render_html(slips: list[Slip], *, title: str, base_url: str, for_pdf: bool) -> str:
    """The slips as HTML (templates/ops/slips.html), for the print view and for WeasyPrint."""
    from flask import current_app, has_request_context, render_template

    def render() -> str:
        return render_template("ops/slips.html", slips=slips, title=title, base_url=base_url, for_pdf=for_pdf)

    if has_request_context():
        return render()
    # In the job worker there is no request; the locale and url helpers need one (default locale).
    with current_app.test_request_context(base_url=base_url or None):
        return render()


def to_pdf(html: str) -> bytes:
    """HTML → PDF with WeasyPrint (fonts from fontconfig: Noto Sans CJK SC)."""
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


def _scope(session: Session, school_id: int | None, room_id: int | None) -> tuple[str, str | None]:
    if room_id is not None:
        room = session.get(Room, room_id)
        if room is None:
            raise SlipError("考场不存在", "no such room")
        return f"{room.school.name} {room.name}", room.school.league_code
    if school_id is not None:
        school = session.get(School, school_id)
        if school is None:
            raise SlipError("学校不存在", "no such school")
        return school.name, school.league_code
    return "全部考生", None


def pdf_for_batch(session: Session, *, batch_id: int, school_id: int | None, room_id: int | None, base_url: str,
                  now: datetime, actor: audit.Actor, secret_key: str) -> tuple[bytes, int]:
    """Slips PDF of a live batch, limited to a school or room (audited); returns (pdf, count)."""
    passwords = credentials.read_batch(session, session.get(CredentialBatch, batch_id), now=now, secret_key=secret_key)
    title, league = _scope(session, school_id, room_id)
    slips = build_slips(session, passwords, school_id=school_id, room_id=room_id)
    if not slips:
        raise SlipError("该范围内没有本批次的考生", "no students of this batch in that school or room")
    pdf = to_pdf(render_html(slips, title=title, base_url=base_url, for_pdf=True))
    audit.record(session, actor=actor, action="slips.generate", object_type="credential_batch", object_id=batch_id,
                 now=now, league_code=league, after={"school_id": school_id, "room_id": room_id, "count": len(slips),
                                                     "bytes": len(pdf)})
    return pdf, len(slips)


def enqueue(session: Session, *, mode: str, batch_id: int | None, school_id: int | None, room_id: int | None,
            base_url: str, actor: audit.Actor, now: datetime, reason: str = ""):
    """Queue a slips job: ``mode`` is ``batch`` (passwords of a live batch) or ``reset`` (new passwords)."""
    if mode not in ("batch", "reset"):
        raise SlipError("未知的方式", "unknown mode")
    if mode == "batch" and batch_id is None:
        raise SlipError("请选择密码批次", "choose a password batch")
    if school_id is None and room_id is None:
        raise SlipError("请选择学校或考场", "choose a school or a room")
    if mode == "reset" and not reason.strip():
        raise SlipError("重置密码须填写原因", "a reason is required to reset passwords")
    _scope(session, school_id, room_id)
    payload = {"mode": mode, "batch_id": batch_id, "school_id": school_id, "room_id": room_id, "base_url": base_url,
               "reason": reason.strip(), "actor": {"id": actor.user_id, "label": actor.label, "ip": actor.source_ip}}
    return enqueue_job(session, JOB_KIND, payload, now=now, created_by_id=actor.user_id)


@handler(JOB_KIND)
def _run_job(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """Make the PDF (resetting passwords first in ``reset`` mode), store it as a SlipFile, audit."""
    from flask import current_app

    cfg = current_app.config
    who = payload["actor"]
    actor = audit.Actor(who["id"], who["label"], who["ip"])
    school_id, room_id = payload.get("school_id"), payload.get("room_id")
    title, league = _scope(session, school_id, room_id)
    batch_id = payload.get("batch_id")
    if payload["mode"] == "reset":
        users = [session.get(User, p.user_id) for p, _, _ in _students(session, school_id=school_id, room_id=room_id,
                                                                          user_ids=None)]
        if not users:
            raise SlipError("该范围内没有考生", "no students in that school or room")
        progress(0, len(users), f"正在重置 {len(users)} 个密码 / resetting {len(users)} passwords")
        batch = credentials.reset_passwords(
            session, users, actor=actor, now=now, secret_key=cfg["SECRET_KEY"], reason=payload.get("reason") or "slips",
            hash_params=HashParams(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]),
            league_code=league, ttl_hours=int(cfg.get("SLIP_PASSWORD_TTL_HOURS", credentials.DEFAULT_TTL_HOURS)))
        batch_id = batch.id
    batch = session.get(CredentialBatch, batch_id)
    passwords = credentials.read_batch(session, batch, now=now, secret_key=cfg["SECRET_KEY"])
    slips = build_slips(session, passwords, school_id=school_id, room_id=room_id, zone=cfg.get("TIMEZONE", "Asia/Shanghai"))
    if not slips:
        raise SlipError("该范围内没有本批次的考生", "no students of this batch in that school or room")
    pdf = to_pdf(render_html(slips, title=title, base_url=payload["base_url"], for_pdf=True))
    slip_file = SlipFile(batch_id=batch.id, created_by_id=actor.user_id, league_code=league,
                         title=f"{title}（{len(slips)} 张）", created_at=now, expires_at=batch.expires_at,
                         count=len(slips), size=len(pdf), content=pdf)
    session.add(slip_file)
    session.flush()
    audit.record(session, actor=actor, action="slips.generate", object_type="slip_file", object_id=slip_file.id,
                 now=now, league_code=league, after={"mode": payload["mode"], "batch_id": batch.id, "school_id": school_id,
                                                     "room_id": room_id, "count": len(slips), "bytes": len(pdf)})
    return {"slip_file_id": slip_file.id, "count": len(slips), "bytes": len(pdf), "batch_id": batch.id}
