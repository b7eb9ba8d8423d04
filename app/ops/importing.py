"""Student import (template, check, dry run, background import), password batches and login slips."""
from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.authz import ADMINS, roles
from app.clock import utcnow
from app.domain import student_file
from app.extensions import db
from app.models import CredentialBatch, Job, Room, School, SlipFile, StudentProfile, User
from app.ops import bp
from app.ops.forms import actor, both, int_field, text_field
from app.services import audit, credentials, rooms, slips, student_import
from app.services.dashboards import league_scope
from app.services.students import IdKeys


def _id_keys() -> IdKeys:
    return IdKeys(current_app.config["ID_ENCRYPTION_KEYS"], current_app.config["ID_HASH_KEY"])


def _options() -> student_import.Options:
    encoding = request.form.get("encoding") or None
    if encoding not in (None, "utf-8", "gbk"):
        abort(400)
    upload = request.files.get("file")
    return student_import.Options(
        filename=(upload.filename if upload else "") or "students.csv", encoding=encoding,
        pattern=text_field("pattern", 64) or student_file.DEFAULT_PATTERN,
        year=int_field("year", default=utcnow().year), create_schools=request.form.get("create_schools") == "1",
        league_scope=league_scope(current_user))


@bp.route("/import/template.<fmt>")
@roles(*ADMINS)
def import_template(fmt: str):
    """The import template as XLSX (text-formatted columns) or CSV (UTF-8 with BOM)."""
    if fmt == "xlsx":
        return Response(student_file.template_xlsx(), headers={"Content-Disposition": "attachment; filename=students-template.xlsx"},
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if fmt == "csv":
        return Response(student_file.template_csv(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=students-template.csv"})
    abort(404)


@bp.route("/import", methods=["GET", "POST"])
@roles(*ADMINS)
def import_students():
    """Upload a file: check it whole (dry run) or import it as a background job when it is clean."""
    if request.method == "GET":
        return render_template("ops/import.html", plan=None, form={}, default_pattern=student_file.DEFAULT_PATTERN)
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    options = _options()
    form = {"encoding": options.encoding or "", "pattern": options.pattern, "year": options.year,
            "create_schools": options.create_schools}
    if not data:
        flash(_("请选择要导入的文件。") + " / Choose a file to import.", "error")
        return render_template("ops/import.html", plan=None, form=form, default_pattern=student_file.DEFAULT_PATTERN), 422
    plan = student_import.check(db.session, data, options, id_keys=_id_keys())
    db.session.rollback()
    asking = plan.error is not None and plan.error.code in ("encoding_unknown", "encoding_mismatch")
    if request.form.get("action") != "import" or not plan.ok or (plan.parsed.new_schools and not options.create_schools):
        status = 200 if plan.ok else 422
        return render_template("ops/import.html", plan=plan, summary=plan.summary(), form=form, asking=asking,
                               default_pattern=student_file.DEFAULT_PATTERN,
                               needs_confirmation=bool(plan.parsed.new_schools and not options.create_schools)), status
    job = student_import.enqueue(db.session, data, options, actor=actor(), now=utcnow(),
                                 secret_key=current_app.config["SECRET_KEY"])
    db.session.commit()
    return redirect(url_for("ops.import_job", job_id=job.id))


def _own_job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or job.kind not in (student_import.JOB_KIND, slips.JOB_KIND) or \
            (current_user.role != "admin" and job.created_by_id != current_user.id):
        abort(404)
    return job


@bp.route("/import/<int:job_id>")
@roles(*ADMINS)
def import_job(job_id: int):
    """The import's progress; when done, its result with a link to the password batch."""
    return render_template("ops/job.html", job=_own_job(job_id))


def _batch(batch_id: int) -> CredentialBatch:
    batch = db.session.get(CredentialBatch, batch_id)
    scope = league_scope(current_user)
    if batch is None or (current_user.role != "admin" and batch.created_by_id != current_user.id
                         and (scope is None or batch.league_code != scope)):
        abort(404)
    return batch


def _batch_schools(user_ids: list[int]) -> list[tuple[School, int]]:
    counts: dict[int, int] = {}
    for school_id in db.session.scalars(select(StudentProfile.school_id).where(StudentProfile.user_id.in_(user_ids))):
        counts[school_id] = counts.get(school_id, 0) + 1
    schools = db.session.scalars(select(School).where(School.id.in_(list(counts) or [-1])).order_by(School.league_code, School.name))
    return [(s, counts[s.id]) for s in schools]


@bp.route("/batches/<int:batch_id>", methods=["GET", "POST"])
@roles(*ADMINS)
def batch(batch_id: int):
    """A password batch: the passwords once (POST, never a GET a prefetch could burn), slips, purge."""
    row = _batch(batch_id)
    now = utcnow()
    secret = current_app.config["SECRET_KEY"]
    shown, schools, error = None, [], None
    try:
        if request.method == "POST":
            shown = credentials.reveal_once(db.session, row, now=now, secret_key=secret)
            if shown is not None:
                audit.record(db.session, actor=actor(), action="credentials.reveal", object_type="credential_batch",
                             object_id=row.id, now=now, league_code=row.league_code)
        user_ids = credentials.batch_users(db.session, row, now=now, secret_key=secret)
        schools = _batch_schools(user_ids)
    except credentials.BatchUnavailable as exc:
        error = both(exc)
    db.session.commit()
    people = []
    if shown:
        profiles = {p.user_id: p for p in db.session.scalars(select(StudentProfile).where(
            StudentProfile.user_id.in_(list(shown))))}
        people = sorted(((profiles[uid], pw) for uid, pw in shown.items() if uid in profiles),
                        key=lambda item: item[0].exam_number)
    files = db.session.scalars(select(SlipFile).where(SlipFile.batch_id == row.id).order_by(SlipFile.id.desc())).all()
    response = Response(render_template("ops/batch.html", batch=row, shown=people, schools=schools, error=error,
                                        files=files,
                                        rooms_by_school={s.id: rooms.rooms_of_school(db.session, s) for s, _ in schools}))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/batches/<int:batch_id>/purge", methods=["POST"])
@roles(*ADMINS)
def purge_batch(batch_id: int):
    """Erase a batch's passwords and its slip PDFs now (after printing)."""
    row = _batch(batch_id)
    credentials.purge(db.session, row, now=utcnow(), actor=actor())
    db.session.commit()
    flash(_("初始密码和准考证文件已清除。") + " / Passwords and slip files erased.", "success")
    return redirect(url_for("ops.batch", batch_id=row.id))


def _slip_target() -> tuple[int | None, int | None, str | None]:
    """The school or room of a slip request, checked against the user's scope (404 outside it)."""
    school_id, room_id = int_field("school_id"), int_field("room_id")
    if room_id is not None:
        room = db.session.get(Room, room_id)
        if room is None or not rooms.can_manage(current_user, room.school.league_code):
            abort(404)
        return None, room_id, room.school.league_code
    if school_id is not None:
        school = db.session.get(School, school_id)
        if school is None or not rooms.can_manage(current_user, school.league_code):
            abort(404)
        return school_id, None, school.league_code
    abort(400)


@bp.route("/slips", methods=["GET", "POST"])
@roles(*ADMINS)
def slips_index():
    """GET: recent slip files and live batches. POST: queue a slips job (from a batch, or resetting passwords)."""
    now = utcnow()
    if request.method == "POST":
        school_id, room_id, _league = _slip_target()
        mode = request.form.get("mode", "batch")
        batch_id = int_field("batch_id")
        if batch_id is not None:
            _batch(batch_id)
        try:
            job = slips.enqueue(db.session, mode=mode, batch_id=batch_id, school_id=school_id, room_id=room_id,
                                base_url=request.url_root.rstrip("/"), actor=actor(), now=now,
                                reason=text_field("reason"))
        except slips.SlipError as exc:
            db.session.rollback()
            flash(both(exc), "error")
            return redirect(request.referrer or url_for("ops.slips_index"))
        db.session.commit()
        return redirect(url_for("ops.import_job", job_id=job.id))
    credentials.purge_expired(db.session, now=now)
    db.session.commit()
    scope = league_scope(current_user)
    files = select(SlipFile).order_by(SlipFile.id.desc()).limit(50)
    batches = select(CredentialBatch).where(CredentialBatch.sealed.is_not(None)).order_by(CredentialBatch.id.desc()).limit(50)
    if scope:
        files = files.where(SlipFile.league_code == scope)
        batches = batches.where((CredentialBatch.league_code == scope) | (CredentialBatch.created_by_id == current_user.id))
    return render_template("ops/slips_index.html", files=db.session.scalars(files).all(),
                           batches=db.session.scalars(batches).all())


def _slip_file(file_id: int) -> SlipFile:
    row = db.session.get(SlipFile, file_id)
    scope = league_scope(current_user)
    if row is None or (scope and row.league_code != scope and row.created_by_id != current_user.id):
        abort(404)
    return row


@bp.route("/slips/<int:file_id>.pdf")
@roles(*ADMINS)
def slip_pdf(file_id: int):
    """Download a slips PDF while it lives (audited: it holds passwords)."""
    now = utcnow()
    credentials.purge_expired(db.session, now=now)
    row = _slip_file(file_id)
    if row.content is None:
        db.session.commit()
        flash(_("该文件已过期或已清除，请重置密码后重新生成。") + " / This file expired or was erased.", "error")
        return redirect(url_for("ops.slips_index"))
    audit.record(db.session, actor=actor(), action="slips.download", object_type="slip_file", object_id=row.id, now=now,
                 league_code=row.league_code)
    db.session.commit()
    return Response(row.content, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=slips-{row.id}.pdf", "Cache-Control": "no-store"})


@bp.route("/slips/print")
@roles(*ADMINS)
def slips_print():
    """The print-friendly HTML of a batch's slips for one school or room (audited)."""
    now = utcnow()
    school_id, room_id, league = _slip_target()
    batch_row = _batch(int_field("batch_id") or 0)
    try:
        passwords = credentials.read_batch(db.session, batch_row, now=now, secret_key=current_app.config["SECRET_KEY"])
    except credentials.BatchUnavailable as exc:
        db.session.commit()
        flash(both(exc), "error")
        return redirect(url_for("ops.slips_index"))
    items = slips.build_slips(db.session, passwords, school_id=school_id, room_id=room_id,
                              zone=current_app.config["TIMEZONE"])
    title = (db.session.get(Room, room_id).name if room_id else db.session.get(School, school_id).name)
    audit.record(db.session, actor=actor(), action="slips.print_view", object_type="credential_batch",
                 object_id=batch_row.id, now=now, league_code=league,
                 after={"school_id": school_id, "room_id": room_id, "count": len(items)})
    db.session.commit()
    response = Response(slips.render_html(items, title=title, base_url=request.url_root.rstrip("/"), for_pdf=False))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@roles(*ADMINS)
def reset_one_password(user_id: int):
    """Reset one account's password; the new one is shown once on the page that answers."""
    from app.services import user_admin

    user = db.session.get(User, user_id)
    if user is None or not user_admin.can_act_on(current_user, user):
        abort(404)
    cfg = current_app.config
    from app.services.accounts import HashParams

    password = credentials.one_time_password(db.session, user, actor=actor(), now=utcnow(), hash_params=HashParams(
        cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]))
    db.session.commit()
    response = Response(render_template("ops/password_once.html", user=user, password=password))
    response.headers["Cache-Control"] = "no-store"
    return response
