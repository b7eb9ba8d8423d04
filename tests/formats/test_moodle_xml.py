"""Moodle XML import/export on hand-written files (tests/fixtures/moodle), round trips and fuzzing."""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.domain.images import content_hash_name
from app.domain.questions import ParsedBank, canonical, validate_question
from app.formats.moodle_xml import html_to_text, markdown_images, text_to_html
from app.formats.registry import EXPORTERS, IMPORTERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "moodle"
MOODLE = IMPORTERS["moodle-xml"]
EXPORT = EXPORTERS["moodle-xml"]


def load(name: str, subject: str | None = None) -> ParsedBank:
    return MOODLE.parse({name: (FIXTURES / name).read_bytes()}, subject=subject)


def parse_xml(body: str, subject: str | None = "math", name: str = "t.xml") -> ParsedBank:
    return MOODLE.parse({name: f'<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n{body}\n</quiz>\n'.encode()},
                        subject=subject)


def by_key(bank: ParsedBank) -> dict[str, dict]:
    return {q["key"]: q for q in bank.questions}


def codes(issues) -> list[str]:
    return [i.code for i in issues]


def png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), color).save(buffer, "PNG")
    return buffer.getvalue()


# --- the hand-written physics file, field by field ---------------------------------------------

@pytest.fixture(scope="module")
def physics() -> ParsedBank:
    return load("physics_mixed.xml")


def test_fixture_imports_every_question_without_issues(physics):
    assert physics.issues == []
    assert [q["key"] for q in physics.questions] == [
        "phy-kin-001", "physics-vectors", physics.questions[2]["key"], physics.questions[3]["key"],
        "physics-unit-of-force", "phy-g", physics.questions[6]["key"], physics.questions[7]["key"]]
    assert all(q["subject"] == "physics" for q in physics.questions)  # from the category 物理
    for q in physics.questions:
        assert validate_question(q) == [] and canonical(q) == q


def test_single_choice_with_html_math_and_image(physics):
    q = by_key(physics)["phy-kin-001"]
    image = next(iter(physics.images))
    assert q["type"] == "single" and q["points"] == 4
    assert q["stem"] == ("一物体从静止开始做匀加速直线运动，加速度 $a = 2\\,\\mathrm{m/s^2}$，则 **3 s** 末的速度为（　　）"
                         f"\n\n![v-t 图]({image})")
    assert re.fullmatch(r"images/[0-9a-f]{64}\.png", image)
    assert physics.images[image].startswith(b"\x89PNG")
    assert [o["text"] for o in q["options"]] == ["3 m/s", "6 m/s", "9 m/s", "18 m/s"]
    assert [o["id"] for o in q["options"]] == ["a", "b", "c", "d"] and q["answer"] == "b"
    assert q["explanation"] == "由 $v = at$ 得 $v = 6\\,\\mathrm{m/s}$。"
    assert q["topic"] == "运动学" and q["knowledge_points"] == ["力学/运动学"]


def test_multiple_choice_by_fractions(physics):
    vectors = by_key(physics)["physics-vectors"]
    assert vectors["type"] == "multiple" and vectors["answer"] == ["a", "c"] and vectors["points"] == 6
    assert vectors["stem"] == "下列物理量中，属于*矢量*的是"
    three = physics.questions[2]
    assert three["type"] == "multiple" and three["answer"] == ["a", "b", "c"]  # 33.33333 × 3
    assert three["stem"] == "H$_{2}$O 与 CO$_{2}$ 中，下列说法正确的是"  # <sub> written without CDATA
    assert three["points"] == 1  # no defaultgrade: Moodle's default


def test_true_false_with_auto_format_and_second_category(physics):
    q = physics.questions[3]
    assert q["type"] == "true_false" and q["answer"] is False and q["points"] == 2
    assert q["stem"] == "物体的速度越大，惯性越大。\n（判断对错）"
    assert q["explanation"] == "惯性只与质量有关。"
    assert q["topic"] == "牛顿运动定律" and q["knowledge_points"] == ["力学/牛顿运动定律"]
    assert re.fullmatch(r"physics-[0-9a-f]{8}", q["key"])  # Chinese name: subject + SHA-1 prefix


