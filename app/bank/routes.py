"""Question bank views (thin: parse input, call a service, render)."""
from __future__ import annotations

from flask import Response, abort
from flask_login import current_user  # noqa: F401

from app.authz import signed_in
from app.bank import bp
from app.extensions import db
from app.models import StoredImage


@bp.route("/images/<name>")
@signed_in
def image(name: str):
    """A stored question image, by content-hash name, with its own type (cached for a year: the name is its hash)."""
    stored = db.session.get(StoredImage, name)
    if stored is None:
        abort(404)
    response = Response(stored.data, mimetype=stored.mime)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    if stored.mime == "image/svg+xml":
        # A sanitized SVG, and even so never able to run script when opened directly.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response
