"""The office's results pages: the exam list, the ranking, computing, settings, publication,
verification, exports and the what-if selection. League admins see and export only their league."""
from __future__ import annotations

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
from app.extensions import db
from app.i18n import is_zh
from app.models import Attempt, Exam, Job, StudentProfile
from app.results import bp
from app.results.context import (
    all_leagues,
    exam_or_404,
    form_error,
    league_in_scope,
    message,
    refused,
    staff_actor,
)
from app.results.forms import ActionForm, PublishForm, SettingsForm
from app.services import audit, export_files, exports, jobs, publication, rankings, selection_service
from app.services.dashboards import league_scope
from app.services.rankings import ResultsError

PAGE_SIZE = 100


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
    exam = exam_or_404(exam_id)
    league = league_in_scope(request.args.get("league"))
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
        league=league, scope=league_scope(current_user), leagues=all_leagues(), snapshot=snapshot, fixed=fixed,
        league_names={lg.code: lg.name_zh if is_zh() else lg.name_en for lg in all_leagues()},
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
    exam = exam_or_404(exam_id)
    run = rankings.compute(db.session, exam, now=utcnow(), actor=staff_actor())
    db.session.commit()
    flash(_("排名已计算：%(n)d 人参加排名", n=run.ranked_count), "success")
    return redirect(url_for("results.ranking", exam_id=exam.id))


@bp.route("/exams/<int:exam_id>/settings", methods=["POST"])
@roles("admin")
def settings(exam_id: int):
    """Save double marking, its threshold and the review window length."""
    exam = exam_or_404(exam_id)
    form = SettingsForm()
    if not form.validate_on_submit():
        flash(form_error(form), "error")
        return redirect(url_for("results.ranking", exam_id=exam.id))
    stored = rankings.settings_for(db.session, exam.id)
    before = {"double_marking": stored.double_marking, "double_threshold": stored.double_threshold,
              "review_days": stored.review_days}
    stored.double_marking = form.double_marking.data
    stored.double_threshold = float(form.double_threshold.data)
    stored.review_days = form.review_days.data
    rankings.mark_changed(db.session, exam.id, utcnow())  # double marking changes which points are final
    audit.record(db.session, actor=staff_actor(), action="results.settings", object_type="exam", object_id=exam.id,
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
    exam = exam_or_404(exam_id)
    form = PublishForm()
    target = url_for("results.ranking", exam_id=exam.id)
    if not form.validate_on_submit():
        flash(form_error(form), "error")
        return redirect(target)
    try:
        published = publication.publish(db.session, exam, user_id=current_user.id, now=utcnow(), actor=staff_actor(),
                                        reason=form.reason.data or None, public_list=form.public_list.data)
    except ResultsError as exc:
        return refused(exc, target)
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
    exam = exam_or_404(exam_id)
    try:
        report = publication.verify(db.session, exam, version=request.args.get("version", type=int))
    except ResultsError as exc:
        return refused(exc, url_for("results.ranking", exam_id=exam.id))
    db.session.rollback()
    return render_template("results/verify.html", exam=exam, report=report)


@bp.route("/exams/<int:exam_id>/snapshots")
@roles("admin")
def snapshots(exam_id: int):
    """Every published version with its hash and what moved since the one before."""
    exam = exam_or_404(exam_id)
    return render_template("results/snapshots.html", exam=exam,
                           versions=publication.snapshots_of(db.session, exam.id))


@bp.route("/exams/<int:exam_id>/export.<fmt>")
@roles(*ADMINS)
def export(exam_id: int, fmt: str):
    """Download the stored ranking as CSV (UTF-8 with BOM) or XLSX; a league admin gets their league."""
    exam = exam_or_404(exam_id)
    if fmt not in exports.FORMATS:
        abort(404)
    league = league_in_scope(request.args.get("league"))
    try:
        ctx = exports.context(db.session, exam, league_code=league, now=utcnow(),
                              timezone=current_app.config["TIMEZONE"])
    except ResultsError as exc:
        return refused(exc, url_for("results.ranking", exam_id=exam.id))
    audit.record(db.session, actor=staff_actor(), action="results.export", object_type="exam", object_id=exam.id,
                 now=utcnow(), league_code=league, after={"format": fmt, "league": league, "run": ctx.run_id})
    db.session.commit()
    name = exports.file_name(exam.id, fmt, league)
    if ctx.row_count > exports.INLINE_ROWS:
        job = jobs.enqueue(db.session, "results.export",
                           {"exam_id": exam.id, "format": fmt, "league": league,
                            "directory": export_files.directory(current_app.instance_path),
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
    job = _export_job(job_id)
    return render_template("results/export_job.html", job=job, file_exists=_export_path(job) is not None,
                           keep_hours=int(current_app.config["EXPORT_FILE_HOURS"]))


def _export_path(job: Job) -> str | None:
    """The finished job's file, if it is still there (inside the exports folder only)."""
    directory = os.path.realpath(export_files.directory(current_app.instance_path))
    path = os.path.realpath((job.result or {}).get("path") or "")
    if job.state != "done" or not path.startswith(directory + os.sep) or not os.path.exists(path):
        return None
    return path


@bp.route("/exports/<int:job_id>/file")
@roles(*ADMINS)
def export_job_file(job_id: int):
    """Download the file a finished export job wrote."""
    job = _export_job(job_id)
    path = _export_path(job)
    if path is None:
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
    exam = exam_or_404(exam_id)
    leagues = all_leagues()
    known = {league.code for league in leagues}
    ties = selection_service.default_boundary_ties(exam)
    fixed = selection_service.current_fixed(db.session, exam.id)
    if request.method == "POST":
        form = ActionForm()
        target = url_for("results.selection", exam_id=exam.id, **{k: v for k, v in request.form.items()
                                                                   if k != "csrf_token"})
        if not form.validate_on_submit():
            flash(form_error(form) or "CSRF", "error")
            return redirect(target)
        try:
            rules = selection_service.parse_rules(request.form, default_ties=ties, leagues=known)
            rule = selection_service.fix(db.session, exam, rules, user_id=current_user.id, now=utcnow(),
                                         actor=staff_actor())
        except ResultsError as exc:
            return refused(exc, target)
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
            error = message(exc)
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
