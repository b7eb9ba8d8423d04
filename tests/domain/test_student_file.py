"""The student file: decoding (UTF-8, GBK, asking), reading XLSX/CSV, and every kind of row problem."""
from __future__ import annotations

import io

import pytest

from app.domain import student_file as sf
from app.domain.national_id import check_digit

LEAGUES, SUBJECTS = sf.reference_maps(
    [("150100", "呼和浩特市", "Hohhot"), ("150200", "包头市", "Baotou"), ("152900", "阿拉善盟", "Alxa League")],
    [("math", "数学", "Mathematics"), ("physics", "物理", "Physics"), ("cs", "计算机", "Computer science")])
HEADER = ["准考证号", "姓名", "性别", "学校", "年级", "盟市", "学科", "身份证号", "考场", "座位号"]


def valid_id(prefix17: str = "15010220090101123") -> str:
    return prefix17 + check_digit(prefix17)


def ref(**kw) -> sf.Reference:
    base = {"leagues": LEAGUES, "subjects": SUBJECTS, "schools": {("150100", "呼市一中")}, "taken_numbers": {"2026150100000009"},
                "year": 2026}
    base.update(kw)
    return sf.Reference(**base)


def row(**kw) -> list[str]:
    values = {"exam_number": "", "name": "张晓彤", "gender": "女", "school": "呼市一中", "grade": "高一", "league": "呼和浩特市",
                  "subject": "物理", "national_id": "", "room": "", "seat": ""}
    values.update(kw)
    return [values[k] for k in ("exam_number", "name", "gender", "school", "grade", "league", "subject",
                                "national_id", "room", "seat")]


def codes(result: sf.ParseResult) -> list[tuple[int, str, str]]:
    return [(i.row, i.field, i.code) for i in result.issues]


def test_a_clean_file_parses_and_numbers_are_generated_per_league():
    table = [HEADER, row(), row(name="巴特尔", league="150200", gender="男"), row(name="其木格·娜仁", exam_number="00123456")]
    result = sf.parse(table, ref())
    assert result.ok, result.issues
    numbers = [r.exam_number for r in result.rows]
    assert numbers[0] == "20261501000010"  # after 2026150100000009, the highest of the same pattern
    assert numbers[1] == "20261502000001"
    assert numbers[2] == "00123456"  # text, leading zeros kept
    assert [r.generated_number for r in result.rows] == [True, True, False]
    assert result.rows[1].gender == "M" and result.rows[0].league_code == "150100"


@pytest.mark.parametrize("cells, expected", [
    (row(league="火星市"), (2, "league", "unknown_league")),
    (row(subject="天文"), (2, "subject", "unknown_subject")),
    (row(name=""), (2, "name", "missing_name")),
    (row(name="<script>"), (2, "name", "invalid_name")),
    (row(national_id=valid_id()[:-1] + ("0" if valid_id()[-1] != "0" else "1")), (2, "national_id", "bad_national_id")),
    (row(exam_number="2026150100000009"), (2, "exam_number", "duplicate_in_db")),
    (row(exam_number="12"), (2, "exam_number", "bad_exam_number")),
    (row(gender="未知"), (2, "gender", "bad_gender")),
    (row(seat="3"), (2, "seat", "seat_without_room")),
    (row(room="第1考场", seat="x"), (2, "seat", "bad_seat")),
    (row(school=""), (2, "school", "missing_school")),
])
def test_each_kind_of_row_problem_is_located(cells, expected):
    result = sf.parse([HEADER, cells], ref())
    assert expected in codes(result)
    assert result.rows == []
    issue = result.issues[0]
    assert issue.zh and issue.en and issue.field_zh


def test_duplicates_within_the_file_name_the_first_row():
    nid = valid_id()
    table = [HEADER, row(exam_number="A0001", national_id=nid, room="一", seat="1"),
             row(exam_number="A0001"), row(national_id=nid), row(room="一", seat="1")]
    result = sf.parse(table, ref())
    assert (3, "exam_number", "duplicate_in_file") in codes(result)
    assert (4, "national_id", "duplicate_id_in_file") in codes(result)
    assert (5, "seat", "duplicate_seat") in codes(result)
    assert "第 2 行" in result.issues[0].zh and "row 2" in result.issues[0].en


