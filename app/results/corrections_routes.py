"""Corrections after scoring: regrades (dry run, then apply), voiding by two staff and absentees, and
answers to score reviews. League admins void and mark absent in their league only."""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.authz import ADMINS, roles
from app.clock import utcnow
from app.domain import scoring
from app.extensions import db
from app.models import (
    Attempt,
    Exam,
    ExamQuestion,
    Job,
    QuestionVersion,
    Regrade,
    ScoreReview,
    StudentProfile,
    User,
    Voiding,
)
from app.results import bp
from app.results.context import exam_or_404, form_error, refused, staff_actor
from app.results.forms import (
    AbsentForm,
    ActionForm,
    RegradeForm,
    ReviewResolveForm,
    VoidDecisionForm,
    VoidRequestForm,
)
from app.services import grading, jobs, papers, regrade, score_reviews, voiding
from app.services.dashboards import league_scope
from app.services.rankings import ResultsError

# --- regrades -------------------------------------------------------------------------------------


@bp.route("/exams/<int:exam_id>/regrade", methods=["GET", "POST"])
@roles("admin")
def regrade_page(exam_id: int):
    """The exam's questions and sections; a corrected key, version or policy makes a dry run."""
    exam = exam_or_404(exam_id)
    form = RegradeForm()
    if request.method == "POST":
        target = url_for("results.regrade_page", exam_id=exam.id)
        if not form.validate_on_submit():
            flash(form_error(form), "error")
            return redirect(target)
        now, actor = utcnow(), staff_actor()
        try:
            changes = []
            if form.kind.data == "key":
                try:
                    answer = json.loads(form.answer.data or "")
                except json.JSONDecodeError:
                    raise ResultsError("answer", "答案应写成 JSON，例如 \"b\" 或 [\"a\",\"c\"]",
                                       'write the key as JSON, e.g. "b" or ["a","c"]', 422) from None
                version = regrade.correct_key(db.session, exam, form.question.data or 0, answer,
                                              user_id=current_user.id, now=now, actor=actor)
                changes.append({"kind": "version", "exam_question_id": form.question.data, "version_id": version.id})
            elif form.kind.data == "version":
                changes.append({"kind": "version", "exam_question_id": form.question.data,
                                "version_id": form.version_id.data})
            else:
                changes.append({"kind": "policy", "section_id": form.section.data, "policy": form.policy.data or None,
                                "policy_params": {}})
            if regrade.is_large(db.session, exam):
                changes = regrade.check_changes(db.session, exam, changes)  # refuse mistakes now, not in the job
                job = jobs.enqueue(db.session, "regrade.dry_run",
                                   {"exam_id": exam.id, "changes": changes, "reason": form.reason.data,
                                    "user_id": current_user.id, "actor": current_user.login_name},
                                   now=now, created_by_id=current_user.id)
                db.session.commit()
                return redirect(url_for("results.regrade_job", job_id=job.id))
            plan = regrade.dry_run(db.session, exam, changes, reason=form.reason.data, user_id=current_user.id,
                                   now=now, actor=actor)
        except ResultsError as exc:
            return refused(exc, target)
        db.session.commit()
        return redirect(url_for("results.regrade_plan", plan_id=plan.id))
    paper = papers.load(db.session, exam)
    pinned = {q.id: q for q in db.session.scalars(select(ExamQuestion).where(ExamQuestion.exam_id == exam.id))}
    versions: dict[int, list[QuestionVersion]] = {}
    for version in db.session.scalars(select(QuestionVersion).where(
            QuestionVersion.question_id.in_([q.question_id for q in pinned.values()]))
            .order_by(QuestionVersion.number)):
        versions.setdefault(version.question_id, []).append(version)
    questions = []
    number = 0
    for section in paper.sections:
        for qid in section.question_ids:
            number += 1
            q = paper.questions[qid]
            questions.append({"number": number, "section": section, "pinned": pinned[qid], "content": q.content,
                              "answer": json.dumps(q.content.get("answer"), ensure_ascii=False),
                              "versions": [v for v in versions.get(q.question_id, []) if v.id != q.version_id]})
    plans = db.session.scalars(select(Regrade).where(Regrade.exam_id == exam.id).order_by(Regrade.id.desc())
                               .limit(20)).all()
    return render_template("results/regrade.html", exam=exam, paper=paper, questions=questions, plans=plans,
                           form=form, policies=sorted(scoring.POLICIES))


