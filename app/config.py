"""Configuration: defaults here, then environment variables, then test overrides.

Order (later wins): ``Config`` defaults → ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY`` and every
``YINGCAI_<NAME>`` variable → the ``overrides`` passed to ``create_app``. Nothing here reads the
environment at import time; ``load_config`` does it when the app is created.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

INSECURE_KEYS = {"", "dev", "change-me", "secret"}


class Config:
    """Defaults for every setting the application reads."""

    ENV_NAME = "production"  # production | development | testing | demo
    SECRET_KEY = ""
    SQLALCHEMY_DATABASE_URI = ""  # empty: SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    REDIS_URL = ""

    # Sessions must outlive a 2-hour exam plus waiting room and extensions.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "yingcai_session"
    REMEMBER_COOKIE_DURATION = timedelta(0)
    # A CSRF token must stay valid for the whole session: an autosave 3 hours in must not fail.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_SSL_STRICT = False

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("zh_CN", "en")
    TIMEZONE = "Asia/Shanghai"

    # Rate limits (Flask-Limiter). Storage is chosen in create_app: Redis when REDIS_URL is set.
    RATELIMIT_ENABLED = True
    RATELIMIT_LOGIN_ACCOUNT = "10 per 10 minutes"
    RATELIMIT_LOGIN_SOURCE = "300 per minute"
    RATELIMIT_REDIS_SOCKET_TIMEOUT = 0.3

    # argon2id at the OWASP minimum: ~18 ms a check on this class of machine.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19456
    ARGON2_PARALLELISM = 1

    # National ID encryption (Fernet keys, newest first, comma separated) and keyed hash.
    ID_ENCRYPTION_KEYS = ""
    ID_HASH_KEY = ""

    MAX_CONTENT_LENGTH = 60 * 1024 * 1024
    PREFERRED_URL_SCHEME = "https"
    JOBS_POLL_SECONDS = 1.0
    # Files of background exports (personal data) are deleted after this many hours (app/services/export_files.py).
    EXPORT_FILE_HOURS = 24
    SITE_NAME_ZH = "英才计划学科潜质在线测试"
    SITE_NAME_EN = "Yingcai Program Online Subject Test"
    ORGANISATION_ZH = "内蒙古自治区科学技术协会"
    ORGANISATION_EN = "Inner Mongolia Association for Science and Technology"


def _coerce(raw: str, current: Any) -> Any:
    """Turn an environment string into the type of the default it replaces."""
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, timedelta):
        return timedelta(seconds=float(raw))
    if isinstance(current, (dict, list, tuple)):
        return json.loads(raw)
    return raw


def load_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the settings: ``Config`` defaults updated from the environment."""
    env = os.environ if environ is None else environ
    settings = {k: getattr(Config, k) for k in dir(Config) if k.isupper()}
    if env.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = env["DATABASE_URL"]
    if env.get("REDIS_URL"):
        settings["REDIS_URL"] = env["REDIS_URL"]
    if env.get("SECRET_KEY"):
        settings["SECRET_KEY"] = env["SECRET_KEY"]
    for name, raw in env.items():
        if name.startswith("YINGCAI_"):
            key = name[len("YINGCAI_"):]
            settings[key] = _coerce(raw, settings.get(key, ""))
    return settings
