"""Analysis views (thin: check the subject, call the analysis service, render)."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app.analysis import bp
from app.analysis.forms import WriteBackForm
from app.analysis.present import curve_figure, exam_figures, flag_rows, league_names, option_rows
from app.analysis.report import build_xlsx, report_filename
from app.analysis.text import (
    DIF_CLASS_LABELS,
    SEVERITY_BADGES,
    SEVERITY_LABELS,
    number,
    option_label,
    percent,
)
from app.authz import roles
from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, Exam, Question, Subject
from app.services import analysis, audit, charts

ANALYSIS_ROLES = ("teacher", "admin")
HELPERS = {"number": number, "percent": percent, "severity_labels": SEVERITY_LABELS, "badges": SEVERITY_BADGES,
           "dif_labels": DIF_CLASS_LABELS, "option_label": option_label}


def _may_see(subject_code: str) -> bool:
    """Admins see every subject; a teacher only their own."""
    return current_user.role == "admin" or subject_code in current_user.subject_codes


def _exam_or_abort(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.state == "draft":
        abort(404)
    if not _may_see(exam.subject_code):
        abort(403)
    return exam


@bp.route("/")
@roles(*ANALYSIS_ROLES)
def index():
    """Published exams of the user's subjects, with how many scored attempts each has."""
    query = (select(Exam, func.count(Attempt.id))
             .outerjoin(Attempt, (Attempt.exam_id == Exam.id) & (Attempt.state == "finalized")
                        & Attempt.scored_at.is_not(None))
             .where(Exam.state != "draft").group_by(Exam.id).order_by(Exam.opens_at.desc(), Exam.id.desc()))
    if current_user.role != "admin":
        query = query.where(Exam.subject_code.in_(sorted(current_user.subject_codes) or [""]))
    subjects = {s.code: s for s in db.session.scalars(select(Subject))}
    return render_template("analysis/index.html", rows=db.session.execute(query).all(), subjects=subjects)


@bp.route("/exams/<int:exam_id>")
@roles(*ANALYSIS_ROLES)
def exam(exam_id: int):
    """An exam's analysis: summary, flagged items with advice, league comparison, charts, item and option tables."""
    exam = _exam_or_abort(exam_id)
    result = analysis.analyse(db.session, exam)
    names = league_names(db.session)
    figures = {name: charts.svg(fig) for name, fig in exam_figures(result, names).items()} if result.n_students else {}
    curves = {}
    for item in result.flagged:
        fig = curve_figure(item)
        if fig is not None:
            curves[item.info.exam_question_id] = charts.svg(fig)
    return render_template("analysis/exam.html", exam=exam, result=result, names=names, figures=figures,
                           curves=curves, flag_rows=flag_rows, option_rows=option_rows, form=WriteBackForm(),
                           **HELPERS)


@bp.route("/exams/<int:exam_id>/report.xlsx")
@roles(*ANALYSIS_ROLES)
def report(exam_id: int):
    """The office's report as a spreadsheet: tables and charts."""
    exam = _exam_or_abort(exam_id)
    result = analysis.analyse(db.session, exam)
    data = build_xlsx(result, league_names(db.session))
    response = Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f"attachment; filename={report_filename(exam)}"
    return response


@bp.route("/exams/<int:exam_id>/write-back", methods=["POST"])
@roles(*ANALYSIS_ROLES)
def write_back(exam_id: int):
    """Store the exam's Rasch difficulties on its questions, so the next blueprint can use them."""
    exam = _exam_or_abort(exam_id)
    if not WriteBackForm().validate_on_submit():
        abort(400)
    result = analysis.analyse(db.session, exam)
    actor = audit.Actor(current_user.id, current_user.login_name, request.remote_addr)
    count = analysis.write_back_difficulties(db.session, exam, result, actor=actor, now=utcnow())
    db.session.commit()
    flash(_("已将 %(n)s 道题的实测难度写回题库。", n=count), "success")
    return redirect(url_for("analysis.exam", exam_id=exam.id))


@bp.route("/questions/<int:question_id>")
@roles(*ANALYSIS_ROLES)
def question(question_id: int):
    """A question's statistics in every exam that used it, with the latest option curve."""
    question = db.session.get(Question, question_id)
    if question is None:
        abort(404)
    if not _may_see(question.subject_code):
        abort(403)
    uses = analysis.question_history(db.session, question_id)
    names = league_names(db.session)
    latest = next((u for u in uses if u.item is not None and u.n_students), None)
    curve = None
    if latest is not None:
        fig = curve_figure(latest.item)
        curve = charts.svg(fig) if fig is not None else None
    return render_template("analysis/question.html", question=question, uses=uses, latest=latest, curve=curve,
                           names=names, flag_rows=flag_rows, option_rows=option_rows, **HELPERS)
