"""The office's results pages: rankings, what-if selection, publication, verification, exports,
regrades, voiding and absentees, score reviews. League admins see and export only their league."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app.authz import ADMINS, roles
from app.clock import utcnow
from app.domain import scoring
from app.extensions import db
from app.i18n import is_zh
from app.models import (
    Attempt,
    Exam,
    ExamQuestion,
    Job,
    League,
    QuestionVersion,
    Regrade,
    ScoreReview,
    StudentProfile,
    User,
    Voiding,
)
from app.results import bp
from app.results.forms import (
    AbsentForm,
    ActionForm,
    PublishForm,
    RegradeForm,
    ReviewResolveForm,
    SettingsForm,
    VoidDecisionForm,
    VoidRequestForm,
)
from app.services import (
    audit,
    exports,
    grading,
    jobs,
    papers,
    publication,
    rankings,
    regrade,
    score_reviews,
    selection_service,
    voiding,
)
from app.services.dashboards import league_scope
from app.services.rankings import ResultsError

PAGE_SIZE = 100


def _actor() -> audit.Actor:
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


def _exam(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or exam.kind != "selection" or exam.state == "draft":
        abort(404)
    return exam


def _league(requested: str | None) -> str | None:
    """The league a page may show: a league admin's own (another one is a 403), else the one asked for."""
    scope = league_scope(current_user)
    if scope:
        if requested and requested != scope:
            abort(403)
        return scope
    return requested or None


def _message(exc: ResultsError) -> str:
    return exc.zh if is_zh() else exc.en


def _refused(exc: ResultsError, target: str):
    db.session.rollback()
    flash(_message(exc), "error")
    return redirect(target)


def _form_error(form) -> str:
    return "；".join(f"{getattr(form, name).label.text}: {'；'.join(errors)}" for name, errors in form.errors.items())


def _leagues() -> list[League]:
    return list(db.session.scalars(select(League).order_by(League.code)))


# --- the exam list and the ranking page -----------------------------------------------------------


@bp.route("/")
@roles(*ADMINS)
def index():
    """Selection exams with their results state: attempts, ranking, selection, published version."""
    scope = league_scope(current_user)
    exams = db.session.scalars(select(Exam).where(Exam.kind == "selection", Exam.state != "draft")
                               .order_by(Exam.id.desc())).all()
    counts_query = select(Attempt.exam_id, Attempt.state, func.count()).group_by(Attempt.exam_id, Attempt.state)
    if scope:
        counts_query = counts_query.join(StudentProfile, StudentProfile.user_id == Attempt.student_id) \
            .where(StudentProfile.league_code == scope)
    counts: dict[int, dict[str, int]] = {}
    for exam_id, state, n in db.session.execute(counts_query):
        counts.setdefault(exam_id, {})[state] = n
    rows = []
    for exam in exams:
        run = rankings.current_run(db.session, exam.id)
        rows.append({"exam": exam, "counts": counts.get(exam.id, {}), "run": run,
                     "stale": rankings.is_stale(db.session, exam, run),
                     "snapshot": publication.latest_snapshot(db.session, exam.id),
                     "selection": selection_service.current_fixed(db.session, exam.id)})
    return render_template("results/index.html", rows=rows, scope=scope)