@bp.route("/regrade-jobs/<int:job_id>")
@roles("admin")
def regrade_job(job_id: int):
    """A large exam's dry run in the background; its plan once it is done."""
    job = db.session.get(Job, job_id)
    if job is None or job.kind not in ("regrade.dry_run", "regrade.apply"):
        abort(404)
    if job.state == "done" and job.kind == "regrade.dry_run":
        return redirect(url_for("results.regrade_plan", plan_id=job.result["regrade"]))
    return render_template("results/regrade_job.html", job=job)


@bp.route("/regrades/<int:plan_id>")
@roles("admin")
def regrade_plan(plan_id: int):
    """A dry run: every score that changes and every rank that moves; the button that applies it."""
    plan = db.session.get(Regrade, plan_id)
    if plan is None:
        abort(404)
    exam = exam_or_404(plan.exam_id)
    ids = {row[0] for row in plan.score_changes} | {row[0] for row in plan.rank_moves}
    numbers = dict(db.session.execute(
        select(Attempt.id, StudentProfile.exam_number).join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
        .where(Attempt.id.in_(ids))).all()) if ids else {}
    return render_template("results/regrade_plan.html", exam=exam, plan=plan, numbers=numbers, form=ActionForm(),
                           as_job=regrade.needs_job(plan))


@bp.route("/regrades/<int:plan_id>/apply", methods=["POST"])
@roles("admin")
def regrade_apply(plan_id: int):
    """Apply a dry run in one audited transaction (a background job for a large exam)."""
    plan = db.session.get(Regrade, plan_id)
    if plan is None:
        abort(404)
    target = url_for("results.regrade_plan", plan_id=plan.id)
    if not ActionForm().validate_on_submit():
        flash("CSRF", "error")
        return redirect(target)
    if regrade.needs_job(plan):
        job = jobs.enqueue(db.session, "regrade.apply", {"regrade_id": plan.id, "user_id": current_user.id,
                                                         "actor": current_user.login_name},
                           now=utcnow(), created_by_id=current_user.id)
        plan.job_id = job.id
        db.session.commit()
        return redirect(url_for("results.regrade_job", job_id=job.id))
    try:
        regrade.apply(db.session, plan, user_id=current_user.id, now=utcnow(), actor=staff_actor())
    except ResultsError as exc:
        return refused(exc, target)
    db.session.commit()
    flash(_("已重新评分：%(c)d 人成绩变化，%(m)d 人名次变化", c=len(plan.score_changes), m=len(plan.rank_moves)),
          "success")
    return redirect(url_for("results.ranking", exam_id=plan.exam_id))


# --- voiding and absentees ------------------------------------------------------------------------


def _attempt_by_number(exam: Exam, number: str) -> Attempt | None:
    return db.session.scalar(select(Attempt).join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
                             .where(Attempt.exam_id == exam.id, StudentProfile.exam_number == number.strip()))


@bp.route("/exams/<int:exam_id>/voiding", methods=["GET", "POST"])
@roles(*ADMINS)
def voiding_page(exam_id: int):
    """Voidings (two staff, a reason) and absentees; a league admin acts in their league only."""
    exam = exam_or_404(exam_id)
    form = VoidRequestForm(prefix="void")
    target = url_for("results.voiding_page", exam_id=exam.id)
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(form_error(form), "error")
            return redirect(target)
        attempt = _attempt_by_number(exam, form.exam_number.data)
        try:
            if attempt is None:
                raise ResultsError("not_found", "本考试没有该准考证号的作答", "no attempt with that exam number", 404)
            voiding.request_void(db.session, attempt, staff=current_user, reason=form.reason.data, now=utcnow(),
                                 actor=staff_actor())
        except ResultsError as exc:
            return refused(exc, target)
        db.session.commit()
        flash(_("作废申请已提交，须由另一位工作人员审批"), "success")
        return redirect(target)
    scope = league_scope(current_user)
    rows = voiding.pending_and_recent(db.session, exam.id, league=scope)
    people = {}
    if rows:
        for attempt_id, number, name in db.session.execute(
                select(Attempt.id, StudentProfile.exam_number, StudentProfile.name)
                .join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
                .where(Attempt.id.in_([v.attempt_id for v in rows]))):
            people[attempt_id] = (number, name)
    staff = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(
        {v.requested_by_id for v in rows} | {v.decided_by_id for v in rows if v.decided_by_id})))} if rows else {}
    return render_template("results/voiding.html", exam=exam, rows=rows, people=people, staff=staff, form=form,
                           decision_form=VoidDecisionForm(), absent_form=AbsentForm(prefix="absent"),
                           action_form=ActionForm())


