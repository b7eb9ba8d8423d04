"""Exam authoring views: check the subject, call exam_authoring, exam_drafts or exam_preview, render."""
from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from app.authz import roles
from app.clock import utcnow
from app.domain.questions import Issue
from app.exams import bp, forms
from app.extensions import db
from app.i18n import display_zone, is_zh
from app.models import Exam, ExamQuestion, League, Question, SelectionRound, Subject
from app.services import audit, exam_authoring, exam_drafts, exam_preview
from app.services.exam_authoring import ExamSpecError

AUTHOR_ROLES = ("teacher", "admin")
DEFAULT_PREVIEW_SEED = "preview"


# --- helpers -------------------------------------------------------------------------------------------


def _may_author(subject_code: str) -> bool:
    """Admins author every subject; a teacher only their own."""
    return current_user.role == "admin" or subject_code in current_user.subject_codes


def _exam_or_abort(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None:
        abort(404)
    if not _may_author(exam.subject_code):
        abort(403)
    return exam


def _locale() -> str:
    return str(get_locale())


def _actor() -> audit.Actor:
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


def _subjects() -> list[Subject]:
    """The subjects the current user may author, in the usual order."""
    subjects = db.session.scalars(select(Subject).order_by(Subject.position, Subject.code)).all()
    return [s for s in subjects if _may_author(s.code)]


def _check_subject(code: str | None) -> None:
    """A known subject outside the user's own is forbidden (an unknown one is a form problem)."""
    if code and db.session.get(Subject, code) is not None and not _may_author(code):
        abort(403)


def issue_rows(issues: list[Issue]) -> list[dict[str, str]]:
    """Located problems in the reader's language."""
    return [{"location": i.location, "message": i.zh if is_zh() else i.en} for i in issues]


def _tie_break_choices(names: list[str], current: list[str]) -> list[tuple[str, str]]:
    choices = [("", _("无（并列者名次相同）")), ("fewer_wrong", _("答错题少者在前")),
               ("less_time", _("用时少者在前"))]
    choices += [(f"section:{name}", _("“%(name)s”部分得分高者在前", name=name)) for name in names]
    known = {value for value, _label in choices}
    choices += [(value, value) for value in current if value and value not in known]
    return choices


def _prepare(form: forms.ExamForm, subjects: list[Subject], sections: Any) -> None:
    """Choices that come from the database and from the sections typed so far."""
    locale = _locale()
    form.subject.choices = [SelectChoice(s.code, s.display_name(locale)) for s in subjects]
    form.leagues.choices = [SelectChoice(league.code, league.display_name(locale))
                            for league in db.session.scalars(select(League).order_by(League.code))]
    current = [getattr(form, name).data or "" for name in forms.TIE_BREAK_FIELDS]
    choices = [SelectChoice(value, label) for value, label in
               _tie_break_choices(forms.section_names(sections), current)]
    for name in forms.TIE_BREAK_FIELDS:
        getattr(form, name).choices = choices


def _render_form(form: forms.ExamForm, exam: Exam | None, issues: list[Issue], status: int = 200):
    rounds = db.session.scalars(select(SelectionRound.name).order_by(SelectionRound.year.desc(),
                                                                     SelectionRound.name)).all()
    return render_template("exams/form.html", form=form, exam=exam, issues=issue_rows(issues), rounds=rounds,
                           zone=str(display_zone())), status


def _save(form: forms.ExamForm, exam: Exam | None):
    """Validate the posted form whole and create or update the exam; re-render with every issue otherwise."""
    subjects = _subjects()
    _check_subject(form.subject.data)
    _prepare(form, subjects, forms.parse_sections(form.sections_yaml.data or "")[0])
    eligibility = {k: v for k, v in (exam.eligibility or {}).items() if k != "leagues"} if exam else None
    spec, form_issues = forms.spec_from_form(form, display_zone(), eligibility=eligibility)
    if form_issues:
        spec_issues = exam_authoring.validate_spec(db.session, spec)[2]
        return _render_form(form, exam, forms.merge_issues(form_issues, spec_issues), 422)
    try:
        if exam is None:
            exam = exam_authoring.create_exam(db.session, spec, actor=_actor(), creator_id=current_user.id,
                                              now=utcnow())
            message = _("考试草稿已创建。检查无误后可以预览并发布。")
        else:
            exam = exam_drafts.update_draft(db.session, exam, spec, actor=_actor(), now=utcnow())
            message = _("考试草稿已保存。")
    except ExamSpecError as exc:
        db.session.rollback()
        return _render_form(form, db.session.get(Exam, exam.id) if exam else None, exc.issues, 422)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("exams.show", exam_id=exam.id))


