"""Selection on a stored ranking: ties at every boundary, what-if equals fixing, the step that admitted."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain.selection import select as domain_select
from app.models import AuditEntry, SelectionDecision, SelectionRule
from app.services import audit, publication, rankings, selection_service
from app.services.rankings import ResultsError
from tests import results_fixtures as rf
from tests.results_fixtures import Spec, seeded_exam

ACTOR = audit.Actor(None, "pytest")
A, B, C = "150100", "150200", "152900"


def _fixed(db_session, exam, **fields):
    rules = selection_service.parse_rules(fields)
    rule = selection_service.fix(db_session, exam, rules, user_id=None, now=exam.opens_at, actor=ACTOR)
    return rule, {d.attempt_id: d for d in db_session.scalars(select(SelectionDecision)
                                                              .where(SelectionDecision.rule_id == rule.id))}


def _statuses(decisions, attempts):
    return [decisions[a.id].status for a in attempts]


def test_cutoff_boundary_is_inclusive_to_the_cent(db_session, make, now):
    exam, rows = seeded_exam(db_session, now, make, [Spec(60.0), Spec(59.99), Spec(60.01)])
    _, decisions = _fixed(db_session, exam, cutoff="60", quota=10)
    assert _statuses(decisions, rows) == ["admitted", "ineligible", "admitted"]
    assert "低于分数线" in decisions[rows[1].id].reason_zh


@pytest.mark.parametrize("ties,expected", [
    ("admit_all", ["admitted", "admitted", "admitted", "admitted", "reserve"]),
    # admit_none: nobody of the tied group is admitted and nobody below takes the place; the same tie
    # then crosses the end of the one-place reserve list, so the reserve stays empty too.
    ("admit_none", ["admitted", "not_admitted", "not_admitted", "not_admitted", "not_admitted"]),
])
def test_a_tie_at_the_quota_boundary(db_session, make, now, ties, expected):
    # Quota 2: the second place is shared by three students.
    exam, rows = seeded_exam(db_session, now, make, [Spec(90), Spec(80), Spec(80), Spec(80), Spec(70)])
    rule, decisions = _fixed(db_session, exam, cutoff=0, quota=2, boundary_ties=ties, reserve_count=1)
    assert _statuses(decisions, rows) == expected
    assert rule.admitted_count == expected.count("admitted")
    assert {decisions[r.id].step for r in rows if decisions[r.id].status == "admitted"} == {"overall"}


@pytest.mark.parametrize("ties", ["admit_all", "admit_none"])
def test_a_tie_at_a_league_minimum(db_session, make, now, ties):
    exam, rows = seeded_exam(db_session, now, make, [
        Spec(95, league=A), Spec(90, league=A), Spec(60, league=C), Spec(60, league=C), Spec(50, league=C)])
    _, decisions = _fixed(db_session, exam, cutoff=0, quota=3, boundary_ties=ties, league_min={C: 1})
    league_c = [decisions[r.id] for r in rows[2:4]]
    if ties == "admit_all":
        assert [d.status for d in league_c] == ["admitted", "admitted"]
        assert {d.step for d in league_c} == {"league_minimum"}
        # Both tied students took league places, so only one place is left for the overall step.
        assert decisions[rows[0].id].status == "admitted" and decisions[rows[1].id].status == "not_admitted"
    else:
        assert [d.status for d in league_c] == ["not_admitted", "not_admitted"]
    assert decisions[rows[4].id].status != "admitted"


@pytest.mark.parametrize("ties", ["admit_all", "admit_none"])
def test_a_tie_at_a_league_maximum(db_session, make, now, ties):
    exam, rows = seeded_exam(db_session, now, make, [
        Spec(99, league=A), Spec(95, league=A), Spec(95, league=A), Spec(80, league=B), Spec(70, league=B)])
    _, decisions = _fixed(db_session, exam, cutoff=0, quota=3, boundary_ties=ties, league_max={A: 2})
    statuses = _statuses(decisions, rows)
    if ties == "admit_all":  # the tied pair goes over the league maximum together and fills the quota
        assert statuses == ["admitted", "admitted", "admitted", "not_admitted", "not_admitted"]
        assert "并列" in decisions[rows[2].id].reason_zh
    else:  # neither of the tied pair; the next league's students take the places
        assert statuses == ["admitted", "not_admitted", "not_admitted", "admitted", "admitted"]


@pytest.mark.parametrize("ties", ["admit_all", "admit_none"])
def test_a_tie_at_the_end_of_the_reserve_list(db_session, make, now, ties):
    exam, rows = seeded_exam(db_session, now, make, [Spec(90), Spec(80), Spec(70), Spec(70), Spec(60)])
    _, decisions = _fixed(db_session, exam, cutoff=0, quota=1, boundary_ties=ties, reserve_count=2)
    reserve = [r for r in rows if decisions[r.id].status == "reserve"]
    if ties == "admit_all":
        assert [decisions[r.id].reserve_position for r in reserve] == [1, 2, 2]
    else:
        assert [decisions[r.id].reserve_position for r in reserve] == [1]


def test_voided_and_absent_are_never_selected(db_session, make, now):
    exam, rows = seeded_exam(db_session, now, make, [Spec(99, state="voided"), Spec(0, state="absent"), Spec(50)])
    _, decisions = _fixed(db_session, exam, cutoff=0, quota=5)
    assert _statuses(decisions, rows) == ["ineligible", "ineligible", "admitted"]


def test_what_if_equals_what_fixing_stores(db_session, make, now):
    specs = [Spec(90 - i % 7, league=(A, B, C)[i % 3]) for i in range(30)]
    exam, _rows = seeded_exam(db_session, now, make, specs)
    fields = {"cutoff": 84, "quota": 8, "league_min": {C: 3}, "league_max": {A: 3}, "reserve_count": 4}
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    preview = selection_service.preview(db_session, exam, selection_service.parse_rules(fields))
    _, stored = _fixed(db_session, exam, **fields)
    assert {k: (d.status, d.step, d.reserve_position) for k, d in preview.result.decisions.items()} == \
        {k: (d.status, d.step, d.reserve_position) for k, d in stored.items()}
    # and both equal the domain rule applied to the stored ranking
    run = rankings.current_run(db_session, exam.id)
    direct = domain_select(rankings.as_ranked_rows(rankings.stored_rows(db_session, run.id)),
                           selection_service.parse_rules(fields))
    assert {k: d.status for k, d in direct.decisions.items()} == {k: d.status for k, d in stored.items()}


def test_fixing_supersedes_the_previous_rule_and_is_audited(db_session, make, now):
    exam, rows = seeded_exam(db_session, now, make, [Spec(90), Spec(80)])
    first, _ = _fixed(db_session, exam, cutoff=0, quota=1)
    second, decisions = _fixed(db_session, exam, cutoff=0, quota=2)
    assert first.state == "superseded" and second.state == "fixed"
    assert selection_service.current_fixed(db_session, exam.id).id == second.id
    assert _statuses(decisions, rows) == ["admitted", "admitted"]
    entries = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "selection.fix")).all()
    assert len(entries) == 2 and entries[-1].after["quota"] == 2


def test_publication_reapplies_the_fixed_rule_to_a_newer_ranking(db_session, make, now):
    exam, rows = seeded_exam(db_session, now, make, [Spec(90), Spec(80), Spec(70)])
    _fixed(db_session, exam, cutoff=0, quota=1)
    rows[2].score_total = 95.0
    rows[2].score_detail = {**rows[2].score_detail, "sections": {"选择": 95.0}}
    rankings.mark_changed(db_session, exam.id, now)
    snapshot = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR).snapshot
    rule = db_session.get(SelectionRule, snapshot.selection_rule_id)
    assert rule.run_id == snapshot.run_id and rule.quota == 1
    decisions = selection_service.decisions(db_session, rule.id)
    assert decisions[rows[2].id].status == "admitted" and decisions[rows[0].id].status == "not_admitted"


def test_contradictory_or_malformed_rules_are_refused(db_session, make, now):
    with pytest.raises(ResultsError):
        selection_service.parse_rules({"cutoff": 0, "quota": 1, "league_min": {A: 2}})
    with pytest.raises(ResultsError):
        selection_service.parse_rules({"cutoff": "abc", "quota": 1})
    with pytest.raises(ResultsError):
        selection_service.parse_rules({"cutoff": 0, "quota": -1})
    with pytest.raises(ResultsError):
        selection_service.parse_rules({"cutoff": 0, "quota": 1, "min_999999": 1}, leagues={A})


def test_fixing_waits_for_manual_grading(db_session, make, now):
    exam, _ = seeded_exam(db_session, now, make, [Spec(90, needs_manual=True)])
    with pytest.raises(ResultsError) as info:
        _fixed(db_session, exam, cutoff=0, quota=1)
    assert info.value.code == "pending_manual"
