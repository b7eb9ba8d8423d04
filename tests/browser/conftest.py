"""Browser tests: Debian's Chromium driven by Playwright against a live server on its own database.

Without Playwright or Chromium these tests skip, unless REQUIRE_E2E=1 (as in CI), where a missing
browser is a failure: the browser tests can never silently not run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _require_or_skip(reason: str) -> None:
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port(ports: range = range(18000, 32000, 7)) -> int:
    """A free loopback port from ``ports`` (below 32768: the ephemeral range starts above it)."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


@contextlib.contextmanager
def serve(app, port: int):
    """Serve ``app`` from a thread on 127.0.0.1:``port``; yields the base URL, shuts down after."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """An app on a fresh SQLite database, upgraded by Alembic and holding the demo data set."""
    from flask_migrate import upgrade

    from app import create_app
    from app.commands import demo
    from app.extensions import db
    from app.services.accounts import HashParams
    from tests.conftest import test_config

    path = tmp_path_factory.mktemp("live") / "live.sqlite3"
    application = create_app(test_config(f"sqlite:///{path}", TESTING=False))
    with application.app_context():
        upgrade()
        schools = demo.ensure_schools(db.session)
        demo.ensure_accounts(db.session, schools, HashParams(1, 1024, 1))
        db.session.commit()
    return application


@pytest.fixture(scope="session")
def live_server(live_app):
    """Serve the live app from a thread on a loopback port; yields its base URL."""
    with serve(live_app, free_port()) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium (never a downloaded one)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require_or_skip("Playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _require_or_skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test (no shared cookies or storage)."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    pg = context.new_page()
    pg.set_default_timeout(10000)
    yield pg
    context.close()


def ui_login(page, base: str, login_name: str, password: str) -> None:
    """Log in through the real form."""
    page.goto(f"{base}/login")
    page.fill("input[name=login_name]", login_name)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
