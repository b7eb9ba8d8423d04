"""Computing and storing an exam's standings: the one place ranks are made.

``compute`` reads every attempt of an exam, ranks them with ``app.domain.ranking.rank`` (total
descending, then ``Exam.tie_breaks``; standard competition ranking 1, 2, 2, 4 — 并列名次，后续名次顺延;
overall, per league and per school, with percentiles) and stores the result as a ``RankingRun``.
Pages, exports, selection and publication read the stored rows; nothing else sorts students.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.domain import ranking
from app.domain.ranking import Entry, RankedRow
from app.models import (
    Attempt,
    Exam,
    RankingRow,
    RankingRun,
    ResultSettings,
    ResultSnapshot,
    SelectionRule,
    StudentProfile,
)
from app.services import audit, papers

INSERT_BATCH = 5000


class ResultsError(Exception):
    """A refused results action, with a stable code, an HTTP status and Chinese and English text."""

    def __init__(self, code: str, zh: str, en: str, status: int = 409):
        super().__init__(f"{code}: {en}")
        self.code, self.zh, self.en, self.status = code, zh, en, status


LONG_STATEMENT_TIMEOUT = "600s"


def allow_long_statements(session: Session) -> None:
    """Lift PostgreSQL's statement timeout for the rest of this transaction.

    Requests fail fast on a slow database (a short ``statement_timeout``, see app/database.py), but
    ranking, verifying or exporting a national exam reads 100,000 rows in one statement and may
    legitimately take longer; these admin operations opt out, for their own transaction only.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = '{LONG_STATEMENT_TIMEOUT}'"))


def settings_for(session: Session, exam_id: int, *, create: bool = True) -> ResultSettings:
    """The exam's grading and publication settings, with defaults until first changed.

    ``create=False`` (for readers) returns an unsaved default instead of writing a row.
    """
    settings = session.get(ResultSettings, exam_id)
    if settings is None:
        settings = ResultSettings(exam_id=exam_id, double_marking=False, double_threshold=2.0,
                                  public_list=False, review_days=7, change_count=0)
        if create:
            session.add(settings)
            session.flush()
    return settings


def mark_changed(session: Session, exam_id: int, now: datetime) -> None:
    """Record that a score or an attempt state of the exam changed (stored rankings are now stale)."""
    settings = settings_for(session, exam_id)
    settings.scores_changed_at = now
    settings.change_count = (settings.change_count or 0) + 1


@dataclass(frozen=True)
class Inputs:
    """What a ranking is computed from: entries in exam-number order, and who they belong to."""

    entries: list[Entry]
    people: dict[int, tuple[int, str]]  # attempt id -> (student id, exam number)
    section_names: list[str]
    pending_manual: int
    in_progress: int
    # attempt id -> its section subtotals as stored JSON text (stored again verbatim with the ranks)
    section_texts: dict[int, str] = field(default_factory=dict)


def section_names(session: Session, exam: Exam) -> list[str]:
    """The exam's section names in paper order (a name used twice counts once)."""
    return list(dict.fromkeys(s.name for s in papers.load(session, exam).sections))


def load_inputs(session: Session, exam: Exam) -> Inputs:
    """Every attempt of the exam as a ranking entry, from the stored scores.

    Input order is the exam number, so tied attempts are listed by exam number everywhere.
    An attempt ranks only when it is finalized and scored; voided, absent and unfinished ones are
    carried along unranked.
    """
    allow_long_statements(session)
    # Only the parts of score_detail a ranking reads, extracted by the database: the per-question
    # items are most of each document and would dominate the time on a national exam. The sections
    # come as JSON text, decoded here once (and stored again as they are, see _store_rows).
    rows = session.connection().execute(
        select(Attempt.id, Attempt.state, Attempt.score_total, Attempt.score_detail["sections"].as_string(),
               Attempt.score_detail["time_used_seconds"].as_integer(), Attempt.wrong_count,
               Attempt.needs_manual, Attempt.student_id, StudentProfile.exam_number, StudentProfile.league_code,
               StudentProfile.school_id)
        .join(StudentProfile, StudentProfile.user_id == Attempt.student_id)
        .where(Attempt.exam_id == exam.id).order_by(StudentProfile.exam_number)).all()
    entries, people, texts = [], {}, {}
    pending = in_progress = 0
    decode = _json_decoder
    with ranking.gc_paused():  # 100,000 entries: the cyclic collector would rescan them again and again
        for (attempt_id, state, total, sections_text, time_used, wrong, needs_manual, student_id, number, league,
             school) in rows:
            status = state
            if state == "finalized" and total is None:
                status = "in_progress"  # finalized but not scored yet: not ranked
            if status == "in_progress":
                in_progress += 1
            if status == "finalized" and needs_manual:
                pending += 1
            sections = decode(sections_text) if sections_text else None
            if sections_text and isinstance(sections, dict):
                texts[attempt_id] = sections_text
            entries.append(Entry(attempt_id, float(total or 0), league, school, sections or {}, int(wrong or 0),
                                 int(time_used or 0), status))
            people[attempt_id] = (student_id, number)
    return Inputs(entries, people, section_names(session, exam), pending, in_progress, texts)


