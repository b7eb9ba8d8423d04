"""The native YAML importer/exporter on hand-written banks (tests/fixtures/yaml) and bad inputs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.domain.questions import Issue, ParsedBank, canonical, validate_question
from app.formats.registry import EXPORTERS, IMPORTERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "yaml"
YAML = IMPORTERS["yaml"]


def fixture_files(*subjects: str) -> dict[str, bytes]:
    return {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in sorted(FIXTURES.rglob("*"))
            if p.is_file() and (not subjects or p.relative_to(FIXTURES).parts[0] in subjects)}


def parse(text: str, *, subject: str | None = None, path: str = "physics/t.yaml", **files: bytes
          ) -> ParsedBank:
    """Parse one bank text plus extra files, named with "__" for "/" (physics__images__a.png)."""
    extra = {name.replace("__", "/"): data for name, data in files.items()}
    return YAML.parse({path: text.encode("utf-8"), **extra},
                      subject=subject)


def by_key(bank: ParsedBank) -> dict[str, dict]:
    return {q["key"]: q for q in bank.questions}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, "PNG")
    return buffer.getvalue()


HEAD = "subject: physics\ntopic: 运动学\nquestions:\n"
SINGLE = HEAD + """\
  - key: phy-1
    type: single
    stem: 速度的单位是
    options:
      - {id: a, text: m}
      - {id: b, text: m/s}
    answer: b
    points: 4
