"""The live monitor (page + JSON the page polls), extensions and reopening."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.authz import ADMINS, roles
from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, Exam, League, StudentProfile
from app.ops import bp
from app.ops.forms import actor, both, int_field, text_field
from app.services import extensions, monitor
from app.services.attempts import AttemptError

VIEWERS = ("admin", "league_admin", "proctor")
MAX_LISTED = 1000  # students listed by name in one monitor view; counts always cover everyone


def _scope() -> monitor.Scope:
    scope = monitor.scope_for(db.session, current_user)
    if scope is None:
        abort(403)
    return scope


def _exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.state != "published":
        abort(404)
    return exam


@bp.route("/monitor")
@roles(*VIEWERS)
def monitors():
    """Open exams, each with a link to its monitor."""
    return render_template("ops/monitors.html", exams=monitor.open_exams(db.session, now=utcnow()))


@bp.route("/monitor/<int:exam_id>")
@roles(*VIEWERS)
def monitor_page(exam_id: int):
    """The monitor page; the numbers come from the JSON endpoint, polled by static/js/monitor.js."""
    exam = _exam(exam_id)
    scope = _scope()
    leagues = db.session.scalars(select(League).order_by(League.code)).all()
    if scope.league_code:
        leagues = [lg for lg in leagues if lg.code == scope.league_code]
    return render_template("ops/monitor.html", exam=exam, leagues=leagues, scope=scope,
                           filters={"league": request.args.get("league", ""), "school": request.args.get("school", ""),
                                    "room": request.args.get("room", "")})


@bp.route("/monitor/<int:exam_id>.json")
@roles(*VIEWERS)
def monitor_json(exam_id: int):
    """The monitor's data in the viewer's scope, narrowed by ?league= &school= &room=."""
    exam = _exam(exam_id)
    scope = _scope().narrowed(league=request.args.get("league") or None, school=int_field("school"),
                              room=int_field("room"))
    limit = None if request.args.get("all") == "1" else MAX_LISTED
    return jsonify(monitor.snapshot(db.session, exam, scope, now=utcnow(), max_students=limit))


@bp.route("/monitor/<int:exam_id>/extend", methods=["POST"])
@roles(*VIEWERS)
def extend(exam_id: int):
    """Extend time for a student, a room, a school, a league or the whole exam, with a reason."""
    exam = _exam(exam_id)
    target = request.form.get("target", "")
    value = text_field("value", 64) or None
    if target == "student":  # by exam number, the way staff know a student
        profile = db.session.scalar(select(StudentProfile).where(StudentProfile.exam_number == (value or "")))
        attempt = db.session.scalar(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.student_id == (
            profile.user_id if profile else -1)))
        target, value = "attempt", str(attempt.id) if attempt else "0"
    try:
        result = extensions.extend(db.session, exam, target=target, value=value, minutes=int_field("minutes", default=0),
                                   reason=text_field("reason"), actor=actor(), scope=_scope(), now=utcnow())
        db.session.commit()
        flash(_("已为 %(n)d 份作答延时 %(m)d 分钟。", n=result["attempts"], m=result["minutes"])
              + f" / extended {result['attempts']} attempt(s) by {result['minutes']} min.", "success")
    except AttemptError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(request.form.get("next") if (request.form.get("next") or "").startswith("/ops/")
                    else url_for("ops.monitor_page", exam_id=exam.id))


@bp.route("/monitor/<int:exam_id>/reopen", methods=["POST"])
@roles(*ADMINS)
def reopen(exam_id: int):
    """Reopen a student's finalized attempt for some minutes, with a reason (league admins: their league only)."""
    exam = _exam(exam_id)
    scope = _scope()
    profile = db.session.scalar(select(StudentProfile).where(StudentProfile.exam_number == text_field("exam_number", 32)))
    attempt = db.session.scalar(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.student_id == (
        profile.user_id if profile else -1)))
    if attempt is None or (scope.league_code and profile.league_code != scope.league_code):
        flash(_("该考生没有本场考试的作答。") + " / No attempt of this student in this exam.", "error")
        return redirect(url_for("ops.monitor_page", exam_id=exam.id))
    try:
        extensions.reopen(db.session, attempt, minutes=int_field("minutes", default=0), reason=text_field("reason"),
                          actor=actor(), now=utcnow(), league_code=profile.league_code)
        db.session.commit()
        flash(_("作答已重新开放。") + " / Attempt reopened.", "success")
    except AttemptError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.monitor_page", exam_id=exam.id))


@bp.route("/monitor/<int:exam_id>/close", methods=["POST"])
@roles("admin")
def close_window(exam_id: int):
    """End the exam's window now (the provincial office only): no new starts; students writing keep their time."""
    exam = _exam(exam_id)
    db.session.refresh(exam, with_for_update=True)
    try:
        result = extensions.close_window(db.session, exam, reason=text_field("reason"), actor=actor(), now=utcnow())
        db.session.commit()
        flash(_("考试已结束：不能再开始作答；仍在作答的 %(n)d 名考生按各自的截止时间交卷。", n=result["in_progress"])
              + f" / The exam is closed to new starts; {result['in_progress']} student(s) still writing keep their time.",
              "success")
    except AttemptError as exc:
        db.session.rollback()
        flash(both(exc), "error")
    return redirect(url_for("ops.monitor_page", exam_id=exam.id))
