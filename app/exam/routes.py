"""Student pages. The exam page is server-rendered; app/static/js/exam.js keeps the clock and the saves."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.api.attempts import exam_state
from app.authz import roles
from app.clock import utcnow
from app.exam import bp
from app.extensions import db
from app.models import Attempt, Exam, Response
from app.services import attempts as service
from app.services import papers
from app.services.exam_authoring import exam_is_open_for, student_exams


def _own_exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or not exam_is_open_for(exam, profile=current_user.student, now=utcnow()):
        abort(404)
    return exam


def _attempt_of(exam: Exam) -> Attempt | None:
    return db.session.scalar(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.student_id == current_user.id))


@bp.route("/")
@roles("student")
def my_exams():
    """My exams with their state, in Chinese by default."""
    now = utcnow()
    rows = []
    for exam in student_exams(db.session, current_user.student, now=now):
        attempt = _attempt_of(exam)
        if attempt is not None:
            service.finalize_if_overdue(db.session, attempt, now=now)
        rows.append((exam, attempt, exam_state(exam, attempt, now)))
    db.session.commit()
    return render_template("exam/my_exams.html", rows=rows)


@bp.route("/my-data")
@roles("student")
def my_data():
    """Download everything the platform holds about me (profile, consents, attempts, answers, events)."""
    from flask import Response as HttpResponse

    from app.services import audit, privacy

    body = privacy.export_own_data_bytes(db.session, current_user)
    audit.record(db.session, actor=audit.Actor(current_user.id, current_user.login_name, request.remote_addr),
                 action="privacy.own_data_export", object_type="student", object_id=current_user.id, now=utcnow(),
                 league_code=current_user.student.league_code if current_user.student else None)
    db.session.commit()
    return HttpResponse(body, mimetype="application/json", headers={
        "Content-Disposition": f"attachment; filename=my-data-{current_user.login_name}.json"})


@bp.route("/<int:exam_id>")
@roles("student")
def lobby(exam_id: int):
    """Before the start: device check, honesty pledge and privacy notice, waiting room."""
    exam = _own_exam(exam_id)
    attempt = _attempt_of(exam)
    if attempt is not None:
        return redirect(url_for("exam.take", attempt_id=attempt.id))
    now = utcnow()
    return render_template("exam/lobby.html", exam=exam, now=now, state=exam_state(exam, None, now),
                           pledged=service.has_pledged(db.session, exam.id, current_user.id))


@bp.route("/attempt/<int:attempt_id>")
@roles("student")
def take(attempt_id: int):
    """The exam page: every question rendered here; the script fetches the writer token and saved answers."""
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
    except service.AttemptError:
        abort(404)
    if attempt.state != "in_progress":
        db.session.commit()  # get_own may just have finalized it
        return redirect(url_for("exam.done", attempt_id=attempt.id))
    # Nothing was written: no commit, so the attempt and exam just read are not expired and re-read.
    paper = papers.load(db.session, attempt.exam)
    responses = {r.exam_question_id: r.value for r in db.session.scalars(
        select(Response).where(Response.attempt_id == attempt.id))}
    sections = service.student_sections(attempt, paper, responses)
    return render_template("exam/take.html", attempt=attempt, exam=attempt.exam, sections=sections,
                           timing=service.timing_view(attempt, attempt.exam, now))


@bp.route("/attempt/<int:attempt_id>/done")
@roles("student")
def done(attempt_id: int):
    """After the paper is in: what was saved; a practice exam also shows keys and explanations."""
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
    except service.AttemptError:
        abort(404)
    db.session.commit()
    if attempt.state == "in_progress":
        return redirect(url_for("exam.take", attempt_id=attempt.id))
    paper = papers.load(db.session, attempt.exam)
    saved = db.session.scalar(select(db.func.count()).select_from(Response).where(
        Response.attempt_id == attempt.id, Response.value.is_not(None)))
    review = None
    if attempt.exam.kind == "practice":
        responses = {r.exam_question_id: r.value for r in db.session.scalars(
            select(Response).where(Response.attempt_id == attempt.id))}
        review = {"sections": service.student_sections(attempt, paper, responses),
                  "by_id": {i["id"]: i for i in service.practice_review(db.session, attempt) or []}}
    return render_template("exam/done.html", attempt=attempt, exam=attempt.exam, saved=saved,
                           total_questions=len(paper.questions), review=review)