def test_shortanswer_becomes_a_one_blank_fill_in(physics):
    q = by_key(physics)["physics-unit-of-force"]
    assert q["type"] == "fill_blank" and q["stem"] == "力的国际单位是 {{1}}（写英文名称）。"
    assert q["blanks"] == [{"answers": ["Newton", "N"], "case_sensitive": True}]  # 50% answer dropped
    assert "moodle.partial_dropped" in codes(physics.notes)


def test_numerical_with_tolerance_and_unit(physics):
    q = by_key(physics)["phy-g"]
    assert q["type"] == "fill_blank" and q["stem"] == "地球表面的重力加速度约为多少？ {{1}}"
    assert q["blanks"] == [{"numeric": {"value": 9.8, "tolerance": 0.05}, "unit": "m/s^2"}]
    assert "moodle.units_dropped" in codes(physics.notes)


def test_matching_with_distractor(physics):
    q = physics.questions[6]
    assert q["type"] == "matching"
    assert [p["text"] for p in q["prompts"]] == ["牛顿", "伽利略", "开普勒"]
    assert [o["text"] for o in q["options"]] == ["万有引力定律", "理想斜面实验", "行星运动定律", "相对论"]
    assert q["answer"] == {"p1": "a", "p2": "b", "p3": "c"}


def test_essay_rubric_script_dropped_and_description_skipped(physics):
    q = physics.questions[7]
    assert q["type"] == "short_answer" and q["points"] == 10
    assert q["stem"] == "简述牛顿第一定律，并举一个生活中的例子。"  # <script> removed with its content
    assert q["rubric"] == "定律内容 6 分，例子 4 分。"
    assert "我的答案" not in str(q)  # responsetemplate ignored
    assert {"moodle.skipped_description", "moodle.no_reference_answer"} <= set(codes(physics.notes))
    description = next(n for n in physics.notes if n.code == "moodle.skipped_description")
    assert "line 121" in description.location


def test_given_subject_wins_over_the_category_with_a_note():
    bank = load("physics_mixed.xml", subject="biology")
    assert bank.issues == [] and {q["subject"] for q in bank.questions} == {"biology"}
    assert "import.category_subject" in codes(bank.notes)
    assert bank.questions[1]["key"] == "biology-vectors"  # generated keys take the chosen subject


# --- errors: all listed, located, nothing imported ---------------------------------------------

def test_every_bad_question_is_reported_with_its_line_and_nothing_is_imported():
    bank = load("math_errors.xml")
    assert bank.questions == [] and bank.images == {}
    found = {(i.code, re.search(r"line (\d+)", i.location)[1]) for i in bank.issues}
    assert found == {("moodle.single_fraction", "5"), ("moodle.multiple_fraction", "13"),
                     ("moodle.unsupported_type", "21"), ("image.missing", "25"),
                     ("moodle.truefalse", "30"), ("moodle.numeric", "36")}
    for issue in bank.issues:
        assert issue.location.startswith("math_errors.xml") and issue.zh and issue.en
    multiple = next(i for i in bank.issues if i.code == "moodle.multiple_fraction")
    assert "90" in multiple.en and "90" in multiple.zh


@pytest.mark.parametrize("body, code", [
    (('<question type="multichoice"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
     '<single>true</single><answer fraction="50"><text>a</text></answer><answer fraction="100"><text>b</text></answer>'
     "</question>"), "moodle.single_fraction"),
    (('<question type="multichoice"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
     '<single>false</single><answer fraction="50"><text>a</text></answer><answer fraction="60"><text>b</text></answer>'
     "</question>"), "moodle.multiple_fraction"),
    (('<question type="multichoice"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
      '<answer fraction="abc"><text>a</text></answer></question>'), "moodle.fraction"),
    ('<question type="essay"><name><text>q</text></name><questiontext><text>x</text></questiontext></question>',
     "moodle.essay_no_graderinfo"),
    (('<question type="numerical"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
     '<answer fraction="100"><text>1</text><tolerance>0</tolerance></answer>'
     '<answer fraction="100"><text>5</text><tolerance>0</tolerance></answer></question>'), "moodle.numeric_several"),
    (('<question type="shortanswer"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
      '<answer fraction="50"><text>a</text></answer></question>'), "moodle.no_full_answer"),
    (('<question type="multichoice"><name><text>q</text></name><questiontext><text>x</text></questiontext>'
      '<defaultgrade>lots</defaultgrade><answer fraction="100"><text>a</text></answer></question>'), "moodle.grade"),
    ('<question type="calculated"><name><text>q</text></name></question>', "moodle.unsupported_type"),
])
def test_bad_questions_are_refused_with_a_located_issue(body, code):
    bank = parse_xml(body)
    assert code in codes(bank.issues) and bank.questions == []
    assert all(i.location.startswith("t.xml") for i in bank.issues)


