"""Question bank views (thin: parse input, call a service, render): list, editor, preview, review, history."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.authz import roles, signed_in
from app.bank import bp, editing, queries
from app.bank.context import (
    TemplateView,
    actor,
    allowed_subjects,
    editor,
    image_url_for,
    issue_rows,
    may_edit,
    question_or_abort,
    subject_choices,
    text,
    version_images,
)
from app.bank.forms import ACTIONS, BulkForm, CommentForm, EditorForm, TransitionForm
from app.clock import utcnow
from app.domain.presentation import student_view
from app.domain.question_rules import is_image_path
from app.domain.questions import QUESTION_TYPES, Issue, canonical
from app.extensions import db
from app.models import QUESTION_STATES, Question, QuestionReview, StoredImage
from app.services import bank_review, bank_store

BANK_ROLES = ("teacher", "admin")


@bp.route("/images/<name>")
@signed_in
def image(name: str):
    """A stored question image, by content-hash name, with its own type (cached for a year: the name is its hash)."""
    stored = db.session.get(StoredImage, name)
    if stored is None:
        abort(404)
    response = Response(stored.data, mimetype=stored.mime)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    if stored.mime == "image/svg+xml":
        # A sanitized SVG, and even so never able to run script when opened directly.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


# --- list and bulk actions ---------------------------------------------------------------------

@bp.route("/")
@roles(*BANK_ROLES)
def index():
    """The questions of the user's subjects: search, filters, 50 a page, bulk actions."""
    filters = queries.Filters.from_args(request.args)
    scope = allowed_subjects()
    page = queries.search(db.session, filters, subjects=scope)
    form = BulkForm(next=request.full_path)
    return render_template("bank/index.html", page=page, filters=filters, form=form,
                           subjects=subject_choices(), types=QUESTION_TYPES, states=QUESTION_STATES,
                           authors=queries.authors(db.session, scope))


def _local_next(target: str | None) -> str:
    """Where to go back after a bulk action: a bank page, never elsewhere."""
    if target and target.startswith("/bank/") and "//" not in target and "\\" not in target:
        return target
    return url_for("bank.index")


@bp.route("/bulk", methods=["POST"])
@roles(*BANK_ROLES)
def bulk():
    """Submit, retire or tag the ticked questions: all of them or, if any is refused, none."""
    form = BulkForm()
    back = _local_next(form.next.data)
    ids = request.form.getlist("ids", type=int)
    if not form.validate_on_submit():
        flash(_("无效的批量操作。"), "error")
        return redirect(back)
    if not ids:
        flash(_("请先勾选试题。"), "error")
        return redirect(back)
    questions = queries.by_ids(db.session, ids)
    if len(questions) != len(set(ids)):
        abort(404)
    if not all(may_edit(q.subject_code) for q in questions):
        abort(403)
    tag = "/".join(part.strip() for part in (form.tag.data or "").split("/"))
    if form.action.data == "tag" and not tag:
        flash(_("请填写要添加的知识点（如 力学/运动学）。"), "error")
        return redirect(back)
    errors = _apply_bulk(questions, form.action.data, tag)
    if errors:
        db.session.rollback()
        flash(_("批量操作未执行，没有任何改动：") + "；".join(errors[:20]), "error")
        return redirect(back)
    db.session.commit()
    flash(_("已处理 %(n)d 道试题。", n=len(questions)), "success")
    return redirect(back)


def _apply_bulk(questions: list[Question], action: str, tag: str) -> list[str]:
    """Apply one bulk action to each question; returns "key: reason" for each refusal."""
    errors: list[str] = []
    now = utcnow()
    for question in questions:
        try:
            if action == "tag":
                content = dict(question.current_version.content)
                if tag in content.get("knowledge_points", []):
                    continue
                content["knowledge_points"] = [*content.get("knowledge_points", []), tag]
                bank_review.edit(db.session, editor(), question, content, image_map={}, now=now, actor=actor(),
                                 note="bulk: + " + tag[:200])
            else:
                bank_review.transition(db.session, editor(), question, action, now=now, actor=actor())
        except bank_review.ReviewError as error:
            detail = "；".join(row["message"] for row in issue_rows(error.issues[:3]))
            errors.append(f"{question.key}: {text(error.zh, error.en)}" + (f"（{detail}）" if detail else ""))
    return errors


