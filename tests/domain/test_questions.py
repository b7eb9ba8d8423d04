"""Question validation, canonical form, fingerprint and image references (app.domain.questions)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.questions import (
    QUESTION_TYPES,
    SUBJECTS,
    BankValidationError,
    Issue,
    canonical,
    content_fingerprint,
    image_refs,
    validate_question,
)

WHERE = "physics/kinematics.yaml"


def single(**changes) -> dict:
    q = {"key": "phy-kin-003", "type": "single", "stem": "速度的单位是",
         "options": [{"id": "a", "text": "m"}, {"id": "b", "text": "m/s"}, {"id": "c", "text": "s"}],
         "answer": "b", "points": 4}
    q.update(changes)
    return q


VALID = {
    "single": single(),
    "multiple": {"key": "m1", "type": "multiple", "stem": "矢量有", "options": [
        {"id": "a", "text": "位移"}, {"id": "b", "text": "路程"}, {"id": "c", "text": "速度"}],
        "answer": ["c", "a"], "points": 6},
    "true_false": {"key": "t1", "type": "true_false", "stem": "光速不变。", "answer": True, "points": 2},
    "fill_blank": {"key": "f1", "type": "fill_blank", "stem": "$g$ 约为 {{1}}，气体是 {{2}}", "blanks": [
        {"numeric": {"value": 9.8, "tolerance": 0.05}, "unit": "m/s^2"},
        {"answers": ["氧气", "O2", "\\ce{O2}"], "case_sensitive": False}], "points": 4},
    "ordering": {"key": "o1", "type": "ordering", "stem": "排序", "items": [
        {"id": "s1", "text": "甲"}, {"id": "s2", "text": "乙"}, {"id": "s3", "text": "丙"}],
        "answer": ["s2", "s1", "s3"], "points": 3},
    "matching": {"key": "x1", "type": "matching", "stem": "配对", "prompts": [
        {"id": "p1", "text": "速度"}, {"id": "p2", "text": "位移"}], "options": [
        {"id": "a", "text": "m"}, {"id": "b", "text": "m/s"}, {"id": "c", "text": "s"}],
        "answer": {"p1": "b", "p2": "a"}, "points": 2},
    "short_answer": {"key": "s1", "type": "short_answer", "stem": "简述牛顿第一定律。",
                     "reference_answer": "一切物体总保持匀速直线运动状态或静止状态……", "points": 6},
}
VALID["group"] = {"key": "g1", "type": "group", "stem": "阅读材料……",
                  "parts": [dict(VALID["single"], key="g1-1"), dict(VALID["true_false"], key="g1-2")]}


def codes(q: dict) -> list[str]:
    return [issue.code for issue in validate_question(q, where=WHERE)]


def only_issue(q: dict) -> Issue:
    issues = validate_question(q, where=WHERE)
    assert len(issues) == 1, issues
    return issues[0]


def test_the_type_and_subject_lists_are_the_documented_ones():
    assert QUESTION_TYPES == ("single", "multiple", "true_false", "fill_blank", "ordering", "matching",
                              "short_answer", "group")
    assert SUBJECTS == ("math", "physics", "chemistry", "biology", "cs")


@pytest.mark.parametrize("qtype", QUESTION_TYPES)
def test_a_valid_question_of_every_type_has_no_issues(qtype):
    assert validate_question(VALID[qtype], where=WHERE) == []


def test_an_issue_is_located_by_file_key_and_field_in_both_languages():
    issue = only_issue(single(answer="e"))
    assert issue == Issue("physics/kinematics.yaml · phy-kin-003 · answer", "answer.missing_option",
                          "答案引用了不存在的选项“e”", 'answer names a missing option "e"')
    assert issue.message("zh") == "physics/kinematics.yaml · phy-kin-003 · answer: 答案引用了不存在的选项“e”"
    assert issue.message("zh_CN").endswith("“e”")
    assert issue.message("en") == ('physics/kinematics.yaml · phy-kin-003 · answer: '
                                   'answer names a missing option "e"')


def test_bank_validation_error_carries_its_issues():
    issue = only_issue(single(answer="e"))
    error = BankValidationError([issue])
    assert error.issues == [issue]
    assert "missing option" in str(error)


@pytest.mark.parametrize("q, code, field", [
    (single(type="essay"), "question.unknown_type", "type"),
    (single(key="phy kin 3"), "key.bad_format", "key"),
    (single(stem="  \n "), "field.empty", "stem"),
    (single(stem="x" * 20_001), "text.too_long", "stem"),
    (single(points=0), "points.invalid", "points"),
    (single(points=True), "points.invalid", "points"),
    (single(points=1e-9), "points.invalid", "points"),
    (single(points="4"), "points.invalid", "points"),
    (single(difficulty=6), "difficulty.invalid", "difficulty"),
    (single(difficulty=2.5), "difficulty.invalid", "difficulty"),
    (single(options=[{"id": "a", "text": "m"}], answer="a"), "choice.count", "options"),
    (single(options=[{"id": str(i), "text": str(i)} for i in range(9)], answer="1"), "choice.count",
     "options"),
    (single(options=[{"id": "a", "text": "m"}, {"id": "a", "text": "s"}], answer="a"), "choice.duplicate_id",
     "options[2].id"),
    (single(options=[{"id": "a", "text": "m/s"}, {"id": "b", "text": " m/s "}]), "choice.duplicate_text",
     "options[2].text"),
    (single(options=[{"id": "A", "text": "m"}, {"id": "b", "text": "s"}]), "choice.bad_id", "options[1].id"),
    (single(options=[{"id": "a", "text": ""}, {"id": "b", "text": "s"}]), "field.empty", "options[1].text"),
    (single(anwser="b"), "field.unknown", "anwser"),
    (single(answer=["b"]), "answer.not_id", "answer"),
    (single(knowledge_points=["力学//运动学"]), "knowledge_points.invalid", "knowledge_points[1]"),
    (single(explanation="<script>alert(1)</script>"), "text.unsafe_html", "explanation"),
    (single(stem='<img src=x onerror="alert(1)">'), "text.unsafe_html", "stem"),
    (single(stem="[点我](javascript:alert(1))"), "text.unsafe_html", "stem"),
    (single(stem="[点我](java&#115;cript:alert(1))"), "text.unsafe_html", "stem"),
    (single(source="<iframe src=//evil>"), "text.unsafe_html", "source"),
    (single(options=[{"id": "a", "text": "<object data=x>"}, {"id": "b", "text": "s"}]), "text.unsafe_html",
     "options[1].text"),
    (single(stem="看图 ![图](http://example.com/a.png)"), "image.bad_path", "stem"),
    (single(stem="看图 ![图](images/../secret.png)"), "image.bad_path", "stem"),
    (single(stem="a\x00b"), "text.control_char", "stem"),
])
def test_each_bad_field_is_refused_with_its_location(q, code, field):
    issue = only_issue(q)
    assert issue.code == code
    assert issue.location == f"{WHERE} · phy-kin-003 · {field}" or issue.location == f"{WHERE} · {field}"
    assert issue.zh and issue.en and issue.zh != issue.en


def test_harmless_text_that_looks_like_html_is_accepted():
    q = single(stem="若 $a<b$ 且 one = 1，比较 $x > y$；HTML 里写 &lt;script&gt; 的作用是？")
    assert validate_question(q) == []


def test_a_missing_key_is_reported_and_the_rest_still_checked():
    q = single()
    del q["key"]
    assert codes(q) == ["field.missing"]
    assert validate_question(q, where=WHERE)[0].location == f"{WHERE} · key"


def test_multiple_choice_needs_a_correct_option():
    assert codes(dict(VALID["multiple"], answer=[])) == ["multiple.no_correct"]
    assert codes(dict(VALID["multiple"], answer=["a", "e"])) == ["answer.missing_option"]
    assert codes(dict(VALID["multiple"], answer=["a", "a"])) == ["answer.repeated"]


def test_true_false_answer_must_be_a_boolean():
    assert codes(dict(VALID["true_false"], answer="true")) == ["true_false.not_bool"]
    assert codes(dict(VALID["true_false"], answer=1)) == ["true_false.not_bool"]


@pytest.mark.parametrize("blanks, code", [
    ([{"numeric": {"value": "abc"}}, {"answers": ["x"]}], "blank.not_number"),
    ([{"numeric": {"value": True}}, {"answers": ["x"]}], "blank.not_number"),
    ([{"numeric": {"value": float("nan")}}, {"answers": ["x"]}], "blank.not_number"),
    ([{"numeric": {"value": 1, "tolerance": -0.1}}, {"answers": ["x"]}], "blank.bad_tolerance"),
    ([{"numeric": {"value": 1}}, {"answers": []}], "blank.answers_empty"),
    ([{"numeric": {"value": 1}}, {"answers": ["x", " "]}], "field.empty"),
    ([{"numeric": {"value": 1}}, {"unit": "m"}], "blank.no_answer"),
    ([{"numeric": {"value": 1}}], "blanks.count"),
    ([{"numeric": {"value": 1}}, {"answers": ["x"], "case_sensitive": "no"}], "blank.bad_flag"),
])
def test_fill_blank_rules(blanks, code):
    assert code in codes(dict(VALID["fill_blank"], blanks=blanks))


def test_fill_blank_markers_must_run_in_order():
    assert codes(dict(VALID["fill_blank"], stem="先 {{2}} 后 {{1}}")) == ["blanks.marker_order"]
    assert codes(dict(VALID["fill_blank"], stem="没有空")) == ["blanks.no_marker"]
    issue = only_issue(dict(VALID["fill_blank"], stem="先 {{1}} 后 {{1}}"))
    assert "{{1}}、{{1}}" in issue.zh


def test_ordering_answer_is_a_permutation():
    assert codes(dict(VALID["ordering"], answer=["s2", "s1"])) == ["ordering.not_permutation"]
    assert codes(dict(VALID["ordering"], answer=["s2", "s1", "s9"])) == ["answer.missing_option",
                                                                           "ordering.not_permutation"]


def test_matching_maps_every_prompt_to_an_option():
    assert codes(dict(VALID["matching"], answer={"p1": "b"})) == ["matching.prompt_unanswered"]
    assert codes(dict(VALID["matching"], answer={"p1": "b", "p2": "z"})) == ["answer.missing_option"]
    assert codes(dict(VALID["matching"], answer={"p1": "b", "p2": "a",
                                                 "p9": "a"})) == ["matching.unknown_prompt"]
    one_option = dict(VALID["matching"], options=[{"id": "a", "text": "m"}], answer={"p1": "a", "p2": "a"})
    assert codes(one_option) == ["choice.count", "matching.too_few_options"]


def test_prompt_and_option_ids_share_one_namespace():
    q = dict(VALID["matching"], options=[{"id": "p1", "text": "m"}, {"id": "b", "text": "m/s"}])
    assert "choice.duplicate_id" in codes(q)


def test_short_answer_needs_a_reference_answer():
    q = dict(VALID["short_answer"])
    del q["reference_answer"]
    assert codes(q) == ["field.missing"]
    assert codes(dict(VALID["short_answer"], answer="x")) == ["field.unknown"]


def test_group_rules():
    group = VALID["group"]
    assert codes(dict(group, parts=[])) == ["group.parts_count"]
    eleven = [dict(VALID["single"], key=f"p{i}") for i in range(11)]
    assert codes(dict(group, parts=eleven)) == ["group.parts_count"]
    assert codes(dict(group, parts=[dict(group, key="inner")])) == ["group.nested"]
    assert codes(dict(group, points=7)) == ["group.points_mismatch"]
    assert codes(dict(group, points=6)) == []
    twice = dict(group, parts=[dict(VALID["single"], key="g1-1"), dict(VALID["true_false"], key="g1-1")])
    assert codes(twice) == ["key.duplicate"]


def test_an_issue_in_a_part_is_located_by_the_part_key():
    group = copy.deepcopy(VALID["group"])
    group["parts"][1]["answer"] = "yes"
    assert validate_question(group, where=WHERE)[0].location == f"{WHERE} · g1-2 · answer"
    del group["parts"][1]["key"]
    locations = [issue.location for issue in validate_question(group, where=WHERE)]
    assert f"{WHERE} · g1 · parts[2] · key" in locations


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["key", "type", "stem", "options", "answer", "points",
                                                       "blanks", "parts", "id", "text", "numeric", "value",
                                                       "items", "prompts", "answers", "knowledge_points"])
                                      | st.text(max_size=5), children, max_size=6), max_leaves=30),
       st.sampled_from(QUESTION_TYPES))
@settings(max_examples=300, deadline=None)
def test_validation_never_raises_on_any_shape(value, qtype):
    if isinstance(value, dict):
        value = dict(value, type=qtype)
    issues = validate_question(value)
    assert all(isinstance(issue, Issue) for issue in issues)
    if not issues:
        assert canonical(canonical(value)) == canonical(value)


# --- canonical ---------------------------------------------------------------------------------

def test_canonical_fills_defaults_in_a_stable_key_order():
    stored = canonical(single(stem="速度的单位是  \r\n  \n"))
    assert list(stored) == ["key", "type", "stem", "options", "answer", "points", "difficulty",
                            "knowledge_points", "explanation", "source", "author"]
    assert stored["stem"] == "速度的单位是"
    assert (stored["difficulty"], stored["knowledge_points"], stored["explanation"]) == (3, [], "")


def test_canonical_equality_ignores_presentation_only():
    a = dict(VALID["multiple"], answer=["c", "a"], points=6.0, stem="矢量有  \n")
    b = dict(VALID["multiple"], answer=["a", "c"], points=6, difficulty=3, knowledge_points=[])
    assert canonical(a) == canonical(b)
    assert canonical(a)["answer"] == ["a", "c"]
    assert isinstance(canonical(a)["points"], int)
    assert canonical(dict(b, points=2.5))["points"] == 2.5
    assert canonical(b) != canonical(dict(b, answer=["a"]))


def test_canonical_numbers_and_blanks():
    stored = canonical(dict(VALID["fill_blank"], blanks=[{"numeric": {"value": 10}},
                                                          {"answers": "O2"}]))
    assert stored["blanks"] == [{"numeric": {"value": 10.0, "tolerance": 0.0}, "unit": ""},
                                {"answers": ["O2"], "case_sensitive": False}]
    assert isinstance(stored["blanks"][0]["numeric"]["value"], float)


def test_canonical_keeps_latex_backslashes_and_chinese():
    q = single(stem="  $\\frac{1}{2} m v^2$ 与 \\ce{H2O}  ")
    assert canonical(q)["stem"] == "$\\frac{1}{2} m v^2$ 与 \\ce{H2O}"


def test_canonical_group_points_are_the_sum_of_parts():
    stored = canonical(VALID["group"])
    assert stored["points"] == 6
    assert [p["key"] for p in stored["parts"]] == ["g1-1", "g1-2"]
    assert "subject" not in stored["parts"][0]


def test_canonical_keeps_subject_and_topic_first():
    stored = canonical(dict(VALID["true_false"], topic="运动学", subject="physics"))
    assert list(stored)[:3] == ["subject", "topic", "key"]


@pytest.mark.parametrize("qtype", QUESTION_TYPES)
def test_canonical_is_idempotent_and_valid(qtype):
    stored = canonical(VALID[qtype])
    assert validate_question(stored) == []
    assert canonical(stored) == stored


# --- fingerprint and images ----------------------------------------------------------------------

def test_fingerprint_ignores_case_width_whitespace_and_option_order():
    a = single(stem="Velocity  的单位是", options=[{"id": "a", "text": "ｍ/s"}, {"id": "b", "text": "s"}])
    b = single(stem="velocity 的单位是 ", options=[{"id": "x", "text": "s"}, {"id": "y", "text": "M/S"}],
               answer="y")
    assert content_fingerprint("physics", a) == content_fingerprint("physics", b)
    assert content_fingerprint("math", a) != content_fingerprint("physics", a)
    assert content_fingerprint("physics", a) != content_fingerprint("physics", single(stem="加速度的单位是"))
    assert len(content_fingerprint("physics", a)) == 64


def test_image_refs_finds_images_in_every_text_field():
    group = copy.deepcopy(VALID["group"])
    group["stem"] = "材料 ![图1](images/a.svg) 与 ![](images/b.png \"标题\")"
    group["parts"][0]["options"][0]["text"] = "![选项图](images/c.png)"
    group["parts"][1]["explanation"] = "见 ![](images/a.svg) 和 ![](http://x/y.png)"
    assert image_refs(group) == ["images/a.svg", "images/b.png", "images/c.png"]
