"""Flask-Login wiring: sessions keyed by a rotating token, JSON 401 under /api."""
from __future__ import annotations

from flask import Flask, flash, g, jsonify, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
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


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that the autosave does not re-send an unchanged cookie.

    The session slides (``SESSION_REFRESH_EACH_REQUEST``): every response re-signs and re-sends the
    cookie. An exam page also sends a heartbeat every 20 s, which keeps doing so; the autosaves in
    between (the hottest route, see ``authz.session_checked_in_view``) skip the signing.
    """

    def should_set_cookie(self, app: Flask, session) -> bool:
        if g.get("session_token") and not session.modified:
            return False
        return super().should_set_cookie(app, session)


def init_login(app: Flask) -> None:
    """Bind Flask-Login and the authorization check."""
    app.session_interface = SessionInterface()
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
