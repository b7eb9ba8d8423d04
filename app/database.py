"""Database engine setup for SQLite (default) and PostgreSQL (production)."""
from __future__ import annotations

import os
import re

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from app.extensions import db, migrate

SQLITE_BUSY_TIMEOUT_MS = 15000
# How long past its statement timeout a PostgreSQL round trip may stay unanswered before the app
# gives the connection up (see ``_pg_connect_with_deadline``).
PG_CLIENT_DEADLINE_MARGIN_S = 2.0
# The largest row id: the id columns are INTEGER, 32-bit on PostgreSQL (SQLite's would hold 64 bits).
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a non-negative integer a database row id can be.

    Werkzeug's own converter takes any number of digits, and a larger value reached the database as a
    bind parameter: a 500 (PostgreSQL: "integer out of range" above 2**31 - 1, SQLite: OverflowError
    above 2**63 - 1). Now such a URL matches no route: a 404 like any other unknown id.
    Found by the OpenAPI fuzzer (tests/fuzz/test_openapi_fuzz.py).
    """

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,  # werkzeug's argument names
                 max: int | None = MAX_ROW_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Choose the database URL and engine options, then bind SQLAlchemy and Alembic."""
    uri = app.config.get("SQLALCHEMY_DATABASE_URI") or ""
    if not uri:
        # The Flask tutorial's habit: the instance folder holds the default SQLite file.
        os.makedirs(app.instance_path, exist_ok=True)
        uri = "sqlite:///" + os.path.join(app.instance_path, "yingcai.sqlite3")
        app.config["SQLALCHEMY_DATABASE_URI"] = uri
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
        app.config["SQLALCHEMY_DATABASE_URI"] = uri
    options = engine_options(uri, app.config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)


def engine_options(uri: str, config) -> dict:
    """Engine options for ``uri`` from the settings (the app and the load kit's bare baseline share them).

    PostgreSQL: pre-ping (no stale-connection 500 after a database restart), a bounded pool whose
    timeout turns exhaustion into a fast 503, and a statement timeout so a stuck query fails instead
    of holding a worker until gunicorn kills it.
    """
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    elif uri.startswith("postgresql"):
        statement_ms = int(config.get("DB_STATEMENT_TIMEOUT_MS", 10000))
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", int(config.get("DB_POOL_SIZE", 5)))
        options.setdefault("max_overflow", int(config.get("DB_MAX_OVERFLOW", 5)))
        options.setdefault("pool_timeout", float(config.get("DB_POOL_TIMEOUT", 5)))
        options.setdefault("pool_recycle", 1800)
        options.setdefault(
            "connect_args",
            {"connect_timeout": 5, "options": f"-c statement_timeout={statement_ms}"
             " -c idle_in_transaction_session_timeout=60000 -c timezone=UTC"},
        )
    return options


@event.listens_for(Engine, "do_connect")
def _pg_connect_with_deadline(dialect, connection_record, cargs, cparams):
    """PostgreSQL connections that give up on a database that stops answering (a half-open connection).

    The statement timeout is enforced by the server, so it cannot help when the server (or the
    network, or a proxy in between) accepts a query and never answers: the request's thread would
    wait on that socket forever, and a gthread worker is never killed for it. Every round trip on
    these connections therefore has a client-side deadline of the connection's statement timeout
    plus ``PG_CLIENT_DEADLINE_MARGIN_S``; past it the connection is closed and an OperationalError
    raised, which SQLAlchemy treats as a disconnect (the pool drops the connection) and the error
    handler answers 503. A transaction that lifted the statement timeout (``SET LOCAL
    statement_timeout``, rankings.allow_long_statements) has no deadline until it ends.
    """
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    match = re.search(r"statement_timeout=(\d+)", str(cparams.get("options", "")))
    cls = _deadline_connection_class()
    if not match or int(match.group(1)) <= 0 or cls is None:
        return None
    conn = cls.connect(*cargs, **cparams)
    conn.deadline_s = int(match.group(1)) / 1000 + PG_CLIENT_DEADLINE_MARGIN_S
    return conn


_DEADLINE_CLASS: list = []


def _deadline_connection_class():
    """psycopg.Connection whose ``wait`` has a default timeout (None if this psycopg has no such hook)."""
    if _DEADLINE_CLASS:
        return _DEADLINE_CLASS[0]
    import inspect

    import psycopg

    wait_timeout = getattr(psycopg.errors, "_WaitTimeout", None)
    if wait_timeout is None or "timeout" not in inspect.signature(psycopg.Connection.wait).parameters:
        _DEADLINE_CLASS.append(None)
        return None

    class DeadlineConnection(psycopg.Connection):
        deadline_s: float | None = None
        long_statements = False  # set while a transaction runs with its statement timeout lifted

        def wait(self, gen, interval=0.1, timeout=None):
            if timeout is not None or not self.deadline_s or self.long_statements:
                return super().wait(gen, interval, timeout)
            try:
                return super().wait(gen, interval, self.deadline_s)
            except wait_timeout:
                self.close()  # mid-protocol: the connection cannot be used again
                raise psycopg.OperationalError(
                    f"the database did not answer within {self.deadline_s:g} s; connection closed") from None

    _DEADLINE_CLASS.append(DeadlineConnection)
    return DeadlineConnection


@event.listens_for(Engine, "before_cursor_execute")
def _note_long_statements(conn, cursor, statement, parameters, context, executemany) -> None:
    """A transaction that lifts the statement timeout also lifts the client-side deadline (above)."""
    if "statement_timeout" in statement and conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        if hasattr(raw, "long_statements"):
            raw.long_statements = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _end_long_statements(conn) -> None:
    if conn.dialect.name == "postgresql" and not (conn.closed or conn.invalidated):
        raw = conn.connection.dbapi_connection
        if getattr(raw, "long_statements", False):
            raw.long_statements = False


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection.

    The driver's own transaction handling is switched off (isolation_level None) and SQLAlchemy
    emits BEGIN itself (below): the documented recipe that makes SAVEPOINTs work on pysqlite.
    """
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    """Emit BEGIN ourselves on SQLite (see ``_sqlite_pragmas``), choosing the lock by intent.

    A request that may write (POST and friends) and any work outside a request (CLI, job worker)
    starts with ``BEGIN IMMEDIATE``: it takes the write lock at once and waits for it (busy timeout),
    so it never fails half-way with "database is locked" when another writer got there first.
    Reading requests (GET, HEAD) start a deferred transaction, so readers never hold the write lock
    and never make writers wait (WAL lets them read a snapshot).
    """
    if conn.dialect.name != "sqlite":
        return
    deferred = conn.get_execution_options().get("sqlite_deferred")
    if deferred is None:
        deferred = has_request_context() and (request.method in ("GET", "HEAD", "OPTIONS") or _reads_first_view())
    conn.info["sqlite_read_transaction"] = bool(deferred)
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def reads_first(view):
    """Mark a writing view whose reads all come before its writes (the autosave, the start).

    On SQLite such a request starts in a deferred (read) transaction, so the database's single
    write lock is not held while the user is loaded, the CSRF token checked and the answer
    validated; the service calls ``app.services.transactions.begin_writes`` right before its first write, which ends the read
    snapshot and takes the write lock (``BEGIN IMMEDIATE``). Every write those services make is
    guarded by its own WHERE clause (state, token, sequence), so reading a snapshot first changes
    no outcome. On PostgreSQL nothing changes (row locks only).
    """
    view.sqlite_reads_first = True
    return view


def _reads_first_view() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "sqlite_reads_first", False))

