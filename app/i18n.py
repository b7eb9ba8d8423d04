"""Languages (zh_CN by default, en on request) and display time zone."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

from app.extensions import babel

LOCALE_COOKIE = "yingcai_lang"


def select_locale() -> str:
    """The reader's language: an explicit choice (session, cookie, account), else Chinese."""
    supported = current_app.config["LANGUAGES"]
    for candidate in (
        request.args.get("lang"),
        session.get("lang"),
        request.cookies.get(LOCALE_COOKIE),
        getattr(current_user, "locale", None) if current_user and current_user.is_authenticated else None,
    ):
        if candidate in supported:
            return candidate
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def display_zone() -> ZoneInfo:
    """The zone times are shown in (``YINGCAI_TIMEZONE``, Asia/Shanghai by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_time(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a UTC timestamp in the display zone; empty for None."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(display_zone()).replace(tzinfo=None), fmt)


def is_zh() -> bool:
    """Whether the current reader reads Chinese."""
    return str(get_locale()).startswith("zh")


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and the template helpers."""
    import os

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["is_zh"] = is_zh
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