def test_the_domain_validator_runs_on_every_question():
    # Valid Moodle, invalid for us: a multiple choice with only one option.
    bank = parse_xml('<question type="multichoice"><name><text>one</text></name><questiontext><text>x</text>'
                     '</questiontext><answer fraction="100"><text>a</text></answer></question>')
    assert "choice.count" in codes(bank.issues)
    assert bank.issues[0].location.startswith("t.xml · 第3行 line 3 · math-one")


def test_duplicate_idnumbers_and_malformed_xml_are_located():
    q = ('<question type="truefalse"><name><text>n</text></name><questiontext><text>x</text></questiontext>'
         '<idnumber>m-1</idnumber><answer fraction="100"><text>true</text></answer></question>')
    assert "key.duplicate" in codes(parse_xml(q + "\n" + q).issues)
    broken = MOODLE.parse({"b.xml": b"<quiz>\n<question type='essay'>\n</quiz>"}, subject="math")
    assert codes(broken.issues) == ["xml.malformed"] and "line 3" in broken.issues[0].location
    assert codes(MOODLE.parse({"h.xml": b"<html><body/></html>"}, subject="math").issues) == ["moodle.not_quiz"]


def test_missing_subject_is_an_issue_unless_a_category_names_it():
    body = ('<question type="truefalse"><name><text>n</text></name><questiontext><text>x</text></questiontext>'
            '<answer fraction="100"><text>true</text></answer></question>')
    assert "import.subject" in codes(parse_xml(body, subject=None).issues)
    named = parse_xml('<question type="category"><category><text>$course$/top/Chemistry</text></category>'
                      "</question>" + body, subject=None)
    assert named.issues == [] and named.questions[0]["subject"] == "chemistry"


def test_images_are_checked_by_content():
    fake = base64.b64encode(b"<script>alert(1)</script>").decode()
    body = ('<question type="truefalse"><name><text>n</text></name><questiontext format="html">'
            '<text><![CDATA[<img src="@@PLUGINFILE@@/x.png">]]></text>'
            f'<file name="x.png" path="/" encoding="base64">{fake}</file></questiontext>'
            '<answer fraction="100"><text>true</text></answer></question>')
    bank = parse_xml(body)
    assert "image.not_image" in codes(bank.issues) and "x.png" in bank.issues[0].location


def test_external_images_are_never_fetched():
    body = ('<question type="truefalse"><name><text>n</text></name><questiontext format="html">'
            '<text><![CDATA[看图<img src="http://127.0.0.1:9/x.png">]]></text></questiontext>'
            '<answer fraction="100"><text>true</text></answer></question>')
    bank = parse_xml(body)
    assert bank.issues == [] and bank.questions[0]["stem"] == "看图"
    assert "image.external" in codes(bank.notes)


# --- HTML <-> text ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, found", [
    ("![图](images/a.png)", [("图", "images/a.png")]),
    ("前 ![a](images/x y.png) ![b](images/y.svg) 后", [("b", "images/y.svg")]),
    ("![![x](images/z.png)", [("x", "images/z.png")]),
    ("![a\nb](images/x.png) ![a]\n(images/x.png) ![a](images/x.png", []),
    ("![](images/x.png)![c](d)", [("", "images/x.png"), ("c", "d")]),
])
def test_markdown_images(text, found):
    assert [(alt, target) for _s, _e, alt, target in markdown_images(text)] == found