"""


# --- the hand-written fixture bank, field by field ---------------------------------------------------

@pytest.fixture(scope="module")
def bank() -> ParsedBank:
    return YAML.parse(fixture_files(), subject=None)


def test_the_fixture_bank_parses_without_issues_or_notes(bank):
    assert bank.issues == [] and bank.notes == []
    physics = [f"phy-kin-00{i}" for i in range(1, 9)]
    assert [q["key"] for q in bank.questions] == ["chem-rx-001", "chem-rx-002"] + physics


def test_single_choice_with_latex_backslashes_and_an_image(bank):
    q = by_key(bank)["phy-kin-001"]
    summary = (q["subject"], q["topic"], q["type"], q["points"], q["difficulty"])
    assert summary == ("physics", "运动学", "single", 4, 2)
    assert q["stem"] == ("一物体从静止开始做匀加速直线运动，加速度 $a = 2\\ \\mathrm{m/s^2}$。\n"
                         "经过 $t = 3\\ \\mathrm{s}$ 后的速度 $v$ 为多少？\n\n"
                         "![斜面示意图](images/incline.svg)")
    # A double-quoted, a single-quoted and a quoted flow text all give the same LaTeX.
    assert [o["text"] for o in q["options"]] == ["$3\\ \\mathrm{m/s}$", "$6\\ \\mathrm{m/s}$",
                                                 "$9\\ \\mathrm{m/s}$", "12 m/s"]
    assert q["answer"] == "b"
    assert q["knowledge_points"] == ["力学/运动学/匀变速直线运动"]
    assert q["explanation"] == "由 $v = at$ 得 $v = 2 \\times 3 = 6\\ \\mathrm{m/s}$。"
    assert (q["source"], q["author"]) == ("原创 2026", "示例教师")


def test_multiple_true_false_ordering_matching_short_answer(bank):
    questions = by_key(bank)
    assert questions["phy-kin-002"]["answer"] == ["a", "c"]  # written [c, a]: stored in option order
    assert questions["phy-kin-002"]["knowledge_points"] == ["力学/运动学/矢量与标量"]
    assert questions["phy-kin-003"]["answer"] is False
    assert questions["phy-kin-005"]["answer"] == ["s2", "s4", "s1", "s3"]
    assert questions["phy-kin-006"]["answer"] == {"p1": "y", "p2": "z", "p3": "x"}
    assert [o["text"] for o in questions["phy-kin-006"]["options"]] == ["m", "m/s", "m/s²", "s"]
    short = questions["phy-kin-007"]
    assert short["reference_answer"].startswith("提出假设（$v \\propto t$）")
    assert short["rubric"] == "假设 2 分，推理 2 分，实验与外推 4 分。"
    assert "answer" not in short


def test_numeric_and_text_blanks(bank):
    blanks = by_key(bank)["phy-kin-004"]["blanks"]
    assert blanks[0] == {"numeric": {"value": 9.8, "tolerance": 0.05}, "unit": "m/s^2"}
    assert blanks[1] == {"numeric": {"value": 6.02e23, "rel_tolerance": 0.01}, "unit": ""}
    assert blanks[2] == {"answers": ["零", "0", "0 m/s^2"], "case_sensitive": False}  # 0 read as the text "0"
    chemistry = by_key(bank)["chem-rx-001"]
    assert chemistry["blanks"][0]["answers"] == ["氧气", "O2", "\\ce{O2}"]
    assert chemistry["stem"].startswith("实验室用 \\ce{KClO3} 与 \\ce{MnO2}")
    assert by_key(bank)["chem-rx-002"]["options"][1]["text"] == "\\ce{CaCO3 ->[\\Delta] CaO + CO2 ^}"


def test_material_group(bank):
    group = by_key(bank)["phy-kin-008"]
    assert group["points"] == 6
    assert [(p["key"], p["type"], p["points"]) for p in group["parts"]] == [
        ("phy-kin-008-1", "fill_blank", 3), ("phy-kin-008-2", "single", 3)]
    assert group["parts"][0]["blanks"] == [{"numeric": {"value": 10.0, "tolerance": 0.0}, "unit": ""}]
    assert group["parts"][1]["explanation"] == "$t = v_0 / a = 20 / 5 = 4\\ \\mathrm{s}$"


def test_images_are_checked_and_keyed_as_referenced(bank):
    assert sorted(bank.images) == ["images/brake.png", "images/incline.svg"]
    assert bank.images["images/brake.png"] == (FIXTURES / "physics/images/brake.png").read_bytes()
    svg = bank.images["images/incline.svg"].decode()
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>') and "<polygon" in svg and "θ" in svg


def test_parsed_questions_are_canonical(bank):
    for q in bank.questions:
        assert validate_question(q) == []
        assert canonical(q) == q


def test_the_subject_argument_must_match_every_file():
    result = YAML.parse(fixture_files(), subject="physics")
    assert result.questions == []
    assert [(i.location, i.code) for i in result.issues] == [("chemistry/reactions.yaml · subject",
                                                              "subject.mismatch")]
    assert len(YAML.parse(fixture_files("physics"), subject="physics").questions) == 8


# --- every bad input: a located issue and no questions --------------------------------------------

BAD_INPUTS = {
    "malformed": (HEAD + "  - key: phy-1\n    type: single\n   stem: 缩进错了\n", "physics/t.yaml",
                  "yaml.malformed"),
    "unknown type": (SINGLE.replace("type: single", "type: essay"), "physics/t.yaml · phy-1 · type",
                     "question.unknown_type"),
    "missing option": (SINGLE.replace("answer: b", "answer: e"), "physics/t.yaml · phy-1 · answer",
                       "answer.missing_option"),
    "no correct option": (SINGLE.replace("single", "multiple").replace("answer: b", "answer: []"),
                          "physics/t.yaml · phy-1 · answer", "multiple.no_correct"),
    "duplicate option ids": (SINGLE.replace("{id: b, text: m/s}", "{id: a, text: m/s}")
                             .replace("answer: b", "answer: a"),
                             "physics/t.yaml · phy-1 · options[2].id", "choice.duplicate_id"),
    "html with script": (SINGLE.replace("stem: 速度的单位是", 'stem: "速度<script>alert(1)</script>"'),
                         "physics/t.yaml · phy-1 · stem", "text.unsafe_html"),
    "event attribute": (SINGLE.replace("{id: a, text: m}", "{id: a, text: '<img src=x onerror=alert(1)>'}"),
                        "physics/t.yaml · phy-1 · options[1].text", "text.unsafe_html"),
    "numeric not a number": (HEAD + "  - key: f\n    type: fill_blank\n    stem: g = {{1}}\n"
                             "    blanks:\n      - numeric: {value: 九点八}\n    points: 2\n",
                             "physics/t.yaml · f · blanks[1].numeric.value", "blank.not_number"),
    "quoted number": (HEAD + "  - key: f\n    type: fill_blank\n    stem: g = {{1}}\n"
                      "    blanks:\n      - numeric: {value: '9.8'}\n    points: 2\n",
                      "physics/t.yaml · f · blanks[1].numeric.value", "blank.not_number"),
    "duplicate field": (SINGLE + "    answer: a\n", "physics/t.yaml", "yaml.malformed"),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" + HEAD, "physics/t.yaml", "yaml.refused"),
    "python tag": ("subject: !!python/object/apply:os.system [echo hi]\n", "physics/t.yaml", "yaml.refused"),
    "no subject": (SINGLE.replace("subject: physics\n", ""), "physics/t.yaml · subject", "field.missing"),
    "unknown subject": (SINGLE.replace("subject: physics", "subject: 物理"), "physics/t.yaml · subject",
                        "subject.unknown"),
    "wrong folder": (SINGLE.replace("subject: physics", "subject: math"), "physics/t.yaml · subject",
                     "subject.folder_mismatch"),
    "subject per question": (SINGLE + "    subject: math\n", "physics/t.yaml · phy-1 · subject",
                             "field.unknown"),
    "not a mapping": ("- 1\n- 2\n", "physics/t.yaml", "yaml.not_mapping"),
    "questions not a list": (HEAD + "  key: x\n", "physics/t.yaml · questions", "questions.not_list"),
    "missing key": (SINGLE.replace("  - key: phy-1\n    type", "  - type"), "physics/t.yaml · #1 · key",
                    "field.missing"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_a_located_issue_and_no_questions(name):
    text, location, code = BAD_INPUTS[name]
    result = parse(text)
    assert result.questions == [] and result.images == {}
    assert (location, code) in [(i.location, i.code) for i in result.issues], result.issues
    for issue in result.issues:
        assert issue.zh and issue.en


def test_malformed_yaml_names_the_line_and_column():
    issue = parse(HEAD + "  - key: phy-1\n    type: single\n   stem: 缩进错了\n").issues[0]
    assert "第 6 行" in issue.zh and "line 6" in issue.en
    tab = parse(HEAD + "  - key: phy-1\n\ttype: single\n").issues[0]
    assert "Tab" in tab.zh and "tab" in tab.en
    braces = parse(SINGLE.replace("{id: a, text: m}", "{id: a, text: $\\frac{1}{2}$}")).issues[0]
    assert "第 8 行" in braces.zh and "加引号" in braces.zh


def test_alias_bomb_is_refused_before_expansion():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    issue = parse("\n".join(lines) + "\n").issues[0]
    assert issue.code == "yaml.refused" and "第 1 行" in issue.zh and "alias" in issue.en


def test_image_problems_are_located_at_the_question():
    text = SINGLE.replace("stem: 速度的单位是", "stem: '看图 ![图](images/fig.png)'")
    cases = {
        "image.not_image": {"physics__images__fig.png": b"just some text, not a picture"},
        "image.too_large": {"physics__images__fig.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 2_100_000},
        "image.missing": {},
    }
    for code, files in cases.items():
        result = parse(text, **files)
        assert result.questions == [] and result.notes == []
        located = [(i.location, i.code) for i in result.issues]
        assert located == [("physics/t.yaml · phy-1 · images/fig.png", code)]
    good = parse(text, **{"physics__images__fig.png": png_bytes()})
    assert good.issues == [] and good.images == {"images/fig.png": png_bytes()}


def test_a_png_named_svg_is_judged_by_content():
    text = SINGLE.replace("stem: 速度的单位是", "stem: '![图](images/fig.svg)'")
    result = parse(text, **{"physics__images__fig.svg": png_bytes()})
    assert result.issues == [] and result.images == {"images/fig.svg": png_bytes()}


def test_svg_images_are_sanitized_on_import():
    text = SINGLE.replace("stem: 速度的单位是", "stem: '![图](images/fig.svg)'")
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
           b'<script>alert(2)</script><circle r="4"/></svg>')
    result = parse(text, **{"physics__images__fig.svg": svg})
    assert result.issues == []
    stored = result.images["images/fig.svg"]
    assert b"alert" not in stored and b"<circle" in stored


def test_keys_are_unique_across_the_files_of_a_subject():
    files = {"physics/a.yaml": SINGLE.encode(), "physics/b.yaml": SINGLE.replace("运动学", "力").encode()}
    result = YAML.parse(files, subject="physics")
    assert result.questions == []
    assert [(i.location, i.code) for i in result.issues] == [("physics/b.yaml · phy-1 · key",
                                                              "key.duplicate")]
    assert "physics/a.yaml" in result.issues[0].zh
    same_file = parse(SINGLE + SINGLE[len(HEAD):])
    assert [(i.location, i.code) for i in same_file.issues] == [("physics/t.yaml · phy-1 · key",
                                                                 "key.duplicate")]
    other_subject = {"physics/a.yaml": SINGLE.encode(),
                     "math/b.yaml": SINGLE.replace("physics", "math").encode()}
    assert YAML.parse(other_subject, subject=None).issues == []


def test_numbers_and_words_in_text_positions_stay_as_written():
    text = (SINGLE.replace("{id: a, text: m}", "{id: 1, text: 0.50}")
            .replace("{id: b, text: m/s}", "{id: 2, text: yes}")
            .replace("answer: b", "answer: 2"))
    q = parse(text).questions[0]
    assert q["options"] == [{"id": "1", "text": "0.50"}, {"id": "2", "text": "yes"}] and q["answer"] == "2"


def test_encoding_size_and_empty_files():
    result = YAML.parse({"physics/t.yaml": SINGLE.encode("gbk")}, subject=None)
    assert [(i.location, i.code) for i in result.issues] == [("physics/t.yaml", "yaml.encoding")]
    assert YAML.parse({"physics/t.yaml": SINGLE.encode("utf-16")}, subject=None).issues == []
    assert YAML.parse({"physics/t.yaml": b"\xef\xbb\xbf" + SINGLE.encode()}, subject=None).issues == []
    assert YAML.parse({"physics/t.yaml": b"#" * 5_000_001}, subject=None).issues[0].code == "yaml.too_large"
    assert YAML.parse({}, subject=None).issues[0].code == "yaml.no_files"
    assert YAML.parse({"physics/t.yaml": b""}, subject=None).issues[0].code == "yaml.not_mapping"


def test_unused_images_and_other_files_are_noted_not_refused():
    result = parse(SINGLE, **{"physics__images__spare.png": png_bytes(), "physics__README.md": b"hi"})
    assert result.issues == [] and len(result.questions) == 1
    assert sorted((n.location, n.code) for n in result.notes) == [
        ("physics/README.md", "file.ignored"), ("physics/images/spare.png", "image.unused")]


def test_a_repeated_question_is_noted():
    text = SINGLE + SINGLE[len(HEAD):].replace("phy-1", "phy-2")
    result = parse(text)
    assert result.issues == [] and [n.code for n in result.notes] == ["question.possible_duplicate"]


# --- export and round trip ----------------------------------------------------------------------------

@pytest.mark.parametrize("subject", ["physics", "chemistry"])
def test_export_then_parse_gives_canonically_equal_questions(bank, subject):
    questions = [q for q in bank.questions if q["subject"] == subject]
    exported = EXPORTERS["yaml"].export(questions, bank.images, subject=subject)
    assert exported.issues == []
    again = YAML.parse(exported.files, subject=subject)
    assert again.issues == [] and again.notes == []
    assert [canonical(q) for q in again.questions] == [canonical(q) for q in questions]
    assert again.images == {k: v for k, v in bank.images.items() if subject == "physics"}


def test_exported_yaml_is_readable(bank):
    physics = [q for q in bank.questions if q["subject"] == "physics"]
    files = EXPORTERS["yaml"].export(physics, bank.images, subject="physics").files
    assert sorted(files) == ["physics/images/brake.png", "physics/images/incline.svg", "physics/运动学.yaml"]
    text = files["physics/运动学.yaml"].decode()
    assert "  stem: |-\n      一物体从静止开始" in text  # multi-line text as a block scalar
    assert "- {id: b, text: '$6\\ \\mathrm{m/s}$'}" in text
    assert "answer: [a, c]" in text and "&" not in text and "*" not in text.replace("**", "")
    assert "explanation: ''" not in text and "case_sensitive: false" not in text


def test_export_reports_what_it_cannot_write(bank):
    physics = [q for q in bank.questions if q["subject"] == "physics"]
    broken = dict(physics[2], key="phy-bad", answer="maybe")
    chemistry = next(q for q in bank.questions if q["subject"] == "chemistry")
    result = EXPORTERS["yaml"].export(physics + [broken, chemistry], {}, subject="physics")
    codes = sorted((i.location, i.code) for i in result.issues)
    assert ("physics · chem-rx-001", "export.other_subject") in codes
    assert ("physics · phy-bad · answer", "true_false.not_bool") in codes
    assert ("physics · phy-kin-001 · images/incline.svg", "image.missing") in codes
    assert "physics/运动学.yaml" in result.files


# --- nothing but a ParsedBank comes out, whatever goes in ------------------------------------------

def _never_raises(files: dict[str, bytes]) -> None:
    result = YAML.parse(files, subject=None)
    assert isinstance(result, ParsedBank)
    assert all(isinstance(i, Issue) for i in result.issues + result.notes)
    assert result.issues or result.questions or not any(p.endswith(".yaml") for p in files)
    if result.issues:
        assert result.questions == [] and result.images == {}


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(data):
    _never_raises({"physics/t.yaml": data})


@given(st.text(max_size=500))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_never_raises(text):
    _never_raises({"physics/t.yaml": text.encode("utf-8")})


_FRAGMENTS = SINGLE.splitlines(keepends=True) + [
    "- ", ": ", "{{1}}", "&a ", "*a", "!!", "'", '"', "[", "]", "{", "}", "\t", "\n", "    "]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=60))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_shuffled_bank_fragments_never_raise(pieces):
    _never_raises({"physics/t.yaml": "".join(pieces).encode("utf-8")})


# Texts that look like other YAML values or need quoting must survive export → parse.
_characters = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t:#-'\"\\{}[]&*!|>%@`")
_tricky = st.text(_characters, min_size=1, max_size=40) | st.sampled_from(
    ["yes", "no", "on", "true", "null", "~", "1e3", "0123", "0.50", "- a", "a: b", "#x", "2026-05-01", "1:30",
     "$\\frac{1}{2}$", "  lead", "多行\n  缩进\n", "\\ce{H2O}", "'", '"'])


@given(stem=_tricky, texts=st.lists(_tricky, min_size=2, max_size=4, unique=True), answer=_tricky)
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_round_trip_of_tricky_texts(stem, texts, answer):
    q = {"subject": "physics", "topic": "t", "key": "k1", "type": "single", "stem": stem,
         "options": [{"id": f"o{i}", "text": t} for i, t in enumerate(texts)], "answer": "o0", "points": 1,
         "explanation": answer}
    if validate_question(q):
        return
    exported = EXPORTERS["yaml"].export([canonical(q)], {}, subject="physics")
    again = YAML.parse(exported.files, subject="physics")
    assert again.issues == [], (exported.files, again.issues)
    assert again.questions == [canonical(q)]
