"""GIFT import/export on hand-written files (tests/fixtures/gift), round trips and fuzzing."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.domain.images import content_hash_name
from app.domain.questions import ParsedBank, canonical, validate_question
from app.formats.gift import escape_gift, unescape
from app.formats.registry import EXPORTERS, IMPORTERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gift"
GIFT = IMPORTERS["gift"]
EXPORT = EXPORTERS["gift"]


def load(name: str, subject: str | None = None) -> ParsedBank:
    return GIFT.parse({name: (FIXTURES / name).read_bytes()}, subject=subject)


def parse(text: str, subject: str | None = "physics", **files: bytes) -> ParsedBank:
    return GIFT.parse({"t.gift": text.encode("utf-8"), **{k.replace("__", "/"): v for k, v in files.items()}},
                      subject=subject)


def one(text: str, **files: bytes) -> dict:
    bank = parse(text, **files)
    assert bank.issues == [], [i.message("en") for i in bank.issues]
    assert len(bank.questions) == 1
    return bank.questions[0]


def codes(issues) -> list[str]:
    return [i.code for i in issues]


def line_of(issue) -> int:
    return int(re.search(r"line (\d+)", issue.location)[1])


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), "green").save(buffer, "PNG")
    return buffer.getvalue()


# --- the hand-written chemistry file, field by field -------------------------------------------

@pytest.fixture(scope="module")
def chemistry() -> ParsedBank:
    return load("chemistry_mixed.gift")


def q_at(bank: ParsedBank, index: int) -> dict:
    return bank.questions[index]


def test_fixture_imports_every_question(chemistry):
    assert chemistry.issues == []
    assert len(chemistry.questions) == 13
    assert {q["subject"] for q in chemistry.questions} == {"chemistry"}  # from $CATEGORY 化学
    for q in chemistry.questions:
        assert validate_question(q) == [] and canonical(q) == q
    assert "gift.description" in codes(chemistry.notes)
    assert "line 52" in next(n for n in chemistry.notes if n.code == "gift.description").location


def test_single_choice_with_id_tags_points_feedback(chemistry):
    q = q_at(chemistry, 0)
    assert q["key"] == "chem-atom-001" and q["type"] == "single"
    assert q["stem"] == "碳原子的质子数为（　　）"
    assert [o["text"] for o in q["options"]] == ["4", "6", "12", "14"] and q["answer"] == "b"
    assert q["points"] == 3 and q["difficulty"] == 2 and q["knowledge_points"] == ["物质结构/原子结构"]
    assert q["explanation"] == "碳是 6 号元素，质子数 = 原子序数 = 6。"
    assert q["topic"] == "原子结构"
    assert "gift.feedback_dropped" in codes(chemistry.notes)


def test_multiple_choice_by_weights_with_mhchem(chemistry):
    q = q_at(chemistry, 1)
    assert q["type"] == "multiple" and q["answer"] == ["a", "b"]
    assert [o["text"] for o in q["options"]] == ["$\\ce{H2O}$", "$\\ce{CO2}$", "$\\ce{O2}$", "$\\ce{NaCl}$"]
    assert re.fullmatch(r"chemistry-[0-9a-f]{8}", q["key"])
    assert q["knowledge_points"] == ["物质结构/原子结构"]  # the category's path
    assert q["points"] == 1


def test_true_false(chemistry):
    q = q_at(chemistry, 2)
    assert q["type"] == "true_false" and q["answer"] is False
    assert q["stem"] == "稀有气体元素的原子最外层都有 8 个电子。"


def test_numeric_forms(chemistry):
    exact, several, ranged = q_at(chemistry, 3), q_at(chemistry, 4), q_at(chemistry, 5)
    assert exact["stem"] == "若某原子核内有 6 个质子、8 个中子，则其质量数为 {{1}} 。"  # missing word
    assert exact["blanks"] == [{"numeric": {"value": 14.0, "tolerance": 0.0}, "unit": ""}]
    assert several["blanks"][0]["numeric"] == {"value": 6.0, "tolerance": 0.0}  # the 50% answer is dropped
    assert several["stem"].startswith("阿伏加德罗常数约为 $6.02\\times10^{23}$ mol$^{-1}$")
    assert ranged["blanks"][0]["numeric"] == {"value": 7.0, "tolerance": 0.1}  # {#6.9..7.1}
    assert "gift.partial_dropped" in codes(chemistry.notes)


def test_short_answer_and_missing_word(chemistry):
    short, missing = q_at(chemistry, 6), q_at(chemistry, 7)
    assert short["topic"] == "化学反应原理" and short["knowledge_points"] == ["化学反应原理"]
    assert short["stem"] == "写出氯化钠的化学式：{{1}}"
    assert short["blanks"] == [{"answers": ["NaCl", "\\ce{NaCl}"], "case_sensitive": False}]
    assert missing["stem"] == "铁在氧气中燃烧生成 {{1}} ，放出大量热。"
    assert missing["blanks"][0]["answers"] == ["四氧化三铁", "Fe3O4"]


def test_matching_missing_word_choice_essay(chemistry):
    matching, choice, essay = q_at(chemistry, 8), q_at(chemistry, 9), q_at(chemistry, 10)
    assert matching["type"] == "matching" and [p["text"] for p in matching["prompts"]] == ["NaOH", "Na2CO3", "CaO"]
    assert [o["text"] for o in matching["options"]] == ["烧碱", "纯碱", "生石灰"]
    assert matching["answer"] == {"p1": "a", "p2": "b", "p3": "c"}
    assert choice["type"] == "single" and choice["stem"] == "$\\ce{NaCl}$ 中的化学键是_____，因此熔点较高。"
    assert choice["answer"] == "b"
    assert essay["type"] == "short_answer" and essay["explanation"] == ""
    assert essay["reference_answer"] == "如果改变影响平衡的一个条件，平衡就向能够减弱这种改变的方向移动。"
    assert essay["rubric"] == "原理 6 分，例子 4 分。"


def test_unescaped_math_and_html_format(chemistry):
    math, html = q_at(chemistry, 11), q_at(chemistry, 12)
    assert math["stem"] == "方程 $x^{2}-5x+6=0$ 的较小根是 {{1}}"  # braces and = inside $…$ need no escape
    assert math["blanks"][0]["numeric"]["value"] == 2.0
    assert html["stem"] == "水的化学式是 H$_{2}$O，其中氢氧原子个数比为{{1}}"
    assert html["blanks"][0]["answers"] == ["2:1", "2比1"]  # \: is a colon


# --- errors --------------------------------------------------------------------------------------

def test_every_bad_question_is_reported_by_line_and_nothing_is_imported():
    bank = load("cs_errors.gift")
    assert bank.questions == []
    found = sorted((line_of(i), i.code) for i in bank.issues)
    assert found == [(4, "gift.weights"), (6, "gift.weights"), (8, "gift.unclosed"), (10, "gift.nested_brace"),
                     (12, "gift.numeric"), (14, "gift.second_block")]
    assert all(i.location.startswith("cs_errors.gift") and i.zh and i.en for i in bank.issues)


def test_error_lines_point_inside_multi_line_questions():
    bank = parse("// comment\n\n::q::题目 {\n\t=对\n\t~%x%错\n}\n")
    assert codes(bank.issues) == ["gift.weight"] and line_of(bank.issues[0]) == 5


@pytest.mark.parametrize("text, code", [
    ("问题 {=a ~b", "gift.unclosed"),
    ("问题 } 多余", "gift.stray_brace"),
    ("::无结尾 问题 {T}", "gift.title"),
    ("问题 {hello}", "gift.unknown_answer"),
    ("问题 {前缀 =a ~b}", "gift.text_before_answers"),
    ("问题 {=a -> b =c}", "gift.matching"),
    ("问题 {#1..x}", "gift.numeric"),
    ("问题 {#=1 =2}", "gift.numeric_several"),
    ("问题 {=%50%a}", "gift.no_full_answer"),
    ("// [points:many]\n问题 {T}", "gift.points"),
    ("问题 {=a ~b}\n\n// [id:dup]\n问题2 {T}\n\n// [id:dup]\n问题3 {F}", "key.duplicate"),
    ("问题 {~唯一}", "gift.weights"),
])
def test_bad_questions_are_refused_with_a_located_issue(text, code):
    bank = parse(text)
    assert code in codes(bank.issues) and bank.questions == []
    assert all(i.location.startswith("t.gift") for i in bank.issues)


def test_domain_validation_runs_and_subject_is_required():
    assert "choice.count" in codes(parse("只有一个选项 {=a ~a2 ~a3 ~a4 ~a5 ~a6 ~a7 ~a8 ~a9}").issues)
    assert "import.subject" in codes(parse("问题 {T}", subject=None).issues)
    assert codes(parse("\ufeff::t::问题 {T}").issues) == []  # a BOM is fine


@pytest.mark.parametrize("block, answer", [("{T}", True), ("{TRUE}", True), ("{F}", False), ("{FALSE}", False),
                                           ("{true#错了#对了}", True), ("{F####因为……}", False)])
def test_true_false_spellings(block, answer):
    assert one(f"地球绕太阳公转。{block}")["answer"] is answer


@pytest.mark.parametrize("fmt, stem", [("[plain]", "<b>不转换</b> *原样*"), ("[markdown]", "<b>不转换</b> *原样*"),
                                       ("[moodle]", "<b>不转换</b> *原样*"), ("[html]", "**不转换** \\*原样\\*")])
def test_text_formats(fmt, stem):
    assert one(f"::f::{fmt}<b>不转换</b> *原样*{{T}}")["stem"] == stem


def test_gb18030_text_is_read():
    bank = GIFT.parse({"gbk.txt": "电流的单位是安培。{T}".encode("gb18030")}, subject="physics")
    assert bank.issues == [] and bank.questions[0]["stem"] == "电流的单位是安培。"


def test_escapes_and_newlines():
    q = one("::esc::a\\~b\\=c\\#d\\{e\\}f\\:g\\\\h 第一行\\n第二行 $a\\neq b$ {T}")
    assert q["stem"] == "a~b=c#d{e}f:g\\h 第一行\n第二行 $a\\neq b$"


def test_lone_dollar_is_not_math():
    q = one("价格是 $5 的商品 {=贵 ~便宜} 吗")
    assert q["stem"] == "价格是 $5 的商品 _____ 吗" and q["answer"] == "a"


def test_images_come_from_the_files_given_alongside():
    data = png()
    q = one("看图 ![示意图](images/fig.png) 回答 {T}", **{"images__fig.png": data})
    assert q["stem"] == f"看图 ![示意图](images/{content_hash_name(data, 'image/png')}) 回答"
    missing = parse("看图 ![示意图](images/none.png) {T}")
    assert codes(missing.issues) == ["image.missing"]


@pytest.mark.parametrize("text", ["a", "$x^{2}$", "a\\b", "\\{x\\}", "行1\n行2", "$$\\begin{matrix}a\\\\b\\end{matrix}$$",
                                  "100% = ~#{}:", "\\neq", "$a\\neq b$"])
def test_escape_and_unescape_are_inverse(text):
    assert unescape(escape_gift(text)) == text


# --- export and round trips --------------------------------------------------------------------

def every_expressible_type() -> tuple[list[dict], dict[str, bytes]]:
    data = png()
    image = "images/" + content_hash_name(data, "image/png")
    base = {"subject": "physics", "topic": "电磁学", "points": 3, "difficulty": 4, "knowledge_points": ["电磁学/电路"],
            "explanation": "由欧姆定律 $I=U/R$ 可得。", "source": "原创 2026", "author": "示例教师"}
    questions = [
        dict(base, key="e-single", type="single", stem=f"如图电路 ![电路图]({image})，电流 $I = {{U}}/{{R}}$ 为（　　）",
             options=[{"id": "a", "text": "1 A"}, {"id": "b", "text": "2 A"}, {"id": "c", "text": "$\\frac{1}{2}$ A"}],
             answer="c"),
        dict(base, key="e-blank-choice", type="single", stem="电阻的单位是 _____，符号为 Ω。",
             options=[{"id": "a", "text": "欧姆"}, {"id": "b", "text": "伏特"}], answer="a"),
        dict(base, key="e-multiple", type="multiple", stem="下列属于矢量的是\n（多选）",
             options=[{"id": "a", "text": "电场强度"}, {"id": "b", "text": "电势"}, {"id": "c", "text": "磁感应强度"},
                      {"id": "d", "text": "电流"}], answer=["a", "c"]),
        dict(base, key="e-tf", type="true_false", stem="电场线可以相交。", answer=False),
        dict(base, key="e-fill", type="fill_blank", stem="电荷量的单位是 {{1}} 。",
             blanks=[{"answers": ["库仑", "C"], "case_sensitive": False}]),
        dict(base, key="e-num", type="fill_blank", stem="元电荷 $e \\approx$ {{1}}",
             blanks=[{"numeric": {"value": 1.6e-19, "tolerance": 1e-21}, "unit": ""}]),
        dict(base, key="e-match", type="matching", stem="将物理量与单位配对",
             prompts=[{"id": "p1", "text": "电压"}, {"id": "p2", "text": "电阻"}],
             options=[{"id": "a", "text": "V"}, {"id": "b", "text": "Ω"}, {"id": "c", "text": "T"}],
             answer={"p1": "a", "p2": "b"}),
        dict(base, key="e-essay", type="short_answer", stem="简述法拉第电磁感应定律。",
             reference_answer="感应电动势与磁通量变化率成正比：$E = n\\frac{\\Delta\\Phi}{\\Delta t}$",
             rubric="公式 4 分，文字 2 分"),
    ]
    return [canonical(q) for q in questions], {image: data}


def test_round_trip_of_every_expressible_type_is_canonically_equal():
    questions, images = every_expressible_type()
    result = EXPORT.export(questions, images, subject="physics")
    assert result.issues == []
    assert set(result.files) == {"physics.gift", *images}
    back = GIFT.parse(result.files, subject="physics")
    assert back.issues == []
    assert back.questions == questions and back.images == images


def test_hand_written_file_survives_export_and_import(chemistry):
    result = EXPORT.export(chemistry.questions, chemistry.images, subject="chemistry")
    assert result.issues == []
    back = GIFT.parse(result.files, subject="chemistry")
    assert back.issues == [] and back.questions == chemistry.questions


def test_exported_file_keeps_moodle_syntax():
    questions, images = every_expressible_type()
    text = EXPORT.export(questions, images, subject="physics").files["physics.gift"].decode()
    assert "// [id:e-single] [tag:电磁学/电路] [points:3] [difficulty:4]" in text
    assert "$\\\\frac\\{1\\}\\{2\\}$ A" in text  # Moodle's escapes: \\ for a backslash, \{ \}
    assert "~%50%电场强度" in text and "~%-50%电势" in text
    assert "电阻的单位是 {" in text and "}，符号为 Ω。" in text  # missing word where the blank was
    assert "\n\n" not in text.split("$CATEGORY")[1].split("::e-multiple::")[1].split("\n\n")[0]


def test_what_gift_cannot_express_is_reported_per_question():
    questions, images = every_expressible_type()
    extra = [
        {"key": "x-order", "type": "ordering", "stem": "排序", "items": [{"id": "a", "text": "1"}, {"id": "b", "text": "2"}],
         "answer": ["b", "a"], "points": 1},
        {"key": "x-group", "type": "group", "stem": "材料", "parts": [questions[3] | {"key": "x-part"}]},
        {"key": "x-two", "type": "fill_blank", "stem": "{{1}}{{2}}", "points": 1,
         "blanks": [{"answers": ["a"]}, {"answers": ["b"]}]},
        {"key": "x-unit", "type": "fill_blank", "stem": "{{1}}", "points": 1,
         "blanks": [{"numeric": {"value": 9.8, "tolerance": 0.1}, "unit": "m/s^2"}]},
        {"key": "x-case", "type": "fill_blank", "stem": "{{1}}", "points": 1,
         "blanks": [{"answers": ["NaCl"], "case_sensitive": True}]},
    ]
    result = EXPORT.export(questions + extra, images, subject="physics")
    assert [i.location for i in result.issues] == ["x-order", "x-group", "x-two", "x-unit", "x-case"]
    assert {i.code for i in result.issues} == {"export.not_expressible"}
    assert len(GIFT.parse(result.files, subject="physics").questions) == len(questions)


# --- fuzzing -------------------------------------------------------------------------------------

@given(st.binary(max_size=2000))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_give_a_parsed_bank(data):
    assert isinstance(GIFT.parse({"f.gift": data}, subject="physics"), ParsedBank)


_GIFTY = st.lists(st.sampled_from(list("{}=~#:%->$\\\n T F.0123456789ab甲乙[]/()") +
                                  ["::", "\n\n", "####", "$CATEGORY:", "//", "[id:", "[html]", "->", ".."]),
                  max_size=80).map("".join)


@given(_GIFTY)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_gift_like_text_gives_a_parsed_bank(text):
    bank = GIFT.parse({"f.gift": text.encode("utf-8")}, subject="physics")
    assert isinstance(bank, ParsedBank) and not (bank.questions and bank.issues)
    for q in bank.questions:
        assert validate_question(q) == []
