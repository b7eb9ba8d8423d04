"""Schools and rooms: rooms per school, seating, proctors; the proctor's room page."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app.authz import ADMINS, roles
from app.clock import utcnow
from app.extensions import db
from app.models import Attendance, CredentialBatch, Exam, League, Room, School, StudentProfile, User
from app.ops import bp
from app.ops.forms import actor, both, int_field, text_field
from app.services import monitor, rooms
from app.services.dashboards import league_scope


def _school(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None or not rooms.can_manage(current_user, school.league_code):
        abort(404)
    return school


def _room(room_id: int, *, manage: bool = False) -> Room:
    room = db.session.get(Room, room_id)
    if room is None:
        abort(404)
    allowed = rooms.can_manage(current_user, room.school.league_code) if manage else \
        rooms.can_see_room(db.session, current_user, room)
    if not allowed:
        abort(404)
    return room


@bp.route("/schools")
@roles(*ADMINS)
def schools():
    """Schools in scope with their students, rooms and unseated students; filter by league and name."""
    scope = league_scope(current_user)
    league = scope or (request.args.get("league") or "")
    q = text_field("q", 64)
    students = dict(db.session.execute(select(StudentProfile.school_id, func.count()).group_by(StudentProfile.school_id)).all())
    room_counts = dict(db.session.execute(select(Room.school_id, func.count()).group_by(Room.school_id)).all())
    query = select(School).order_by(School.league_code, School.name)
    if league:
        query = query.where(School.league_code == league)
    if q:
        query = query.where(School.name.like(f"%{q}%"))
    rows = db.session.scalars(query.limit(500)).all()
    return render_template("ops/schools.html", schools=rows, students=students, room_counts=room_counts, q=q,
                           league=league, leagues=db.session.scalars(select(League).order_by(League.code)).all(),
                           scoped=bool(scope))


@bp.route("/schools/<int:school_id>", methods=["GET", "POST"])
@roles(*ADMINS)
def school(school_id: int):
    """A school's rooms; POST creates a room."""
    row = _school(school_id)
    if request.method == "POST":
        try:
            rooms.create_room(db.session, row, name=text_field("name", 64), seats=int_field("seats", default=0),
                              location=text_field("location", 128), actor=actor(), now=utcnow())
            db.session.commit()
            flash(_("考场已创建。") + " / Room created.", "success")
        except rooms.RoomError as exc:
            db.session.rollback()
            flash(both(exc), "error")
        return redirect(url_for("ops.school", school_id=row.id))
    batches = db.session.scalars(select(CredentialBatch).where(CredentialBatch.sealed.is_not(None))
                                 .order_by(CredentialBatch.id.desc()).limit(10)).all()
    return render_template("ops/school.html", school=row, rooms=rooms.rooms_of_school(db.session, row),
                           unseated=rooms.unseated_count(db.session, row), batches=batches,
                           students=db.session.scalar(select(func.count()).select_from(StudentProfile)
                                                      .where(StudentProfile.school_id == row.id)))


@bp.route("/schools/<int:school_id>/auto-assign", methods=["POST"])
@roles(*ADMINS)
def auto_assign(school_id: int):
    """Seat every unseated student of the school automatically (all or nothing)."""
    row = _school(school_id)
    try:
        count = rooms.auto_assign(db.session, row, actor=actor(), now=utcnow())
        db.session.commit()
        flash(_("已安排 %(n)d 名考生的座位。", n=count) + f" / {count} students seated.", "success")
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.school", school_id=row.id))


@bp.route("/rooms/<int:room_id>/edit", methods=["POST"])
@roles(*ADMINS)
def edit_room(room_id: int):
    """Rename or resize a room."""
    room = _room(room_id, manage=True)
    try:
        rooms.update_room(db.session, room, name=text_field("name", 64), seats=int_field("seats", default=0),
                          actor=actor(), now=utcnow())
        db.session.commit()
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.room", room_id=room.id))


