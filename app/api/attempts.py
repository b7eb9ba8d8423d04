"""JSON API for taking an exam: my exams, pledge, start, open, save, heartbeat, submit, review.

Every error is JSON with a stable ``error`` code and a message in Chinese and English; another
student's attempt is a 404 (and leaves an audit entry); CSRF comes in the X-CSRFToken header.
"""
from __future__ import annotations

from flask import g, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from app.api import bp
from app.authz import require_current_user, roles, session_checked_in_view
from app.clock import utcnow
from app.database import reads_first
from app.domain import timing
from app.extensions import db
from app.models import Attempt, Exam
from app.services import attempts as service
from app.services import audit
from app.services.exam_authoring import exam_is_open_for, student_exams


def _client() -> service.Client:
    return service.Client(request.remote_addr, request.headers.get("User-Agent"))


def _error(exc: service.AttemptError):
    db.session.rollback()
    if exc.status == 404:
        # Asking for someone else's attempt (or a made-up id) is recorded: IDOR probes leave a trace.
        audit.record(db.session, actor=audit.Actor(current_user.id, current_user.login_name, request.remote_addr),
                     action="security.not_found", object_type="attempt", object_id=request.view_args.get("attempt_id"),
                     after={"path": request.path}, now=utcnow())
        db.session.commit()
    body = {"error": exc.code, "message": f"{exc.zh} / {exc.en}", "message_zh": exc.zh, "message_en": exc.en}
    body.update(exc.extra)
    return jsonify(body), exc.status


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _exam_for_student(exam_id: int, now) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or not exam_is_open_for(exam, profile=current_user.student, now=now):
        raise service.AttemptError("not_found", 404, "找不到该考试", "exam not found")
    return exam


@bp.route("/exams")
@roles("student")
def my_exams():
    """The student's exams with their state (upcoming, open, in progress, submitted, results)."""
    now = utcnow()
    result = []
    for exam in student_exams(db.session, current_user.student, now=now):
        attempt = db.session.scalar(select(Attempt).where(Attempt.exam_id == exam.id,
                                                          Attempt.student_id == current_user.id))
        if attempt is not None:
            service.finalize_if_overdue(db.session, attempt, now=now)
        result.append({"id": exam.id, "title": exam.title, "subject": exam.subject_code, "kind": exam.kind,
                       "opens_at": exam.opens_at.isoformat(), "closes_at": exam.closes_at.isoformat(),
                       "duration_minutes": exam.duration_minutes, "state": exam_state(exam, attempt, now),
                       "attempt_id": attempt.id if attempt else None})
    db.session.commit()
    return jsonify(server_time=now.isoformat(), exams=result)


def exam_state(exam: Exam, attempt: Attempt | None, now) -> str:
    """upcoming | open | in_progress | submitted | closed | results."""
    if attempt is not None:
        if attempt.state == "in_progress":
            return "in_progress"
        if exam.results_published_at is not None:
            return "results"
        return "submitted"
    reason = timing.can_start(exam.opens_at, exam.latest_start_at, exam.closes_at, now)
    return {"not_open": "upcoming", "ok": "open"}.get(reason, "closed")


@bp.route("/exams/<int:exam_id>/pledge", methods=["POST"])
@roles("student")
def accept_pledge(exam_id: int):
    """Accept the honesty pledge and privacy notice (logged with time and address)."""
    now = utcnow()
    try:
        exam = _exam_for_student(exam_id, now)
    except service.AttemptError as exc:
        return _error(exc)
    if _body().get("accept") is not True:
        return jsonify(error="invalid_request", message="请勾选同意诚信承诺 / tick the pledge to accept it"), 422
    service.accept_pledge(db.session, exam=exam, user=current_user, now=now, client=_client())
    db.session.commit()
    return jsonify(accepted=True)


@bp.route("/exams/<int:exam_id>/start", methods=["POST"])
@reads_first
@roles("student")
def start(exam_id: int):
    """Start the exam (idempotent: a second call returns the same attempt)."""
    now = utcnow()
    try:
        exam = _exam_for_student(exam_id, now)
        attempt = service.start(db.session, exam=exam, user=current_user, now=now, client=_client(),
                                access_code=_body().get("access_code"))
        payload = {"attempt_id": attempt.id, **service.timing_view(attempt, exam, now)}  # before the commit expires them
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    return jsonify(payload)


@bp.route("/attempts/<int:attempt_id>/open", methods=["POST"])
@roles("student")
def open_attempt(attempt_id: int):
    """A page load: a new writer token (older tabs become stale), questions, saved answers, clock."""
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
        payload = service.open_page(db.session, attempt, now=now, client=_client(),
                                    include_questions=_body().get("questions", True) is not False)
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    return jsonify(payload)


@bp.route("/attempts/<int:attempt_id>/answers", methods=["POST"])
@reads_first
@session_checked_in_view("student")
def save_answer(attempt_id: int):
    """Save one answer: {token, seq, question_id, answer} → a receipt; see DESIGN §3 Saving.

    The hottest route: the session is checked inside the save's one read (the attempt owner's current
    session token, active flag and role) instead of loading the user first; any mismatch falls back
    to the full check, so an ended session still gets its 401 and someone else's attempt its 404.
    """
    body = _body()
    now = utcnow()
    args = {"attempt_id": attempt_id, "token": body.get("token"), "seq": body.get("seq"),
            "question_id": body.get("question_id"), "answer": body.get("answer"), "now": now}
    try:
        try:
            result = service.save(db.session, session_token=g.get("session_token"), **args)
        except service.SessionNotMatched:
            require_current_user(frozenset({"student"}))
            result = service.save(db.session, user=current_user, **args)
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    return jsonify(receipt=result.receipt, replayed=result.replayed, **result.timing)


@bp.route("/attempts/<int:attempt_id>/heartbeat", methods=["POST"])
@roles("student")
def heartbeat(attempt_id: int):
    """Every ~20 s: the server clock, remaining seconds, state, and whether this tab is stale."""
    body = _body()
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
        payload = service.heartbeat(db.session, attempt, token=body.get("token"), events=body.get("events") or [],
                                    now=now, client=_client())
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    return jsonify(payload)


@bp.route("/attempts/<int:attempt_id>/submit", methods=["POST"])
@roles("student")
def submit(attempt_id: int):
    """Hand in the paper (idempotent; accepted until deadline + grace)."""
    body = _body()
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
        db.session.commit()
        payload = service.submit(db.session, attempt, token=body.get("token"), now=now, client=_client())
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    return jsonify(payload)


@bp.route("/attempts/<int:attempt_id>/review")
@roles("student")
def review(attempt_id: int):
    """After a practice exam: keys, points and explanations. A selection exam shows nothing of them."""
    now = utcnow()
    try:
        attempt = service.get_own(db.session, attempt_id, current_user, now=now)
        db.session.commit()
    except service.AttemptError as exc:
        return _error(exc)
    items = service.practice_review(db.session, attempt)
    if items is None:
        return jsonify(error="not_available", message="本场考试不公布答案 / answers are not shown for this exam"), 403
    return jsonify(items=items, total=attempt.score_total)
