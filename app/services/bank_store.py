"""Writing questions: new questions, new versions, images, tags. Shared by imports and the editor."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import richtext
from app.domain.images import content_hash_name
from app.domain.questions import canonical, content_fingerprint
from app.models import Question, QuestionReview, QuestionTag, QuestionVersion, StoredImage

CONTENT_META = ("subject", "topic")


def split_meta(q: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """Separate the content of a question from the subject and topic that importers add."""
    content = {k: v for k, v in q.items() if k not in CONTENT_META}
    return canonical(content), q.get("subject", ""), q.get("topic", "")


def store_images(session: Session, images: dict[str, bytes], *, now: datetime) -> dict[str, str]:
    """Store checked image bytes by content hash; return reference → stored name."""
    stored: dict[str, str] = {}
    for ref, data in images.items():
        mime = _mime_for(ref, data)
        name = content_hash_name(data, mime)
        if session.get(StoredImage, name) is None:
            session.add(StoredImage(name=name, mime=mime, size=len(data), data=data, created_at=now))
        stored[ref] = name
    session.flush()
    return stored


def _mime_for(ref: str, data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/svg+xml"


def _refs_in(content: dict[str, Any]) -> set[str]:
    from app.domain.questions import image_refs

    return set(image_refs(content))


def _apply_summary(question: Question, content: dict[str, Any], subject: str, topic: str) -> None:
    question.type = content["type"]
    question.difficulty = int(content.get("difficulty", 3))
    question.points = float(_total_points(content))
    question.stem_plain = richtext.plain_text(content.get("stem", ""))[:2000]
    question.fingerprint = content_fingerprint(subject, content)
    if topic:
        question.topic = topic[:128]
    question.tags = [QuestionTag(path=p, subject_code=subject) for p in dict.fromkeys(content.get("knowledge_points") or [])]


def _total_points(content: dict[str, Any]) -> float:
    if content["type"] == "group":
        return sum(float(p.get("points", 0)) for p in content.get("parts", []))
    return float(content.get("points", 0))


def add_version(session: Session, question: Question, content: dict[str, Any], image_map: dict[str, str], *,
                actor_id: int | None, now: datetime, note: str | None = None) -> QuestionVersion:
    """Append an immutable version and make it current (content must already be valid)."""
    number = 1 + max((v.number for v in question.versions), default=0)
    version = QuestionVersion(
        question=question, number=number, content=content,
        images={ref: image_map[ref] for ref in sorted(_refs_in(content)) if ref in image_map},
        fingerprint=content_fingerprint(question.subject_code, content), note=note, created_at=now,
        created_by_id=actor_id)
    session.add(version)
    session.flush()
    question.current_version = version
    question.updated_at = now
    _apply_summary(question, content, question.subject_code, question.topic)
    return version


def create_question(session: Session, *, subject: str, topic: str, content: dict[str, Any],
                    image_map: dict[str, str], author_id: int | None, now: datetime,
                    note: str | None = None) -> Question:
    """A new draft question with its first version."""
    question = Question(subject_code=subject, key=content["key"], topic=topic[:128], status="draft",
                        author_id=author_id, created_at=now, updated_at=now, type=content["type"],
                        points=0, fingerprint="")
    session.add(question)
    session.flush()
    add_version(session, question, content, image_map, actor_id=author_id, now=now, note=note)
    session.add(QuestionReview(question_id=question.id, version_id=question.current_version_id,
                               actor_id=author_id, action="create", at=now))
    return question


def find(session: Session, subject: str, key: str) -> Question | None:
    """The question with this key in the subject's bank."""
    return session.scalar(select(Question).where(Question.subject_code == subject, Question.key == key))


def image_map_of(version: QuestionVersion) -> dict[str, str]:
    """Reference → stored name for a version's images."""
    return dict(version.images or {})
