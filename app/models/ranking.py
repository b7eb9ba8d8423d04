"""Results: stored rankings, selection, published snapshots, manual grades, regrades, voiding, reviews.

A ranking is computed by one function (app.services.rankings.compute) and stored as a run of rows;
pages, exports, selection and publication read those rows and never re-sort. A published result
is a snapshot: the rows of one run, the selection decisions fixed on it and the SHA-256 of its
canonical CSV, so any later export or recomputation can be checked against it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime

SELECTION_STATES = ("draft", "fixed", "superseded")
REVIEW_STATES = ("open", "unchanged", "changed", "rejected")
VOIDING_STATES = ("pending", "approved", "rejected")
REGRADE_STATES = ("planned", "applied", "stale", "failed")
GRADE_SLOTS = {1: "first", 2: "second", 3: "arbiter", 4: "review"}


class ResultSettings(Base):
    """Per-exam settings of grading and publication, and when its scores last changed."""

    __tablename__ = "result_settings"
    __table_args__ = (
        CheckConstraint("double_threshold >= 0", name="threshold_non_negative"),
        CheckConstraint("review_days >= 0", name="review_days_non_negative"),
    )

    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), primary_key=True)
    double_marking: Mapped[bool] = mapped_column(Boolean, default=False)
    # 双评: two graders whose points differ by more than this go to a third (arbitration).
    double_threshold: Mapped[float] = mapped_column(default=2.0)
    public_list: Mapped[bool] = mapped_column(Boolean, default=False)
    review_days: Mapped[int] = mapped_column(default=7)
    # Bumped by every change to a score or an attempt's state (grading, regrade, voiding, review),
    # so a stored ranking older than it is known to be stale.
    scores_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    change_count: Mapped[int] = mapped_column(default=0)  # bumped with scores_changed_at; runs record it


class RankingRun(Base):
    """One computation of an exam's standings; its rows never change afterwards."""

    __tablename__ = "ranking_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_by: Mapped[str] = mapped_column(String(64))
    exam_revision: Mapped[int] = mapped_column()
    tie_breaks: Mapped[list[str]] = mapped_column(JSON, default=list)
    section_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(default=0)
    ranked_count: Mapped[int] = mapped_column(default=0)
    pending_manual: Mapped[int] = mapped_column(default=0)  # ranked attempts still awaiting a grader
    in_progress: Mapped[int] = mapped_column(default=0)
    change_count: Mapped[int] = mapped_column(default=0)  # ResultSettings.change_count when computed


