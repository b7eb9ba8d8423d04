"""Standings: competition ranking, tie-breaks, groups, percentiles, and speed."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.ranking import RANK_STYLE_LABEL, Entry, order_key, percentile, rank


def entry(attempt_id, total, league="150100", school=1, **fields):
    return Entry(attempt_id, total, league, school, **fields)


def ranks_of(rows):
    return {row.attempt_id: row.rank for row in rows}


def test_competition_ranking_1_2_2_4_not_dense():
    rows = rank([entry("a", 90), entry("b", 85), entry("c", 85), entry("d", 80)])
    assert [row.rank for row in rows] == [1, 2, 2, 4]  # dense ranking (中国式排名) would say 3
    assert [row.tied for row in rows] == [False, True, True, False]
    assert RANK_STYLE_LABEL[0] == "并列名次，后续名次顺延"


def test_totals_compare_to_the_cent_without_float_noise():
    rows = rank([entry("a", 0.1 + 0.2), entry("b", 0.3), entry("c", 0.29)])
    assert ranks_of(rows) == {"a": 1, "b": 1, "c": 3}


def test_ties_keep_input_order_and_default_has_no_tie_break():
    rows = rank([entry("x", 50, wrong_count=9), entry("y", 50, wrong_count=0)])
    assert [row.attempt_id for row in rows] == ["x", "y"]
    assert [row.rank for row in rows] == [1, 1]


def test_tie_break_chain_applies_in_order():
    entries = [
        entry("a", 80, sections={"实验": 20}, wrong_count=3, time_used_seconds=5000),
        entry("b", 80, sections={"实验": 25}, wrong_count=5, time_used_seconds=6000),
        entry("c", 80, sections={"实验": 20}, wrong_count=3, time_used_seconds=4000),
        entry("d", 80, sections={}, wrong_count=0, time_used_seconds=100),  # missing subtotal = 0
        entry("e", 90),
    ]
    rows = rank(entries, ["section:实验", "fewer_wrong", "less_time"])
    assert [row.attempt_id for row in rows] == ["e", "b", "c", "a", "d"]
    assert [row.rank for row in rows] == [1, 2, 3, 4, 5]
    assert ranks_of(rank(entries, ["fewer_wrong"])) == {"e": 1, "d": 2, "a": 3, "c": 3, "b": 5}
    assert ranks_of(rank(entries, ["less_time"])) == {"e": 1, "d": 2, "c": 3, "a": 4, "b": 5}


def test_unknown_tie_break_is_refused():
    for bad in ("section:", "more_time", "fewer wrong"):
        with pytest.raises(ValueError, match="unknown tie-break"):
            rank([entry("a", 1)], [bad])


def test_league_and_school_ranks_and_counts():
    rows = rank([
        entry("a", 90, "150100", 1), entry("b", 85, "150200", 2), entry("c", 85, "150100", 1),
        entry("d", 80, "150200", 3), entry("e", 70, "150100", 4), entry("f", 60, None, None),
    ])
    by_id = {row.attempt_id: row for row in rows}
    assert {k: r.league_rank for k, r in by_id.items()} == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3, "f": None}
    assert {k: r.school_rank for k, r in by_id.items()} == {"a": 1, "b": 1, "c": 2, "d": 1, "e": 1, "f": None}
    assert (by_id["a"].league_count, by_id["b"].league_count, by_id["f"].league_count) == (3, 2, 0)
    assert by_id["f"].rank == 6 and by_id["f"].league_percentile is None


def test_percentile_definition():
    rows = rank([entry("a", 90), entry("b", 85), entry("c", 85), entry("d", 80)])
    assert [row.percentile for row in rows] == [100.0, 66.67, 66.67, 0.0]
    assert rank([entry("solo", 1)])[0].percentile == 100.0
    assert percentile(1, 3) == 100.0 and percentile(2, 3) == 50.0 and percentile(3, 3) == 0.0
    assert percentile(2, 7) == 83.33  # 100 × 5/6 = 83.333…
    assert percentile(1, 9) == 100.0 and percentile(2, 9) == 87.5


def test_unranked_attempts_come_last_without_ranks():
    rows = rank([entry("v", 100, status="voided"), entry("a", 50), entry("x", 99, status="absent"),
                 entry("b", 40)])
    assert [row.attempt_id for row in rows] == ["a", "b", "v", "x"]
    assert [row.rank for row in rows] == [1, 2, None, None]
    assert rows[2].percentile is None and not rows[2].ranked
    assert rows[1].percentile == 0.0  # the voided attempt does not count


def test_generators_are_accepted():
    rows = rank(entry(i, i % 3) for i in range(6))
    assert len(rows) == 6


# --- the oracle: rank = 1 + number strictly better ---------------------------------------------

TIE_BREAKS = ["section:A", "section:B", "fewer_wrong", "less_time"]


@st.composite
def populations(draw):
    size = draw(st.integers(0, 40))
    entries = [
        Entry(
            attempt_id=i,
            total=draw(st.integers(0, 8)) / 2 + draw(st.sampled_from([0, 0.1, 0.25])),
            league_code=draw(st.sampled_from(["150100", "150200", "150300", None])),
            school_id=draw(st.sampled_from([1, 2, 3, None])),
            sections={"A": draw(st.integers(0, 3)) * 0.5},
            wrong_count=draw(st.integers(0, 2)),
            time_used_seconds=draw(st.integers(0, 2)) * 60,
            status=draw(st.sampled_from(["finalized"] * 5 + ["voided", "absent"])),
        )
        for i in range(size)
    ]
    chain = draw(st.lists(st.sampled_from(TIE_BREAKS), max_size=3, unique=True))
    return entries, chain


def oracle_key(entry, chain):
    key = [-round(entry.total * 100)]
    for item in chain:
        if item == "fewer_wrong":
            key.append(entry.wrong_count)
        elif item == "less_time":
            key.append(entry.time_used_seconds)
        else:
            key.append(-round(entry.sections.get(item.split(":", 1)[1], 0) * 100))
    return tuple(key)


@settings(max_examples=300)
@given(populations())
def test_ranks_match_brute_force_oracle(case):
    entries, chain = case
    rows = rank(entries, chain)
    ranked = [e for e in entries if e.status == "finalized"]
    assert len(rows) == len(entries)
    assert [row.entry for row in rows[:len(ranked)]] == sorted(ranked, key=lambda e: oracle_key(e, chain))
    for row in rows[:len(ranked)]:
        key = oracle_key(row.entry, chain)
        assert row.key == key == order_key(row.entry, chain)
        assert row.rank == 1 + sum(oracle_key(o, chain) < key for o in ranked)
        assert row.tied == any(oracle_key(o, chain) == key for o in ranked if o is not row.entry)
        league = [o for o in ranked if o.league_code == row.league_code]
        school = [o for o in ranked if o.school_id == row.school_id]
        if row.league_code is None:
            assert row.league_rank is None
        else:
            assert row.league_rank == 1 + sum(oracle_key(o, chain) < key for o in league)
            assert row.league_count == len(league)
        if row.school_id is not None:
            assert row.school_rank == 1 + sum(oracle_key(o, chain) < key for o in school)
        n = len(ranked)
        expected = 100.0 if n == 1 else float(f"{100 * (n - row.rank) / (n - 1) + 1e-9:.2f}")
        assert row.percentile == expected
    assert all(row.rank is None for row in rows[len(ranked):])


