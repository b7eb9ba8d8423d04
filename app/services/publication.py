"""Publishing results as snapshots, verifying them, and what students and the public then see.

A snapshot is one version of an exam's published results: the stored ranking run, the selection
fixed on it, and the SHA-256 of the canonical CSV (app.domain.snapshots). A change after
publication (a score review, a regrade, a voiding) publishes a new version whose diff says what
moved. ``verify`` recomputes everything from the stored scores and compares hashes.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import snapshots
from app.domain.ranking import RankedRow
from app.domain.selection import select as select_students
from app.domain.snapshots import CanonicalRow
from app.models import (
    Attempt,
    Exam,
    League,
    RankingRow,
    RankingRun,
    ResultSnapshot,
    School,
    ScoreReview,
    SelectionDecision,
    SelectionRule,
    StudentProfile,
    User,
)
from app.services import audit, rankings, selection_service
from app.services.rankings import ResultsError

RANKED = "finalized"


# --- canonical rows -------------------------------------------------------------------------------


def _sections(values: Mapping[str, float] | None, names: Sequence[str], ranked: bool) -> tuple[float | None, ...]:
    if not ranked:
        return tuple(None for _ in names)
    values = values or {}
    return tuple(values.get(name) for name in names)


def canonical_from_stored(rows: Iterable[RankingRow], names: Sequence[str],
                          decisions: Mapping[int, SelectionDecision]) -> list[CanonicalRow]:
    """The canonical rows of a stored run and the decisions fixed on it."""
    result = []
    for row in rows:
        decision = decisions.get(row.attempt_id)
        ranked = row.status == RANKED
        result.append(CanonicalRow(row.exam_number, row.league_code, row.status, row.total if ranked else None,
                                   _sections(row.sections, names, ranked), row.rank, row.league_rank,
                                   row.school_rank, row.percentile, decision.status if decision else "",
                                   (decision.step or "") if decision else ""))
    return result


def canonical_from_ranked(rows: Iterable[RankedRow], names: Sequence[str], people: Mapping[int, tuple[int, str]],
                          decisions: Mapping[int, tuple[str, str | None]]) -> list[CanonicalRow]:
    """The canonical rows of a fresh computation (domain rows, exam numbers, decisions)."""
    result = []
    for row in rows:
        ranked = row.status == RANKED
        status, step = decisions.get(row.attempt_id, ("", None))
        result.append(CanonicalRow(people[row.attempt_id][1], row.league_code, row.status,
                                   row.total if ranked else None, _sections(row.entry.sections, names, ranked),
                                   row.rank, row.league_rank, row.school_rank, row.percentile, status, step or ""))
    return result


def canonical_text(session: Session, run: RankingRun, rule_id: int | None) -> str:
    """The canonical CSV of a stored run with its fixed selection."""
    rows = rankings.stored_rows(session, run.id)
    return snapshots.canonical_csv(run.section_names, canonical_from_stored(
        rows, run.section_names, selection_service.decisions(session, rule_id)))


# --- publishing -----------------------------------------------------------------------------------


def latest_snapshot(session: Session, exam_id: int) -> ResultSnapshot | None:
    """The newest published version, or None before publication."""
    return session.scalar(select(ResultSnapshot).where(ResultSnapshot.exam_id == exam_id)
                          .order_by(ResultSnapshot.version.desc()).limit(1))


def snapshots_of(session: Session, exam_id: int) -> list[ResultSnapshot]:
    """Every published version, newest first."""
    return list(session.scalars(select(ResultSnapshot).where(ResultSnapshot.exam_id == exam_id)
                                .order_by(ResultSnapshot.version.desc())))


@dataclass(frozen=True)
class Published:
    """The outcome of publishing: the snapshot and whether it is a new version."""

    snapshot: ResultSnapshot
    new: bool


def publish(session: Session, exam: Exam, *, user_id: int | None, now: datetime, actor: audit.Actor,
            reason: str | None = None, public_list: bool | None = None) -> Published:
    """Publish the exam's results as a new snapshot version (or return the latest if nothing changed).

    Refused while attempts are unfinished or short answers are ungraded. The ranking is recomputed
    if stale; a fixed selection made on an older ranking is applied again with the same rule (and
    that is audited), so the snapshot's ranks and selection always belong together.
    """
    if exam.kind != "selection":
        raise ResultsError("not_ranked", "练习考试不发布排名", "practice exams have no published ranking")
    if exam.closes_at > now:
        raise ResultsError("exam_open", "考试尚未结束（结束时间之前仍可有考生开始作答），结束后才能发布成绩",
                           "the exam window is still open (students can still start); publish after it closes")
    unfinished = session.scalar(select(func.count()).select_from(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.state == "in_progress"))
    if unfinished:
        raise ResultsError("unfinished", f"还有 {unfinished} 份作答未交卷，请先结束考试（flask attempts finalize-overdue）",
                           f"{unfinished} attempt(s) are still in progress; finish the exam first")
    rankings.allow_long_statements(session)
    run = rankings.ensure_current(session, exam, now=now, actor=actor)
    if run.pending_manual:
        raise ResultsError("pending_manual", f"还有 {run.pending_manual} 份答卷的简答题未阅完",
                           f"{run.pending_manual} attempt(s) still await manual grading")
    rule = selection_service.current_fixed(session, exam.id)
    if rule is not None and rule.run_id != run.id:
        rule = selection_service.fix(session, exam, selection_service.rules_of(rule), user_id=user_id, now=now,
                                     actor=actor)
    settings = rankings.settings_for(session, exam.id)
    if public_list is not None:
        settings.public_list = bool(public_list)
    text = canonical_text(session, run, rule.id if rule else None)
    digest = snapshots.sha256_text(text)
    previous = latest_snapshot(session, exam.id)
    if previous is not None and previous.sha256 == digest and previous.public_list == settings.public_list:
        return Published(previous, False)
    snapshot = ResultSnapshot(
        exam_id=exam.id, version=(previous.version + 1) if previous else 1, run_id=run.id,
        selection_rule_id=rule.id if rule else None, sha256=digest, canonical_csv=text,
        row_count=run.row_count, public_list=settings.public_list,
        review_closes_at=previous.review_closes_at if previous else now + timedelta(days=settings.review_days),
        published_at=now, published_by_id=user_id, published_by=actor.label[:64], reason=reason,
        diff=snapshots.diff(previous.canonical_csv if previous else None, text))
    try:
        with session.begin_nested():
            session.add(snapshot)
    except IntegrityError:  # another publication of the same exam won the version number
        raise ResultsError("conflict", "另一位管理员刚刚发布了成绩，请刷新后再试",
                           "someone else has just published these results; reload and try again") from None
    if exam.results_published_at is None:
        exam.results_published_at = now
    session.flush()
    audit.record(session, actor=actor, action="results.publish", object_type="exam", object_id=exam.id, now=now,
                 after={"version": snapshot.version, "sha256": digest, "rows": snapshot.row_count,
                        "run": run.id, "selection_rule": snapshot.selection_rule_id,
                        "changed": len(snapshot.diff["changed"]), "public_list": snapshot.public_list},
                 reason=reason)
    return Published(snapshot, True)


def after_change(session: Session, exam: Exam, *, user_id: int | None, now: datetime, actor: audit.Actor,
                 reason: str) -> ResultSnapshot | None:
    """After a change to published results, publish the next version (None if not yet published).

    If it cannot be published yet (e.g. a short answer is waiting for its graders) the change
    stays unpublished and the results page says the published version is out of date.
    """
    if latest_snapshot(session, exam.id) is None:
        return None
    try:
        return publish(session, exam, user_id=user_id, now=now, actor=actor, reason=reason).snapshot
    except ResultsError:
        return None


# --- verification ---------------------------------------------------------------------------------


@dataclass
class Verification:
    """The three checks of a published snapshot and the rows that differ."""

    version: int
    sha256: str
    text_ok: bool  # the stored canonical CSV still hashes to the published hash
    stored_ok: bool  # the stored ranking rows and decisions give the published CSV
    recomputed_ok: bool  # ranking and selection recomputed from the stored scores give it too
    recomputed_sha256: str
    differences: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.text_ok and self.stored_ok and self.recomputed_ok


def recompute_text(session: Session, exam: Exam, snapshot: ResultSnapshot) -> str:
    """The canonical CSV recomputed from the attempts' stored scores with the snapshot's selection rule."""
    inputs = rankings.load_inputs(session, exam)
    rows = rankings.rank_inputs(exam, inputs)
    decided: dict[int, tuple[str, str | None]] = {}
    if snapshot.selection_rule_id is not None:
        rule = session.get(SelectionRule, snapshot.selection_rule_id)
        result = select_students(rows, selection_service.rules_of(rule))
        decided = {d.attempt_id: (d.status, d.step) for d in result.decisions.values()}
    names = snapshot.run.section_names
    return snapshots.canonical_csv(names, canonical_from_ranked(rows, names, inputs.people, decided))


def verify(session: Session, exam: Exam, *, version: int | None = None) -> Verification:
    """Check the latest (or a given) snapshot against its stored text, its stored rows and a recomputation."""
    rankings.allow_long_statements(session)
    query = select(ResultSnapshot).where(ResultSnapshot.exam_id == exam.id)
    if version is not None:
        query = query.where(ResultSnapshot.version == version)
    snapshot = session.scalar(query.order_by(ResultSnapshot.version.desc()).limit(1))
    if snapshot is None:
        raise ResultsError("not_published", "成绩尚未发布，无可校验的快照", "nothing has been published to verify", 404)
    text_ok = snapshots.sha256_text(snapshot.canonical_csv) == snapshot.sha256
    stored = canonical_text(session, snapshot.run, snapshot.selection_rule_id)
    recomputed = recompute_text(session, exam, snapshot)
    report = Verification(snapshot.version, snapshot.sha256, text_ok,
                          snapshots.sha256_text(stored) == snapshot.sha256,
                          snapshots.sha256_text(recomputed) == snapshot.sha256,
                          snapshots.sha256_text(recomputed))
    for label, text in (("stored", stored), ("recomputed", recomputed)):
        if snapshots.sha256_text(text) != snapshot.sha256:
            found = snapshots.diff(snapshot.canonical_csv, text)
            for change in found["changed"]:
                report.differences.append({"source": label, **change})
            for number in found["added"]:
                report.differences.append({"source": label, "exam_number": number, "fields": {"row": ["", "added"]}})
            for number in found["removed"]:
                report.differences.append({"source": label, "exam_number": number,
                                           "fields": {"row": ["", "removed"]}})
    return report


# --- what students and the public see -------------------------------------------------------------


@dataclass(frozen=True)
class StudentResult:
    """A student's published result (None fields before publication)."""

    exam: Exam
    attempt: Attempt
    snapshot: ResultSnapshot | None
    row: RankingRow | None
    decision: SelectionDecision | None
    section_names: list[str]
    league: League | None
    review: ScoreReview | None
    review_open: bool


