"""The Excel template: import of a teacher's hand-made workbook (tests/fixtures/excel), row-located
errors, the template and the exporter, round trips and fuzzing."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.questions import ParsedBank, canonical, validate_question
from app.formats.excel import COLUMNS, template_bytes
from app.formats.registry import EXPORTERS, IMPORTERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "excel"
XLSX = IMPORTERS["xlsx"]
EXPORT = EXPORTERS["xlsx"]
HEADER = ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "分值", "难度", "知识点", "解析"]


def workbook(rows: list[list], header: list | None = None) -> bytes:
    """A workbook as a teacher saves it (openpyxl, first sheet, header in row 1)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER if header is None else header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def parse_rows(rows: list[list], header: list | None = None, subject: str | None = "physics") -> ParsedBank:
    return XLSX.parse({"题库.xlsx": workbook(rows, header)}, subject=subject)


def row_of(issue) -> int:
    return int(re.search(r"row (\d+)", issue.location)[1])


def codes(issues) -> list[str]:
    return [i.code for i in issues]


# --- the hand-made biology workbook, field by field -------------------------------------------

@pytest.fixture(scope="module")
def biology() -> ParsedBank:
    return XLSX.parse({"biology_teacher.xlsx": (FIXTURES / "biology_teacher.xlsx").read_bytes()}, subject="biology")


def test_fixture_imports_every_row(biology):
    assert biology.issues == []
    assert len(biology.questions) == 13
    assert [n.code for n in biology.notes] == ["xlsx.unknown_column"]  # 备注
    for q in biology.questions:
        assert validate_question(q) == [] and canonical(q) == q
        assert q["subject"] == "biology" and q["topic"] == "biology_teacher"


def test_choices(biology):
    single, multiple, dna = biology.questions[:3]
    assert single["key"] == "bio-cell-001" and single["type"] == "single" and single["answer"] == "b"
    assert [o["text"] for o in single["options"]] == ["蛋白质", "水", "糖类", "脂质"]
    assert single["points"] == 2 and single["difficulty"] == 1
    assert single["knowledge_points"] == ["分子与细胞/细胞的分子组成"]
    assert single["explanation"] == "活细胞中含量最多的化合物是水。"
    assert multiple["type"] == "multiple" and multiple["answer"] == ["a", "c"]  # "A、C"
    assert multiple["difficulty"] == 4  # 较难
    assert multiple["knowledge_points"] == ["分子与细胞/细胞的多样性", "微生物"]
    assert re.fullmatch(r"biology-[0-9a-f]{8}", multiple["key"])
    assert dna["answer"] == ["a", "b", "d"]  # "A,B，D"


def test_true_false_spellings(biology):
    assert [q["answer"] for q in biology.questions[3:6]] == [False, True, False]  # ×, a TRUE cell, F


def test_fill_in_blanks(biology):
    marks, numeric, appended = biology.questions[6:9]
    assert marks["stem"] == "有氧呼吸的主要场所是 {{1}}，其第三阶段产生大量 {{2}}。"
    assert marks["blanks"] == [{"answers": ["线粒体"], "case_sensitive": False},
                               {"answers": ["ATP", "三磷酸腺苷"], "case_sensitive": False}]
    assert numeric["blanks"] == [{"numeric": {"value": 37.0, "tolerance": 0.5}, "unit": "°C"},
                                 {"numeric": {"value": 7.4, "rel_tolerance": 0.01}, "unit": ""}]
    assert appended["stem"] == "DNA 的基本组成单位是什么？ {{1}}"
    assert appended["blanks"][0]["answers"] == ["脱氧核苷酸", "脱氧核糖核苷酸"]  # full-width ；


def test_ordering_matching_and_short_answers(biology):
    ordering, matching, short, subjective = biology.questions[9:13]
    assert ordering["type"] == "ordering" and ordering["answer"] == ["b", "d", "a", "c"]
    assert [i["text"] for i in ordering["items"]] == ["后期", "前期", "末期", "中期"]
    assert matching["type"] == "matching"
    assert [p["text"] for p in matching["prompts"]] == ["核糖体", "线粒体", "叶绿体"]
    assert [o["text"] for o in matching["options"]] == ["合成蛋白质", "有氧呼吸的主要场所", "光合作用的场所", "储存遗传信息"]
    assert matching["answer"] == {"p1": "a", "p2": "b", "p3": "c"}
    assert short["type"] == "short_answer" and short["reference_answer"].startswith("在生物的体细胞中")
    assert subjective["type"] == "short_answer" and subjective["points"] == 8 and subjective["difficulty"] == 5


