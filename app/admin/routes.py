"""Admin dashboard, user list and audit trail (league admins see only their league)."""
from __future__ import annotations

from flask import render_template, request
from flask_login import current_user
from sqlalchemy import or_, select

from app.admin import bp
from app.authz import ADMINS, roles
from app.extensions import db
from app.models import AuditEntry, StudentProfile, User
from app.services import dashboards


@bp.route("/")
@roles(*ADMINS)
def dashboard():
    """Counts per league in the admin's scope."""
    return render_template("admin/dashboard.html", summary=dashboards.admin_summary(db.session, current_user))


@bp.route("/users")
@roles(*ADMINS)
def users():
    """Search users by login name or name, filtered by role; league admins see their league only."""
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    page = max(1, request.args.get("page", 1, type=int))
    query = select(User).outerjoin(StudentProfile).order_by(User.role, User.login_name)
    scope = dashboards.league_scope(current_user)
    if scope:
        query = query.where(or_(User.league_code == scope, StudentProfile.league_code == scope))
    if role:
        query = query.where(User.role == role)
    if q:
        like = f"%{q}%"
        query = query.where(or_(User.login_name.like(like), User.display_name.like(like),
                                StudentProfile.name.like(like)))
    rows = db.session.scalars(query.limit(51).offset((page - 1) * 50)).all()
    return render_template("admin/users.html", users=rows[:50], has_next=len(rows) > 50, page=page,
                           q=q, role=role)


@bp.route("/audit")
@roles(*ADMINS)
def audit_trail():
    """The audit trail, newest first, searchable by action; read-only."""
    action = (request.args.get("action") or "").strip()
    page = max(1, request.args.get("page", 1, type=int))
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    scope = dashboards.league_scope(current_user)
    if scope:
        query = query.where(AuditEntry.league_code == scope)
    if action:
        query = query.where(AuditEntry.action.like(f"{action}%"))
    rows = db.session.scalars(query.limit(101).offset((page - 1) * 100)).all()
    return render_template("admin/audit.html", entries=rows[:100], has_next=len(rows) > 100, page=page,
                           action=action)
