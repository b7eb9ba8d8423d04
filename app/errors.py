"""Error pages and JSON errors (every /api error is JSON); the session is rolled back on 500."""
from __future__ import annotations

from flask import Flask, jsonify, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.auth.session import wants_json
from app.extensions import db


def N_(text: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return text


MESSAGES = {
    400: (N_("请求无效。"), "Bad request."),
    401: (N_("请先登录。"), "Please log in."),
    403: (N_("您没有权限访问此页面。"), "You do not have permission to see this."),
    404: (N_("页面不存在。"), "Not found."),
    405: (N_("不支持此操作。"), "Method not allowed."),
    409: (N_("操作冲突。"), "Conflict."),
    413: (N_("文件太大。"), "The file is too large."),
    422: (N_("内容无法处理。"), "The content could not be processed."),
    429: (N_("请求过于频繁，请稍后再试。"), "Too many requests; please wait a moment and try again."),
    500: (N_("服务器出错，我们已记录此问题。"), "Server error; it has been logged."),
    503: (N_("服务暂时不可用，请稍后重试。您的答案保存在本机，恢复后会自动提交。"),
          "Temporarily unavailable; please retry. Your answers are kept in this browser and sent when it is back."),
}


def _respond(code: int, error: str, extra: dict | None = None):
    zh, en = MESSAGES.get(code, MESSAGES[500])
    if wants_json():
        body = {"error": error, "message": f"{zh} / {en}"}
        body.update(extra or {})
        response = jsonify(body)
        response.status_code = code
        if code == 503:
            response.headers["Retry-After"] = "2"
        return response
    return render_template("errors/error.html", code=code, message=_(zh)), code


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        db.session.rollback()
        return _respond(400, "csrf", {"detail": exc.description})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None:
            return exc
        if exc.code >= 500:
            db.session.rollback()
        return _respond(exc.code, exc.name.lower().replace(" ", "_"))

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception):
        # The database is restarting, paused or out of connections: a fast, clear 503.
        db.session.rollback()
        app.logger.warning("database unavailable: %s", exc)
        return _respond(503, "unavailable")

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _respond(500, "server_error")