def test_keys_are_stable_across_imports(biology):
    again = XLSX.parse({"biology_teacher.xlsx": (FIXTURES / "biology_teacher.xlsx").read_bytes()}, subject="biology")
    assert [q["key"] for q in again.questions] == [q["key"] for q in biology.questions]


# --- row-located errors -------------------------------------------------------------------------

def test_every_bad_row_is_reported_with_its_spreadsheet_row_and_nothing_is_imported():
    bank = parse_rows([
        ["单选题", "好题", "甲", "乙", "", "", "A", 2],            # row 2: fine
        ["单选题", "两个答案", "甲", "乙", "", "", "AB", 2],       # row 3
        ["多选题", "答案不存在", "甲", "乙", "", "", "AE", 2],     # row 4
        ["判断题", "模糊", "", "", "", "", "也许", 1],             # row 5
        ["论述", "未知题型", "", "", "", "", "x", 1],              # row 6
        [],                                                        # row 7: empty, skipped
        ["填空题", "空 ___", "", "", "", "", "", 1],               # row 8
        ["单选题", "分值错", "甲", "乙", "", "", "B", "四分"],     # row 9
        ["单选题", "缺分值", "甲", "乙", "", "", "B"],             # row 10: the validator's issue
        ["匹配题", "配对", "甲=乙", "=", "", "", "", 2],           # row 11
    ])
    assert bank.questions == []
    found = sorted((row_of(i), i.code) for i in bank.issues)
    assert found == [(3, "xlsx.single_answer"), (4, "xlsx.answer_letters"), (5, "xlsx.truth"), (6, "xlsx.type"),
                     (8, "xlsx.blank_answer"), (9, "xlsx.points"), (10, "field.missing"), (11, "xlsx.matching_pair")]
    assert all(i.location.startswith("题库.xlsx · 第") for i in bank.issues)
    points = next(i for i in bank.issues if i.code == "field.missing")
    assert points.location.endswith("· 分值")  # the validator's field named by its column


def test_header_rules():
    shuffled = parse_rows([["A", "单选题", "题", "x", "y", 1]], header=["答案", " 题型 ", "题干*", "选项A", "选项B", "分值"])
    assert shuffled.issues == [] and shuffled.questions[0]["answer"] == "a"
    missing = parse_rows([["单选题", "题"]], header=["题型", "题干"])
    assert codes(missing.issues) == ["xlsx.missing_header"] and "答案" in missing.issues[0].zh
    twice = parse_rows([], header=["题型", "题干", "答案", "题干"])
    assert codes(twice.issues) == ["xlsx.duplicate_header"]


def test_numeric_blank_notation():
    bank = parse_rows([["填空题", "$g$ = ___，$c$ = ___，产率 ___，年份 ___，化学式 ___", "", "", "", "",
                        "9.8±0.1 m/s^2 | 3e8±1% | 50±0.5 % | 2024年 | 2H2O", 4]])
    assert bank.issues == []
    assert bank.questions[0]["blanks"] == [
        {"numeric": {"value": 9.8, "tolerance": 0.1}, "unit": "m/s^2"},
        {"numeric": {"value": 3e8, "rel_tolerance": 0.01}, "unit": ""},
        {"numeric": {"value": 50.0, "tolerance": 0.5}, "unit": "%"},  # a unit %, not a relative tolerance
        {"answers": ["2024年"], "case_sensitive": False},  # no space before the unit: a text answer
        {"answers": ["2H2O"], "case_sensitive": False}]


@pytest.mark.parametrize("cell, answer", [("正确", True), ("错误", False), ("对", True), ("错", False), ("T", True),
                                          ("f", False), ("√", True), ("×", False), (True, True), (False, False),
                                          ("ＴＲＵＥ", True)])
