"""The job list and a job's progress page (with a JSON feed the page polls)."""
from __future__ import annotations

from flask import abort, jsonify, render_template
from flask_login import current_user
from sqlalchemy import select

from app.authz import STAFF, roles
from app.extensions import db
from app.jobs import bp
from app.models import Job


def _visible(job: Job | None) -> Job:
    """Staff see their own jobs; the provincial admin sees all. Anything else is a 404."""
    if job is None or (current_user.role != "admin" and job.created_by_id != current_user.id):
        abort(404)
    return job


@bp.route("/")
@roles(*STAFF)
def index():
    """Recent jobs."""
    query = select(Job).order_by(Job.id.desc()).limit(100)
    if current_user.role != "admin":
        query = query.where(Job.created_by_id == current_user.id)
    return render_template("jobs/index.html", jobs=db.session.scalars(query).all())


@bp.route("/<int:job_id>")
@roles(*STAFF)
def show(job_id: int):
    """One job with a progress bar that updates itself."""
    return render_template("jobs/show.html", job=_visible(db.session.get(Job, job_id)))


@bp.route("/<int:job_id>.json")
@roles(*STAFF)
def status(job_id: int):
    """Progress as JSON for the page's poller."""
    job = _visible(db.session.get(Job, job_id))
    return jsonify(id=job.id, state=job.state, percent=job.percent, done=job.progress_done,
                   total=job.progress_total, message=job.message, error=(job.error or "").split("\n")[0],
                   result=job.result)
