"""Parsing the ops pages' form fields (plain forms; CSRF is checked globally by Flask-WTF)."""
from __future__ import annotations

from flask import abort, request
from flask_login import current_user

from app.services import audit


def actor() -> audit.Actor:
    """The signed-in user as the audit log records them."""
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


def int_field(name: str, *, default: int | None = None, source=None) -> int | None:
    """An optional whole number from the form or query string; a malformed one is a 400."""
    raw = (source if source is not None else request.values).get(name, "")
    raw = str(raw).strip()
    if not raw:
        return default
    if not raw.lstrip("-").isdigit() or len(raw) > 12:
        abort(400)
    return int(raw)


def text_field(name: str, limit: int = 1000) -> str:
    """A trimmed text field, cut to ``limit`` characters."""
    return (request.values.get(name) or "").strip()[:limit]


def both(exc) -> str:
    """A refusal's message, Chinese first, English too."""
    return f"{exc.zh} / {exc.en}"