def test_true_false_answer_spellings(cell, answer):
    bank = parse_rows([["判断题", "水是化合物。", "", "", "", "", cell, 1]])
    assert bank.issues == [] and bank.questions[0]["answer"] is answer


@pytest.mark.parametrize("cell", ["ABC", "A,B,C", "A、B、C", "A，B，C", "a b c", "ＡＢＣ", "C;B;A"])
def test_multiple_choice_answer_spellings(cell):
    bank = parse_rows([["多选题", "选三项", "甲", "乙", "丙", "丁", cell, 2]])
    assert bank.issues == [] and bank.questions[0]["answer"] == ["a", "b", "c"]


def test_subject_is_required():
    assert codes(parse_rows([["判断题", "x", "", "", "", "", "对", 1]], subject=None).issues) == ["import.subject"]


@pytest.mark.parametrize("data, code", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500, "xlsx.old_format"),
    ("题型,题干,答案\n单选题,x,A\n".encode(), "xlsx.not_zip"),
    (b"%PDF-1.7\n", "xlsx.not_zip"),
    (b"PK\x03\x04 truncated", "xlsx.bad_zip"),
    (b"", "xlsx.not_zip"),
])
def test_non_spreadsheets_get_a_clear_message(data, code):
    bank = XLSX.parse({"上传.xlsx": data}, subject="physics")
    assert codes(bank.issues) == [code] and bank.issues[0].location == "上传.xlsx"


def test_a_zip_that_is_not_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
        archive.writestr("[Content_Types].xml", "<Types/>")
    assert codes(XLSX.parse({"a.xlsx": buffer.getvalue()}, subject="physics").issues) == ["xlsx.not_workbook"]


def test_a_damaged_workbook_is_unreadable_not_a_crash():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<not really a workbook")
    assert codes(XLSX.parse({"a.xlsx": buffer.getvalue()}, subject="physics").issues) == ["xlsx.unreadable"]


# --- template, export, round trips ---------------------------------------------------------------

def test_template_has_the_columns_and_a_guide_sheet():
    book = openpyxl.load_workbook(io.BytesIO(template_bytes()))
    assert book.sheetnames == ["试题", "说明"]
    assert [c.value for c in book["试题"][1]] == COLUMNS
    guide = " ".join(str(c.value) for row in book["说明"].iter_rows() for c in row if c.value)
    assert "左项=右项" in guide and "干扰项" in guide and "按正确顺序写字母" in guide
    empty = XLSX.parse({"template.xlsx": template_bytes()}, subject="math")
    assert empty.issues == [] and empty.questions == []


def every_expressible_type() -> list[dict]:
    base = {"subject": "cs", "topic": "算法", "points": 2, "difficulty": 3,
            "knowledge_points": ["算法/排序", "数据结构", "数制与编码/原码、反码与补码"],
            "explanation": "见教材。", "source": "原创", "author": "示例教师"}
    questions = [
        dict(base, key="cs-1", type="single", stem="=SUM(A1:A2) 是公式吗？",  # a formula-looking stem stays text
             options=[{"id": "a", "text": "+1"}, {"id": "b", "text": "-1"}, {"id": "c", "text": "@x"}], answer="c"),
        dict(base, key="cs-2", type="multiple", stem="稳定的排序算法有",
             options=[{"id": "a", "text": "冒泡排序"}, {"id": "b", "text": "快速排序"}, {"id": "c", "text": "归并排序"}],
             answer=["a", "c"]),
        dict(base, key="cs-3", type="true_false", stem="TCP 是面向连接的。", answer=True),
        dict(base, key="cs-4", type="fill_blank", stem="二进制 $1010_2$ = {{1}}，$2^{10}$ = {{2}}，后缀 {{3}}，占比 {{4}}",
             blanks=[{"answers": ["10", "十"], "case_sensitive": False},
                     {"numeric": {"value": 1024.0, "tolerance": 0.0}, "unit": ""},
                     {"numeric": {"value": 1.5, "rel_tolerance": 0.02}, "unit": "KB"},
                     {"numeric": {"value": 99.5, "tolerance": 0.5}, "unit": "%"}]),
        dict(base, key="cs-5", type="ordering", stem="将步骤排序",
             items=[{"id": "a", "text": "编译"}, {"id": "b", "text": "编写"}, {"id": "c", "text": "运行"}],
             answer=["b", "a", "c"]),
        dict(base, key="cs-6", type="matching", stem="配对",
             prompts=[{"id": "p1", "text": "栈"}, {"id": "p2", "text": "队列"}, {"id": "p3", "text": "$O(1)$ 访问"}],
             options=[{"id": "a", "text": "后进先出"}, {"id": "b", "text": "先进先出"}, {"id": "c", "text": "数组"},
                      {"id": "d", "text": "链表 $a=b$"}],
             answer={"p1": "a", "p2": "b", "p3": "c"}),
        dict(base, key="cs-7", type="short_answer", stem="简述快速排序的思想。", reference_answer="分治：选基准，划分，递归。",
             rubric="分治 2 分\n划分 2 分"),
    ]
    return [canonical(q) for q in questions]


