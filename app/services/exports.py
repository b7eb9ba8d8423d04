"""Ranking exports: XLSX (an overall sheet and one per league) and CSV (UTF-8 with BOM), streamed.

Both read the stored ranking run (never re-sort) with one streamed Core query: CSV is produced row by
row, XLSX is written by app/services/xlsx_stream.py (each row rendered once, sheets buffered in
temporary files, zipped at the end), so memory stays flat for 100,000 rows. Every
text cell goes through ``neutralise`` in CSV (a cell starting with = + - @ tab or CR is prefixed
with an apostrophe, so a spreadsheet shows it as text and never runs it) and is written as a
string cell in XLSX (never a formula, the visible value unchanged). Exam numbers are text.
A league admin's export holds only their league (the caller passes the scope).
"""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, null, select, text
from sqlalchemy.orm import Session

from app.domain.ranking import RANK_STYLE_LABEL
from app.models import Exam, League, RankingRow, School, SelectionDecision, StudentProfile, Subject
from app.services import publication, rankings, selection_service, xlsx_stream
from app.services.jobs import Progress, handler
from app.services.rankings import ResultsError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("xlsx", "csv")
# A larger export (either format) is written by the job worker, not in the web request: a web worker
# busy writing 20,000 rows delayed the autosaves it serves (drill 17: save p99 68 → 842 ms); in
# production the worker runs on its own host (docs/deployment.md).
INLINE_ROWS = 5000
STATUS_ZH = {"finalized": "有效", "voided": "作废（违纪）", "absent": "缺考", "in_progress": "未交卷"}
SELECTION_ZH = {"admitted": "入围", "reserve": "候补", "not_admitted": "未入围", "ineligible": "不具备入围资格"}
STEP_ZH = {"league_minimum": "盟市最少入围名额", "overall": "按总排名", "reserve": "候补名单"}
TIE_BREAK_ZH = {"fewer_wrong": "答错题数少者在前", "less_time": "用时少者在前"}