def _json_decoder(text: str) -> Any:
    try:
        return _raw_decode(text)[0]  # one C call; the text is a JSON value as the database returns it
    except ValueError:
        return json.loads(text)


_raw_decode = json.JSONDecoder().raw_decode


def rank_inputs(exam: Exam, inputs: Inputs) -> list[RankedRow]:
    """Apply the ranking rule (app.domain.ranking.rank) with the exam's declared tie-break chain."""
    return ranking.rank(inputs.entries, list(exam.tie_breaks or ()))


def compute(session: Session, exam: Exam, *, now: datetime, actor: audit.Actor) -> RankingRun:
    """Rank every attempt of the exam and store the run; older runs nobody refers to are removed.

    One transaction (the caller's): the new run's rows go in with one COPY (PostgreSQL) or one
    executemany (SQLite) of plain tuples, the old run's rows go out with one DELETE.
    """
    with ranking.gc_paused():  # ~1 million objects alive: full collections would rescan them for nothing
        changes = settings_for(session, exam.id).change_count
        inputs = load_inputs(session, exam)
        rows = rank_inputs(exam, inputs)
        run = RankingRun(exam_id=exam.id, computed_at=now, change_count=changes, computed_by=actor.label[:64],
                         exam_revision=exam.revision, tie_breaks=list(exam.tie_breaks or ()),
                         section_names=inputs.section_names, row_count=len(rows),
                         ranked_count=sum(1 for r in rows if r.rank is not None),
                         pending_manual=inputs.pending_manual, in_progress=inputs.in_progress)
        session.add(run)
        session.flush()
        _store_rows(session, run.id, rows, inputs.people, inputs.section_texts)
        _prune(session, exam.id, keep=run.id)
        audit.record(session, actor=actor, action="ranking.compute", object_type="exam", object_id=exam.id, now=now,
                     after={"run": run.id, "rows": run.row_count, "ranked": run.ranked_count,
                            "pending_manual": run.pending_manual, "tie_breaks": run.tie_breaks})
    return run


_ROW_COLUMNS = ("run_id", "attempt_id", "position", "student_id", "exam_number", "league_code", "school_id", "status",
                "total", "sections", "wrong_count", "time_used_seconds", "rank", "league_rank", "school_rank", "count",
                "league_count", "school_count", "percentile", "league_percentile", "school_percentile", "tied")


def bulk_insert(session: Session, table: str, columns: tuple[str, ...], rows: Iterable[tuple], *,
                json_columns: tuple[str, ...] = ()) -> None:
    """Insert many rows at once: COPY on PostgreSQL, the driver's executemany on SQLite.

    SQLAlchemy's per-row parameter processing costs more than the insert itself for the 100,000
    rows of a national exam, so rows come as plain tuples in ``columns`` order; JSON columns must
    already be encoded text (``json_columns`` names them; COPY and SQLite read JSON text as it is).
    Table and column names are ours, never user input.
    """
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        _copy(connection, table, columns, rows)
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    # A page cache that holds the table and its four indexes while 100,000 rows go in (SQLite's
    # default of 2 MB spills pages mid-transaction); back to the connection's own size after.
    cache_size = int(connection.exec_driver_sql("PRAGMA cache_size").scalar())
    connection.exec_driver_sql(f"PRAGMA cache_size = {min(cache_size, -SQLITE_BULK_CACHE_KIB)}")
    try:
        rows = iter(rows)
        while batch := list(islice(rows, INSERT_BATCH)):
            connection.exec_driver_sql(sql, batch)
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {cache_size}")


SQLITE_BULK_CACHE_KIB = 65536


