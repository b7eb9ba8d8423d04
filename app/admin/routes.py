"""Admin dashboard, users (search, filter, manage) and the audit trail (league admins see only their league)."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from app.admin import bp
from app.authz import ADMINS, roles
from app.clock import utcnow
from app.extensions import db
from app.i18n import display_zone
from app.models import AuditEntry, League, Room, School, Subject, User
from app.services import audit, dashboards, user_admin
from app.services.accounts import AccountError


def _actor() -> audit.Actor:
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


@bp.route("/")
@roles(*ADMINS)
def dashboard():
    """Counts per league in the admin's scope."""
    return render_template("admin/dashboard.html", summary=dashboards.admin_summary(db.session, current_user))


@bp.route("/users")
@roles(*ADMINS)
def users():
    """Search users by login name or name; filter by role, league, school, subject, active; scoped for league admins."""
    school = request.args.get("school", type=int)
    filters = user_admin.Filters(q=(request.args.get("q") or "").strip()[:64], role=request.args.get("role") or "",
                                 league=request.args.get("league") or "", school_id=school,
                                 subject=request.args.get("subject") or "", active=request.args.get("active") or "")
    page = max(1, request.args.get("page", 1, type=int))
    rows, has_next = user_admin.search(db.session, current_user, filters, page=page)
    return render_template("admin/users.html", users=rows, has_next=has_next, page=page, q=filters.q, role=filters.role,
                           filters=filters, leagues=db.session.scalars(select(League).order_by(League.code)).all(),
                           subjects=db.session.scalars(select(Subject).order_by(Subject.position)).all())


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user_admin.can_act_on(current_user, user):
        abort(404)
    return user


@bp.route("/users/<int:user_id>")
@roles(*ADMINS)
def user_detail(user_id: int):
    """One account: profile, seat, rooms or subjects, and the actions allowed on it."""
    user = _target(user_id)
    rooms_query = select(Room, School).join(School, School.id == Room.school_id).order_by(School.name, Room.name)
    if current_user.role == "league_admin":
        rooms_query = rooms_query.where(School.league_code == current_user.league_code)
    return render_template("admin/user.html", user=user, my_rooms=user_admin.rooms_of(db.session, user),
                           all_rooms=db.session.execute(rooms_query.limit(500)).all() if user.role == "proctor" else [],
                           leagues=db.session.scalars(select(League).order_by(League.code)).all(),
                           subjects=db.session.scalars(select(Subject).order_by(Subject.position)).all())


