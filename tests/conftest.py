"""Shared fixtures.

Database tiers (see ../shared/STYLE.md):
- ``db_session``: the default; each test runs inside a transaction that is rolled back.
- ``committing_db``: for tests that need real commits or several connections; tables are emptied after.
- browser tests run against a live server on a database of its own (tests/browser/conftest.py).

The suite runs on SQLite by default and on PostgreSQL when ``TEST_DATABASE_URL`` is set
(``postgresql+psycopg://postgres@127.0.0.1:5432/yingcai_test``); that database is dropped and
created fresh for the run. The schema always comes from the Alembic migrations.
"""
from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.extensions import db, limiter
from tests import factories

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
KEEP_TABLES = {"alembic_version", "leagues", "subjects"}


def _fresh_database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    parsed = make_url(url)
    # Under pytest-xdist every worker gets its own database (gw0, gw1, …).
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        parsed = parsed.set(database=f"{parsed.database}_{worker}")
        url = parsed.render_as_string(hide_password=False)
    name = parsed.database
    if not re.fullmatch(r"[a-z0-9_]+", name or ""):
        raise RuntimeError("TEST_DATABASE_URL needs a plain database name")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url


def test_config(database_url: str, **extra) -> dict:
    """Overrides for a test app: explicit settings for every extension."""
    config = {
        "TESTING": True,
        "ENV_NAME": "testing",
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": "",
        # Cheap hashes for speed; the production parameters have their own test.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_PARALLELISM": 1,
        "ID_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ID_HASH_KEY": "test-id-hash-key",
        "SERVER_NAME": None,
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A fresh database for this test session."""
    return _fresh_database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url):
    """The application, with the schema upgraded to head by Alembic once."""
    from flask_migrate import upgrade

    application = create_app(test_config(database_url))
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def is_postgres(database_url) -> bool:
    """Whether this run is on PostgreSQL."""
    return database_url.startswith("postgresql")


@pytest.fixture(autouse=True)
def _reset_limits(app):
    limiter.reset()
    yield


@pytest.fixture
def db_session(app):
    """A session inside a transaction that is rolled back after the test.

    Requests made during the test get their own sessions (one per app context, as in production)
    bound to the same connection, so they see the test's data and their commits become savepoints.
    No app context stays pushed: each request gets a fresh one, as it would in production.
    """
    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    original = db.session
    # A plain SQLAlchemy session bound to the connection (Flask-SQLAlchemy's own session would pick
    # the engine by table metadata and escape the transaction), scoped like Flask-SQLAlchemy's.
    db.session = scoped_session(factory, scopefunc=_app_ctx_id)
    session = factory()
    try:
        yield session
    finally:
        session.close()
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def committing_db(app):
    """Real commits (several connections, row locks); every table but reference data is emptied after."""
    with app.app_context():
        yield db.session
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            # questions ↔ question_versions reference each other: unhook them before deleting.
            conn.execute(text("UPDATE questions SET current_version_id = NULL, approved_version_id = NULL"))
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture
def client(app, db_session):
    """A test client whose requests share the test's rolled-back transaction."""
    return app.test_client()


@pytest.fixture
def runner(app, db_session):
    """The CLI runner (commands share the test's transaction)."""
    return app.test_cli_runner()


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for services."""
    return datetime(2026, 6, 14, 6, 0, tzinfo=UTC)


@pytest.fixture
def make(app, db_session):
    """Factories bound to the test's session: ``make.student()``, ``make.user(role=...)``…"""
    return factories.Factory(db_session, app.config)


def login(client, login_name: str, password: str = factories.PASSWORD):
    """Log in through the real form (with its CSRF token)."""
    page = client.get("/login")
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data)
    assert match, page.data[:3000]
    token = match.group(1).decode()
    return client.post("/login", data={"login_name": login_name, "password": password, "csrf_token": token})


def csrf_token(client, path: str = "/home") -> str:
    """The CSRF token a page carries in its meta tag."""
    page = client.get(path, follow_redirects=True)
    return re.search(rb'<meta name="csrf-token" content="([^"]+)"', page.data).group(1).decode()


@pytest.fixture
def as_role(app, make):
    """``as_role('teacher', subjects=['physics'])`` → (client logged in, user)."""
    def _as(role: str, **kwargs):
        user = make.student().user if role == "student" else make.user(role=role, **kwargs)
        c = app.test_client()
        response = login(c, user.login_name)
        assert response.status_code == 302, response.data[:500]
        return c, user
    return _as
