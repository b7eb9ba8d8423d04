"""Question banks: questions, their immutable versions, images, knowledge points and reviews."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime
from app.models.user import User

QUESTION_STATES = ("draft", "submitted", "approved", "retired")


class Question(Base):
    """A question in a subject's bank, identified by its stable key.

    Its content lives in immutable ``QuestionVersion`` rows. ``current_version`` is what teachers
    edit and review; ``approved_version`` is the latest version that passed review and is what
    papers may use, so re-editing an approved question never changes an exam that uses it.
    """

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("subject_code", "key"),
        CheckConstraint("status IN ('draft','submitted','approved','retired')", name="status_known"),
        CheckConstraint("difficulty BETWEEN 1 AND 5", name="difficulty_range"),
        Index("ix_questions_subject_status", "subject_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_code: Mapped[str] = mapped_column(ForeignKey("subjects.code"))
    key: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(128), default="")
    type: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    difficulty: Mapped[int] = mapped_column(default=3)
    measured_difficulty: Mapped[float | None] = mapped_column()
    points: Mapped[float] = mapped_column()
    stem_plain: Mapped[str] = mapped_column(Text, default="")  # for search and lists
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_versions.id", use_alter=True, name="fk_questions_current_version"))
    approved_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_versions.id", use_alter=True, name="fk_questions_approved_version"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[User | None] = relationship()
    current_version: Mapped[QuestionVersion | None] = relationship(foreign_keys=[current_version_id],
                                                                   post_update=True)
    approved_version: Mapped[QuestionVersion | None] = relationship(foreign_keys=[approved_version_id],
                                                                    post_update=True)
    versions: Mapped[list[QuestionVersion]] = relationship(
        back_populates="question", foreign_keys="QuestionVersion.question_id", order_by="QuestionVersion.number")
    tags: Mapped[list[QuestionTag]] = relationship(cascade="all, delete-orphan")


class QuestionVersion(Base):
    """One revision of a question: its canonical content, never changed once written."""

    __tablename__ = "question_versions"
    __table_args__ = (UniqueConstraint("question_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Image references as written in the text → stored image name (content hash).
    images: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    question: Mapped[Question] = relationship(back_populates="versions", foreign_keys=[question_id])
    created_by: Mapped[User | None] = relationship()


class QuestionTag(Base):
    """A knowledge point (a '/'-separated path in the subject's tree) attached to a question."""

    __tablename__ = "question_tags"
    __table_args__ = (Index("ix_question_tags_subject_path", "subject_code", "path"),)

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    subject_code: Mapped[str] = mapped_column(ForeignKey("subjects.code"))


class StoredImage(Base):
    """An image stored by the SHA-256 of its (already sanitized) bytes, served with its own type."""

    __tablename__ = "images"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<sha256>.<ext>"
    mime: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestionReview(Base):
    """A step of the review workflow or a review comment, with who and when."""

    __tablename__ = "question_reviews"
    __table_args__ = (
        CheckConstraint("action IN ('submit','approve','reject','retire','restore','comment','edit','create')",
                        name="action_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("question_versions.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    actor: Mapped[User | None] = relationship()
