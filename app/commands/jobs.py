"""``flask jobs``: run the background worker."""
from __future__ import annotations

import os
import signal
import socket
import time
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from app.clock import utcnow
from app.extensions import db
from app.services import export_files
from app.services import jobs as job_service

PRUNE_EVERY_SECONDS = 600

group = click.Group("jobs", help="后台任务 / Background jobs.")


@group.command("worker")
@click.option("--once", is_flag=True, help="Run queued jobs, then exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Take queued jobs one at a time until stopped (SIGTERM finishes the current job first)."""
    import app.services.job_handlers  # noqa: F401  (registers the handlers)

    name = f"{socket.gethostname()}:{os.getpid()}"
    stopping = {"flag": False}

    def stop(*_args) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    job_service.requeue_stale(db.session, now=utcnow())
    click.echo(f"worker {name} started")
    pruned_at = 0.0
    while not stopping["flag"]:
        if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
            _prune_exports()
            pruned_at = time.monotonic()
        job = job_service.claim_next(db.session, worker=name, now=utcnow())
        if job is None:
            db.session.remove()
            if once:
                break
            time.sleep(current_app.config["JOBS_POLL_SECONDS"])
            continue
        job = job_service.run(db.session, job, now=utcnow)
        click.echo(f"job {job.id} {job.kind}: {job.state}")
        db.session.remove()


def _prune_exports() -> int:
    keep = timedelta(hours=float(current_app.config["EXPORT_FILE_HOURS"]))
    removed = export_files.prune(export_files.directory(current_app.instance_path), now=utcnow(), keep=keep)
    if removed:
        click.echo(f"deleted {removed} export file(s) older than {keep}")
    return removed


@group.command("prune-exports")
@with_appcontext
def prune_exports() -> None:
    """Delete export files older than EXPORT_FILE_HOURS (they hold personal data); the worker does it too."""
    click.echo(f"{_prune_exports()} file(s) deleted")
