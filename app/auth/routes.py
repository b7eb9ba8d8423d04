"""Login and logout views."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app.auth import bp
from app.auth.forms import LoginForm
from app.authz import public, signed_in
from app.clock import utcnow
from app.database import reads_first
from app.extensions import db, limiter
from app.services import accounts


def _account_key() -> str:
    """Rate-limit key for failed logins: the account tried, whatever the source address."""
    return "login:" + (request.form.get("login_name", "").strip().lower()[:64] or "-")


def _source_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN_SOURCE"]


def _account_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN_ACCOUNT"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@reads_first
@public
@limiter.limit(_source_limit, methods=["POST"])
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"],
               deduct_when=lambda response: response.status_code != 302)
def login():
    """Show the login form; on success rotate the session and go to the role's home page."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.login_name.data, form.password.data, now=utcnow())
        if user is not None:
            db.session.commit()
            login_user(user, remember=False)
            from flask import session

            session.permanent = True
            return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
        db.session.rollback()
        flash(_("用户名/准考证号或密码错误。"), "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@signed_in
def logout():
    """End this session (the token rotates, so copies of the cookie stop working too)."""
    accounts.end_session(db.session, current_user)
    db.session.commit()
    logout_user()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))