# --- editor and preview ------------------------------------------------------------------------

def _posted_images(raw: Any) -> dict[str, str]:
    """Images uploaded earlier from the editor (reference → stored name), as the page sends them.

    Entries that are malformed or name no stored image are dropped; the question then reports the
    reference as a missing image.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    pairs = {ref: name for ref, name in list(raw.items())[:100]
             if isinstance(ref, str) and isinstance(name, str) and is_image_path(ref) and len(name) <= 80}
    if not pairs:
        return {}
    known = set(db.session.scalars(select(StoredImage.name).where(StoredImage.name.in_(set(pairs.values())))))
    return {ref: name for ref, name in pairs.items() if name in known}


def _uploaded_images(files) -> tuple[dict[str, str], list[Issue]]:
    """Images sent with the editor form itself: checked, then stored in the request's transaction."""
    checked: dict[str, bytes] = {}
    issues: list[Issue] = []
    for file in files or []:
        if not file or not file.filename:
            continue
        result = editing.check_upload(file.filename, file.read())
        if isinstance(result, Issue):
            issues.append(result)
        else:
            checked[result[0]] = result[1]
    if issues or not checked:
        return {}, issues
    return bank_store.store_images(db.session, checked, now=utcnow()), []


def _preview(source: str, known: dict[str, str], question: Question | None) -> tuple[str | None, list[Issue]]:
    """Render the editor's text as a student sees it; (HTML or None when not renderable, problems)."""
    content, issues = editing.parse_question(source)
    if content is None:
        return None, issues
    if question is not None and content.get("key") != question.key:
        issues.append(_key_changed(question))
    problems = bank_review.check_content(content, set(known))
    issues += problems
    if any(issue.code != "image.missing" for issue in problems):
        return None, issues
    view = student_view(canonical(content), seed="preview", image_url=image_url_for(known))
    return render_template("bank/_preview.html", view=TemplateView(view)), issues


def _key_changed(question: Question) -> Issue:
    return Issue(f"{editing.WHERE} · key", "editor.key_changed",
                 f"题目编号不能修改（应为 {question.key}）；要换编号请新建试题",
                 f"the key cannot change (it is {question.key}); create a new question for a new key")


