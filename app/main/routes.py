"""The landing page, each role's home page and the language switch."""
from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.authz import public, signed_in
from app.clock import utcnow
from app.extensions import db
from app.i18n import LOCALE_COOKIE
from app.main import bp
from app.services import dashboards


@bp.route("/")
@public
def index():
    """Signed-in users go to their home page; others see the login."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    return redirect(url_for("auth.login"))


@bp.route("/home")
@signed_in
def home():
    """One home page per role: student → my exams, teacher → my banks, proctor → my rooms, admin → dashboard."""
    role = current_user.role
    if role in ("admin", "league_admin"):
        return redirect(url_for("admin.dashboard"))
    if role == "teacher":
        return render_template("main/teacher_home.html",
                               summary=dashboards.teacher_summary(db.session, current_user))
    if role == "proctor":
        return render_template("main/proctor_home.html",
                               summary=dashboards.proctor_summary(db.session, current_user))
    return redirect(url_for("exam.my_exams"))


@bp.route("/lang/<code>", methods=["POST"])
@public
def set_language(code: str):
    """Remember the chosen language in the session and a cookie (and the account, if signed in)."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    target = request.form.get("next") or url_for("main.index")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("main.index")
    response = redirect(target)
    response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.route("/healthz")
@public
def healthz():
    """Liveness for the load balancer: the app answers and the database responds."""
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok", time=utcnow().isoformat())