@bp.route("/rooms/<int:room_id>/seat", methods=["POST"])
@roles(*ADMINS)
def seat(room_id: int):
    """Seat one student (by exam number) in this room, at a given or the first free seat."""
    room = _room(room_id, manage=True)
    profile = db.session.scalar(select(StudentProfile).where(StudentProfile.exam_number == text_field("exam_number", 32)))
    if profile is None or not rooms.can_manage(current_user, profile.league_code):
        flash(_("找不到该准考证号的考生。") + " / No student with that exam number.", "error")
        return redirect(url_for("ops.room", room_id=room.id))
    try:
        rooms.assign_seat(db.session, profile, room, int_field("seat"), actor=actor(), now=utcnow())
        db.session.commit()
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.room", room_id=room.id))


@bp.route("/rooms/<int:room_id>/proctors", methods=["POST"])
@roles(*ADMINS)
def room_proctors(room_id: int):
    """Replace the room's proctors (login names, one per line or comma separated)."""
    room = _room(room_id, manage=True)
    names = [n.strip() for n in text_field("proctors", 2000).replace(",", "\n").replace("，", "\n").splitlines() if n.strip()]
    users = [db.session.scalar(select(User).where(User.login_name == n)) for n in names]
    missing = [n for n, u in zip(names, users) if u is None]
    if missing:
        flash(_("找不到账号：%(names)s", names=", ".join(missing)) + f" / unknown accounts: {', '.join(missing)}", "error")
        return redirect(url_for("ops.room", room_id=room.id))
    try:
        rooms.set_proctors(db.session, room, [u.id for u in users], actor=actor(), now=utcnow())
        db.session.commit()
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.room", room_id=room.id))


def _exam_for_room(room: Room) -> Exam | None:
    exam_id = int_field("exam")
    if exam_id is not None:
        exam = db.session.get(Exam, exam_id)
        if exam is None or exam.state != "published":
            abort(404)
        return exam
    exams = monitor.open_exams(db.session, now=utcnow())
    subjects = set(db.session.scalars(select(StudentProfile.subject_code).join(
        rooms.SeatAssignment, rooms.SeatAssignment.student_id == StudentProfile.user_id)
        .where(rooms.SeatAssignment.room_id == room.id)))
    return next((e for e in exams if e.subject_code in subjects), exams[0] if exams else None)


@bp.route("/rooms/<int:room_id>")
@roles("admin", "league_admin", "proctor")
def room(room_id: int):
    """The proctor's page: seats with each student's live state, attendance, incident notes."""
    row = _room(room_id)
    exam = _exam_for_room(row)
    marks = {}
    if exam is not None:
        marks = dict(db.session.execute(select(Attendance.student_id, Attendance.status)
                                        .where(Attendance.exam_id == exam.id)).all())
    return render_template("ops/room.html", room=row, exam=exam, seats=rooms.seats_of(db.session, row), marks=marks,
                           exams=monitor.open_exams(db.session, now=utcnow()),
                           notes=rooms.incidents(db.session, row, exam), proctors=rooms.proctors_of(db.session, row),
                           can_manage=rooms.can_manage(current_user, row.school.league_code))


@bp.route("/rooms/<int:room_id>/attendance", methods=["POST"])
@roles("admin", "league_admin", "proctor")
def attendance(room_id: int):
    """Mark a seated student present or absent for the exam."""
    row = _room(room_id)
    exam = db.session.get(Exam, int_field("exam") or 0)
    if exam is None:
        abort(404)
    try:
        rooms.mark_attendance(db.session, exam, row, int_field("student_id") or 0, request.form.get("status", ""),
                              actor=actor(), now=utcnow())
        db.session.commit()
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.room", room_id=row.id, exam=exam.id))


@bp.route("/rooms/<int:room_id>/incidents", methods=["POST"])
@roles("admin", "league_admin", "proctor")
def incident(room_id: int):
    """Add an incident note (optionally about one seated student)."""
    row = _room(room_id)
    exam = db.session.get(Exam, int_field("exam") or 0)
    try:
        rooms.add_incident(db.session, row, exam, text_field("text", 2000), student_id=int_field("student_id"),
                           actor=actor(), now=utcnow())
        db.session.commit()
        flash(_("情况说明已记录。") + " / Note recorded.", "success")
    except rooms.RoomError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.room", room_id=row.id, exam=exam.id if exam else None))
