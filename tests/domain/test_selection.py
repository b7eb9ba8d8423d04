"""Selection by cut-off, quota, league minimums and maximums, boundary ties and reserve."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.ranking import Entry, rank
from app.domain.selection import SelectionRules, select

A, B, C, D = "150100", "150200", "150300", "152900"  # D: a league with no students


def rows_of(*specs):
    """specs: (id, total, league) or (id, total, league, status)."""
    return rank([Entry(spec[0], spec[1], spec[2], status=spec[3] if len(spec) > 3 else "finalized")
                 for spec in specs])


def admitted(result):
    return [d.attempt_id for d in result.admitted]


def steps(result):
    return {d.attempt_id: d.step for d in result.admitted}


STANDARD = rows_of(("a1", 95, A), ("b1", 90, B), ("a2", 88, A), ("a3", 85, A), ("b2", 80, B),
                   ("c1", 70, C), ("c2", 65, C), ("a4", 60, A))


def test_quota_by_overall_rank():
    result = select(STANDARD, SelectionRules(cutoff=0, quota=3))
    assert admitted(result) == ["a1", "b1", "a2"]
    assert set(steps(result).values()) == {"overall"}
    assert result.decisions["a3"].status == "not_admitted"
    assert "3" in result.decisions["a3"].reason_zh and "3 places" in result.decisions["a3"].reason_en


def test_eligibility_cutoff_voided_absent_unfinished():
    rows = rows_of(("ok", 60, A), ("edge", 0.1 + 0.2 + 59.7, A), ("low", 59.99, A), ("v", 99, A, "voided"),
                   ("x", 98, A, "absent"), ("u", 97, A, "in_progress"))
    result = select(rows, SelectionRules(cutoff=60, quota=10))
    assert admitted(result) == ["ok", "edge"]  # at the cut-off counts, to the cent
    statuses = {k: (d.status, d.reason_en) for k, d in result.decisions.items()}
    assert statuses["low"][0] == "ineligible" and "below the cut-off 60" in statuses["low"][1]
    assert statuses["v"] == ("ineligible", "attempt voided (misconduct): not ranked or selected")
    assert statuses["x"] == ("ineligible", "absent")
    assert statuses["u"][0] == "ineligible"
    assert result.decisions["x"].reason_zh == "缺考"


def test_league_minimum_takes_the_leagues_best_first():
    result = select(STANDARD, SelectionRules(cutoff=0, quota=3, league_min={C: 1}))
    assert admitted(result) == ["a1", "b1", "c1"]
    assert steps(result) == {"c1": "league_minimum", "a1": "overall", "b1": "overall"}
    assert "minimum of 1" in result.decisions["c1"].reason_en


def test_league_maximum_skips_to_the_next_student():
    result = select(STANDARD, SelectionRules(cutoff=0, quota=4, league_max={A: 1}))
    assert admitted(result) == ["a1", "b1", "b2", "c1"]
    assert result.decisions["a2"].reason_en == "the league has reached its maximum of 1"


def test_leagues_without_students_and_minimums_beyond_the_eligible():
    result = select(STANDARD, SelectionRules(cutoff=68, quota=6, league_min={C: 2, D: 2}))
    assert steps(result)["c1"] == "league_minimum"  # c2 (65) is below the cut-off
    assert result.league_shortfall == {C: 1, D: 2}
    assert admitted(result) == ["a1", "b1", "a2", "a3", "b2", "c1"]  # unfilled minimums go to rank
    assert result.league_admitted == {A: 3, B: 2, C: 1}


def test_reserve_is_the_next_eligible_by_rank():
    result = select(STANDARD, SelectionRules(cutoff=62, quota=3, league_max={A: 1}, reserve_count=3))
    assert admitted(result) == ["a1", "b1", "b2"]
    assert [d.attempt_id for d in result.reserve] == ["a2", "a3", "c1"]
    assert [d.reserve_position for d in result.reserve] == [1, 2, 3]
    assert {d.step for d in result.reserve} == {"reserve"}
    assert result.decisions["a2"].reason_zh.startswith("候补第 1 位")
    assert result.decisions["c2"].status == "not_admitted"


# --- ties at every boundary ------------------------------------------------------------------

TIED = rows_of(("a1", 90, A), ("b1", 80, B), ("a2", 80, A), ("c1", 70, C), ("c2", 60, C))


def test_tie_at_the_quota_admit_all_exceeds_the_quota():
    result = select(TIED, SelectionRules(cutoff=0, quota=2))
    assert admitted(result) == ["a1", "b1", "a2"]
    assert "tied at the boundary" in result.decisions["a2"].reason_en
    assert "并列" in result.decisions["b1"].reason_zh
    assert "tied" not in result.decisions["a1"].reason_en


def test_tie_at_the_quota_admit_none_leaves_the_place_empty():
    result = select(TIED, SelectionRules(cutoff=0, quota=2, boundary_ties="admit_none", reserve_count=1))
    assert admitted(result) == ["a1"]  # c1 below the tie does not take the place
    assert result.decisions["b1"].reason_en == (
        "tied at the quota boundary; under admit_none no tied student is admitted")
    assert "not passed further down" in result.decisions["c2"].reason_en
    assert [d.attempt_id for d in result.reserve] == []  # the tie at the reserve boundary is all out


def test_tie_at_the_reserve_boundary_admit_all():
    result = select(TIED, SelectionRules(cutoff=0, quota=1, reserve_count=1))
    assert [d.attempt_id for d in result.reserve] == ["b1", "a2"]
    assert [d.reserve_position for d in result.reserve] == [1, 1]


TIED_IN_LEAGUE = rows_of(("a1", 95, A), ("b1", 90, B), ("c1", 70, C), ("c2", 70, C), ("c3", 50, C))


def test_tie_at_a_league_minimum_admit_all():
    result = select(TIED_IN_LEAGUE, SelectionRules(cutoff=0, quota=3, league_min={C: 1}))
    assert steps(result) == {"a1": "overall", "c1": "league_minimum", "c2": "league_minimum"}
    assert "tied at the boundary" in result.decisions["c2"].reason_en


def test_tie_at_a_league_minimum_admit_none():
    rules = SelectionRules(cutoff=0, quota=3, league_min={C: 1}, boundary_ties="admit_none")
    result = select(TIED_IN_LEAGUE, rules)
    # Neither tied student takes the minimum and c3 may not jump over them; the places go by rank.
    assert admitted(result) == ["a1", "b1"]
    assert result.league_shortfall == {C: 1}
    assert result.decisions["c3"].status == "not_admitted"


def test_tie_at_a_league_minimum_admit_none_can_still_admit_by_rank():
    rules = SelectionRules(cutoff=0, quota=4, league_min={C: 1}, boundary_ties="admit_none")
    result = select(TIED_IN_LEAGUE, rules)
    assert steps(result) == {"a1": "overall", "b1": "overall", "c1": "overall", "c2": "overall"}


TIED_AT_MAX = rows_of(("a1", 95, A), ("a2", 90, A), ("a3", 90, A), ("b1", 85, B), ("a4", 80, A),
                      ("b2", 70, B))


def test_tie_at_a_league_maximum_admit_all():
    result = select(TIED_AT_MAX, SelectionRules(cutoff=0, quota=5, league_max={A: 2}))
    assert admitted(result) == ["a1", "a2", "a3", "b1", "b2"]
    assert "tied at the boundary" in result.decisions["a3"].reason_en
    assert result.decisions["a4"].reason_en == "the league has reached its maximum of 2"


def test_tie_at_a_league_maximum_admit_none():
    rules = SelectionRules(cutoff=0, quota=4, league_max={A: 2}, boundary_ties="admit_none")
    result = select(TIED_AT_MAX, rules)
    assert admitted(result) == ["a1", "b1", "b2"]  # a4 may not take the place the tie left
    assert "tied at the league maximum" in result.decisions["a2"].reason_en
    assert "not passed further down" in result.decisions["a4"].reason_en


# --- misconfiguration ------------------------------------------------------------------------


@pytest.mark.parametrize(("rules", "message"), [
    (SelectionRules(cutoff=0, quota=5, league_min={A: 3}, league_max={A: 2}),
     "maximum 2 is below its minimum 3"),
    (SelectionRules(cutoff=0, quota=3, league_min={A: 2, B: 2}), "add up to 4, more than the quota of 3"),
    (SelectionRules(cutoff=0, quota=3, boundary_ties="coin_toss"), "boundary_ties"),
    (SelectionRules(cutoff=0, quota=-1), "quota"),
    (SelectionRules(cutoff=0, quota=2, reserve_count=1.5), "reserve_count"),
    (SelectionRules(cutoff=float("nan"), quota=2), "cutoff"),
])
def test_contradictory_rules_are_refused(rules, message):
    with pytest.raises(ValueError, match=message):
        select(STANDARD, rules)


def test_duplicate_attempts_are_refused():
    with pytest.raises(ValueError, match="only once"):
        select(list(STANDARD) + [STANDARD[0]], SelectionRules(cutoff=0, quota=1))


def test_empty_input():
    result = select([], SelectionRules(cutoff=0, quota=3, league_min={A: 1}, reserve_count=2))
    assert (result.admitted, result.reserve, result.league_shortfall) == ((), (), {A: 1})


# --- properties ------------------------------------------------------------------------------

LEAGUES = [A, B, C, None]


@st.composite
def selections(draw):
    size = draw(st.integers(0, 25))
    entries = [Entry(i, draw(st.integers(0, 6)) * 10, draw(st.sampled_from(LEAGUES)),
                     status=draw(st.sampled_from(["finalized"] * 6 + ["voided", "absent"])))
               for i in range(size)]
    quota = draw(st.integers(0, 10))
    league_min, league_max = {}, {}
    for league in (A, B, C):
        low = draw(st.integers(0, 3))
        if sum(league_min.values()) + low <= quota:
            league_min[league] = low
        if draw(st.booleans()):
            league_max[league] = draw(st.integers(league_min.get(league, 0), 5))
    rules = SelectionRules(cutoff=draw(st.integers(0, 3)) * 10, quota=quota, league_min=league_min,
                           league_max=league_max,
                           boundary_ties=draw(st.sampled_from(["admit_all", "admit_none"])),
                           reserve_count=draw(st.integers(0, 4)))
    return rank(entries), rules


@settings(max_examples=300)
@given(selections())
def test_selection_invariants(case):
    rows, rules = case
    result = select(rows, rules)
    eligible = {r.attempt_id: r for r in rows if r.rank is not None and r.total >= rules.cutoff}
    chosen = {d.attempt_id for d in result.admitted}
    reserve = [d.attempt_id for d in result.reserve]
    assert chosen <= set(eligible)
    assert not chosen & set(reserve)
    assert set(reserve) <= set(eligible)
    assert len(result.decisions) == len(rows)
    assert [d.rank for d in result.admitted] == sorted(d.rank for d in result.admitted)
    assert [eligible[i].rank for i in reserve] == sorted(eligible[i].rank for i in reserve)
    # The reserve is taken from the top of those left over.
    left = sorted((r for k, r in eligible.items() if k not in chosen), key=lambda r: r.rank)
    assert reserve == [r.attempt_id for r in left[:len(reserve)]]
    for league, minimum in rules.league_min.items():
        in_league = [d for d in result.admitted if d.league_code == league]
        available = sum(1 for r in eligible.values() if r.league_code == league)
        assert len(in_league) + result.league_shortfall.get(league, 0) >= min(minimum, available)
    if rules.boundary_ties == "admit_none":
        assert len(chosen) <= rules.quota
        assert len(reserve) <= rules.reserve_count
        for league, maximum in rules.league_max.items():
            assert result.league_admitted.get(league, 0) <= maximum
        for league, minimum in rules.league_min.items():
            by_minimum = [d for d in result.admitted if (d.step, d.league_code) == ("league_minimum", league)]
            assert len(by_minimum) <= minimum
    # Ties are never split by rank alone: within a tied group of one league, all in or all out,
    # unless the league minimum and the overall step drew the line.
    for d in result.admitted:
        for other in eligible.values():
            if other.rank == d.rank and other.league_code == d.league_code and other.attempt_id not in chosen:
                pytest.fail(f"tied students {d.attempt_id} and {other.attempt_id} of one league split")


@st.composite
def plain_selections(draw):
    entries = [Entry(i, draw(st.integers(0, 5)) * 10, A) for i in range(draw(st.integers(0, 20)))]
    return rank(entries), draw(st.integers(0, 12)), draw(st.sampled_from(["admit_all", "admit_none"]))


@given(plain_selections())
def test_without_league_rules_selection_is_a_rank_threshold(case):
    rows, quota, ties = case
    result = select(rows, SelectionRules(cutoff=0, quota=quota, boundary_ties=ties))
    ranks = [r.rank for r in rows]
    if ties == "admit_all":  # everyone with fewer than `quota` students strictly ahead
        expected = {r.attempt_id for r in rows if r.rank - 1 < quota}
    else:  # everyone whose whole tied group fits
        expected = {r.attempt_id for r in rows if sum(k <= r.rank for k in ranks) <= quota}
    assert {d.attempt_id for d in result.admitted} == expected
