"""Scoring policies, worked by hand and checked by properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.scoring import (
    DEFAULT_POLICIES,
    POLICIES,
    ItemScore,
    max_points,
    policies_for,
    policy_label,
    score_response,
    section_total,
)


def options(ids="abcd"):
    return [{"id": i, "text": f"option {i}"} for i in ids]


SINGLE = {"type": "single", "options": options(), "answer": "b", "points": 4}
MULTI_2 = {"type": "multiple", "options": options(), "answer": ["a", "c"], "points": 6}
MULTI_3 = {"type": "multiple", "options": options(), "answer": ["a", "b", "c"], "points": 6}
TRUE = {"type": "true_false", "answer": True, "points": 2}
FILL = {
    "type": "fill_blank", "points": 5,
    "blanks": [
        {"answers": ["氧气", "O2"], "case_sensitive": False},
        {"numeric": {"value": 9.8, "tolerance": 0.05}, "unit": "m/s^2"},
        {"numeric": {"value": 6.02e23, "rel_tolerance": 0.01}, "unit": ""},
    ],
}
ORDERING = {"type": "ordering", "items": options("abcd"), "answer": ["c", "a", "b", "d"], "points": 4}
MATCHING = {
    "type": "matching", "points": 6,
    "prompts": [{"id": p, "text": p} for p in ("p1", "p2", "p3")],
    "options": options("xyzw"),
    "answer": {"p1": "x", "p2": "y", "p3": "z"},
}
SHORT = {"type": "short_answer", "reference_answer": "…", "rubric": "", "points": 10}
GROUP = {
    "type": "group",
    "parts": [dict(MULTI_2, key="g1"), dict(FILL, key="g2"), dict(SHORT, key="g3")],
}


def points(content, response, *args, **kwargs):
    return score_response(content, response, *args, **kwargs).points


# --- the worked examples ------------------------------------------------------------------------


def test_single_choice_full_or_nothing():
    assert points(SINGLE, "b") == 4
    assert points(SINGLE, "a") == 0


@pytest.mark.parametrize(("total", "partial"), [(5, 2), (6, 3)])
def test_gaokao_partial_new_gaokao_5_2_0_and_6_3_0(total, partial):
    assert points(MULTI_2, ["a", "c"], total, "gaokao_partial") == total
    assert points(MULTI_2, ["a"], total, "gaokao_partial") == partial
    assert points(MULTI_2, ["c"], total, "gaokao_partial") == partial
    assert points(MULTI_2, ["a", "b"], total, "gaokao_partial") == 0
    assert points(MULTI_2, ["a", "b", "c"], total, "gaokao_partial") == 0


def test_gaokao_partial_points_can_be_set():
    assert points(MULTI_2, ["a"], 6, "gaokao_partial", partial_points=2) == 2
    assert points(MULTI_2, ["a"], 5, "gaokao_partial", partial_points=2.5) == 2.5


def test_per_option_2024_math_two_correct_options_6_3():
    assert points(MULTI_2, ["a"], None, "per_option") == 3
    assert points(MULTI_2, ["a", "c"], None, "per_option") == 6
    assert points(MULTI_2, ["a", "d"], None, "per_option") == 0


def test_per_option_2024_math_three_correct_options_6_4_2():
    assert points(MULTI_3, ["a"], None, "per_option") == 2
    assert points(MULTI_3, ["b", "c"], None, "per_option") == 4
    assert points(MULTI_3, ["a", "b", "c"], None, "per_option") == 6
    assert points(MULTI_3, ["a", "b", "d"], None, "per_option") == 0


def test_per_option_rounds_half_up_to_cents_without_float_noise():
    assert points(MULTI_3, ["a"], 5, "per_option") == 1.67
    assert points(MULTI_3, ["a", "b"], 5, "per_option") == 3.33
    # 0.25 × 1/2 = 0.125: half up gives 0.13 (round() would give banker's 0.12).
    assert points(MULTI_2, ["a"], 0.25, "per_option") == 0.13


def test_multiple_all_or_nothing_is_the_default():
    assert DEFAULT_POLICIES["multiple"] == "all_or_nothing"
    assert points(MULTI_2, ["c", "a"]) == 6
    assert points(MULTI_2, ["a"]) == 0


def test_true_false_and_negative_marking():
    assert points(TRUE, True) == 2
    assert points(TRUE, False) == 0
    assert points(TRUE, False, None, "all_or_nothing", negative_marking=True) == -2
    assert points(TRUE, False, None, "all_or_nothing", negative_marking=True, penalty=0.5) == -0.5
    assert points(TRUE, None, None, "all_or_nothing", negative_marking=True) == 0  # blank costs nothing
    assert points(TRUE, "true", None, "all_or_nothing", negative_marking=True) == 0  # malformed: 0


def test_section_total_floors_negative_marking_at_zero_per_section():
    wrong = score_response(TRUE, False, None, "all_or_nothing", negative_marking=True)
    right = score_response(TRUE, True, None, "all_or_nothing", negative_marking=True)
    assert section_total([wrong, wrong, right]) == 0
    assert section_total([wrong, right, right]) == 2
    assert section_total([]) == 0


def test_section_total_has_no_float_noise():
    tenth = ItemScore(0.1, 1, None, True, True, "per_blank")
    fifth = ItemScore(0.2, 1, None, True, True, "per_blank")
    assert section_total([tenth, fifth]) == 0.3


def test_fill_blank_per_blank_splits_points_evenly():
    assert points(FILL, ["o2", "9.8 m/s^2", "6.02e23"]) == 5
    assert points(FILL, ["Ｏ２ ", "9.7", "1"]) == 1.67
    assert points(FILL, ["氧气", "9.85", "x"]) == 3.33


def test_fill_blank_all_or_nothing():
    assert points(FILL, ["O2", "9.8", "6.0×10^23"], None, "all_or_nothing") == 5
    assert points(FILL, ["O2", "9.8", ""], None, "all_or_nothing") == 0


def test_fill_blank_numeric_rules():
    assert points(FILL, ["", "9.75m/s^2", ""]) == 1.67  # tolerance boundary is inclusive
    assert points(FILL, ["", "9.8 kg", ""]) == 0  # wrong unit
    assert points(FILL, ["", "", "6.02e23 mol"]) == 0  # no unit allowed there
    assert points(FILL, ["", "", "6.1e23"]) == 0  # outside 1 %


def test_fill_blank_case_sensitive_blank():
    content = {"type": "fill_blank", "points": 2, "blanks": [{"answers": ["NaCl"], "case_sensitive": True}]}
    assert points(content, ["NaCl"]) == 2
    assert points(content, ["nacl"]) == 0


def test_ordering_all_or_nothing_and_per_position():
    assert points(ORDERING, ["c", "a", "b", "d"]) == 4
    assert points(ORDERING, ["c", "a", "d", "b"]) == 0
    assert points(ORDERING, ["c", "a", "d", "b"], None, "per_pair") == 2
    assert points(ORDERING, ["a", "b", "c", "d"], None, "per_pair") == 1
    assert points(ORDERING, ["c", "a", "b"], None, "per_pair") == 0  # not every item: malformed
    assert points(ORDERING, ["c", "c", "b", "d"], None, "per_pair") == 0  # duplicate: malformed


def test_matching_all_or_nothing_and_per_pair():
    right = {"p1": "x", "p2": "y", "p3": "z"}
    assert points(MATCHING, right) == 6
    assert points(MATCHING, {**right, "p3": "w"}) == 0
    assert points(MATCHING, {**right, "p3": "w"}, None, "per_pair") == 4
    assert points(MATCHING, {"p1": "x"}, None, "per_pair") == 2
    assert points(MATCHING, {"p1": "x", "p9": "y"}, None, "per_pair") == 0  # unknown prompt


def test_short_answer_waits_for_a_teacher():
    score = score_response(SHORT, "牛顿第二定律……")
    assert (score.points, score.needs_manual, score.answered) == (0, True, True)
    assert (score.correct, score.wrong) == (None, False)
    blank = score_response(SHORT, "   ")
    assert (blank.needs_manual, blank.answered) == (False, False)  # nothing to grade


def test_group_sums_its_parts_with_their_own_points():
    assert max_points(GROUP) == 21
    score = score_response(GROUP, {"g1": ["a"], "g2": ["O2", "9.8", "6.02e23"], "g3": "text"},
                           policy={"multiple": "gaokao_partial"})
    assert score.points == 3 + 5
    assert score.max_points == 21
    assert score.needs_manual
    assert dict(score.parts)["g1"].policy == "gaokao_partial"
    assert dict(score.parts)["g2"].policy == "per_blank"
    assert points(GROUP, None) == 0
    assert points(GROUP, ["not", "a", "map"]) == 0


def test_group_errors():
    with pytest.raises(ValueError, match="sum of its parts"):
        score_response(GROUP, {}, 30)
    with pytest.raises(ValueError, match="mapping"):
        score_response(GROUP, {}, None, "gaokao_partial")
    with pytest.raises(ValueError, match="no part"):
        score_response(GROUP, {}, None, None, penalty=1)


# --- flags that rankings and reports read ----------------------------------------------------


@pytest.mark.parametrize(("response", "answered", "wrong", "correct"), [
    (None, False, False, False),
    ([], False, False, False),
    (["a", "c"], True, False, True),
    (["a"], True, True, None),
    (["b"], True, True, False),
    (["zz"], True, True, False),  # unknown id
    ("a", True, True, False),  # wrong shape
    ([["a"]], True, True, False),  # unhashable inside
])
def test_answered_wrong_correct_flags(response, answered, wrong, correct):
    score = score_response(MULTI_2, response, None, "gaokao_partial")
    assert (score.answered, score.wrong, score.correct) == (answered, wrong, correct)
    assert score.policy == "gaokao_partial"
    assert score.max_points == 6


@pytest.mark.parametrize("response", [None, "", "  ", [], {}, ["", None, " "]])
def test_unanswered_responses_score_zero_and_are_not_answered(response):
    for content in (SINGLE, MULTI_2, FILL, ORDERING, MATCHING):
        score = score_response(content, response)
        assert (score.points, score.answered, score.wrong) == (0, False, False)


@pytest.mark.parametrize("response", [5, 1.5, "zz", ["zz"], {"a": 1}, [None], [1, 2], object(), b"b"])
def test_malformed_responses_never_raise(response):
    for content in (SINGLE, MULTI_2, TRUE, FILL, ORDERING, MATCHING, SHORT, GROUP):
        score = score_response(content, response)
        assert score.points == 0


# --- configuration errors --------------------------------------------------------------------


def test_unknown_policy_and_misfit_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown scoring policy 'half'"):
        score_response(SINGLE, "b", None, "half")
    with pytest.raises(ValueError, match="'per_option' does not apply to 'single'"):
        score_response(SINGLE, "b", None, "per_option")
    with pytest.raises(ValueError, match="takes no parameter partial_points"):
        score_response(MULTI_2, ["a"], None, "per_option", partial_points=1)
    with pytest.raises(ValueError, match="partial_points"):
        score_response(MULTI_2, None, 5, "gaokao_partial", partial_points=6)
    with pytest.raises(ValueError, match="unknown question type"):
        score_response({"type": "essay", "points": 1}, "x")
    with pytest.raises(ValueError, match="points must be positive"):
        score_response(SINGLE, "b", 0)
    with pytest.raises(ValueError, match="penalty"):
        score_response(TRUE, True, None, "all_or_nothing", negative_marking=True, penalty=-1)


def test_policy_labels_and_registry():
    assert policy_label("all_or_nothing") == ("全对得分", "all or nothing")
    assert policy_label("gaokao_partial")[0] == "新高考部分得分"
    assert policy_label("per_option")[0] == "按选项比例得分"
    with pytest.raises(ValueError):
        policy_label("nope")
    assert policies_for("multiple") == ["all_or_nothing", "gaokao_partial", "per_option"]
    assert policies_for("fill_blank")[0] == "per_blank"
    assert all(DEFAULT_POLICIES[qtype] in policies_for(qtype) for qtype in DEFAULT_POLICIES)
    assert all(name == policy.name for name, policy in POLICIES.items())


# --- properties ----------------------------------------------------------------------------


@st.composite
def multiple_cases(draw):
    ids = draw(st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=8, unique=True))
    answer = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    response = draw(st.one_of(st.none(), st.lists(st.sampled_from(ids + ["zz"]), unique=True)))
    total = draw(st.decimals("0.5", "20", places=1)).__float__()
    policy = draw(st.sampled_from(["all_or_nothing", "gaokao_partial", "per_option"]))
    content = {"type": "multiple", "options": options(ids), "answer": answer, "points": total}
    return content, response, policy, draw(st.randoms(use_true_random=False))


@given(multiple_cases())
def test_multiple_score_is_bounded_and_independent_of_display_order(case):
    content, response, policy, rnd = case
    score = score_response(content, response, None, policy)
    assert 0 <= score.points <= score.max_points == content["points"]
    assert score.points == round(score.points, 2)
    shuffled_options = rnd.sample(content["options"], len(content["options"]))
    shuffled_response = None if response is None else rnd.sample(response, len(response))
    again = score_response(dict(content, options=shuffled_options), shuffled_response, None, policy)
    assert again == score


@st.composite
def matching_cases(draw):
    prompts = draw(st.lists(st.sampled_from(["p1", "p2", "p3", "p4"]), min_size=1, unique=True))
    opts = draw(st.lists(st.sampled_from("vwxyz"), min_size=len(prompts), unique=True))
    answer = {p: draw(st.sampled_from(opts)) for p in prompts}
    response = draw(st.dictionaries(st.sampled_from(prompts), st.sampled_from(opts + [None])))
    content = {"type": "matching", "prompts": [{"id": p, "text": p} for p in prompts],
               "options": options(opts), "answer": answer, "points": draw(st.integers(1, 12))}
    return content, response, draw(st.sampled_from(["all_or_nothing", "per_pair"]))


@given(matching_cases())
def test_matching_score_is_bounded_and_independent_of_order(case):
    content, response, policy = case
    score = score_response(content, response, None, policy)
    assert 0 <= score.points <= score.max_points
    reordered = dict(reversed(list(response.items())))
    reversed_options = dict(content, options=list(reversed(content["options"])))
    assert score_response(reversed_options, reordered, None, policy) == score


@given(st.permutations(["a", "b", "c", "d"]), st.sampled_from(["all_or_nothing", "per_pair"]))
def test_ordering_score_is_bounded_and_independent_of_item_display_order(order, policy):
    score = score_response(ORDERING, order, None, policy)
    assert 0 <= score.points <= 4
    assert score.correct is (order == ORDERING["answer"]) or score.correct is None
    reversed_items = dict(ORDERING, items=list(reversed(ORDERING["items"])))
    assert score_response(reversed_items, order, None, policy) == score


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=3), kids, max_size=4),
    max_leaves=10,
)


@given(JSONISH, st.sampled_from([SINGLE, MULTI_2, MULTI_3, TRUE, FILL, ORDERING, MATCHING, SHORT, GROUP]))
def test_any_response_scores_within_bounds_and_never_raises(response, content):
    score = score_response(content, response)
    assert 0 <= score.points <= score.max_points == max_points(content)
    if content is not GROUP and content is not SHORT:
        assert score.wrong == (score.answered and score.correct is not True)