# --- views ---------------------------------------------------------------------------------------------


@bp.route("/")
@roles(*AUTHOR_ROLES)
def index():
    """Exams of the user's subjects (all for admins), newest first, optionally of one round."""
    round_id = request.args.get("round", type=int)
    subjects = None if current_user.role == "admin" else set(current_user.subject_codes)
    rows = exam_drafts.list_exams(db.session, subjects=subjects, round_id=round_id)
    rounds = db.session.scalars(select(SelectionRound).order_by(SelectionRound.year.desc(),
                                                                SelectionRound.name)).all()
    names = {s.code: s.display_name(_locale()) for s in db.session.scalars(select(Subject))}
    return render_template("exams/index.html", rows=rows, rounds=rounds, round_id=round_id,
                           subject_names=names, zone=str(display_zone()))


@bp.route("/new", methods=["GET", "POST"])
@roles(*AUTHOR_ROLES)
def new():
    """The exam form; saving validates the whole spec and creates a draft, or shows every issue."""
    form = forms.ExamForm()
    if request.method == "POST":
        return _save(form, None)
    subjects = _subjects()
    codes = [s.code for s in subjects]
    asked = request.args.get("subject")
    chosen = asked if asked in codes else (codes[0] if codes else None)
    if chosen:
        form.subject.data = chosen
        form.duration_minutes.data = db.session.get(Subject, chosen).default_minutes
        form.sections_yaml.data = forms.sections_yaml(exam_drafts.example_sections(db.session, chosen))
    _prepare(form, subjects, forms.parse_sections(form.sections_yaml.data or "")[0])
    return _render_form(form, None, [])


@bp.route("/example")
@roles(*AUTHOR_ROLES)
def example():
    """JSON {sections_yaml, duration_minutes}: the form's starting point for a subject."""
    code = request.args.get("subject", "")
    subject = db.session.get(Subject, code)
    if subject is None:
        abort(404)
    _check_subject(code)
    return jsonify(sections_yaml=forms.sections_yaml(exam_drafts.example_sections(db.session, code)),
                   duration_minutes=subject.default_minutes)