def test_round_trip_of_every_expressible_type_is_canonically_equal():
    questions = every_expressible_type()
    result = EXPORT.export(questions, {}, subject="cs")
    assert result.issues == [] and list(result.files) == ["cs.xlsx"]
    back = XLSX.parse(result.files, subject="cs")
    assert back.issues == []
    assert back.questions == questions


def test_exported_cells_are_text_never_formulas():
    result = EXPORT.export(every_expressible_type(), {}, subject="cs")
    sheet = openpyxl.load_workbook(io.BytesIO(result.files["cs.xlsx"]))["试题"]
    assert sheet["C2"].value == "=SUM(A1:A2) 是公式吗？" and sheet["C2"].data_type == "s"
    assert sheet["D2"].data_type == "s" and sheet["D2"].value == "+1"


def test_hand_made_workbook_survives_export_and_import(biology):
    result = EXPORT.export(biology.questions, biology.images, subject="biology")
    assert result.issues == []
    back = XLSX.parse(result.files, subject="biology")
    assert back.issues == [] and back.questions == biology.questions


def test_what_the_template_cannot_express_is_reported_per_question():
    questions = every_expressible_type()
    extra = [
        {"key": "x-group", "type": "group", "stem": "材料", "parts": [questions[2] | {"key": "x-part"}]},
        {"key": "x-semicolon", "type": "fill_blank", "stem": "{{1}}", "points": 1, "blanks": [{"answers": ["a;b"]}]},
        {"key": "x-case", "type": "fill_blank", "stem": "{{1}}", "points": 1,
         "blanks": [{"answers": ["NaCl"], "case_sensitive": True}]},
        {"key": "x-nine", "type": "single", "stem": "九个", "points": 1, "answer": "a",
         "options": [{"id": c, "text": c} for c in "abcdefghi"]},
        {"key": "x-eq", "type": "matching", "stem": "m", "points": 1, "answer": {"p1": "a", "p2": "b"},
         "prompts": [{"id": "p1", "text": "F=ma"}, {"id": "p2", "text": "v"}],
         "options": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]},
    ]
    result = EXPORT.export(questions + extra, {}, subject="cs")
    assert [i.location for i in result.issues] == ["x-group", "x-semicolon", "x-case", "x-nine", "x-eq"]
    assert len(XLSX.parse(result.files, subject="cs").questions) == len(questions)


# --- fuzzing -------------------------------------------------------------------------------------

@given(st.binary(max_size=3000))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_give_a_parsed_bank(data):
    assert isinstance(XLSX.parse({"f.xlsx": data}, subject="math"), ParsedBank)


_CELL = st.one_of(st.none(), st.integers(-5, 20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                  st.sampled_from(["单选题", "多选", "判断", "填空题", "排序题", "匹配题", "简答题", "A", "AB", "A、C", "对",
                                   "9.8±0.1", "a;b|c", "x=y", "___", "{{1}}", "$x=1$", "较难", ""]),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))


@given(st.lists(st.lists(_CELL, min_size=8, max_size=11), max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_sheet_content_gives_a_parsed_bank(rows):
    bank = parse_rows(rows)
    assert isinstance(bank, ParsedBank) and not (bank.questions and bank.issues)
    for q in bank.questions:
        assert validate_question(q) == []