def _copy(connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """PostgreSQL: the rows through one COPY … FROM STDIN (psycopg 3), then fresh statistics."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        # Fresh statistics at once: a query planned on an empty table's statistics (autovacuum has not
        # caught up yet) joins 100,000 rows by nested scans and takes minutes instead of seconds.
        cursor.execute(f"ANALYZE {table}")
    finally:
        cursor.close()


def _store_rows(session: Session, run_id: int, rows: list[RankedRow], people: dict[int, tuple[int, str]],
                section_texts: dict[int, str] | None = None) -> None:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    texts = section_texts or {}
    percentile = ranking.percentile

    def tuples():
        for position, (entry, rank, league_rank, school_rank, count, league_count, school_count, tied,
                       _key) in enumerate(rows):
            attempt_id = entry.attempt_id
            student_id, number = people[attempt_id]
            status = entry.status
            yield (run_id, attempt_id, position, student_id, number, entry.league_code, entry.school_id, status,
                   entry.total if status == "finalized" else None,
                   texts.get(attempt_id) or dumps(dict(entry.sections)), entry.wrong_count,
                   int(entry.time_used_seconds), rank, league_rank, school_rank, count, league_count, school_count,
                   None if rank is None else percentile(rank, count),
                   None if league_rank is None else percentile(league_rank, league_count),
                   None if school_rank is None else percentile(school_rank, school_count), bool(tied))

    bulk_insert(session, "ranking_rows", _ROW_COLUMNS, tuples(), json_columns=("sections",))


def _prune(session: Session, exam_id: int, *, keep: int) -> None:
    """Delete runs that neither a snapshot nor a fixed selection refers to (their rows are large)."""
    referenced = set(session.scalars(select(ResultSnapshot.run_id).where(ResultSnapshot.exam_id == exam_id)))
    referenced |= set(session.scalars(select(SelectionRule.run_id).where(
        SelectionRule.exam_id == exam_id, SelectionRule.state == "fixed")))
    referenced.add(keep)
    old = [run_id for run_id in session.scalars(select(RankingRun.id).where(RankingRun.exam_id == exam_id))
           if run_id not in referenced]
    if not old:
        return
    snapshot_rules = set(session.scalars(select(ResultSnapshot.selection_rule_id).where(
        ResultSnapshot.exam_id == exam_id, ResultSnapshot.selection_rule_id.is_not(None))))
    for rule in session.scalars(select(SelectionRule).where(SelectionRule.run_id.in_(old))):
        if rule.id not in snapshot_rules:
            session.delete(rule)
    session.flush()
    session.execute(delete(RankingRow).where(RankingRow.run_id.in_(old)))
    session.execute(delete(RankingRun).where(RankingRun.id.in_(old)))


def current_run(session: Session, exam_id: int) -> RankingRun | None:
    """The latest stored run of the exam, or None."""
    return session.scalar(select(RankingRun).where(RankingRun.exam_id == exam_id).order_by(RankingRun.id.desc())
                          .limit(1))


def is_stale(session: Session, exam: Exam, run: RankingRun | None) -> bool:
    """Whether the stored run no longer reflects the stored scores (or there is none)."""
    if run is None:
        return True
    if run.exam_revision != exam.revision or list(run.tie_breaks) != list(exam.tie_breaks or ()):
        return True
    settings = session.get(ResultSettings, exam.id)
    if settings is not None and (settings.change_count or 0) != run.change_count:
        return True
    latest, count, scored = session.execute(
        select(func.max(Attempt.scored_at), func.count(),
               func.count(Attempt.scored_at).filter(Attempt.state == "finalized"))
        .where(Attempt.exam_id == exam.id)).one()
    return (latest is not None and latest > run.computed_at) or count != run.row_count or scored != run.ranked_count


def ensure_current(session: Session, exam: Exam, *, now: datetime, actor: audit.Actor) -> RankingRun:
    """The stored run if it is up to date, else a freshly computed one."""
    run = current_run(session, exam.id)
    if is_stale(session, exam, run):
        run = compute(session, exam, now=now, actor=actor)
    return run


def as_ranked_rows(rows: Iterable[RankingRow]) -> list[RankedRow]:
    """Stored rows back as the domain's RankedRow (for selection), in stored order."""
    result = []
    for row in rows:
        entry = Entry(row.attempt_id, float(row.total or 0), row.league_code, row.school_id, row.sections or {},
                      row.wrong_count, row.time_used_seconds, row.status)
        result.append(RankedRow(entry, row.rank, row.league_rank, row.school_rank, row.count, row.league_count,
                                row.school_count, row.tied))
    return result


def stored_rows(session: Session, run_id: int, *, league: str | None = None) -> list[Any]:
    """The rows of a run in rank order (optionally one league's), read-only, with RankingRow's attributes.

    Plain result rows rather than ORM objects: a national exam has 100,000 of them and nothing
    here changes them.
    """
    allow_long_statements(session)
    query = select(*RankingRow.__table__.columns).where(RankingRow.run_id == run_id)
    if league:
        query = query.where(RankingRow.league_code == league)
    return list(session.execute(query.order_by(RankingRow.position)))


def row_of_attempt(session: Session, run_id: int, attempt_id: int) -> RankingRow | None:
    """One attempt's stored row in a run."""
    return session.get(RankingRow, (run_id, attempt_id))


def page_rows(session: Session, run: RankingRun, *, rule_id: int | None, league: str | None, offset: int,
              limit: int) -> tuple[int, list[tuple]]:
    """One page of a run for the results page: (row, name, school, decision status, step, reserve position)."""
    from sqlalchemy import and_

    from app.models import School, SelectionDecision

    base = select(RankingRow).where(RankingRow.run_id == run.id)
    if league:
        base = base.where(RankingRow.league_code == league)
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    query = (select(RankingRow, StudentProfile.name, School.name, SelectionDecision.status, SelectionDecision.step,
                    SelectionDecision.reserve_position)
             .join(StudentProfile, StudentProfile.user_id == RankingRow.student_id)
             .outerjoin(School, School.id == RankingRow.school_id)
             .outerjoin(SelectionDecision, and_(SelectionDecision.rule_id == rule_id,
                                                SelectionDecision.attempt_id == RankingRow.attempt_id))
             .where(RankingRow.run_id == run.id))
    if league:
        query = query.where(RankingRow.league_code == league)
    return total, [tuple(r) for r in session.execute(query.order_by(RankingRow.position).offset(offset).limit(limit))]