@bp.route("/availability", methods=["POST"])
@roles(*AUTHOR_ROLES)
def availability():
    """JSON per section and cell: requested vs available approved questions, and every located problem.

    The request is {subject, sections: the YAML text of the form's sections box}.
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("subject"), str) \
            or not isinstance(data.get("sections"), str):
        return jsonify(error="bad_request", message=_("请求无效")), 400
    _check_subject(data["subject"])
    sections, issues = forms.parse_sections(data["sections"])
    reports = []
    if not issues:
        reports, check_issues = exam_drafts.availability(db.session, data["subject"], sections)
        issues += check_issues
    zh = is_zh()

    def cell(c: exam_drafts.CellReport) -> dict[str, Any]:
        return {"index": c.index, "label": c.label_zh if zh else c.label_en, "requested": c.requested,
                "available": c.available, "ok": c.ok}

    return jsonify(ok=not issues, section_names=forms.section_names(sections), issues=issue_rows(issues),
                   sections=[{"name": r.name, "questions": r.fixed_keys, "cells": [cell(c) for c in r.cells]}
                             for r in reports])


@bp.route("/<int:exam_id>")
@roles(*AUTHOR_ROLES)
def show(exam_id: int):
    """An exam: its facts, sections (live availability for a draft, pinned questions once published)."""
    exam = _exam_or_abort(exam_id)
    return _render_show(exam, [])


def _render_show(exam: Exam, publish_issues: list[Issue], status: int = 200):
    reports, check_issues, pinned, questions = [], [], {}, {}
    if exam.state == "draft":
        reports, check_issues = exam_drafts.availability(db.session, exam.subject_code,
                                                         forms.exam_sections(exam))
        keys = {k for s in exam.sections for k in s.fixed_keys}
        questions = {q.key: q for q in db.session.scalars(select(Question).where(
            Question.subject_code == exam.subject_code, Question.key.in_(keys or [""])))}
    else:
        rows = db.session.scalars(select(ExamQuestion).where(ExamQuestion.exam_id == exam.id)
                                  .options(selectinload(ExamQuestion.question),
                                           selectinload(ExamQuestion.version))
                                  .order_by(ExamQuestion.position)).all()
        for row in rows:
            pinned.setdefault(row.section_id, []).append(row)
    leagues = {league.code: league.display_name(_locale()) for league in db.session.scalars(select(League))}
    subject = db.session.get(Subject, exam.subject_code)
    return render_template("exams/show.html", exam=exam, subject=subject, reports=reports,
                           check_issues=issue_rows(check_issues), publish_issues=issue_rows(publish_issues),
                           pinned=pinned, questions=questions, leagues=leagues, form=forms.PublishForm(),
                           zone=str(display_zone()), tie_break_labels=dict(_tie_break_choices(
                               [s.name for s in exam.sections], list(exam.tie_breaks or [])))), status


@bp.route("/<int:exam_id>/edit", methods=["GET", "POST"])
@roles(*AUTHOR_ROLES)
def edit(exam_id: int):
    """The same form for a draft; a published exam is frozen and cannot be edited."""
    exam = _exam_or_abort(exam_id)
    if exam.state != "draft":
        flash(_("考试已发布，不能再修改：试题和版本已在发布时固定，考生作答的就是这份试卷。"), "error")
        return redirect(url_for("exams.show", exam_id=exam.id))
    form = forms.ExamForm()
    if request.method == "POST":
        return _save(form, exam)
    forms.fill_from_exam(form, exam, display_zone())
    _prepare(form, _subjects(), forms.exam_sections(exam))
    return _render_form(form, exam, [])


@bp.route("/<int:exam_id>/publish", methods=["POST"])
@roles(*AUTHOR_ROLES)
def publish(exam_id: int):
    """Draw the blueprints once and pin every question's approved version (audited by the service)."""
    exam = _exam_or_abort(exam_id)
    if not forms.PublishForm().validate_on_submit():
        abort(400)
    # Lock the exam row, so a concurrent edit of the draft waits and then sees it published.
    db.session.refresh(exam, with_for_update=True)
    try:
        exam_authoring.publish(db.session, exam, actor=_actor(), now=utcnow())
    except ExamSpecError as exc:
        db.session.rollback()
        return _render_show(db.session.get(Exam, exam_id), exc.issues, 422)
    db.session.commit()
    flash(_("考试已发布：试题已抽定并固定版本。"), "success")
    return redirect(url_for("exams.show", exam_id=exam.id))


@bp.route("/<int:exam_id>/preview")
@roles(*AUTHOR_ROLES)
def preview(exam_id: int):
    """The paper exactly as a student with the given seed sees it; the "answers" tab adds keys for staff."""
    exam = _exam_or_abort(exam_id)
    seed = (request.args.get("seed") or "").strip()[:64] or DEFAULT_PREVIEW_SEED
    with_answers = request.args.get("tab") == "answers"
    try:
        paper = exam_preview.paper_of(db.session, exam)
    except ExamSpecError as exc:
        return render_template("exams/preview.html", exam=exam, seed=seed, with_answers=with_answers,
                               sections=[], answers=None, issues=issue_rows(exc.issues), total=0)
    sections = exam_preview.student_sections(exam, paper, seed)
    answers = None
    if with_answers:
        answers = exam_preview.staff_answers(paper, sections, seed, (_("正确"), _("错误")))
    return render_template("exams/preview.html", exam=exam, seed=seed, with_answers=with_answers,
                           sections=sections, answers=answers, issues=[], total=paper.max_points,
                           count=sum(len(s["questions"]) for s in sections))
