"""JSON endpoints: server time and the OpenAPI description."""
from __future__ import annotations

from flask import current_app, jsonify, request, session
from flask_login import current_user

from app.api import bp
from app.api.openapi import build_spec
from app.authz import public, signed_in
from app.clock import utcnow
from app.extensions import db


@bp.route("/time")
@public
def server_time():
    """The server's clock, for the page's offset measurement."""
    now = utcnow()
    return jsonify(server_time=now.isoformat(), epoch_ms=int(now.timestamp() * 1000))


@bp.route("/me")
@signed_in
def me():
    """Who is signed in (role and display name only)."""
    return jsonify(login_name=current_user.login_name, role=current_user.role,
                   display_name=current_user.display_name)


@bp.route("/preferences", methods=["POST"])
@signed_in
def preferences():
    """Remember the signed-in user's language (zh_CN or en)."""
    body = request.get_json(silent=True) or {}
    locale = body.get("locale")
    if locale not in current_app.config["LANGUAGES"]:
        return jsonify(error="invalid", message="不支持的语言 / unsupported language"), 422
    current_user.locale = locale
    session["lang"] = locale
    db.session.commit()
    return jsonify(locale=locale)


@bp.route("/openapi.json")
@public
def openapi():
    """The OpenAPI 3.1 description of every /api route."""
    return jsonify(build_spec())
