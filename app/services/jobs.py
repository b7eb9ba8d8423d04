"""A background job queue kept in the application's database.

Why not Celery/RQ: they need Redis or a broker even for the demo, while this queue works on the
embedded SQLite default and on PostgreSQL alike, keeps progress next to the data it describes,
and survives restarts. Workers claim a job atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
a conditional UPDATE on SQLite), so any number of workers may run; ``flask jobs worker`` runs one.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Job


@dataclass
class Progress:
    """Handed to a job handler so it can report progress; each report commits."""

    session: Session
    job: Job

    def __call__(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.job.progress_done = done
        if total is not None:
            self.job.progress_total = total
        if message is not None:
            self.job.message = message[:255]
        self.session.commit()


Handler = Callable[[Session, dict[str, Any], Progress, datetime], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register a job handler under ``kind``."""
    def decorator(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return decorator


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, now: datetime,
            created_by_id: int | None = None) -> Job:
    """Queue a job (committed by the caller with the rest of its transaction)."""
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind: {kind}")
    job = Job(kind=kind, payload=payload, state="queued", created_at=now, created_by_id=created_by_id)
    session.add(job)
    session.flush()
    return job


def claim_next(session: Session, *, worker: str, now: datetime) -> Job | None:
    """Atomically take the oldest queued job for this worker, or None."""
    if session.get_bind().dialect.name == "postgresql":
        job = session.scalar(select(Job).where(Job.state == "queued").order_by(Job.id)
                             .limit(1).with_for_update(skip_locked=True))
        if job is None:
            session.rollback()
            return None
        job.state, job.worker, job.started_at = "running", worker, now
        job.attempts += 1
        session.commit()
        return job
    while True:
        job_id = session.scalar(select(Job.id).where(Job.state == "queued").order_by(Job.id).limit(1))
        if job_id is None:
            session.rollback()
            return None
        claimed = session.execute(
            update(Job).where(Job.id == job_id, Job.state == "queued")
            .values(state="running", worker=worker, started_at=now, attempts=Job.attempts + 1)
        ).rowcount
        session.commit()
        if claimed:
            return session.get(Job, job_id)


def run(session: Session, job: Job, *, now: Callable[[], datetime]) -> Job:
    """Run one claimed job to the end, recording its result or its error."""
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        result = fn(session, dict(job.payload or {}), Progress(session, job), now())
        job.state, job.result, job.finished_at = "done", result or {}, now()
        session.commit()
    except Exception as exc:  # a job's failure is recorded, never lost
        session.rollback()
        job = session.get(Job, job.id)
        job.state, job.finished_at = "failed", now()
        job.error = f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=5)
        session.commit()
    return job


def requeue_stale(session: Session, *, now: datetime, older_than: timedelta = timedelta(hours=1)) -> int:
    """Put back jobs left running by a worker that died (started long ago, never finished)."""
    count = session.execute(
        update(Job).where(Job.state == "running", Job.started_at < now - older_than)
        .values(state="queued", worker=None)
    ).rowcount
    session.commit()
    return count


@handler("noop")
def _noop(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """A job that only counts to ``payload['steps']``; used by the demo and tests of the runner."""
    steps = int(payload.get("steps", 3))
    for i in range(steps):
        progress(i + 1, steps, f"{i + 1}/{steps}")
    if payload.get("fail"):
        raise RuntimeError(payload["fail"])
    return {"steps": steps}