@bp.route("/users/<int:user_id>/manage", methods=["POST"])
@roles(*ADMINS)
def manage_user(user_id: int):
    """Disable/enable, appoint league admin, set a teacher's subjects or a proctor's rooms."""
    user = _target(user_id)
    action = request.form.get("action", "")
    now = utcnow()
    try:
        if action in ("disable", "enable"):
            user_admin.set_active(db.session, user, action == "enable", viewer=current_user, actor=_actor(), now=now)
        elif action == "league_admin":
            user_admin.make_league_admin(db.session, user, request.form.get("league", ""), viewer=current_user,
                                         actor=_actor(), now=now)
        elif action == "subjects":
            user_admin.set_teacher_subjects(db.session, user, request.form.getlist("subject"), actor=_actor(), now=now)
        elif action == "rooms":
            ids = [int(v) for v in request.form.getlist("room") if v.isdigit()]
            user_admin.set_proctor_rooms(db.session, user, ids, viewer=current_user, actor=_actor(), now=now)
        else:
            abort(400)
        db.session.commit()
        flash(_("已保存。") + " / Saved.", "success")
    except AccountError as exc:
        db.session.rollback()
        flash(f"{exc.zh} / {exc.en}", "error")
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _day(raw: str | None, *, end: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD) in the display zone as a UTC bound; None when empty or malformed."""
    try:
        day = datetime.strptime((raw or "").strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    start = datetime.combine(day, time.min, tzinfo=display_zone())
    return start + timedelta(days=1) if end else start


def _audit_query():
    """The audit trail filtered by who, what, object, league and when (read-only)."""
    args = request.args
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    scope = dashboards.league_scope(current_user)
    if scope:
        query = query.where(AuditEntry.league_code == scope)
    elif args.get("league"):
        query = query.where(AuditEntry.league_code == args["league"])
    if (who := (args.get("who") or "").strip()):
        query = query.where(AuditEntry.actor_label.like(f"%{who}%"))
    if (action := (args.get("action") or "").strip()):
        query = query.where(AuditEntry.action.like(f"{action}%"))
    if (otype := (args.get("object_type") or "").strip()):
        query = query.where(AuditEntry.object_type == otype)
    if (oid := (args.get("object_id") or "").strip()):
        query = query.where(AuditEntry.object_id == oid)
    if (text := (args.get("text") or "").strip()):
        query = query.where(or_(AuditEntry.reason.like(f"%{text}%"), AuditEntry.action.like(f"%{text}%")))
    if (since := _day(args.get("from"))) is not None:
        query = query.where(AuditEntry.at >= since)
    if (until := _day(args.get("to"), end=True)) is not None:
        query = query.where(AuditEntry.at < until)
    return query


AUDIT_FILTERS = ("who", "action", "object_type", "object_id", "text", "from", "to", "league")


@bp.route("/audit")
@roles(*ADMINS)
def audit_trail():
    """The audit trail, newest first, searchable by who, what, when and object; read-only."""
    page = max(1, request.args.get("page", 1, type=int))
    rows = db.session.scalars(_audit_query().limit(101).offset((page - 1) * 100)).all()
    filters = {k: request.args.get(k, "") for k in AUDIT_FILTERS}
    return render_template("admin/audit.html", entries=rows[:100], has_next=len(rows) > 100, page=page,
                           action=filters["action"], filters=filters,
                           leagues=db.session.scalars(select(League).order_by(League.code)).all())


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (= + - @ tab CR neutralised)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/audit.csv")
@roles(*ADMINS)
def audit_export():
    """The filtered audit trail as CSV (UTF-8 with BOM), streamed; the export itself is audited."""
    import json

    query = _audit_query().limit(int(current_app.config.get("AUDIT_EXPORT_LIMIT", 100000)))
    audit.record(db.session, actor=_actor(), action="audit.export", object_type="audit_log", now=utcnow(),
                 league_code=dashboards.league_scope(current_user),
                 after={k: v for k, v in request.args.items() if k in AUDIT_FILTERS})
    db.session.commit()
    zone = display_zone()

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "时间 time", "操作人 actor", "来源 ip", "操作 action", "对象类型 object type",
                         "对象 object id", "盟市 league", "原因 reason", "之前 before", "之后 after"])
        yield "\ufeff" + buffer.getvalue()
        for entry in db.session.scalars(query).yield_per(1000):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_cell(v) for v in (
                entry.id, entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), entry.actor_label, entry.source_ip,
                entry.action, entry.object_type, entry.object_id, entry.league_code, entry.reason,
                json.dumps(entry.before, ensure_ascii=False) if entry.before is not None else "",
                json.dumps(entry.after, ensure_ascii=False) if entry.after is not None else "")])
            yield buffer.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=audit.csv", "Cache-Control": "no-store"})


@bp.route("/students/<int:user_id>", methods=["GET", "POST"])
@roles(*ADMINS)
def student(user_id: int):
    """A student's registration with the masked national ID; revealing it needs a reason and is audited."""
    from app.i18n import is_zh
    from app.models import StudentProfile
    from app.services import privacy

    profile = db.session.get(StudentProfile, user_id)
    scope = dashboards.league_scope(current_user)
    if profile is None or (scope and profile.league_code != scope):
        abort(404)
    revealed = None
    if request.method == "POST":
        try:
            revealed = privacy.reveal_national_id(
                db.session, current_user, profile, reason=request.form.get("reason", ""),
                keys=current_app.config["ID_ENCRYPTION_KEYS"],
                actor=audit.Actor(current_user.id, current_user.login_name, request.remote_addr), now=utcnow())
            db.session.commit()
        except privacy.PrivacyError as exc:
            db.session.rollback()
            flash(exc.zh if is_zh() else exc.en, "error")
        except PermissionError:
            abort(403)
    return render_template("admin/student.html", profile=profile, revealed=revealed)
