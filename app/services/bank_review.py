"""Editing questions and the review workflow: draft → submitted → approved → retired.

Rules: a teacher works only in their subjects (admins everywhere); approval needs a reviewer other
than the author of the version under review (an admin may approve any); only approved questions
go into papers, and papers use ``approved_version``; every transition is recorded as a review step
and in the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.questions import Issue, canonical, validate_question
from app.models import Question, QuestionReview, User
from app.services import audit, bank_store

TRANSITIONS = {
    "submit": ({"draft"}, "submitted"),
    "approve": ({"submitted"}, "approved"),
    "reject": ({"submitted"}, "draft"),
    "retire": ({"draft", "submitted", "approved"}, "retired"),
    "restore": ({"retired"}, "draft"),
}


class ReviewError(Exception):
    """A refused edit or transition, in Chinese and English."""

    def __init__(self, zh: str, en: str, issues: list[Issue] | None = None):
        super().__init__(f"{zh} / {en}")
        self.zh, self.en, self.issues = zh, en, issues or []


@dataclass(frozen=True)
class Editor:
    """Who is editing: their user row and whether they are a provincial admin."""

    user: User

    def may_edit(self, subject: str) -> bool:
        """Admins everywhere; teachers in their own subjects."""
        return self.user.role == "admin" or (self.user.role == "teacher" and subject in self.user.subject_codes)


def _require_subject(editor: Editor, subject: str) -> None:
    if not editor.may_edit(subject):
        raise PermissionError(f"not allowed in subject {subject}")


def check_content(content: dict[str, Any], images_known: set[str]) -> list[Issue]:
    """Validate edited content; every image it references must already be stored for the question."""
    issues = validate_question(content, where="editor")
    from app.domain.questions import image_refs

    for ref in image_refs(content):
        if ref not in images_known:
            issues.append(Issue(f"editor · {content.get('key', '?')} · images", "image.missing",
                                f"图片“{ref}”不存在，请先上传", f'image "{ref}" is not uploaded'))
    return issues


def create(session: Session, editor: Editor, *, subject: str, topic: str, content: dict[str, Any],
           image_map: dict[str, str], now: datetime, actor: audit.Actor) -> Question:
    """A new draft question written in the editor."""
    _require_subject(editor, subject)
    issues = check_content(content, set(image_map))
    if issues:
        raise ReviewError("试题内容有误", "the question has problems", issues)
    content = canonical(content)
    if bank_store.find(session, subject, content["key"]) is not None:
        raise ReviewError(f"编号“{content['key']}”已存在", f"the key {content['key']} is taken")
    question = bank_store.create_question(session, subject=subject, topic=topic, content=content,
                                          image_map=image_map, author_id=editor.user.id, now=now, note="editor")
    audit.record(session, actor=actor, action="question.create", object_type="question", object_id=question.id,
                 after={"key": question.key, "subject": subject, "version": 1}, now=now)
    return question


def edit(session: Session, editor: Editor, question: Question, content: dict[str, Any], *,
         image_map: dict[str, str], now: datetime, actor: audit.Actor, note: str | None = None) -> bool:
    """Save edited content as a new immutable version; returns False when nothing changed.

    An edit of an approved or submitted question sends it back to draft for review; the approved
    version stays what papers use until the new one is approved.
    """
    _require_subject(editor, question.subject_code)
    if question.status == "retired":
        raise ReviewError("已停用的试题不能编辑，请先恢复", "a retired question cannot be edited; restore it first")
    known = {**bank_store.image_map_of(question.current_version), **image_map}
    issues = check_content(content, set(known))
    if issues:
        raise ReviewError("试题内容有误", "the question has problems", issues)
    content = canonical({**content, "key": question.key})
    if content == question.current_version.content:
        return False
    before = {"version": question.current_version.number, "status": question.status}
    version = bank_store.add_version(session, question, content, known, actor_id=editor.user.id, now=now, note=note)
    if question.status in ("approved", "submitted"):
        question.status = "draft"
    session.add(QuestionReview(question_id=question.id, version_id=version.id, actor_id=editor.user.id,
                               action="edit", comment=note, at=now))
    audit.record(session, actor=actor, action="question.edit", object_type="question", object_id=question.id,
                 before=before, after={"version": version.number, "status": question.status}, now=now)
    return True


def transition(session: Session, editor: Editor, question: Question, action: str, *, now: datetime,
               actor: audit.Actor, comment: str | None = None) -> None:
    """Move a question through the workflow (see TRANSITIONS and the module rules)."""
    _require_subject(editor, question.subject_code)
    if action not in TRANSITIONS:
        raise ReviewError(f"未知操作：{action}", f"unknown action: {action}")
    sources, target = TRANSITIONS[action]
    if question.status not in sources:
        raise ReviewError(f"当前状态“{question.status}”下不能执行此操作", f"cannot {action} a {question.status} question")
    if action == "approve" and editor.user.role != "admin":
        author_id = question.current_version.created_by_id
        if author_id == editor.user.id:
            raise ReviewError("不能审核自己编写的版本，请由其他教师审核",
                              "you cannot approve your own version; another teacher must review it")
    if action == "reject" and not (comment or "").strip():
        raise ReviewError("退回时请写明原因", "say why when sending a question back")
    before = question.status
    question.status = target
    if action == "approve":
        question.approved_version = question.current_version
    question.updated_at = now
    session.add(QuestionReview(question_id=question.id, version_id=question.current_version_id,
                               actor_id=editor.user.id, action=action, comment=comment, at=now))
    audit.record(session, actor=actor, action=f"question.{action}", object_type="question", object_id=question.id,
                 before={"status": before}, after={"status": target, "version": question.current_version.number},
                 reason=comment, now=now)


def add_comment(session: Session, editor: Editor, question: Question, text: str, *, now: datetime) -> None:
    """A review comment on the current version."""
    _require_subject(editor, question.subject_code)
    if not text.strip():
        raise ReviewError("评论不能为空", "the comment is empty")
    session.add(QuestionReview(question_id=question.id, version_id=question.current_version_id,
                               actor_id=editor.user.id, action="comment", comment=text.strip()[:4000], at=now))