@bp.route("/preview", methods=["POST"])
@roles(*BANK_ROLES)
def preview():
    """JSON {html, issues} for the editor's live preview (the student's view: never a key)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
        return jsonify(error="bad_request", message=text("请求无效", "bad request")), 400
    question = None
    if data.get("question_id") not in (None, ""):
        try:
            question = question_or_abort(int(data["question_id"]))
        except (TypeError, ValueError):
            abort(400)
    known = {**version_images(question.current_version if question else None), **_posted_images(data.get("image_map"))}
    html, issues = _preview(data["yaml"], known, question)
    return jsonify(html=html, issues=issue_rows(issues))


@bp.route("/upload-image", methods=["POST"])
@roles(*BANK_ROLES)
def upload_image():
    """Store one image for the editor (checked by content) and say how to reference it."""
    file = request.files.get("image")
    if file is None or not file.filename:
        return jsonify(error="no_file", message=text("没有收到图片文件", "no image file was received")), 400
    result = editing.check_upload(file.filename, file.read())
    if isinstance(result, Issue):
        return jsonify(error=result.code, message=f"{result.location}: {text(result.zh, result.en)}"), 400
    ref, data = result
    name = bank_store.store_images(db.session, {ref: data}, now=utcnow())[ref]
    db.session.commit()
    return jsonify(ref=ref, name=name, url=url_for("bank.image", name=name), markdown=f"![]({ref})")


def _render_editor(form: EditorForm, question: Question | None, issues: list[Issue], known: dict[str, str],
                   error: str | None = None, status: int = 200):
    html, preview_issues = _preview(form.yaml_text.data or "", known, question)
    shown = issues or preview_issues
    return render_template("bank/editor.html", form=form, question=question, issues=issue_rows(shown),
                           error=error, preview_html=html, types=QUESTION_TYPES,
                           images=sorted(known.items())), status


@bp.route("/new", methods=["GET", "POST"])
@roles(*BANK_ROLES)
def new():
    """Write a new question: a YAML template for the chosen type, a live preview, then a draft."""
    form = EditorForm()
    form.subject.choices = subject_choices()
    del form.note
    if not form.subject.choices:
        flash(_("您尚未被分配学科，请联系管理员。"), "error")
        return redirect(url_for("bank.index"))
    codes = [choice.value for choice in form.subject.choices]
    if request.method == "GET":
        subject = request.args.get("subject") if request.args.get("subject") in codes else codes[0]
        qtype = request.args.get("type") if request.args.get("type") in QUESTION_TYPES else "single"
        form.subject.data = subject
        form.yaml_text.data = editing.skeleton(qtype, editing.suggest_key(subject, utcnow()))
        return _render_editor(form, None, [], {}, status=200)
    known = _posted_images(form.image_map.data)
    if not form.validate_on_submit():
        return _render_editor(form, None, [], known, error=_("请检查表单：") + _form_errors(form), status=422)
    content, issues = editing.parse_question(form.yaml_text.data)
    if content is not None and not issues:
        uploaded, issues = _uploaded_images(form.images.data)
        known = {**known, **uploaded}
    if content is None or issues:
        return _render_editor(form, None, issues, known, error=_("试题未保存，请修改下列问题。"), status=422)
    try:
        question = bank_review.create(db.session, editor(), subject=form.subject.data, topic=form.topic.data or "",
                                      content=content, image_map=known, now=utcnow(), actor=actor())
    except PermissionError:
        abort(403)
    except bank_review.ReviewError as refused:
        db.session.rollback()
        return _render_editor(form, None, refused.issues, _posted_images(form.image_map.data),
                              error=text(refused.zh, refused.en), status=422)
    db.session.commit()
    flash(_("已保存为草稿（第 1 版）。"), "success")
    return redirect(url_for("bank.show", question_id=question.id))


@bp.route("/<int:question_id>/edit", methods=["GET", "POST"])
@roles(*BANK_ROLES)
def edit(question_id: int):
    """Edit the current version as YAML; a change is saved as a new version (the old ones stay)."""
    question = question_or_abort(question_id)
    form = EditorForm()
    del form.subject, form.topic
    known = version_images(question.current_version)
    if request.method == "GET":
        form.yaml_text.data = editing.question_yaml(question.current_version.content)
        return _render_editor(form, question, [], known)
    known = {**known, **_posted_images(form.image_map.data)}
    if not form.validate_on_submit():
        return _render_editor(form, question, [], known, error=_("请检查表单：") + _form_errors(form), status=422)
    content, issues = editing.parse_question(form.yaml_text.data)
    if content is not None and content.get("key") != question.key:
        issues.append(_key_changed(question))
    if content is not None and not issues:
        uploaded, issues = _uploaded_images(form.images.data)
        known = {**known, **uploaded}
    if content is None or issues:
        return _render_editor(form, question, issues, known, error=_("试题未保存，请修改下列问题。"), status=422)
    try:
        changed = bank_review.edit(db.session, editor(), question, content, image_map=known, now=utcnow(),
                                   actor=actor(), note=(form.note.data or "").strip() or None)
    except PermissionError:
        abort(403)
    except bank_review.ReviewError as refused:
        db.session.rollback()
        known = {**version_images(question.current_version), **_posted_images(form.image_map.data)}
        return _render_editor(form, question, refused.issues, known, error=text(refused.zh, refused.en), status=422)
    if not changed:
        db.session.rollback()
        flash(_("内容没有变化，未生成新版本。"), "info")
        return redirect(url_for("bank.show", question_id=question_id))
    number = question.current_version.number
    db.session.commit()
    flash(_("已保存为第 %(n)d 版。", n=number), "success")
    return redirect(url_for("bank.show", question_id=question_id))


def _form_errors(form) -> str:
    return "；".join(f"{form[name].label.text}: {'，'.join(str(e) for e in errs)}" for name, errs in form.errors.items()
                    if name in form)


# --- one question: view, review, comments, history ---------------------------------------------

def _actions_for(question: Question) -> list[dict[str, Any]]:
    """The review steps the current user may take now; approval of one's own version is shown blocked."""
    actions = []
    for action in ACTIONS:
        sources, _target = bank_review.TRANSITIONS[action]
        if question.status not in sources:
            continue
        own = (action == "approve" and current_user.role != "admin"
               and question.current_version.created_by_id == current_user.id)
        actions.append({"name": action, "blocked": own})
    return actions


