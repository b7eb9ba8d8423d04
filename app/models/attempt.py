"""Attempts, their writer tokens, saved responses, save receipts and events."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime
from app.models.exam import Exam

ATTEMPT_STATES = ("in_progress", "finalized", "voided", "absent")


class Attempt(Base):
    """One student's sitting of one exam: frozen order, deadline, state, last sequence number.

    One per student per exam (a database constraint: concurrent starts converge on one row).
    """

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("exam_id", "student_id"),
        CheckConstraint("state IN ('in_progress','finalized','voided','absent')", name="state_known"),
        Index("ix_attempts_state_deadline", "state", "deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="in_progress")
    seed: Mapped[str] = mapped_column(String(64))
    # The frozen order: [[exam_question_id, ...] per section]; option order derives from the seed.
    layout: Mapped[list[list[int]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    extra_seconds: Mapped[int] = mapped_column(default=0)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_reason: Mapped[str | None] = mapped_column(String(16))  # submitted | time_over | staff
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    score_total: Mapped[float | None] = mapped_column()
    score_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    wrong_count: Mapped[int | None] = mapped_column()
    needs_manual: Mapped[bool] = mapped_column(Boolean, default=False)

    exam: Mapped[Exam] = relationship()


class WriterToken(Base):
    """The token of one page load; a newer one revokes the older (the newest tab is the one that writes)."""

    __tablename__ = "writer_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Response(Base):
    """The latest saved answer to one question of an attempt (canonical ids), with its sequence."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("attempt_id", "exam_question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    exam_question_id: Mapped[int] = mapped_column(ForeignKey("exam_questions.id", ondelete="CASCADE"))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SaveReceipt(Base):
    """What the server acknowledged for (token, sequence): a retried save gets the same receipt back."""

    __tablename__ = "save_receipts"

    token_id: Mapped[int] = mapped_column(ForeignKey("writer_tokens.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    exam_question_id: Mapped[int] = mapped_column()
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttemptEvent(Base):
    """A state change or integrity signal of an attempt, with IP and user agent (evidence, never a penalty)."""

    __tablename__ = "attempt_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ExamConsent(Base):
    """A student's acceptance of the honesty pledge and privacy notice before an exam."""

    __tablename__ = "exam_consents"
    __table_args__ = (UniqueConstraint("exam_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    text_version: Mapped[str] = mapped_column(String(16), default="1")
    detail: Mapped[str | None] = mapped_column(Text)