def neutralise(value: str) -> str:
    """Make a text cell safe for spreadsheets (formula injection, DDE).

    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be read as a
    formula by Excel, WPS or LibreOffice; it gets a leading apostrophe, so it is shown as the text
    it is. Other text is returned unchanged. This is the one place the rule is applied.
    """
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def restore(value: str) -> str:
    """Undo ``neutralise`` when reading an export back."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value


def describe_tie_breaks(tie_breaks: list[str]) -> str:
    """The tie-break chain in Chinese words (empty chain: ties share a rank)."""
    if not tie_breaks:
        return "总分相同者名次并列"
    words = [f"“{t[8:]}”部分得分高者在前" if t.startswith("section:") else TIE_BREAK_ZH.get(t, t) for t in tie_breaks]
    return "总分相同时依次比较：" + "；".join(words)


@dataclass(frozen=True)
class ExportContext:
    """What one export covers, as plain values (a streamed response outlives the request's session)."""

    exam_id: int
    exam_title: str
    subject_name: str
    opens_at: datetime
    closes_at: datetime
    run_id: int
    section_names: tuple[str, ...]
    tie_breaks: tuple[str, ...]
    computed_at: datetime
    snapshot_version: int | None  # None: the stored run is not (or not yet) published
    snapshot_sha256: str | None
    snapshot_published_at: datetime | None
    rule_id: int | None
    league_code: str | None  # None: the whole province
    league_names: dict[str, str]  # code -> Chinese name, in code order
    generated_at: datetime
    timezone: str
    row_count: int = 0  # rows of the whole run

    @property
    def scope_name(self) -> str:
        return self.league_names[self.league_code] if self.league_code else "全区"


def context(session: Session, exam: Exam, *, league_code: str | None, now: datetime,
            timezone: str = "Asia/Shanghai") -> ExportContext:
    """Gather what an export needs; refuses before the ranking is computed or for an unknown league."""
    run = rankings.current_run(session, exam.id)
    if run is None:
        raise ResultsError("no_ranking", "尚未计算排名，请先计算", "compute the ranking first")
    leagues = {league.code: league.name_zh for league in session.scalars(select(League).order_by(League.code))}
    if league_code is not None and league_code not in leagues:
        raise ResultsError("league", f"未知盟市代码：{league_code}", f"unknown league code: {league_code}", 404)
    snapshot = publication.latest_snapshot(session, exam.id)
    if snapshot is not None and snapshot.run_id != run.id:
        snapshot = None
    if snapshot is not None:
        rule_id = snapshot.selection_rule_id
    else:
        fixed = selection_service.current_fixed(session, exam.id)
        rule_id = fixed.id if fixed is not None and fixed.run_id == run.id else None
    subject = session.get(Subject, exam.subject_code)
    return ExportContext(
        exam.id, exam.title, subject.name_zh if subject else exam.subject_code, exam.opens_at, exam.closes_at,
        run.id, tuple(run.section_names), tuple(run.tie_breaks), run.computed_at,
        snapshot.version if snapshot else None, snapshot.sha256 if snapshot else None,
        snapshot.published_at if snapshot else None, rule_id, league_code, leagues, now, timezone, run.row_count)


def header_block(ctx: ExportContext) -> list[tuple[str, str]]:
    """The lines above the table: exam, subject, time, tie rule, snapshot hash and version."""
    zone = ZoneInfo(ctx.timezone)

    def local(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    published = (f"第 {ctx.snapshot_version} 版（{local(ctx.snapshot_published_at)} 发布）" if ctx.snapshot_version
                 else "未发布（预览）")
    return [
        ("考试", ctx.exam_title),
        ("学科", ctx.subject_name),
        ("考试时间", f"{local(ctx.opens_at)} 至 {local(ctx.closes_at)}（{ctx.timezone}）"),
        ("范围", ctx.scope_name),
        ("名次规则", f"{RANK_STYLE_LABEL[0]}；{describe_tie_breaks(list(ctx.tie_breaks))}"),
        ("排名计算时间", local(ctx.computed_at)),
        ("发布版本", published),
        ("快照 SHA-256", ctx.snapshot_sha256 or "—"),
        ("导出时间", local(ctx.generated_at)),
    ]


def columns(ctx: ExportContext) -> list[str]:
    """Chinese column names, in order."""
    return ["总排名", "是否并列", "盟市排名", "学校排名", "准考证号", "姓名", "学校", "盟市", "总分",
            *ctx.section_names, "用时（秒）", "百分位", "作答状态", "入围状态", "入围依据"]


TEXT_COLUMNS = {"是否并列", "准考证号", "姓名", "学校", "盟市", "作答状态", "入围状态", "入围依据"}


def _query(ctx: ExportContext):
    # Sections as their stored JSON text: decoded in rows() with one json.loads, cheaper than the
    # driver's and SQLAlchemy's JSON processing of every row.
    if ctx.rule_id is None:  # no selection fixed on this run: nothing to join
        decision = (null().label("selection"), null().label("step"), null().label("reserve_position"))
    else:
        decision = (SelectionDecision.status.label("selection"), SelectionDecision.step,
                    SelectionDecision.reserve_position)
    query = (select(RankingRow.rank, RankingRow.tied, RankingRow.league_rank, RankingRow.school_rank,
                    RankingRow.exam_number, RankingRow.league_code, RankingRow.total,
                    cast(RankingRow.sections, Text).label("sections"), RankingRow.time_used_seconds,
                    RankingRow.percentile, RankingRow.status, StudentProfile.name, School.name.label("school"),
                    *decision)
             .join(StudentProfile, StudentProfile.user_id == RankingRow.student_id)
             .outerjoin(School, School.id == RankingRow.school_id)
             .where(RankingRow.run_id == ctx.run_id).order_by(RankingRow.position))
    if ctx.rule_id is not None:
        query = query.outerjoin(SelectionDecision, and_(SelectionDecision.rule_id == ctx.rule_id,
                                                        SelectionDecision.attempt_id == RankingRow.attempt_id))
    if ctx.league_code is not None:
        query = query.where(RankingRow.league_code == ctx.league_code)
    return query


def _stream(session: Session, query):
    """Execute a query whose every row is read, streamed in batches (a server-side cursor on PostgreSQL)."""
    rankings.allow_long_statements(session)  # a streamed read of a national exam outlasts the request timeout
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL plans a cursor for its first 10% of rows by default (cursor_tuple_fraction), which
        # picks an index lookup per row into students and schools; an export reads them all, and the
        # hash joins and one sort are faster for that. For this transaction only.
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    # On the session's connection: Core rows, without the ORM's result layer.
    return session.connection().execute(query.execution_options(yield_per=5000))


def rows(session: Session, ctx: ExportContext) -> Iterator[tuple[str | None, list[Any]]]:
    """(league code, cells) for every stored row in rank order, streamed from one query.

    One Core query (no ORM objects), read in batches (a server-side cursor on PostgreSQL); the
    per-row work is only building the cells. Text that repeats (status, selection, league names)
    comes from small lookup tables.
    """
    names = ctx.section_names
    no_sections = (None,) * len(names)
    league_names = ctx.league_names
    status_text = dict(STATUS_ZH)
    decode = json.JSONDecoder().raw_decode  # the stored text is compact JSON; loads() would strip whitespace first
    result = _stream(session, _query(ctx))
    for (rank, tied, league_rank, school_rank, exam_number, league, total, sections, time_used, percentile, status,
         name, school, selection, step, reserve_position) in result:
        if rank is not None:
            section_cells = tuple(map((decode(sections)[0] or {}).get, names)) if sections else no_sections
        else:
            total = time_used = None
            section_cells = no_sections
        if selection == "reserve" and reserve_position:
            selection_text = f"候补第 {reserve_position} 位"
        else:
            selection_text = SELECTION_ZH.get(selection or "", "")
        yield league, [
            rank, "并列" if tied else "", league_rank, school_rank, exam_number, name, school or "",
            league_names.get(league or "", ""), total, *section_cells, time_used, percentile,
            status_text.get(status, status), selection_text, STEP_ZH.get(step or "", ""),
        ]


# --- CSV ------------------------------------------------------------------------------------------


def _csv_number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, float):
        return _csv_number(value)
    return value


def stream_csv(session: Session, ctx: ExportContext) -> Iterator[bytes]:
    """The CSV, UTF-8 with a BOM (so Excel reads Chinese), yielded in chunks of rows.

    Every text cell goes through ``neutralise``; numbers are formatted once per distinct value.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([neutralise(c) for c in columns(ctx)])
    numbers: dict[float, str] = {}  # float -> its text (scores and percentiles repeat a lot)

    def number(value: float) -> str:
        text = numbers[value] = _csv_number(value)
        return text

    prefixes = FORMULA_PREFIXES
    writerow = writer.writerow
    for count, (_, cells) in enumerate(rows(session, ctx), 1):
        # _csv_cell inlined (3 million cells): text neutralised, None empty, floats formatted once.
        writerow([value if (kind := type(value)) is int
                  else ("'" + value if value.startswith(prefixes) else value) if kind is str
                  else "" if value is None
                  else (numbers.get(value) or number(value)) if kind is float
                  else _csv_cell(value) for value in cells])
        if count % 2000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


# --- XLSX -----------------------------------------------------------------------------------------

_WIDTHS = {"总排名": 8, "是否并列": 8, "盟市排名": 9, "学校排名": 9, "准考证号": 18, "姓名": 12, "学校": 24, "盟市": 12,
           "总分": 9, "用时（秒）": 10, "百分位": 9, "作答状态": 12, "入围状态": 12, "入围依据": 16}


def _sheet_name(text: str, used: set[str]) -> str:
    name = "".join(ch for ch in text if ch not in "[]:*?/\\")[:31] or "Sheet"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]}({n})"
        n += 1
    used.add(name)
    return name


def _add_sheet(book: xlsx_stream.Workbook, name: str, ctx: ExportContext, scope: str) -> xlsx_stream.Sheet:
    """A sheet with the header block (scope: this sheet's), a blank row and the frozen column header."""
    titles = columns(ctx)
    block = header_block(ctx)
    sheet = book.add_sheet(name, widths=[_WIDTHS.get(t, max(10, 2 * len(t) + 2)) for t in titles],
                           freeze_rows=len(block) + 2)
    for label, value in block:
        sheet.add_row([(label, xlsx_stream.LABEL), (scope if label == "范围" else value, xlsx_stream.TEXT)])
    sheet.skip()
    sheet.add_row([(title, xlsx_stream.HEAD) for title in titles])
    return sheet


def write_xlsx(session: Session, ctx: ExportContext, target: str | BinaryIO) -> None:
    """Write the workbook: an overall sheet, then one sheet per league (only the scoped league for a league admin).

    One pass over the rows in rank order: each row is rendered once (text cells as strings, never
    formulas; scores with two decimals) and appended to the overall sheet and to its league's sheet,
    so every sheet's rows are in rank order. Memory stays flat: sheets are buffered in temporary
    files and zipped at the end (app/services/xlsx_stream.py).
    """
    book = xlsx_stream.Workbook(target)
    try:
        used: set[str] = set()
        scope = ctx.scope_name
        overall = _add_sheet(book, _sheet_name("总排名" if ctx.league_code is None else f"总排名-{scope}", used), ctx,
                             scope)
        league_codes = [ctx.league_code] if ctx.league_code else list(ctx.league_names)
        sheets = {code: _add_sheet(book, _sheet_name(ctx.league_names[code], used), ctx, ctx.league_names[code])
                  for code in league_codes}
        width = len(columns(ctx))
        render = xlsx_stream.Renderer(width).render
        add_overall = overall.add_rendered
        for league, cells in rows(session, ctx):
            rendered = render(cells)
            add_overall(rendered, width)
            sheet = sheets.get(league)
            if sheet is not None:
                sheet.add_rendered(rendered, width)
    except BaseException:
        for sheet in book.sheets:
            sheet.discard()
        raise
    book.close()


def export_file(session: Session, exam: Exam, fmt: str, path: str, *, league_code: str | None, now: datetime,
                timezone: str = "Asia/Shanghai") -> int:
    """Write an export to ``path`` (the CLI); returns the number of data rows."""
    if fmt not in FORMATS:
        raise ResultsError("format", "导出格式应为 xlsx 或 csv", "the format must be xlsx or csv", 422)
    ctx = context(session, exam, league_code=league_code, now=now, timezone=timezone)
    if fmt == "csv":
        with open(path, "wb") as fh:
            fh.writelines(stream_csv(session, ctx))
    else:
        write_xlsx(session, ctx, path)
    query = select(func.count()).select_from(RankingRow).where(RankingRow.run_id == ctx.run_id)
    if league_code:
        query = query.where(RankingRow.league_code == league_code)
    return session.scalar(query)


def file_name(exam_id: int, fmt: str, league_code: str | None) -> str:
    """The download name of an export."""
    return f"exam-{exam_id}-ranking{'-' + league_code if league_code else ''}.{fmt}"


@handler("results.export")
def _export_job(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """Write a large export into ``payload['directory']`` for the requester to download."""
    exam = session.get(Exam, int(payload["exam_id"]))
    fmt, league = payload["format"], payload.get("league")
    os.makedirs(payload["directory"], exist_ok=True)
    name = file_name(exam.id, fmt, league)
    path = os.path.join(payload["directory"], f"{secrets.token_hex(8)}-{name}")
    count = export_file(session, exam, fmt, path, league_code=league, now=now,
                        timezone=payload.get("timezone") or "Asia/Shanghai")
    return {"path": path, "name": name, "rows": count}
