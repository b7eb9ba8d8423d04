"""Transaction boundaries a service must mark itself (see ``app.database.reads_first``)."""
from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def begin_writes(session: Session) -> Connection:
    """Call before the first write of a service that a ``reads_first`` view runs.

    On SQLite inside such a view the request has only read so far, in a deferred transaction: end
    it and take the write lock now (``BEGIN IMMEDIATE``, which waits for the lock instead of failing
    with "database is locked" as upgrading a read snapshot could). ORM objects loaded before are
    expired by the commit and reload on access. Anywhere else (PostgreSQL, the CLI, tests, views
    that begin with the write lock) it does nothing. Returns the session's connection.
    """
    conn = session.connection()
    if conn.dialect.name == "sqlite" and conn.info.get("sqlite_read_transaction"):
        session.commit()
        conn = session.connection(execution_options={"sqlite_deferred": False})
    return conn
