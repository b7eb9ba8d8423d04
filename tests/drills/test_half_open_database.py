"""Drill 3's finding: a PostgreSQL connection that stops answering must not hold a request forever.

The load drill (``python -m benchmarks.loadkit drill 3``) stalls the app's database connections with
a TCP fault proxy: before the fix, a request waiting on a stalled connection never returned (the
server-side statement timeout cannot fire when the server never sees or never answers the query,
and a gthread worker is not killed for it). Here the server is made to "not answer" by lifting its
statement timeout behind the app's back and sleeping; the app's client-side deadline must give up.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app import database


@pytest.fixture
def pg_engine(database_url, is_postgres, monkeypatch):
    if not is_postgres:
        pytest.skip("PostgreSQL only (TEST_DATABASE_URL)")
    monkeypatch.setattr(database, "PG_CLIENT_DEADLINE_MARGIN_S", 0.3)
    engine = create_engine(database_url, **database.engine_options(database_url, {"DB_STATEMENT_TIMEOUT_MS": 200}))
    yield engine
    engine.dispose()


def test_an_unanswered_query_gives_up_and_the_pool_recovers(pg_engine):
    with pg_engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw.deadline_s == pytest.approx(0.5)
        raw.execute("SET statement_timeout = 0")  # the server will not cancel it itself
        started = time.monotonic()
        with pytest.raises(OperationalError, match="did not answer"):
            conn.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 2
        assert conn.invalidated  # a disconnect: the pool drops this connection
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_transaction_that_lifts_the_statement_timeout_has_no_deadline(pg_engine):
    with pg_engine.connect() as conn:
        conn.execute(text("SET LOCAL statement_timeout = '600s'"))  # as rankings.allow_long_statements does
        conn.execute(text("SELECT pg_sleep(0.8)"))  # longer than the 0.5 s deadline
        conn.rollback()
        assert conn.connection.dbapi_connection.long_statements is False
        with pytest.raises(OperationalError):
            conn.execute(text("SELECT pg_sleep(0.8)"))  # the 200 ms statement timeout is back
