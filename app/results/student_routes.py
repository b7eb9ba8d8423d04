"""What students see once results are published (their own only), score review requests, the public list."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from app.authz import public, roles
from app.clock import utcnow
from app.extensions import db
from app.i18n import is_zh
from app.models import Exam
from app.results import bp
from app.results.forms import ReviewRequestForm
from app.services import audit, publication, score_reviews
from app.services.rankings import ResultsError


def _not_found(exam_id: int):
    """Another student's result, or a made-up id: a 404 that leaves a trace in the audit log."""
    db.session.rollback()
    audit.record(db.session, actor=audit.Actor(current_user.id, current_user.login_name, request.remote_addr),
                 action="security.not_found", object_type="result", object_id=exam_id,
                 after={"path": request.path}, now=utcnow())
    db.session.commit()
    abort(404)


@bp.route("/my")
@roles("student")
def my_results():
    """The student's exams whose results are published."""
    return render_template("results/my_results.html",
                           rows=publication.published_exams(db.session, current_user))


@bp.route("/my/<int:exam_id>")
@roles("student")
def my_result(exam_id: int):
    """The student's own score, sections, ranks, percentile and selection status, once published."""
    exam = db.session.get(Exam, exam_id)
    result = publication.student_result(db.session, exam, current_user, now=utcnow()) if exam else None
    if result is None:
        _not_found(exam_id)
    return render_template("results/my_result.html", result=result, form=ReviewRequestForm())


@bp.route("/my/<int:exam_id>/review", methods=["POST"])
@roles("student")
def request_review(exam_id: int):
    """Ask for a score review within the window."""
    exam = db.session.get(Exam, exam_id)
    if exam is None:
        _not_found(exam_id)
    form = ReviewRequestForm()
    target = url_for("results.my_result", exam_id=exam_id)
    if not form.validate_on_submit():
        flash(_("请说明复核理由"), "error")
        return redirect(target)
    try:
        score_reviews.request_review(db.session, exam, current_user, reason=form.reason.data, now=utcnow(),
                                     actor=audit.Actor(current_user.id, current_user.login_name,
                                                       request.remote_addr))
    except ResultsError as exc:
        db.session.rollback()
        if exc.status == 404:
            _not_found(exam_id)
        flash(exc.zh if is_zh() else exc.en, "error")
        return redirect(target)
    db.session.commit()
    flash(_("复核申请已提交"), "success")
    return redirect(target)


@bp.route("/public/<int:exam_id>")
@public
def public_list(exam_id: int):
    """The published ranking with names and exam numbers masked, when the office enabled it."""
    exam = db.session.get(Exam, exam_id)
    listing = publication.public_list(db.session, exam, locale=str(get_locale())) if exam else None
    if listing is None:
        abort(404)
    snapshot, rows = listing
    return render_template("results/public.html", exam=exam, snapshot=snapshot, rows=rows)
