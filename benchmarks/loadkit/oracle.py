"""The oracle of RELIABILITY.md: every acknowledged save is in the database, as acknowledged.

For every (attempt, question) the database must hold the value of the acknowledged save with the
highest sequence number (translated from the page's opaque ids by the same function the server
uses), with that sequence. A stored sequence above the highest acknowledged one would be a later
save whose acknowledgement the client never saw: reported, not counted as lost. Also checked: one
attempt per student, every submitted attempt finalized and scored exactly once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.loadkit.student import Ack
from benchmarks.loadkit.target import Target, make_app


@dataclass
class OracleReport:
    """What the database says about the client's ledger."""

    acknowledged: int = 0  # acknowledged saves (receipts), including replayed receipts
    checked: int = 0  # (attempt, question) pairs whose latest acknowledged save was checked
    lost: int = 0  # missing, older, or a different value than acknowledged
    superseded_unacknowledged: int = 0
    attempts: int = 0
    duplicate_attempts: int = 0
    not_finalized: int = 0
    finalized_twice: int = 0
    unscored: int = 0
    examples: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicate_attempts or self.not_finalized or self.finalized_twice
                    or self.unscored)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check(target: Target, ledger: list[Ack], *, submitted: set[int] = frozenset()) -> OracleReport:
    """Compare the ledger with the database; ``submitted`` attempts must be finalized and scored once."""
    from sqlalchemy import func, select

    from app.domain import presentation
    from app.extensions import db
    from app.models import Attempt, AttemptEvent, Exam, Response
    from app.services import papers

    report = OracleReport(acknowledged=len(ledger), examples=[])
    latest: dict[tuple[int, int], Ack] = {}
    for ack in ledger:
        key = (ack.attempt_id, ack.question_id)
        if key not in latest or ack.seq > latest[key].seq:
            latest[key] = ack
    app = make_app(target)
    with app.app_context():
        session = db.session
        exam = session.get(Exam, target.exam_id)
        paper = papers.load(session, exam)
        attempt_ids = sorted({a for a, _ in latest} | set(submitted))
        seeds, states = {}, {}
        for chunk in _chunks(attempt_ids, 500):
            for row in session.execute(select(Attempt.id, Attempt.seed, Attempt.state, Attempt.scored_at)
                                       .where(Attempt.id.in_(chunk))):
                seeds[row.id] = row.seed
                states[row.id] = (row.state, row.scored_at)
        stored: dict[tuple[int, int], tuple[int, Any]] = {}
        for chunk in _chunks(attempt_ids, 500):
            for row in session.execute(select(Response.attempt_id, Response.exam_question_id, Response.seq,
                                              Response.value).where(Response.attempt_id.in_(chunk))):
                stored[(row.attempt_id, row.exam_question_id)] = (row.seq, row.value)
        for key, ack in latest.items():
            report.checked += 1
            row = stored.get(key)
            if ack.attempt_id not in seeds:  # the attempt itself is gone: everything acknowledged on it is lost
                report.lost += 1
                if len(report.examples) < 10:
                    report.examples.append(f"attempt {key[0]} is missing from the database")
                continue
            expected = presentation.to_canonical_response(paper.questions[ack.question_id].content,
                                                          seeds[ack.attempt_id], ack.answer)
            if row is None or row[0] < ack.seq or (row[0] == ack.seq and row[1] != expected):
                report.lost += 1
                if len(report.examples) < 10:
                    report.examples.append(f"attempt {key[0]} question {key[1]}: acknowledged seq {ack.seq} "
                                           f"{expected!r}, stored {row!r}")
            elif row[0] > ack.seq:
                report.superseded_unacknowledged += 1
        report.attempts = session.scalar(select(func.count()).select_from(Attempt)
                                         .where(Attempt.exam_id == target.exam_id))
        report.duplicate_attempts = session.scalar(select(func.count()).select_from(
            select(Attempt.student_id).where(Attempt.exam_id == target.exam_id).group_by(Attempt.student_id)
            .having(func.count() > 1).subquery()))
        for attempt_id in submitted:
            state, scored_at = states.get(attempt_id, (None, None))
            if state != "finalized":
                report.not_finalized += 1
            elif scored_at is None:
                report.unscored += 1
        closes = select(AttemptEvent.attempt_id).where(AttemptEvent.kind.in_(("submit", "finalize"))) \
            .group_by(AttemptEvent.attempt_id).having(func.count() > 1)
        report.finalized_twice = session.scalar(select(func.count()).select_from(closes.subquery()))
    return report


def _chunks(items: list[int], size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