@pytest.mark.parametrize("text", ["![" * 200_000, "![](" + "a" * 1_000_000, "![a](" * 200_000, "![a]" * 200_000])
def test_markdown_images_is_linear_where_a_regex_would_backtrack(text):
    started = time.perf_counter()
    assert markdown_images(text) == []
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("html, text", [
    ("<p>a</p><p>b</p>", "a\n\nb"),
    ("a<br>b<br/><br />c", "a\nb\n\nc"),
    ("<b>粗</b> <strong>体</strong> <i>斜</i> <em>体</em>", "**粗** **体** *斜* *体*"),
    ("CO<sub>2</sub> 与 10<sup>-3</sup> 与 x<sub>最大</sub>", "CO$_{2}$ 与 10$^{-3}$ 与 x$_{\\text{最大}}$"),
    ("\\(E=mc^2\\) 与 \\[\\int_0^1 x\\,dx\\] 与 $$a^2$$ 与 $b$", "$E=mc^2$ 与 $$\\int_0^1 x\\,dx$$ 与 $$a^2$$ 与 $b$"),
    ("<script>alert(1)</script><style>p{}</style>安全<iframe src=x>坏</iframe>", "安全"),
    ('<p onclick="x()">文字<a href="javascript:alert(1)">链接</a></p>', "文字链接"),
    ("<pre>for i in range(3):\n    print(i*2)</pre>", "```\nfor i in range(3):\n    print(i*2)\n```"),
    ("5 * 3 &lt;tag&gt; &amp;&nbsp;x", "5 \\* 3 <tag> & x"),
    ("<ul><li>一</li><li>二</li></ul>", "- 一\n- 二"),
])
def test_html_to_text(html, text):
    assert html_to_text(html) == text


@pytest.mark.parametrize("text", [
    "一段\n\n第二段，含 $x^2$ 与 $$\\frac{1}{2}$$",
    "**粗体** 与 *斜体* 与 5 \\* 3",
    "```\ncode *x*\n  indented\n```\n后文",
    "程序：\n```cpp\nint a = 7 / 2;\ncout << a;\n```",
    "![图](images/abc.png) 与 `inline <b>`",
    "H$_{2}$O 与 \\ce{H2SO4}",
])
def test_text_to_html_is_undone_by_html_to_text(text):
    assert html_to_text(text_to_html(text), lambda src, alt: src) == text


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_html_to_text_never_raises(fragment):
    assert isinstance(html_to_text(fragment), str)


# --- export and round trips --------------------------------------------------------------------

def every_expressible_type() -> tuple[list[dict], dict[str, bytes]]:
    image = "images/" + content_hash_name(png(), "image/png")  # as an import names it
    base = {"subject": "math", "topic": "函数", "points": 2, "difficulty": 4, "knowledge_points": ["函数/性质"],
            "explanation": "由 $f'(x)>0$ 知单调递增。", "source": "原创 2026", "author": "示例教师"}
    questions = [
        dict(base, key="m-single", type="single", stem=f"函数 $y=x^3$ 的图像是\n\n![图像]({image})",
             options=[{"id": "a", "text": "直线"}, {"id": "b", "text": "**曲线** $x^{3}$"}], answer="b", points=4),
        dict(base, key="m-multiple", type="multiple", stem="下列函数中是奇函数的有",
             options=[{"id": "a", "text": "$y=x^3$"}, {"id": "b", "text": "$y=x^2$"}, {"id": "c", "text": "$y=\\sin x$"}],
             answer=["a", "c"]),
        dict(base, key="m-tf", type="true_false", stem="$\\sqrt{2}$ 是无理数。", answer=True, explanation=""),
        dict(base, key="m-fill", type="fill_blank", stem="$\\log_2 8 =$ {{1}}。",
             blanks=[{"answers": ["3", "三"], "case_sensitive": False}]),
        dict(base, key="m-num", type="fill_blank", stem="光速约为 {{1}}",
             blanks=[{"numeric": {"value": 3e8, "tolerance": 1e6}, "unit": "m/s"}]),
        dict(base, key="m-match", type="matching", stem="配对",
             prompts=[{"id": "p1", "text": "$\\sin$"}, {"id": "p2", "text": "$\\cos$"}],
             options=[{"id": "a", "text": "奇函数"}, {"id": "b", "text": "偶函数"}, {"id": "c", "text": "非奇非偶"}],
             answer={"p1": "a", "p2": "b"}),
        dict(base, key="m-essay", type="short_answer", stem="证明 $\\sqrt{2}$ 是无理数。",
             reference_answer="反证法：设 $\\sqrt{2}=p/q$……", rubric="假设 2 分\n\n推出矛盾 4 分"),
    ]
    return [canonical(q) for q in questions], {image: png()}


def test_round_trip_of_every_expressible_type_is_canonically_equal():
    questions, images = every_expressible_type()
    result = EXPORT.export(questions, images, subject="math")
    assert result.issues == [] and list(result.files) == ["math.xml"]
    fromstring(result.files["math.xml"])  # well-formed, no DTD
    back = MOODLE.parse(result.files, subject="math")
    assert back.issues == []
    assert back.questions == questions
    assert back.images == images


