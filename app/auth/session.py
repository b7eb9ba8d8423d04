"""Flask-Login wiring: sessions keyed by a rotating token, JSON 401 under /api."""
from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from app import authz
from app.extensions import db, login_manager
from app.models import User


# Every signed-in request runs this query: built once, so SQLAlchemy does not rebuild it and its cache key each time.
_USER_BY_TOKEN = select(User).where(User.session_token == bindparam("token"))


def wants_json() -> bool:
    """API calls and JSON requests get JSON errors, never an HTML page or redirect."""
    return request.path.startswith("/api/") or request.is_json


def init_login(app: Flask) -> None:
    """Bind Flask-Login and the authorization check."""
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    authz.init_app(app)

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        if not token:
            return None
        user = db.session.scalar(_USER_BY_TOKEN, {"token": token})
        if user is None or not user.is_active:
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            response = jsonify(error="unauthorized",
                               message="登录已失效，请重新登录 / Your session has ended; please log in again.")
            response.status_code = 401
            return response
        flash(str(_l("请先登录。")), "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
