"""Secret key policy, CSRF, cookies and security headers."""
from __future__ import annotations

import json
import os
import secrets

from flask import Flask, Response, request

from app.config import INSECURE_KEYS
from app.extensions import csrf

DEMO_SECRETS_FILE = "demo-secrets.json"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Enforce a real secret key in production and add the security headers to every response."""
    _apply_secrets(app)
    if app.config["ENV_NAME"] in {"development", "demo", "testing"}:
        # Served over plain http on 127.0.0.1; production serves https behind a proxy.
        app.config.setdefault("SESSION_COOKIE_SECURE", False)
        app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("FORCE_SECURE_COOKIES", False))
    app.before_request(_same_origin)
    csrf.init_app(app)
    app.after_request(_headers)


def _apply_secrets(app: Flask) -> None:
    env_name = app.config["ENV_NAME"]
    if env_name == "demo":
        # The demo keeps generated secrets in the instance folder (written by `flask demo`).
        path = os.path.join(app.instance_path, DEMO_SECRETS_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                stored = json.load(fh)
            for key in ("SECRET_KEY", "ID_ENCRYPTION_KEYS", "ID_HASH_KEY"):
                if not app.config.get(key):
                    app.config[key] = stored[key]
        elif not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = secrets.token_hex(32)
    if env_name == "production" and (
        app.config.get("SECRET_KEY", "") in INSECURE_KEYS or len(app.config["SECRET_KEY"]) < 32
    ):
        raise RuntimeError(
            "SECRET_KEY 未设置或太短（至少 32 个字符）/ SECRET_KEY is missing or shorter than 32 "
            "characters; production refuses to start without a real one."
        )


def write_demo_secrets(instance_path: str) -> str:
    """Create the demo's secrets file once (idempotent) and return its path."""
    from cryptography.fernet import Fernet

    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, DEMO_SECRETS_FILE)
    if not os.path.exists(path):
        data = {
            "SECRET_KEY": secrets.token_hex(32),
            "ID_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ID_HASH_KEY": secrets.token_hex(32),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    return path


def _same_origin():
    """Refuse state-changing requests that a browser says come from another site (Origin header).

    CSRF tokens already stop forged forms; this also stops them where a token could leak, and it
    costs nothing for same-site pages (browsers send their own origin) and for scripts (no Origin).
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("Origin")
    if not origin:
        return
    from urllib.parse import urlsplit

    if urlsplit(origin).netloc != request.host:
        from flask import abort

        abort(403)
    return


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.path.startswith("/api/") or response.mimetype == "application/json":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
