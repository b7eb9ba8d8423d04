"""Import and export views: upload files (dry run first), read the report; download a subject's bank."""
from __future__ import annotations

import io
import posixpath
import zipfile

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.authz import roles
from app.bank import bp
from app.bank.context import actor, allowed_subjects, issue_rows, may_edit, subject_choices
from app.bank.editing import IMAGE_EXTENSIONS
from app.bank.forms import ExportForm, ImportForm
from app.clock import utcnow
from app.domain.questions import BankValidationError, Issue
from app.extensions import db
from app.formats import excel
from app.formats.registry import importer_for_filename
from app.services import bank_import

BANK_ROLES = ("teacher", "admin")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetml"
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_BYTES = 50_000_000
_MIME = {"moodle-xml": "application/xml", "gift": "text/plain", "xlsx": XLSX + ".sheet"}


def _from_zip(name: str, data: bytes, files: dict[str, bytes]) -> Issue | None:
    """Add a zip's files (a YAML folder with images/, or any importable files) keeping their paths."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return Issue(name, "import.bad_zip", "zip 文件已损坏，无法打开", "the zip file is damaged and cannot be opened")
    entries = [e for e in archive.infolist() if not e.is_dir()]
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_ZIP_BYTES:
        return Issue(name, "import.zip_too_large", f"zip 中文件过多或过大（最多 {MAX_ZIP_ENTRIES} 个、共 50 MB）",
                     f"the zip holds too many or too large files (at most {MAX_ZIP_ENTRIES}, 50 MB in all)")
    for entry in entries:
        path = posixpath.normpath(entry.filename.replace("\\", "/")).lstrip("/")
        parts = path.split("/")
        if path.startswith("..") or "__MACOSX" in parts or any(p.startswith(".") for p in parts):
            continue
        files[path] = archive.read(entry)
    return None


def collect_uploads(uploads) -> tuple[dict[str, bytes], list[Issue]]:
    """The uploaded files as the importers expect them: bank files by name, images under ``images/``.

    A zip is unpacked with its folders. Every bank file must be of one format (one importer).
    """
    files: dict[str, bytes] = {}
    issues: list[Issue] = []
    for upload in uploads:
        if not upload or not upload.filename:
            continue
        name = posixpath.basename(upload.filename.replace("\\", "/"))
        data = upload.read()
        if name.lower().endswith(".zip"):
            problem = _from_zip(name, data, files)
            if problem:
                issues.append(problem)
        elif name.lower().endswith(IMAGE_EXTENSIONS):
            files[f"images/{name}"] = data
        else:
            files[name] = data
    if not files and not issues:
        issues.append(Issue("", "import.empty", "请选择要导入的文件", "choose the files to import"))
    formats: dict[str, str] = {}
    for path in files:
        if "images" in path.split("/")[:-1]:
            continue
        try:
            formats.setdefault(importer_for_filename(path).name, path)
        except BankValidationError as exc:  # an extension no importer reads
            issues.extend(exc.issues)
    if len(formats) > 1:
        issues.append(Issue("", "import.mixed_formats",
                            "一次只能导入一种格式的文件：" + "、".join(sorted(formats.values())),
                            "import files of one format at a time: " + ", ".join(sorted(formats.values()))))
    return files, issues


@bp.route("/import", methods=["GET", "POST"])
@roles(*BANK_ROLES)
def import_page():
    """Upload bank files; show every problem (file, question, field, reason) or what was (would be) done."""
    form = ImportForm()
    form.subject.choices = [SelectChoice("", _("按文件中的学科")), *subject_choices()]
    report = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("请检查表单。"), "error")
            return render_template("bank/import.html", form=form, report=None), 422
        report = _run_import(form)
        if not report.ok:
            db.session.rollback()
            status = 422
        elif report.dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    return render_template("bank/import.html", form=form, report=report,
                           issues=issue_rows(report.issues) if report else [],
                           notes=issue_rows(report.notes) if report else []), status


def _run_import(form: ImportForm) -> bank_import.ImportReport:
    dry_run = bool(form.dry_run.data)
    files, problems = collect_uploads(request.files.getlist(form.files.name))
    if problems:
        return bank_import.ImportReport(issues=problems, dry_run=dry_run)
    subject = form.subject.data or None
    if subject is not None and not may_edit(subject):
        abort(403)
    parsed, format_name = bank_import.parse_files(files, subject=subject)
    return bank_import.import_bank(db.session, parsed, actor=actor(), author_id=current_user.id, now=utcnow(),
                                   dry_run=dry_run, on_duplicate=form.on_duplicate.data,
                                   allowed_subjects=allowed_subjects(), format_name=format_name)


@bp.route("/template.xlsx")
@roles(*BANK_ROLES)
def excel_template():
    """The empty Excel question template (with its instructions sheet)."""
    return send_file(io.BytesIO(excel.template_bytes()), mimetype=XLSX + ".sheet", as_attachment=True,
                     download_name="题库导入模板.xlsx")


@bp.route("/export")
@roles(*BANK_ROLES)
def export():
    """Download a subject's bank in a format (YAML as a zip of the folder); ``check`` lists what the
    format cannot express instead of downloading."""
    form = ExportForm(request.args)
    form.subject.choices = subject_choices()
    if not request.args.get("subject"):
        return render_template("bank/export.html", form=form, result=None)
    if not form.validate():
        if request.args.get("subject") and not may_edit(request.args["subject"]):
            abort(403)
        flash(_("请选择学科和格式。"), "error")
        return render_template("bank/export.html", form=form, result=None), 422
    subject, format_name = form.subject.data, form.format.data
    result = bank_import.export_bank(db.session, subject=subject, format_name=format_name)
    if request.args.get("check"):
        return render_template("bank/export.html", form=form, result=result, issues=issue_rows(result.issues))
    if not result.files:
        flash(_("没有可导出的试题。"), "error")
        return redirect(url_for("bank.export", subject=subject, format=format_name, check=1))
    if format_name != "yaml" and len(result.files) == 1:
        name, data = next(iter(result.files.items()))
        return send_file(io.BytesIO(data), mimetype=_MIME.get(format_name, "application/octet-stream"),
                         as_attachment=True, download_name=posixpath.basename(name))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(result.files.items()):
            archive.writestr(name, data)
    buffer.seek(0)
    return send_file(buffer, mimetype="application/zip", as_attachment=True,
                     download_name=f"{subject}-{format_name}.zip")
