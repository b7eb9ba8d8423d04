"""What every bank view needs about the request: who edits, the audit actor, the reader's language."""
from __future__ import annotations

from collections.abc import Iterable

from flask import abort, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.bank import queries
from app.domain.questions import Issue
from app.extensions import db
from app.i18n import is_zh
from app.models import Question, QuestionVersion
from app.services import audit, bank_review


def editor() -> bank_review.Editor:
    """The signed-in teacher or admin as the review service's editor."""
    return bank_review.Editor(current_user._get_current_object())


def actor() -> audit.Actor:
    """The signed-in user as the audit log's actor."""
    return audit.Actor(current_user.id, current_user.login_name, request.remote_addr)


def allowed_subjects() -> set[str] | None:
    """Subjects the user may see and edit: None (all) for an admin, else the teacher's own."""
    return None if current_user.role == "admin" else set(current_user.subject_codes)


def subject_choices() -> list[SelectChoice]:
    """The user's subjects (code, name in the reader's language), for select fields."""
    locale = "zh" if is_zh() else "en"
    return [SelectChoice(s.code, s.display_name(locale)) for s in queries.subjects_for(db.session, current_user)]


def may_edit(subject: str) -> bool:
    """Whether the user may work in ``subject``."""
    return editor().may_edit(subject)


def question_or_abort(question_id: int) -> Question:
    """The question, 404 if unknown, 403 if outside the user's subjects."""
    question = db.session.get(Question, question_id)
    if question is None:
        abort(404)
    if not may_edit(question.subject_code):
        abort(403)
    return question


def text(zh: str, en: str) -> str:
    """A service message (given in both languages) in the reader's language."""
    return zh if is_zh() else en


def issue_rows(issues: Iterable[Issue]) -> list[dict[str, str]]:
    """Issues as {location, message} in the reader's language, for tables and JSON."""
    return [{"location": i.location, "message": text(i.zh, i.en)} for i in issues]


def image_url_for(image_map: dict[str, str]):
    """An ``image_url`` for richtext: a reference → the stored image's URL, None if unknown."""
    def url(ref: str) -> str | None:
        name = image_map.get(ref)
        return url_for("bank.image", name=name) if name else None
    return url


def version_images(version: QuestionVersion | None) -> dict[str, str]:
    """Reference → stored name of a version's images (empty for no version)."""
    return dict(version.images or {}) if version is not None else {}


class TemplateView:
    """A student view (nested dicts) for templates, readable as ``v.items`` and ``v['items']``.

    Jinja looks attributes up before keys, so on a plain dict ``v.items`` in
    questions/_question.html is ``dict.items`` rather than an ordering question's items; wrapping
    the view makes both spellings read the data.
    """

    def __init__(self, data: dict):
        self.__dict__.update({key: _wrap(value) for key, value in data.items()})

    def __getitem__(self, key: str):
        return self.__dict__[key]


def _wrap(value):
    if isinstance(value, dict):
        return TemplateView(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value