def student_result(session: Session, exam: Exam, user: User, *, now: datetime) -> StudentResult | None:
    """The student's own published result for an exam; None when they have no attempt (a 404)."""
    attempt = session.scalar(select(Attempt).where(Attempt.exam_id == exam.id, Attempt.student_id == user.id))
    if attempt is None:
        return None
    snapshot = latest_snapshot(session, exam.id)
    row = decision = None
    if snapshot is not None:
        row = rankings.row_of_attempt(session, snapshot.run_id, attempt.id)
        if snapshot.selection_rule_id is not None:
            decision = session.get(SelectionDecision, (snapshot.selection_rule_id, attempt.id))
    review = session.scalar(select(ScoreReview).where(ScoreReview.attempt_id == attempt.id)
                            .order_by(ScoreReview.id.desc()).limit(1))
    league = session.get(League, row.league_code) if row is not None and row.league_code else None
    window = (snapshot is not None and snapshot.review_closes_at is not None and now <= snapshot.review_closes_at
              and attempt.state == "finalized")
    return StudentResult(exam, attempt, snapshot, row, decision, list(snapshot.run.section_names) if snapshot else [],
                         league, review, window)


def published_exams(session: Session, user: User) -> list[tuple[Exam, ResultSnapshot]]:
    """Exams the student sat whose results are published, with the latest snapshot."""
    exams = session.scalars(select(Exam).join(Attempt, Attempt.exam_id == Exam.id)
                            .where(Attempt.student_id == user.id, Exam.results_published_at.is_not(None))
                            .order_by(Exam.id)).all()
    result = []
    for exam in exams:
        snapshot = latest_snapshot(session, exam.id)
        if snapshot is not None:
            result.append((exam, snapshot))
    return result