def test_league_by_code_name_or_english_and_scope():
    table = [HEADER, row(league="150200"), row(league="Baotou"), row(league="包头"), row(league="阿拉善盟")]
    assert sf.parse(table, ref()).ok
    scoped = sf.parse(table, ref(allowed_leagues=frozenset({"150100"})))
    assert {c for _, _, c in codes(scoped)} == {"outside_scope"}


def test_missing_required_column_is_reported_once():
    result = sf.parse([["姓名", "学校"], ["张三", "一中"]], ref())
    assert sorted(f for _, f, _ in codes(result)) == ["league", "subject"]


def test_new_schools_are_listed_not_created():
    result = sf.parse([HEADER, row(school="新学校"), row(school="新学校", name="李四")], ref())
    assert result.ok and result.new_schools == [("150100", "新学校")]


def test_english_headers_and_extra_columns():
    table = [["Name", "School", "League", "Subject", "Remark"], ["Li Ming", "呼市一中", "150100", "math", "x"]]
    result = sf.parse(table, ref())
    assert result.ok and result.rows[0].subject_code == "math"
    assert "Remark" in result.notes[0]


# --- decoding -----------------------------------------------------------------------------------------

CSV_TEXT = "准考证号,姓名,学校,盟市,学科\n,乌云其其格,呼市一中,呼和浩特市,数学\n"


def test_utf8_with_and_without_bom():
    assert sf.decode_csv(CSV_TEXT.encode("utf-8"))[1] == "utf-8"
    text, enc = sf.decode_csv(b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"))
    assert enc == "utf-8" and text.startswith("准考证号")


def test_gbk_is_detected_from_its_header():
    text, enc = sf.decode_csv(CSV_TEXT.encode("gbk"))
    assert enc == "gbk" and "乌云其其格" in text


def test_undetectable_encoding_asks_instead_of_garbling():
    data = "name,school\n乌云,一中\n".encode("gbk")  # header gives no Chinese clue
    with pytest.raises(sf.EncodingUnknown) as info:
        sf.decode_csv(data)
    assert "UTF-8" in info.value.zh and "GBK" in info.value.en
    assert "乌云" in sf.decode_csv(data, "gbk")[0]
    with pytest.raises(sf.FileRefused) as wrong:
        sf.decode_csv("乌云".encode("gbk") + b"\xff", "utf-8")
    assert wrong.value.code == "encoding_mismatch"


def test_xlsx_numbers_become_text_and_template_round_trips():
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append([2026150100000077, "张三", "男", "呼市一中", "高二", 150100, "物理", None, "一", 5])
    out = io.BytesIO()
    book.save(out)
    table, enc = sf.read_table(out.getvalue(), "students.xlsx")
    assert enc is None and table[1][0] == "2026150100000077" and table[1][9] == "5"
    template, _ = sf.read_table(sf.template_xlsx(), "template.xlsx")
    assert template[0] == list(sf.TEMPLATE_HEADERS)
    assert sf.read_table(sf.template_csv(), "t.csv")[0][0] == list(sf.TEMPLATE_HEADERS)


def test_hostile_or_wrong_files_are_refused():
    with pytest.raises(sf.FileRefused) as a:
        sf.read_table(b"PK\x03\x04 not really a zip", "x.xlsx")
    assert a.value.code == "not_xlsx"
    with pytest.raises(sf.FileRefused) as b:
        sf.read_table(b"%PDF-1.4", "x.pdf")
    assert b.value.code == "format"


def test_pattern_rules():
    sf.check_pattern("{year}{league}{seq:05d}")
    with pytest.raises(sf.FileRefused):
        sf.check_pattern("{year}{league}")
    with pytest.raises(sf.FileRefused):
        sf.check_pattern("{school}{seq}")
    assert sf.next_numbers("YC{year}-{seq:03d}", year=2026, league="150100", taken={"YC2026-007"}, count=2) == \
        ["YC2026-008", "YC2026-009"]
