"""Teachers' blind grading queue: short answers of their subject, no name, no school, no exam number."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from sqlalchemy import select

from app.authz import roles
from app.clock import utcnow
from app.domain import richtext
from app.extensions import db
from app.i18n import is_zh
from app.models import Exam
from app.results import bp
from app.results.forms import GradeForm
from app.services import audit, grading, papers
from app.services.rankings import ResultsError

GRADERS = ("teacher", "admin")


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="results.grading")


def _exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.state == "draft":
        abort(404)
    if not grading.may_grade(current_user, exam):
        abort(403)
    return exam


def _item(exam: Exam, question_id: int, part: str) -> grading.ManualItem:
    item = grading.find_item(papers.load(db.session, exam), question_id, part)
    if item is None:
        abort(404)
    return item


@bp.route("/grading")
@roles(*GRADERS)
def grading_index():
    """Exams with short answers in the grader's subjects, and how far grading has come."""
    exams = db.session.scalars(select(Exam).where(Exam.state != "draft").order_by(Exam.id.desc())).all()
    rows = []
    for exam in exams:
        if not grading.may_grade(current_user, exam):
            continue
        progress = grading.progress(db.session, exam)
        if progress:
            rows.append((exam, progress))
    return render_template("results/grading_index.html", rows=rows)


@bp.route("/grading/<int:exam_id>")
@roles(*GRADERS)
def grading_exam(exam_id: int):
    """Grading progress per question of one exam, with a link into each question's queue."""
    exam = _exam(exam_id)
    progress = grading.progress(db.session, exam)
    return render_template("results/grading_index.html", rows=[(exam, progress)] if progress else [])


@bp.route("/grading/<int:exam_id>/<int:question_id>", methods=["GET", "POST"])
@roles(*GRADERS)
def grade(exam_id: int, question_id: int):
    """The next blind answer for this question (GET), or one grader's points for it (POST)."""
    exam = _exam(exam_id)
    part = request.args.get("part", "")
    item = _item(exam, question_id, part)
    form = GradeForm()
    here = url_for("results.grade", exam_id=exam.id, question_id=question_id, part=part or None)
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("；".join("；".join(e) for e in form.errors.values()), "error")
            return redirect(here)
        try:
            ticket = _signer().loads(form.token.data)
        except BadSignature:
            abort(400)
        if ticket.get("e") != exam.id or ticket.get("q") != question_id or ticket.get("p") != part:
            abort(400)
        try:
            grading.record(db.session, exam, attempt_id=ticket["a"], exam_question_id=question_id, part_key=part,
                           slot=ticket["s"], grader=current_user, points=float(form.points.data),
                           comment=form.comment.data, now=utcnow(),
                           actor=audit.Actor(current_user.id, current_user.login_name, request.remote_addr))
        except ResultsError as exc:
            db.session.rollback()
            flash(exc.zh if is_zh() else exc.en, "error")
            return redirect(here)
        db.session.commit()
        flash(_("已保存，下一份"), "success")
        return redirect(here)
    entry = grading.next_entry(db.session, exam, item, current_user)
    progress = next((p for p in grading.progress(db.session, exam) if p.item.key == item.key), None)
    token = _signer().dumps({"e": exam.id, "q": question_id, "p": part, "a": entry.attempt_id, "s": entry.slot}) \
        if entry else None
    paper = papers.load(db.session, exam)
    images = grading_images(paper, question_id)

    def render(text: str | None) -> Markup:
        return Markup(richtext.render(text or "", image_url=images))  # sanitized by richtext (nh3)

    return render_template("results/grade.html", exam=exam, item=item, entry=entry, token=token, form=form,
                           progress=progress, render=render)


def grading_images(paper: papers.Paper, question_id: int):
    """Image URLs of the question's stored images (rubrics may show figures)."""
    from app.services.attempts import image_url_for

    return image_url_for(paper.questions[question_id].images)