@bp.route("/exams/<int:exam_id>")
@roles(*ADMINS)
def ranking(exam_id: int):
    """The stored ranking (a league admin's: their league only), with the actions around it."""
    exam = _exam(exam_id)
    league = _league(request.args.get("league"))
    page = max(1, request.args.get("page", 1, type=int))
    run = rankings.current_run(db.session, exam.id)
    snapshot = publication.latest_snapshot(db.session, exam.id)
    fixed = selection_service.current_fixed(db.session, exam.id)
    rule_id = None
    if run is not None:
        if snapshot is not None and snapshot.run_id == run.id:
            rule_id = snapshot.selection_rule_id
        elif fixed is not None and fixed.run_id == run.id:
            rule_id = fixed.id
    total, rows = (0, [])
    if run is not None:
        total, rows = rankings.page_rows(db.session, run, rule_id=rule_id, league=league,
                                         offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    settings = rankings.settings_for(db.session, exam.id, create=False)
    return render_template(
        "results/ranking.html", exam=exam, run=run, rows=rows, total=total, page=page, page_size=PAGE_SIZE,
        league=league, scope=league_scope(current_user), leagues=_leagues(), snapshot=snapshot, fixed=fixed,
        league_names={lg.code: lg.name_zh if is_zh() else lg.name_en for lg in _leagues()},
        stale=rankings.is_stale(db.session, exam, run), published_current=bool(snapshot and run and
                                                                               snapshot.run_id == run.id),
        rule_id=rule_id, settings=settings, action_form=ActionForm(), publish_form=PublishForm(
            public_list=settings.public_list),
        settings_form=SettingsForm(double_marking=settings.double_marking,
                                   double_threshold=settings.double_threshold, review_days=settings.review_days),
        tie_rule=exports.describe_tie_breaks(list(exam.tie_breaks or ())))


@bp.route("/exams/<int:exam_id>/compute", methods=["POST"])
@roles("admin")
def compute(exam_id: int):
    """Compute and store the ranking now."""
    exam = _exam(exam_id)
    run = rankings.compute(db.session, exam, now=utcnow(), actor=_actor())
    db.session.commit()
    flash(_("排名已计算：%(n)d 人参加排名", n=run.ranked_count), "success")
    return redirect(url_for("results.ranking", exam_id=exam.id))


@bp.route("/exams/<int:exam_id>/settings", methods=["POST"])
@roles("admin")
def settings(exam_id: int):
    """Save double marking, its threshold and the review window length."""
    exam = _exam(exam_id)
    form = SettingsForm()
    if not form.validate_on_submit():
        flash(_form_error(form), "error")
        return redirect(url_for("results.ranking", exam_id=exam.id))
    stored = rankings.settings_for(db.session, exam.id)
    before = {"double_marking": stored.double_marking, "double_threshold": stored.double_threshold,
              "review_days": stored.review_days}
    stored.double_marking = form.double_marking.data
    stored.double_threshold = float(form.double_threshold.data)
    stored.review_days = form.review_days.data
    rankings.mark_changed(db.session, exam.id, utcnow())  # double marking changes which points are final
    audit.record(db.session, actor=_actor(), action="results.settings", object_type="exam", object_id=exam.id,
                 now=utcnow(), before=before, after={"double_marking": stored.double_marking,
                                                     "double_threshold": stored.double_threshold,
                                                     "review_days": stored.review_days})
    db.session.commit()
    flash(_("设置已保存"), "success")
    return redirect(url_for("results.ranking", exam_id=exam.id))


@bp.route("/exams/<int:exam_id>/publish", methods=["POST"])
@roles("admin")
def publish(exam_id: int):
    """Publish the results as the next snapshot version."""
    exam = _exam(exam_id)
    form = PublishForm()
    target = url_for("results.ranking", exam_id=exam.id)
    if not form.validate_on_submit():
        flash(_form_error(form), "error")
        return redirect(target)
    try:
        published = publication.publish(db.session, exam, user_id=current_user.id, now=utcnow(), actor=_actor(),
                                        reason=form.reason.data or None, public_list=form.public_list.data)
    except ResultsError as exc:
        return _refused(exc, target)
    db.session.commit()
    snap = published.snapshot
    if published.new:
        flash(_("已发布第 %(v)d 版，SHA-256 %(sha)s", v=snap.version, sha=snap.sha256), "success")
    else:
        flash(_("成绩没有变化，仍为第 %(v)d 版", v=snap.version), "warning")
    return redirect(target)


@bp.route("/exams/<int:exam_id>/verify")
@roles("admin")
def verify(exam_id: int):
    """Recompute from the stored scores and compare with the latest snapshot's hash."""
    exam = _exam(exam_id)
    try:
        report = publication.verify(db.session, exam, version=request.args.get("version", type=int))
    except ResultsError as exc:
        return _refused(exc, url_for("results.ranking", exam_id=exam.id))
    db.session.rollback()
    return render_template("results/verify.html", exam=exam, report=report)


@bp.route("/exams/<int:exam_id>/snapshots")
@roles("admin")
def snapshots(exam_id: int):
    """Every published version with its hash and what moved since the one before."""
    exam = _exam(exam_id)
    return render_template("results/snapshots.html", exam=exam,
                           versions=publication.snapshots_of(db.session, exam.id))


@bp.route("/exams/<int:exam_id>/export.<fmt>")
@roles(*ADMINS)
def export(exam_id: int, fmt: str):
    """Download the stored ranking as CSV (UTF-8 with BOM) or XLSX; a league admin gets their league."""
    exam = _exam(exam_id)
    if fmt not in exports.FORMATS:
        abort(404)
    league = _league(request.args.get("league"))
    try:
        ctx = exports.context(db.session, exam, league_code=league, now=utcnow(),
                              timezone=current_app.config["TIMEZONE"])
    except ResultsError as exc:
        return _refused(exc, url_for("results.ranking", exam_id=exam.id))
    audit.record(db.session, actor=_actor(), action="results.export", object_type="exam", object_id=exam.id,
                 now=utcnow(), league_code=league, after={"format": fmt, "league": league, "run": ctx.run_id})
    db.session.commit()
    name = exports.file_name(exam.id, fmt, league)
    if fmt == "xlsx" and ctx.row_count > exports.INLINE_XLSX_ROWS:
        job = jobs.enqueue(db.session, "results.export",
                           {"exam_id": exam.id, "format": fmt, "league": league,
                            "directory": os.path.join(current_app.instance_path, "exports"),
                            "timezone": current_app.config["TIMEZONE"]}, now=utcnow(), created_by_id=current_user.id)
        db.session.commit()
        return redirect(url_for("results.export_job", job_id=job.id))
    if fmt == "csv":
        return Response(stream_with_context(exports.stream_csv(db.session, ctx)), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}",
                                 "Cache-Control": "no-store"})
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (send_file streams it, then closes and deletes it)
    exports.write_xlsx(db.session, ctx, handle)
    handle.seek(0)
    response = send_file(handle, as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Cache-Control"] = "no-store"
    return response


def _export_job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.kind != "results.export" or (current_user.role != "admin"
                                                        and job.created_by_id != current_user.id):
        abort(404)
    return job


@bp.route("/exports/<int:job_id>")
@roles(*ADMINS)
def export_job(job_id: int):
    """A large export being written in the background; the download once it is done."""
    return render_template("results/export_job.html", job=_export_job(job_id))


@bp.route("/exports/<int:job_id>/file")
@roles(*ADMINS)
def export_job_file(job_id: int):
    """Download the file a finished export job wrote."""
    job = _export_job(job_id)
    directory = os.path.realpath(os.path.join(current_app.instance_path, "exports"))
    path = os.path.realpath((job.result or {}).get("path") or "")
    if job.state != "done" or not path.startswith(directory + os.sep) or not os.path.exists(path):
        abort(404)
    response = send_file(path, as_attachment=True, download_name=job.result["name"])
    response.headers["Cache-Control"] = "no-store"
    return response


# --- selection ------------------------------------------------------------------------------------


def _rule_fields(rule) -> dict[str, Any]:
    if rule is None:
        return {}
    fields: dict[str, Any] = {"cutoff": rule.cutoff, "quota": rule.quota, "reserve_count": rule.reserve_count,
                              "boundary_ties": rule.boundary_ties}
    fields.update({f"min_{k}": v for k, v in (rule.league_min or {}).items()})
    fields.update({f"max_{k}": v for k, v in (rule.league_max or {}).items()})
    return fields


@bp.route("/exams/<int:exam_id>/selection", methods=["GET", "POST"])
@roles("admin")
def selection(exam_id: int):
    """What-if: who the rule being edited would admit; fixing it stores each decision and its step."""
    exam = _exam(exam_id)
    leagues = _leagues()
    known = {league.code for league in leagues}
    ties = selection_service.default_boundary_ties(exam)
    fixed = selection_service.current_fixed(db.session, exam.id)
    if request.method == "POST":
        form = ActionForm()
        target = url_for("results.selection", exam_id=exam.id, **{k: v for k, v in request.form.items()
                                                                   if k != "csrf_token"})
        if not form.validate_on_submit():
            flash(_form_error(form) or "CSRF", "error")
            return redirect(target)
        try:
            rules = selection_service.parse_rules(request.form, default_ties=ties, leagues=known)
            rule = selection_service.fix(db.session, exam, rules, user_id=current_user.id, now=utcnow(),
                                         actor=_actor())
        except ResultsError as exc:
            return _refused(exc, target)
        db.session.commit()
        flash(_("入围名单已确定：入围 %(a)d 人，候补 %(r)d 人", a=rule.admitted_count, r=rule.reserve_total), "success")
        return redirect(url_for("results.ranking", exam_id=exam.id))
    fields = dict(request.args) if "quota" in request.args else _rule_fields(fixed)
    preview, error = None, None
    if fields:
        try:
            rules = selection_service.parse_rules(fields, default_ties=ties, leagues=known)
            preview = selection_service.preview(db.session, exam, rules)
        except ResultsError as exc:
            error = _message(exc)
    run = rankings.current_run(db.session, exam.id)
    names: dict[int, tuple[str, str]] = {}
    if preview is not None:
        wanted = [d.attempt_id for d in (*preview.result.admitted, *preview.result.reserve)]
        for attempt_id, number, name in db.session.execute(
                select(Attempt.id, StudentProfile.exam_number, StudentProfile.name)
                .join(StudentProfile, StudentProfile.user_id == Attempt.student_id).where(Attempt.id.in_(wanted))):
            names[attempt_id] = (number, name)
    eligible: dict[str, int] = {}
    if preview is not None:
        for decision in preview.result.decisions.values():
            if decision.status != "ineligible" and decision.league_code:
                eligible[decision.league_code] = eligible.get(decision.league_code, 0) + 1
    return render_template("results/selection.html", exam=exam, leagues=leagues, fields=fields, preview=preview,
                           error=error, names=names, eligible=eligible, fixed=fixed, run=run,
                           stale=rankings.is_stale(db.session, exam, run), default_ties=ties, form=ActionForm())


# --- regrades -------------------------------------------------------------------------------------


@bp.route("/exams/<int:exam_id>/regrade", methods=["GET", "POST"])
@roles("admin")
def regrade_page(exam_id: int):
    """The exam's questions and sections; a corrected key, version or policy makes a dry run."""
    exam = _exam(exam_id)
    form = RegradeForm()
    if request.method == "POST":
        target = url_for("results.regrade_page", exam_id=exam.id)
        if not form.validate_on_submit():
            flash(_form_error(form), "error")
            return redirect(target)
        now, actor = utcnow(), _actor()
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
            plan = regrade.dry_run(db.session, exam, changes, reason=form.reason.data, user_id=current_user.id,
                                   now=now, actor=actor)
        except ResultsError as exc:
            return _refused(exc, target)
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


@bp.route("/regrades/<int:plan_id>")
@roles("admin")
def regrade_plan(plan_id: int):
    """A dry run: every score that changes and every rank that moves; the button that applies it."""
    plan = db.session.get(Regrade, plan_id)
    if plan is None:
        abort(404)
    exam = _exam(plan.exam_id)
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
        return redirect(url_for("jobs.show", job_id=job.id))
    try:
        regrade.apply(db.session, plan, user_id=current_user.id, now=utcnow(), actor=_actor())
    except ResultsError as exc:
        return _refused(exc, target)
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
    exam = _exam(exam_id)
    form = VoidRequestForm(prefix="void")
    target = url_for("results.voiding_page", exam_id=exam.id)
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_form_error(form), "error")
            return redirect(target)
        attempt = _attempt_by_number(exam, form.exam_number.data)
        try:
            if attempt is None:
                raise ResultsError("not_found", "本考试没有该准考证号的作答", "no attempt with that exam number", 404)
            voiding.request_void(db.session, attempt, staff=current_user, reason=form.reason.data, now=utcnow(),
                                 actor=_actor())
        except ResultsError as exc:
            return _refused(exc, target)
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
        flash(_form_error(form), "error")
        return redirect(target)
    try:
        voiding.decide(db.session, item, staff=current_user, approve=form.decision.data == "approve",
                       note=form.note.data or "", now=utcnow(), actor=_actor())
    except ResultsError as exc:
        return _refused(exc, target)
    db.session.commit()
    flash(_("已作废，该作答不再参加排名") if item.state == "approved" else _("已驳回作废申请"), "success")
    return redirect(target)


