"""Exports read back and compared with the stored ranking; formula payloads stay visible text."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from app.models import School, StudentProfile
from app.services import audit, exports, publication, rankings, selection_service
from tests import results_fixtures as rf
from tests.results_fixtures import SECTIONS, Spec, seeded_exam

ACTOR = audit.Actor(None, "pytest")
PAYLOADS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@SUM(1)", "\t=cmd", "\r=cmd", "=cmd|' /C calc'!A0"]


def test_neutralise_is_the_one_rule():
    for payload in PAYLOADS:
        safe = exports.neutralise(payload)
        assert safe.startswith("'") and exports.restore(safe) == payload
    for harmless in ["张晓彤", "a=b", "2026150100001", ""]:
        assert exports.neutralise(harmless) == harmless and exports.restore(harmless) == harmless


@pytest.fixture
def ranked(db_session, make, now):
    specs = [Spec(90, league="150100", sections={SECTIONS[0]: 50, SECTIONS[1]: 40}, name="张晓彤"),
             Spec(85, league="150200", sections={SECTIONS[0]: 45, SECTIONS[1]: 40}, name="巴特尔"),
             Spec(85, league="150100", sections={SECTIONS[0]: 40, SECTIONS[1]: 45}, name="乌云其其格"),
             Spec(70, league="152900", sections={SECTIONS[0]: 30, SECTIONS[1]: 40}, name="李明轩"),
             Spec(0, league="150200", state="absent", name="王思远")]
    exam, created = seeded_exam(db_session, now, make, specs)
    # Formula payloads in names and a school name (names are validated on import; the export must not rely on it).
    for attempt, payload in zip(created, PAYLOADS):
        db_session.get(StudentProfile, attempt.student_id).name = payload
    first_school = db_session.get(School, db_session.get(StudentProfile, created[0].student_id).school_id)
    first_school.name = "=HYPERLINK(\"http://x\")"
    # A leading zero that must survive.
    db_session.get(StudentProfile, created[3].student_id).exam_number = "0026152900000001"
    db_session.flush()
    selection_service.fix(db_session, exam, selection_service.parse_rules({"cutoff": 80, "quota": 2}), user_id=None,
                          now=now, actor=ACTOR)
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    return exam, created


def _stored(db_session, exam, league=None):
    run = rankings.current_run(db_session, exam.id)
    return rankings.stored_rows(db_session, run.id, league=league)


def test_csv_reads_back_as_the_stored_ranking(db_session, ranked, now):
    exam, _created = ranked
    ctx = exports.context(db_session, exam, league_code=None, now=now)
    data = b"".join(exports.stream_csv(db_session, ctx))
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:9] == ["总排名", "是否并列", "盟市排名", "学校排名", "准考证号", "姓名", "学校", "盟市", "总分"]
    assert header[9:12] == list(SECTIONS)
    stored = _stored(db_session, exam)
    assert len(body) == len(stored)
    for line, row in zip(body, stored):
        assert line[4] == row.exam_number
        assert line[0] == (str(row.rank) if row.rank else "")
        assert line[2] == (str(row.league_rank) if row.league_rank else "")
        if row.total is not None:
            assert float(line[8]) == row.total
    numbers = [line[4] for line in body]
    assert "0026152900000001" in numbers  # kept as text, leading zero included
    names = [line[5] for line in body]
    for payload in PAYLOADS[:5]:
        assert "'" + payload in names  # neutralised: shown as text, never run
        assert exports.restore("'" + payload) == payload
    assert all(not cell.startswith(exports.FORMULA_PREFIXES) for line in body for cell in line
               if not cell.lstrip("-").replace(".", "").isdigit())
    assert body[0][-2] == "入围" and body[0][-1] == "按总排名"
    assert body[-1][-3] == "缺考" and body[-1][0] == ""


def test_xlsx_reads_back_with_an_overall_sheet_and_one_per_league(db_session, ranked, now, tmp_path):
    exam, _created = ranked
    path = tmp_path / "ranking.xlsx"
    count = exports.export_file(db_session, exam, "xlsx", str(path), league_code=None, now=now)
    assert count == 5
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == "总排名" and len(book.sheetnames) == 13
    assert "呼和浩特市" in book.sheetnames and "阿拉善盟" in book.sheetnames
    sheet = book["总排名"]
    header = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(1, 10)}
    snapshot = publication.latest_snapshot(db_session, exam.id)
    assert header["考试"] == exam.title and header["快照 SHA-256"] == snapshot.sha256
    assert header["发布版本"].startswith("第 1 版") and "并列名次，后续名次顺延" in header["名次规则"]
    head_row = 11
    assert sheet.cell(head_row, 1).value == "总排名" and sheet.freeze_panes == f"A{head_row + 1}"
    stored = _stored(db_session, exam)
    for offset, row in enumerate(stored):
        cells = [sheet.cell(head_row + 1 + offset, c) for c in range(1, 10)]
        assert cells[0].value == row.rank and cells[4].value == row.exam_number
        assert cells[4].data_type == "s"  # the exam number is text
        if row.total is not None:
            assert cells[8].value == row.total
    names = [sheet.cell(r, 6) for r in range(head_row + 1, head_row + 1 + len(stored))]
    assert {c.data_type for c in names} == {"s"}  # never a formula
    assert set(PAYLOADS[:5]) <= {c.value for c in names}  # the visible value is unchanged
    schools = {sheet.cell(r, 7).value for r in range(head_row + 1, head_row + 1 + len(stored))}
    assert "=HYPERLINK(\"http://x\")" in schools
    hohhot = book["呼和浩特市"]
    league_rows = [hohhot.cell(r, 5).value for r in range(head_row + 1, hohhot.max_row + 1)]
    assert league_rows == [r.exam_number for r in _stored(db_session, exam, "150100")]


def test_a_league_export_holds_only_that_league(db_session, ranked, now, tmp_path):
    exam, _ = ranked
    path = tmp_path / "baotou.xlsx"
    exports.export_file(db_session, exam, "xlsx", str(path), league_code="150200", now=now)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["总排名-包头市", "包头市"]
    sheet = book["总排名-包头市"]
    assert sheet.cell(4, 2).value == "包头市"
    leagues = {sheet.cell(r, 8).value for r in range(12, sheet.max_row + 1)}
    assert leagues == {"包头市"}
    csv_path = tmp_path / "baotou.csv"
    exports.export_file(db_session, exam, "csv", str(csv_path), league_code="150200", now=now)
    body = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))[1:]
    assert {line[7] for line in body} == {"包头市"} and len(body) == 2


def test_an_unpublished_run_says_so(db_session, make, now):
    exam, _ = seeded_exam(db_session, now, make, [Spec(90)])
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    ctx = exports.context(db_session, exam, league_code=None, now=now)
    block = dict(exports.header_block(ctx))
    assert block["发布版本"] == "未发布（预览）" and block["快照 SHA-256"] == "—"


def test_xlsx_text_cannot_become_markup_or_a_formula(db_session, ranked, now, tmp_path):
    """Names are escaped into the sheet XML whatever they hold; each stays one text cell with its text."""
    exam, created = ranked
    # The first would be written raw by xlsxwriter's constant_memory mode (a "rich string") and add cell Z1.
    hostile = ['<r></r></is></c><c r="Z1"><f>1+1</f></c><c><is><r></r>', "a & b <c> \"d\"",
               " 前后有空格 ", "控制\x01字符"]
    for attempt, name in zip(created, hostile):
        db_session.get(StudentProfile, attempt.student_id).name = name
    db_session.flush()
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    path = tmp_path / "hostile.xlsx"
    exports.export_file(db_session, exam, "xlsx", str(path), league_code=None, now=now)
    book = openpyxl.load_workbook(path)
    sheet = book["总排名"]
    names = [sheet.cell(r, 6) for r in range(12, sheet.max_row + 1)]
    assert {c.data_type for c in names} == {"s"}
    assert sheet.max_column == sum(1 for c in sheet[11] if c.value)  # no cell was injected beyond the table
    values = {c.value for c in names}
    assert set(hostile[:3]) <= values
    assert "控制_x0001_字符" in values  # a control character as Excel writes it (openpyxl does not decode it)
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
