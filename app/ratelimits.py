"""Rate-limit storage: Redis when REDIS_URL is set (shared by every node), else memory.

Redis is configured with a short socket timeout and an in-memory fallback, so a Redis outage
slows nothing down and locks nobody out: limits then apply per process until Redis is back.
"""
from __future__ import annotations

from flask import Flask

from app.extensions import limiter


def init_app(app: Flask) -> None:
    """Set the storage explicitly (never Flask-Limiter's warning default) and bind the limiter."""
    redis_url = app.config.get("REDIS_URL") or ""
    if redis_url and not app.config.get("RATELIMIT_STORAGE_URI"):
        timeout = float(app.config["RATELIMIT_REDIS_SOCKET_TIMEOUT"])
        app.config["RATELIMIT_STORAGE_URI"] = redis_url
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "yingcai")
    limiter.init_app(app)