@bp.route("/voidings/<int:voiding_id>/decide", methods=["POST"])
@roles(*ADMINS)
def voiding_decide(voiding_id: int):
    """The second staff member approves or rejects a voiding."""
    item = db.session.get(Voiding, voiding_id)
    if item is None:
        abort(404)
    attempt = db.session.get(Attempt, item.attempt_id)
    target = url_for("results.voiding_page", exam_id=attempt.exam_id)
    form = VoidDecisionForm()
    if not form.validate_on_submit():
        flash(form_error(form), "error")
        return redirect(target)
    try:
        voiding.decide(db.session, item, staff=current_user, approve=form.decision.data == "approve",
                       note=form.note.data or "", now=utcnow(), actor=staff_actor())
    except ResultsError as exc:
        return refused(exc, target)
    db.session.commit()
    flash(_("已作废，该作答不再参加排名") if item.state == "approved" else _("已驳回作废申请"), "success")
    return redirect(target)


@bp.route("/exams/<int:exam_id>/absent", methods=["POST"])
@roles(*ADMINS)
def absent(exam_id: int):
    """Mark one student absent (any admin of their league), or everyone left (the provincial admin)."""
    exam = exam_or_404(exam_id)
    target = url_for("results.voiding_page", exam_id=exam.id)
    form = AbsentForm(prefix="absent")
    try:
        if request.form.get("all"):
            if current_user.role != "admin" or not ActionForm().validate_on_submit():
                abort(403)
            count = voiding.mark_all_absent(db.session, exam, now=utcnow(), actor=staff_actor())
            message = _("已标记 %(n)d 人缺考", n=count)
        else:
            if not form.validate_on_submit():
                flash(form_error(form), "error")
                return redirect(target)
            student = db.session.scalar(select(User).join(StudentProfile, StudentProfile.user_id == User.id)
                                        .where(StudentProfile.exam_number == form.exam_number.data.strip()))
            if student is None:
                raise ResultsError("not_found", "没有该准考证号的考生", "no student with that exam number", 404)
            voiding.mark_absent(db.session, exam, student, staff=current_user, reason=form.reason.data or "",
                                now=utcnow(), actor=staff_actor())
            message = _("已标记缺考")
    except ResultsError as exc:
        return refused(exc, target)
    db.session.commit()
    flash(message, "success")
    return redirect(target)


# --- score reviews --------------------------------------------------------------------------------


@bp.route("/exams/<int:exam_id>/reviews")
@roles("admin")
def reviews(exam_id: int):
    """Score review requests (成绩复核), open first, with the form that answers each."""
    exam = exam_or_404(exam_id)
    rows = score_reviews.reviews_of(db.session, exam.id)
    people = {}
    if rows:
        for attempt_id, number, name in db.session.execute(
                select(Attempt.id, StudentProfile.exam_number, StudentProfile.name)
                .join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
                .where(Attempt.id.in_([r.attempt_id for r in rows]))):
            people[attempt_id] = (number, name)
    items = grading.manual_items(papers.load(db.session, exam))
    return render_template("results/reviews.html", exam=exam, rows=rows, people=people, items=items,
                           form=ReviewResolveForm())


@bp.route("/reviews/<int:review_id>/resolve", methods=["POST"])
@roles("admin")
def review_resolve(review_id: int):
    """Answer a review; a corrected manual grade rescored the attempt and publishes the next version."""
    review = db.session.get(ScoreReview, review_id)
    if review is None:
        abort(404)
    target = url_for("results.reviews", exam_id=review.exam_id)
    form = ReviewResolveForm()
    if not form.validate_on_submit():
        flash(form_error(form), "error")
        return redirect(target)
    correction = None
    if form.outcome.data == "changed" and form.item.data and form.points.data is not None:
        qid, _, part = form.item.data.partition(":")
        if not qid.isdigit():
            abort(400)
        correction = (int(qid), part, float(form.points.data))
    try:
        score_reviews.resolve(db.session, review, outcome=form.outcome.data, response=form.response.data,
                              staff=current_user, now=utcnow(), actor=staff_actor(), correction=correction)
    except ResultsError as exc:
        return refused(exc, target)
    db.session.commit()
    flash(_("复核已处理"), "success")
    return redirect(target)