class RankingRow(Base):
    """One attempt in a run: its scores and ranks as ``app.domain.ranking.rank`` computed them."""

    __tablename__ = "ranking_rows"
    __table_args__ = (
        Index("ix_ranking_rows_run_position", "run_id", "position"),
        Index("ix_ranking_rows_run_league", "run_id", "league_code", "position"),
        UniqueConstraint("run_id", "exam_number"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("ranking_runs.id", ondelete="CASCADE"), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column()  # 0-based: ranked rows in rank order, then the unranked
    student_id: Mapped[int] = mapped_column(Integer)
    exam_number: Mapped[str] = mapped_column(String(32))
    league_code: Mapped[str | None] = mapped_column(String(6))
    school_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[float | None] = mapped_column()
    sections: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    wrong_count: Mapped[int] = mapped_column(default=0)
    time_used_seconds: Mapped[int] = mapped_column(default=0)
    rank: Mapped[int | None] = mapped_column()
    league_rank: Mapped[int | None] = mapped_column()
    school_rank: Mapped[int | None] = mapped_column()
    count: Mapped[int] = mapped_column(default=0)
    league_count: Mapped[int] = mapped_column(default=0)
    school_count: Mapped[int] = mapped_column(default=0)
    percentile: Mapped[float | None] = mapped_column()
    league_percentile: Mapped[float | None] = mapped_column()
    school_percentile: Mapped[float | None] = mapped_column()
    tied: Mapped[bool] = mapped_column(Boolean, default=False)


class SelectionRule(Base):
    """A subject's selection rule (DESIGN §3); once fixed on a run, its decisions are stored."""

    __tablename__ = "selection_rules"
    __table_args__ = (
        CheckConstraint("state IN ('draft','fixed','superseded')", name="state_known"),
        CheckConstraint("quota >= 0 AND reserve_count >= 0", name="counts_non_negative"),
        CheckConstraint("boundary_ties IN ('admit_all','admit_none')", name="boundary_ties_known"),
        CheckConstraint("state = 'draft' OR run_id IS NOT NULL", name="fixed_has_run"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    cutoff: Mapped[float] = mapped_column()
    quota: Mapped[int] = mapped_column()
    league_min: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    league_max: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    boundary_ties: Mapped[str] = mapped_column(String(16), default="admit_all")
    reserve_count: Mapped[int] = mapped_column(default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ranking_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fixed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    admitted_count: Mapped[int] = mapped_column(default=0)
    reserve_total: Mapped[int] = mapped_column(default=0)


class SelectionDecision(Base):
    """What a fixed rule decided for one attempt and the step that admitted it."""

    __tablename__ = "selection_decisions"
    __table_args__ = (
        CheckConstraint("status IN ('admitted','reserve','not_admitted','ineligible')", name="status_known"),
    )

    rule_id: Mapped[int] = mapped_column(ForeignKey("selection_rules.id", ondelete="CASCADE"), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str | None] = mapped_column(String(16))  # league_minimum | overall | reserve
    reason_zh: Mapped[str] = mapped_column(String(255))
    reason_en: Mapped[str] = mapped_column(String(255))
    reserve_position: Mapped[int | None] = mapped_column()


class ResultSnapshot(Base):
    """A published version of an exam's results: the run, the selection and the canonical CSV's hash."""

    __tablename__ = "result_snapshots"
    __table_args__ = (UniqueConstraint("exam_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column()
    run_id: Mapped[int] = mapped_column(ForeignKey("ranking_runs.id"))
    selection_rule_id: Mapped[int | None] = mapped_column(ForeignKey("selection_rules.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    # Several MB for a national exam: loaded only when read (verification, the next version's diff).
    canonical_csv: Mapped[str] = mapped_column(Text, deferred=True)
    row_count: Mapped[int] = mapped_column()
    public_list: Mapped[bool] = mapped_column(Boolean, default=False)
    review_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)  # what moved since the previous version

    run: Mapped[RankingRun] = relationship()


class ManualGrade(Base):
    """One grader's points for one short answer (slot 1/2: 双评 graders, 3: arbiter, 4: score review)."""

    __tablename__ = "manual_grades"
    __table_args__ = (
        UniqueConstraint("attempt_id", "exam_question_id", "part_key", "slot"),
        CheckConstraint("slot BETWEEN 1 AND 4", name="slot_known"),
        CheckConstraint("points >= 0", name="points_non_negative"),
        Index("ix_manual_grades_question", "exam_question_id", "part_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    exam_question_id: Mapped[int] = mapped_column(ForeignKey("exam_questions.id", ondelete="CASCADE"))
    part_key: Mapped[str] = mapped_column(String(64), default="")  # "" unless a part of a material group
    slot: Mapped[int] = mapped_column()
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    points: Mapped[float] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    graded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Regrade(Base):
    """A corrected key or policy: its dry run (every score and rank that changes), then its application."""

    __tablename__ = "regrades"
    __table_args__ = (
        CheckConstraint("state IN ('planned','applied','stale','failed')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    base_revision: Mapped[int] = mapped_column()
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    # [[attempt_id, old_total, new_total], ...] and [[attempt_id, old_rank, new_rank, old_league_rank,
    # new_league_rank], ...]: the dry run, which the application must reproduce exactly.
    score_changes: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    rank_moves: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    attempts_checked: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


class Voiding(Base):
    """违纪作废: requested by one staff member, approved by another, with a reason; audited."""

    __tablename__ = "voidings"
    __table_args__ = (
        CheckConstraint("state IN ('pending','approved','rejected')", name="state_known"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="two_people"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    previous_state: Mapped[str] = mapped_column(String(16))


class ScoreReview(Base):
    """成绩复核: a student's request to check their score, and the staff's answer."""

    __tablename__ = "score_reviews"
    __table_args__ = (
        CheckConstraint("state IN ('open','unchanged','changed','rejected')", name="state_known"),
        UniqueConstraint("attempt_id", "snapshot_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    snapshot_version: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    response: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_before: Mapped[float | None] = mapped_column()
    total_after: Mapped[float | None] = mapped_column()
