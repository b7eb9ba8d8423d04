"""Seeded shuffles, opaque option ids and blueprint draws."""

import base64
import hashlib
import hmac
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.shuffle import (
    BlueprintCell,
    BlueprintError,
    PoolItem,
    blueprint_availability,
    blueprint_draw,
    build_opaque_map,
    opaque_id,
    option_order,
    ordering_display,
    section_order,
)

KEYS = ["q1", "q2", "q3", "q4", "q5", "q6"]
ROOT = Path(__file__).resolve().parents[2]


def test_orders_are_pinned_for_a_stored_seed():
    # Attempts store their seed: these orders must never change with a Python upgrade or a refactor.
    assert section_order("seed-1", 0, KEYS) == ["q3", "q5", "q1", "q6", "q4", "q2"]
    assert option_order("seed-1", "phy-001", ["a", "b", "c", "d"]) == ["c", "d", "b", "a"]


def test_orders_do_not_depend_on_the_process_hash_seed():
    script = "from app.domain.shuffle import section_order; print(section_order('s', 3, list('abcdefgh')))"
    outputs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(section_order("s", 3, list("abcdefgh")))


@given(st.text(max_size=12), st.integers(0, 20), st.lists(st.text(max_size=4), unique=True, max_size=12))
def test_section_order_is_a_reproducible_permutation(seed, index, keys):
    order = section_order(seed, index, keys)
    assert sorted(order) == sorted(keys)
    assert order == section_order(seed, index, keys)


def test_different_seeds_and_contexts_give_different_orders():
    orders = {tuple(section_order(f"student-{i}", 0, KEYS)) for i in range(50)}
    assert len(orders) > 30  # 720 possible orders
    assert section_order("s", 0, KEYS) != section_order("s", 1, KEYS) or \
        section_order("s", 0, KEYS) != section_order("s", 2, KEYS)
    assert option_order("s", "k1", KEYS) != option_order("s", "k2", KEYS) or \
        option_order("s", "k1", KEYS) != option_order("s", "k3", KEYS)


def test_shuffle_is_roughly_uniform():
    counts = {}
    for i in range(6000):
        first = option_order(f"seed{i}", "q", ["a", "b", "c"])[0]
        counts[first] = counts.get(first, 0) + 1
    assert all(1700 < count < 2300 for count in counts.values()), counts


@settings(max_examples=300)
@given(st.text(max_size=8), st.integers(2, 7), st.randoms(use_true_random=False))
def test_ordering_display_never_shows_the_answer(seed, size, rnd):
    items = [f"i{n}" for n in range(size)]
    answer = rnd.sample(items, size)
    shown = ordering_display(seed, "ord-1", items, answer)
    assert sorted(shown) == sorted(items)
    assert shown != answer
    assert shown == ordering_display(seed, "ord-1", items, answer)


def test_ordering_display_with_two_items_always_swaps():
    for i in range(200):
        assert ordering_display(f"s{i}", "k", ["a", "b"], ["a", "b"]) == ["b", "a"]


def test_ordering_display_one_item_and_bad_answer():
    assert ordering_display("s", "k", ["a"], ["a"]) == ["a"]
    with pytest.raises(ValueError, match="every item exactly once"):
        ordering_display("s", "k", ["a", "b"], ["a", "a"])


def test_opaque_id_is_a_10_char_base32_hmac():
    token = opaque_id("secret", "phy-001", "a")
    message = b'["phy-001","a"]'
    expected = base64.b32encode(hmac.new(b"secret", message, hashlib.sha256).digest()).decode()[:10].lower()
    assert token == expected == "ar2tnh4ah7"
    assert len(token) == 10 and set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert opaque_id("other", "phy-001", "a") != token
    assert opaque_id("secret", "phy-002", "a") != token


def test_build_opaque_map_inverts_opaque_id():
    ids = ["a", "b", "c", "d"]
    mapping = build_opaque_map("secret", "q", ids)
    assert sorted(mapping.values()) == ids
    assert all(mapping[opaque_id("secret", "q", i)] == i for i in ids)
    assert "a" not in mapping and "b" not in mapping  # canonical ids never appear as tokens


# --- blueprint draws ---------------------------------------------------------------------------

POOL = [
    PoolItem("m1", "single", 1, ("力学/运动学",)),
    PoolItem("m2", "single", 2, ("力学/运动学/匀变速直线运动",)),
    PoolItem("m3", "single", 3, ("力学/牛顿定律",)),
    PoolItem("m4", "single", 4, ("力学/运动学史",)),
    PoolItem("m5", "multiple", 3, ("电磁学",)),
    PoolItem("m6", "multiple", 5, ("电磁学/电路",)),
    PoolItem("m7", "single", None, ("力学/运动学",)),
]


def test_cell_matching_rules():
    kinematics = BlueprintCell("single", (1, 5), "力学/运动学", 1)
    assert [kinematics.matches(item) for item in POOL] == [True, True, False, False, False, False, False]
    cells = [kinematics, ("single", (2, 4), None, 1), ("multiple", (3, 3), "电磁学", 1)]
    assert blueprint_availability(POOL, cells) == [2, 3, 1]