@dataclass(frozen=True)
class PublicRow:
    """A row of a public list: masked name and exam number, no IDs."""

    rank: int
    tied: bool
    exam_number: str
    name: str
    league: str
    total: float
    selection: str


def public_list(session: Session, exam: Exam, *, locale: str = "zh") -> tuple[ResultSnapshot, list[PublicRow]] | None:
    """The published ranking with names and exam numbers masked, if the office enabled a public list."""
    snapshot = latest_snapshot(session, exam.id)
    if snapshot is None or not snapshot.public_list:
        return None
    decisions = selection_service.decisions(session, snapshot.selection_rule_id)
    leagues = {league.code: league.display_name(locale) for league in session.scalars(select(League))}
    rows = session.execute(
        select(RankingRow, StudentProfile.name).join(StudentProfile, StudentProfile.user_id == RankingRow.student_id)
        .where(RankingRow.run_id == snapshot.run_id, RankingRow.rank.is_not(None))
        .order_by(RankingRow.position)).all()
    result = []
    for row, name in rows:
        decision = decisions.get(row.attempt_id)
        result.append(PublicRow(row.rank, row.tied, snapshots.mask_exam_number(row.exam_number),
                                snapshots.mask_name(name), leagues.get(row.league_code or "", ""),
                                row.total, decision.status if decision else ""))
    return snapshot, result


def school_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """School id -> name."""
    ids = list(set(ids))
    if not ids:
        return {}
    return dict(session.execute(select(School.id, School.name).where(School.id.in_(ids))).all())