@bp.route("/<int:question_id>")
@roles(*BANK_ROLES)
def show(question_id: int):
    """The question as a student sees it, its status and versions, review actions and comments."""
    question = question_or_abort(question_id)
    version = question.current_version
    view = student_view(version.content, seed="preview", image_url=image_url_for(version_images(version)))
    reviews = db.session.scalars(select(QuestionReview).where(QuestionReview.question_id == question.id)
                                 .order_by(QuestionReview.at, QuestionReview.id)).all()
    numbers = {v.id: v.number for v in question.versions}
    return render_template("bank/show.html", question=question, view=TemplateView(view), reviews=reviews, numbers=numbers,
                           actions=_actions_for(question), form=TransitionForm(), comment_form=CommentForm())


@bp.route("/<int:question_id>/transition", methods=["POST"])
@roles(*BANK_ROLES)
def transition(question_id: int):
    """Submit, approve, reject (with a reason), retire or restore; refused steps change nothing."""
    question = question_or_abort(question_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        flash(_("无效的操作。"), "error")
        return redirect(url_for("bank.show", question_id=question_id))
    try:
        bank_review.transition(db.session, editor(), question, form.action.data, now=utcnow(), actor=actor(),
                               comment=(form.comment.data or "").strip() or None)
    except PermissionError:
        abort(403)
    except bank_review.ReviewError as refused:
        db.session.rollback()
        flash(text(refused.zh, refused.en), "error")
        return redirect(url_for("bank.show", question_id=question_id))
    db.session.commit()
    flash(_("状态已更新。"), "success")
    return redirect(url_for("bank.show", question_id=question_id))


@bp.route("/<int:question_id>/comment", methods=["POST"])
@roles(*BANK_ROLES)
def comment(question_id: int):
    """Add a review comment on the current version."""
    question = question_or_abort(question_id)
    form = CommentForm()
    if not form.validate_on_submit():
        flash(_("评论不能为空，且不超过 4000 字。"), "error")
        return redirect(url_for("bank.show", question_id=question_id))
    try:
        bank_review.add_comment(db.session, editor(), question, form.text.data, now=utcnow())
    except PermissionError:
        abort(403)
    except bank_review.ReviewError as refused:
        db.session.rollback()
        flash(text(refused.zh, refused.en), "error")
        return redirect(url_for("bank.show", question_id=question_id))
    db.session.commit()
    flash(_("评论已添加。"), "success")
    return redirect(url_for("bank.show", question_id=question_id) + "#reviews")


@bp.route("/<int:question_id>/history")
@roles(*BANK_ROLES)
def history(question_id: int):
    """Every version with author, time and note; a line diff of two versions (default: last change)."""
    question = question_or_abort(question_id)
    versions = {v.number: v for v in question.versions}
    current = question.current_version.number
    new_number = request.args.get("b", current, type=int)
    old_number = request.args.get("a", new_number - 1, type=int)
    if new_number not in versions or (old_number not in versions and old_number != 0):
        abort(404)
    old, new_version = versions.get(old_number), versions[new_number]
    old_text = editing.question_yaml(old.content) if old else ""
    new_text = editing.question_yaml(new_version.content)
    return render_template("bank/history.html", question=question, versions=list(versions.values()),
                           old=old, new=new_version, rows=editing.diff_rows(old_text, new_text),
                           new_text=new_text)