def test_hand_written_file_survives_export_and_import(physics):
    result = EXPORT.export(physics.questions, physics.images, subject="physics")
    assert result.issues == []
    back = MOODLE.parse(result.files, subject="physics")
    assert back.issues == [] and back.questions == physics.questions and back.images == physics.images


def test_what_moodle_cannot_express_is_reported_per_question():
    questions, images = every_expressible_type()
    extra = [
        {"key": "m-order", "type": "ordering", "stem": "排序", "items": [{"id": "a", "text": "1"}, {"id": "b", "text": "2"}],
         "answer": ["b", "a"], "points": 2},
        {"key": "m-group", "type": "group", "stem": "材料", "parts": [questions[2] | {"key": "m-part"}]},
        {"key": "m-two", "type": "fill_blank", "stem": "{{1}} 和 {{2}}", "points": 2,
         "blanks": [{"answers": ["a"]}, {"answers": ["b"]}]},
    ]
    result = EXPORT.export(questions + extra, images, subject="math")
    assert [(i.location, i.code) for i in result.issues] == [
        ("m-order", "export.not_expressible"), ("m-group", "export.not_expressible"), ("m-two", "export.not_expressible")]
    assert len(fromstring(result.files["math.xml"]).findall("question[@type='category']")) == 1
    assert len(MOODLE.parse(result.files, subject="math").questions) == len(questions)


def test_difficulty_source_and_author_travel_as_tags():
    questions, images = every_expressible_type()
    root = fromstring(EXPORT.export(questions[:1], images, subject="math").files["math.xml"])
    assert [t.text for t in root.iter("text") if t.text and ":" in t.text and len(t.text) < 20] == [
        "难度:4", "来源:原创 2026", "作者:示例教师"]
    plain = parse_xml('<question type="truefalse"><name><text>n</text></name><questiontext><text>x</text></questiontext>'
                      '<answer fraction="100"><text>true</text></answer><tags><tag><text>difficulty:5</text></tag>'
                      "<tag><text>代数/方程</text></tag></tags></question>")
    assert plain.questions[0]["difficulty"] == 5 and plain.questions[0]["knowledge_points"] == ["代数/方程"]


def test_exported_multiple_choice_fractions_are_moodle_grades():
    questions, images = every_expressible_type()
    root = fromstring(EXPORT.export(questions, images, subject="math").files["math.xml"])
    multiple = next(q for q in root.findall("question") if q.findtext("idnumber") == "m-multiple")
    assert [a.get("fraction") for a in multiple.findall("answer")] == ["50", "-100", "50"]


# --- fuzzing -------------------------------------------------------------------------------------

@given(st.binary(max_size=2000))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_give_a_parsed_bank(data):
    bank = MOODLE.parse({"f.xml": data}, subject="math")
    assert isinstance(bank, ParsedBank) and (bank.questions or bank.issues or bank.notes or data.strip() == b"")


_XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)


@given(qtype=st.sampled_from(["multichoice", "truefalse", "shortanswer", "numerical", "matching", "essay",
                              "description", "category", "cloze", ""]),
       texts=st.lists(_XML_TEXT, min_size=1, max_size=5), fractions=st.lists(
           st.sampled_from(["100", "0", "-50", "50", "33.33333", "x", "nan", "1e400", ""]), max_size=5),
       single=st.sampled_from(["true", "false", "", "1"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_question_shaped_xml_gives_a_parsed_bank(qtype, texts, fractions, single):
    from xml.sax.saxutils import escape, quoteattr

    answers = "".join(f"<answer fraction={quoteattr(f)}><text>{escape(t)}</text><tolerance>{escape(t)}</tolerance>"
                      f"</answer><subquestion><text>{escape(t)}</text><answer><text>{escape(f)}</text></answer>"
                      "</subquestion>" for f, t in zip(fractions, texts))
    body = (f"<question type={quoteattr(qtype)}><name><text>{escape(texts[0])}</text></name>"
            f'<questiontext format="html"><text>{escape(texts[-1])}</text></questiontext>'
            f"<category><text>{escape(texts[0])}</text></category><single>{single}</single>"
            f"<graderinfo><text>{escape(texts[-1])}</text></graderinfo>{answers}</question>")
    bank = parse_xml(body)
    assert isinstance(bank, ParsedBank)
    assert not (bank.questions and bank.issues)
    for q in bank.questions:
        assert validate_question(q) == []
