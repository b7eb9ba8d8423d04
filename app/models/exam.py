"""Selection rounds, exams, their sections and pinned questions, rooms and time grants."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.bank import Question, QuestionVersion
from app.models.base import Base, UTCDateTime

EXAM_KINDS = ("selection", "practice")
EXAM_STATES = ("draft", "published", "archived")


class SelectionRound(Base):
    """One year's selection event (e.g. 2026 英才计划选拔在线测试) grouping one exam per subject."""

    __tablename__ = "selection_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    year: Mapped[int] = mapped_column()
    boundary_ties: Mapped[str] = mapped_column(String(16), default="admit_all")
    retention_days: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    exams: Mapped[list[Exam]] = relationship(back_populates="round", order_by="Exam.subject_code")


class Exam(Base):
    """What students take: sections of questions, a schedule, eligibility and rules.

    Publishing freezes it: questions are drawn (blueprint) and their versions pinned, so every
    student of a selection exam answers exactly the same questions.
    """

    __tablename__ = "exams"
    __table_args__ = (
        CheckConstraint("kind IN ('selection','practice')", name="kind_known"),
        CheckConstraint("state IN ('draft','published','archived')", name="state_known"),
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("grace_seconds >= 0", name="grace_non_negative"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opens"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("selection_rounds.id"), index=True)
    subject_code: Mapped[str] = mapped_column(ForeignKey("subjects.code"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="selection")
    state: Mapped[str] = mapped_column(String(16), default="draft")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latest_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column()
    grace_seconds: Mapped[int] = mapped_column(default=60)
    access_code: Mapped[str | None] = mapped_column(String(32))
    # Eligibility beyond "applied for the subject": league codes, school ids, exam numbers (empty = all).
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tie_breaks: Mapped[list[str]] = mapped_column(JSON, default=list)
    shuffle_questions: Mapped[bool] = mapped_column(default=True)
    shuffle_options: Mapped[bool] = mapped_column(default=True)
    seed: Mapped[str] = mapped_column(String(64))
    # Bumped whenever pinned content changes (a regrade), so caches of the paper are keyed by it.
    revision: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    round: Mapped[SelectionRound | None] = relationship(back_populates="exams")
    sections: Mapped[list[ExamSection]] = relationship(back_populates="exam", order_by="ExamSection.position",
                                                       cascade="all, delete-orphan")


class ExamSection(Base):
    """A section of an exam: its scoring policy and its questions (fixed or drawn by a blueprint)."""

    __tablename__ = "exam_sections"
    __table_args__ = (UniqueConstraint("exam_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    policy: Mapped[str | None] = mapped_column(String(32))  # None: the type's default policy
    policy_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    points_per_question: Mapped[float | None] = mapped_column()
    # Blueprint cells: [{type, difficulty: [lo, hi], knowledge_point, count}]; empty for fixed questions.
    blueprint: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fixed_keys: Mapped[list[str]] = mapped_column(JSON, default=list)

    exam: Mapped[Exam] = relationship(back_populates="sections")
    questions: Mapped[list[ExamQuestion]] = relationship(back_populates="section", order_by="ExamQuestion.position",
                                                         cascade="all, delete-orphan")


class ExamQuestion(Base):
    """A question placed in a published exam, pinned to one version, with its points."""

    __tablename__ = "exam_questions"
    __table_args__ = (
        UniqueConstraint("exam_id", "question_id"),
        UniqueConstraint("section_id", "position"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("exam_sections.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"))
    points: Mapped[float] = mapped_column()

    section: Mapped[ExamSection] = relationship(back_populates="questions")
    question: Mapped[Question] = relationship()
    version: Mapped[QuestionVersion] = relationship()


class TimeGrant(Base):
    """Extra time granted by staff (an outage credit, an accommodation for one sitting), with who and why."""

    __tablename__ = "time_grants"
    __table_args__ = (Index("ix_time_grants_attempt", "attempt_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    seconds: Mapped[int] = mapped_column()
    scope: Mapped[str] = mapped_column(String(16), default="attempt")  # attempt | room | school | league | exam
    scope_value: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