def test_draw_respects_cells_and_is_reproducible():
    cells = [("single", (1, 4), "力学", 2), ("multiple", (1, 5), None, 2)]
    drawn = blueprint_draw(POOL, cells, "exam-7")
    assert drawn == blueprint_draw(list(reversed(POOL)), cells, "exam-7")  # pool order does not matter
    assert len(drawn) == len(set(drawn)) == 4
    assert {k for k in drawn[:2]} <= {"m1", "m2", "m3", "m4"} and set(drawn[2:]) == {"m5", "m6"}
    draws = {tuple(blueprint_draw(POOL, cells, f"exam-{i}")[:2]) for i in range(40)}
    assert len(draws) > 3


def test_overlapping_cells_are_solved_where_greedy_fails():
    # The broad cell could take m3, which the narrow cell needs; every seed must still succeed.
    pool = [PoolItem("m1", "single", 1), PoolItem("m3", "single", 3)]
    cells = [("single", (1, 5), None, 1), ("single", (3, 3), None, 1)]
    for i in range(30):
        broad, narrow = blueprint_draw(pool, cells, f"s{i}")
        assert (broad, narrow) == ("m1", "m3")


def test_impossible_cell_reports_available_against_requested():
    with pytest.raises(BlueprintError) as caught:
        blueprint_draw(POOL, [("multiple", (1, 5), None, 1), ("single", (1, 2), "力学/运动学", 3)], "s")
    (problem,) = caught.value.problems
    assert (problem.index, problem.requested, problem.available) == (1, 3, 2)
    assert "第 2 格（单选题，难度 1–2，知识点 力学/运动学）需要 3 题，题库中只有 2 题" == problem.message_zh
    assert "requests 3 questions, 2 available" in problem.message_en
    assert isinstance(caught.value, ValueError)


def test_cells_competing_for_the_same_questions_are_named_together():
    cells = [("single", (1, 4), "力学", 3), ("single", (1, 2), None, 2)]  # 4 questions, 5 wanted
    with pytest.raises(BlueprintError) as caught:
        blueprint_draw(POOL, cells, "s")
    (problem,) = caught.value.problems
    assert problem.requested == 2 and problem.available == 2
    assert "与第 1、2 格共用题目" in problem.message_zh
    assert "together they request 5, only 4 distinct questions match" in problem.message_en


def test_bad_cells_and_pools_are_refused():
    with pytest.raises(ValueError, match="lo ≤ hi"):
        blueprint_draw(POOL, [("single", (4, 1), None, 1)], "s")
    with pytest.raises(ValueError, match="count"):
        blueprint_draw(POOL, [("single", (1, 5), None, -1)], "s")
    with pytest.raises(ValueError, match="twice"):
        blueprint_draw(POOL + [POOL[0]], [("single", (1, 5), None, 1)], "s")


def test_pool_items_may_be_mappings():
    pool = [{"key": "x", "type": "single", "difficulty": 2, "knowledge_points": ["a/b"]}]
    assert blueprint_draw(pool, [("single", (1, 3), "a", 1)], "s") == ["x"]


@st.composite
def blueprints(draw):
    pool = [PoolItem(f"q{i}", draw(st.sampled_from(["single", "multiple"])), draw(st.integers(1, 5)),
                     (draw(st.sampled_from(["力学", "力学/运动学", "电磁学"])),))
            for i in range(draw(st.integers(0, 12)))]
    cells = []
    for _ in range(draw(st.integers(1, 4))):
        lo = draw(st.integers(1, 5))
        cells.append((draw(st.sampled_from(["single", "multiple"])), (lo, draw(st.integers(lo, 5))),
                      draw(st.sampled_from([None, "力学", "力学/运动学", "电磁学"])), draw(st.integers(0, 4))))
    return pool, cells, draw(st.text(max_size=6))


@settings(max_examples=300)
@given(blueprints())
def test_draw_succeeds_exactly_when_halls_condition_holds(case):
    pool, cells, seed = case
    parsed = [BlueprintCell(t, d, k, c) for t, d, k, c in cells]
    # A draw exists iff every set S of cells has at least sum(count) distinct matching questions.
    feasible = all(
        len({item.key for item in pool for i in subset if parsed[i].matches(item)})
        >= sum(parsed[i].count for i in subset)
        for size in range(1, len(cells) + 1) for subset in itertools.combinations(range(len(cells)), size)
    )
    try:
        drawn = blueprint_draw(pool, cells, seed)
    except BlueprintError as error:
        assert not feasible
        assert error.problems and all(p.message_zh and p.message_en for p in error.problems)
        return
    assert feasible
    assert len(drawn) == len(set(drawn)) == sum(cell.count for cell in parsed)
    by_key = {item.key: item for item in pool}
    position = 0
    for cell in parsed:
        assert all(cell.matches(by_key[key]) for key in drawn[position:position + cell.count])
        position += cell.count