@bp.route("/exams/<int:exam_id>/absent", methods=["POST"])
@roles(*ADMINS)
def absent(exam_id: int):
    """Mark one student absent (any admin of their league), or everyone left (the provincial admin)."""
    exam = _exam(exam_id)
    target = url_for("results.voiding_page", exam_id=exam.id)
    form = AbsentForm(prefix="absent")
    try:
        if request.form.get("all"):
            if current_user.role != "admin" or not ActionForm().validate_on_submit():
                abort(403)
            count = voiding.mark_all_absent(db.session, exam, now=utcnow(), actor=_actor())
            message = _("已标记 %(n)d 人缺考", n=count)
        else:
            if not form.validate_on_submit():
                flash(_form_error(form), "error")
                return redirect(target)
            student = db.session.scalar(select(User).join(StudentProfile, StudentProfile.user_id == User.id)
                                        .where(StudentProfile.exam_number == form.exam_number.data.strip()))
            if student is None:
                raise ResultsError("not_found", "没有该准考证号的考生", "no student with that exam number", 404)
            voiding.mark_absent(db.session, exam, student, staff=current_user, reason=form.reason.data or "",
                                now=utcnow(), actor=_actor())
            message = _("已标记缺考")
    except ResultsError as exc:
        return _refused(exc, target)
    db.session.commit()
    flash(message, "success")
    return redirect(target)


# --- score reviews --------------------------------------------------------------------------------


@bp.route("/exams/<int:exam_id>/reviews")
@roles("admin")
def reviews(exam_id: int):
    """Score review requests (成绩复核), open first, with the form that answers each."""
    exam = _exam(exam_id)
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
        flash(_form_error(form), "error")
        return redirect(target)
    correction = None
    if form.outcome.data == "changed" and form.item.data and form.points.data is not None:
        qid, _, part = form.item.data.partition(":")
        if not qid.isdigit():
            abort(400)
        correction = (int(qid), part, float(form.points.data))
    try:
        score_reviews.resolve(db.session, review, outcome=form.outcome.data, response=form.response.data,
                              staff=current_user, now=utcnow(), actor=_actor(), correction=correction)
    except ResultsError as exc:
        return _refused(exc, target)
    db.session.commit()
    flash(_("复核已处理"), "success")
    return redirect(target)
