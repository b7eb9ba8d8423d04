"""Stored rankings against a brute-force oracle; voiding and absence; publication and verification."""
from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.domain import snapshots
from app.models import Attempt, AuditEntry, RankingRow, ResultSnapshot, Voiding
from app.services import audit, publication, rankings, selection_service, voiding
from app.services.rankings import ResultsError
from tests import results_fixtures as rf
from tests.results_fixtures import SECTIONS, Spec, seeded_exam

ACTOR = audit.Actor(None, "pytest")
LEAGUES = ("150100", "150200", "152900")


def _random_specs(rng: random.Random, n: int) -> list[Spec]:
    specs = []
    for _ in range(n):
        # Few distinct values, so ties are everywhere: totals, subtotals, wrong answers and times.
        first = rng.choice([10, 12, 12.5, 14])
        second = rng.choice([0, 5, 5, 8])
        state = rng.choices(["finalized", "voided", "absent", "in_progress"], [20, 1, 1, 1])[0]
        specs.append(Spec(total=first + second, league=rng.choice(LEAGUES), school=rng.randrange(3),
                          sections={SECTIONS[0]: first, SECTIONS[1]: second}, wrong=rng.choice([0, 1, 1, 2]),
                          time_used=rng.choice([3000, 3600, 3600]), state=state))
    return specs


def _key(spec: Spec, tie_breaks: tuple[str, ...]) -> tuple:
    key = [-round(spec.total * 100)]
    for item in tie_breaks:
        if item == "fewer_wrong":
            key.append(spec.wrong)
        elif item == "less_time":
            key.append(spec.time_used)
        else:
            key.append(-round(spec.sections.get(item[len("section:"):], 0) * 100))
    return tuple(key)


def _oracle_rank(me: Spec, group: list[Spec], tie_breaks: tuple[str, ...]) -> int:
    """1 + the number of ranked attempts strictly ahead: competition ranking, computed the slow way."""
    return 1 + sum(1 for other in group if _key(other, tie_breaks) < _key(me, tie_breaks))


def _oracle_percentile(rank: int, count: int) -> float:
    if count == 1:
        return 100.0
    value = Decimal(100 * (count - rank)) / Decimal(count - 1)
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("seed,tie_breaks", [
    (1, ()), (2, ()), (3, ("fewer_wrong",)), (4, (f"section:{SECTIONS[1]}", "less_time")),
    (5, ("less_time", "fewer_wrong")),
])
def test_stored_ranks_match_a_brute_force_oracle(db_session, make, now, seed, tie_breaks):
    rng = random.Random(seed)
    specs = _random_specs(rng, 45)
    exam, created = seeded_exam(db_session, now, make, specs, tie_breaks=tie_breaks)
    run = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    stored = {row.attempt_id: row for row in rankings.stored_rows(db_session, run.id)}
    school_of = {a.id: row.school_id for a, row in ((a, stored[a.id]) for a in created)}

    ranked = [(a, s) for a, s in zip(created, specs) if s.state == "finalized"]
    assert run.ranked_count == len(ranked) and run.row_count == len(specs)
    for attempt, spec in zip(created, specs):
        row = stored[attempt.id]
        if spec.state != "finalized":
            assert (row.rank, row.league_rank, row.school_rank, row.percentile) == (None, None, None, None)
            continue
        league_group = [s for a, s in ranked if s.league == spec.league]
        school_group = [s for a, s in ranked if school_of[a.id] == school_of[attempt.id]]
        expected = _oracle_rank(spec, [s for _, s in ranked], tie_breaks)
        assert row.rank == expected, (spec, row.rank, expected)
        assert row.league_rank == _oracle_rank(spec, league_group, tie_breaks)
        assert row.school_rank == _oracle_rank(spec, school_group, tie_breaks)
        assert row.percentile == _oracle_percentile(expected, len(ranked))
        assert row.league_count == len(league_group) and row.school_count == len(school_group)
        assert row.tied == any(_key(s, tie_breaks) == _key(spec, tie_breaks) for a, s in ranked if a is not attempt)
    in_order = sorted(stored.values(), key=lambda row: row.position)
    ranks = [row.rank for row in in_order if row.rank is not None]
    assert ranks == sorted(ranks) and all(row.rank is None for row in in_order[len(ranks):])


def test_ties_share_a_rank_and_the_next_rank_skips(db_session, make, now):
    exam, _created = seeded_exam(db_session, now, make, [Spec(90), Spec(85), Spec(85), Spec(80)])
    run = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    assert [r.rank for r in rankings.stored_rows(db_session, run.id)] == [1, 2, 2, 4]


def _void(db_session, make, attempt, now):
    first, second = make.user(role="admin"), make.user(role="admin")
    request = voiding.request_void(db_session, attempt, staff=first, reason="携带手机作弊", now=now, actor=ACTOR)
    return first, second, request


def test_a_voided_attempt_leaves_the_ranks(db_session, make, now):
    exam, created = seeded_exam(db_session, now, make, [Spec(90), Spec(85), Spec(80), Spec(70)])
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    first, second, request = _void(db_session, make, created[0], now)
    assert not rankings.is_stale(db_session, exam, rankings.current_run(db_session, exam.id))
    with pytest.raises(ResultsError) as info:  # the requester cannot approve their own request
        voiding.decide(db_session, request, staff=first, approve=True, note="", now=now, actor=ACTOR)
    assert info.value.code == "two_people"
    voiding.decide(db_session, request, staff=second, approve=True, note="同意", now=now, actor=ACTOR)
    assert created[0].state == "voided"
    assert rankings.is_stale(db_session, exam, rankings.current_run(db_session, exam.id))
    run = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    rows = {r.attempt_id: r for r in rankings.stored_rows(db_session, run.id)}
    assert rows[created[0].id].rank is None and rows[created[0].id].status == "voided"
    assert [rows[a.id].rank for a in created[1:]] == [1, 2, 3]
    assert run.ranked_count == 3
    actions = set(db_session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(created[0].id))))
    assert {"attempt.void_request", "attempt.void"} <= actions


def test_one_person_cannot_void_alone_even_past_the_service(db_session, make, now):
    _exam, created = seeded_exam(db_session, now, make, [Spec(90)])
    first, _, request = _void(db_session, make, created[0], now)
    request.state, request.decided_by_id = "approved", first.id
    with pytest.raises(IntegrityError), db_session.begin_nested():  # the database's check constraint
        db_session.flush()


def test_voiding_needs_a_reason_and_a_finalized_attempt(db_session, make, now):
    _exam, created = seeded_exam(db_session, now, make, [Spec(90), Spec(0, state="in_progress")])
    admin = make.user(role="admin")
    with pytest.raises(ResultsError):
        voiding.request_void(db_session, created[0], staff=admin, reason=" ", now=now, actor=ACTOR)
    with pytest.raises(ResultsError):
        voiding.request_void(db_session, created[1], staff=admin, reason="作弊行为", now=now, actor=ACTOR)


def test_league_admin_voids_only_in_their_league(db_session, make, now):
    _exam, created = seeded_exam(db_session, now, make, [Spec(90, league="150200")])
    hohhot = make.user(role="league_admin", league_code="150100")
    with pytest.raises(ResultsError) as info:
        voiding.request_void(db_session, created[0], staff=hohhot, reason="作弊行为", now=now, actor=ACTOR)
    assert info.value.status == 403


def test_absent_students_are_marked_and_unranked(db_session, make, now):
    exam, _created = seeded_exam(db_session, now, make, [Spec(90)])
    missing = make.student(subject="physics")
    admin = make.user(role="admin")
    with pytest.raises(ResultsError):  # students can still start: not all at once yet
        voiding.mark_all_absent(db_session, exam, now=now, actor=ACTOR)
    assert voiding.mark_all_absent(db_session, exam, now=exam.closes_at, actor=ACTOR) >= 1
    state = db_session.scalar(select(Attempt.state).where(Attempt.exam_id == exam.id,
                                                          Attempt.student_id == missing.user_id))
    assert state == "absent"
    with pytest.raises(ResultsError):  # and not twice
        voiding.mark_absent(db_session, exam, missing.user, staff=admin, reason="", now=now, actor=ACTOR)
    run = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    absent_rows = [r for r in rankings.stored_rows(db_session, run.id) if r.status == "absent"]
    assert absent_rows and all(r.rank is None for r in absent_rows)


def test_old_runs_are_pruned_but_published_ones_kept(db_session, make, now):
    exam, _ = seeded_exam(db_session, now, make, [Spec(90), Spec(80)])
    first = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    published = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR).snapshot
    assert published.run_id == first.id
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    third = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    runs = set(db_session.scalars(select(RankingRow.run_id).distinct()
                                  .where(RankingRow.run_id.in_([first.id, third.id, third.id - 1]))))
    assert runs == {first.id, third.id}


# --- publication and verification ----------------------------------------------------------------


def _published(db_session, make, now, specs=None):
    exam, created = seeded_exam(db_session, now, make, specs or [
        Spec(90, league="150100"), Spec(85, league="150200"), Spec(85, league="150100"), Spec(70, league="150200")])
    rules = selection_service.parse_rules({"cutoff": 80, "quota": 2})
    selection_service.fix(db_session, exam, rules, user_id=None, now=now, actor=ACTOR)
    result = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    return exam, created, result.snapshot


def test_publication_stores_the_canonical_csv_and_its_hash(db_session, make, now):
    exam, _created, snapshot = _published(db_session, make, now)
    assert snapshot.version == 1 and snapshot.sha256 == snapshots.sha256_text(snapshot.canonical_csv)
    parsed = snapshots.parse_canonical(snapshot.canonical_csv)
    assert len(parsed) == 4
    assert sorted(row["rank"] for row in parsed.values()) == ["1", "2", "2", "4"]
    assert {row["selection"] for row in parsed.values()} == {"admitted", "ineligible"}
    assert "测试考生" not in snapshot.canonical_csv  # no names in the canonical form
    assert exam.results_published_at == now
    again = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    assert not again.new and again.snapshot.version == 1


def test_verify_passes_then_detects_one_tampered_score(db_session, make, now):
    exam, created, _snapshot = _published(db_session, make, now)
    assert publication.verify(db_session, exam).ok
    db_session.execute(update(Attempt).where(Attempt.id == created[3].id).values(score_total=95.0))
    report = publication.verify(db_session, exam)
    assert report.text_ok and report.stored_ok and not report.recomputed_ok and not report.ok
    changed = {d["exam_number"] for d in report.differences if d["source"] == "recomputed"}
    assert len(changed) >= 1


def test_verify_detects_one_tampered_stored_row(db_session, make, now):
    exam, created, snapshot = _published(db_session, make, now)
    db_session.execute(update(RankingRow).where(RankingRow.run_id == snapshot.run_id,
                                                RankingRow.attempt_id == created[3].id).values(total=71.0))
    report = publication.verify(db_session, exam)
    assert report.text_ok and not report.stored_ok and report.recomputed_ok
    assert [d["fields"] for d in report.differences] == [{"total": ["70.00", "71.00"]}]


def test_verify_detects_a_tampered_stored_csv(db_session, make, now):
    exam, _, snapshot = _published(db_session, make, now)
    db_session.execute(update(ResultSnapshot).where(ResultSnapshot.id == snapshot.id)
                       .values(canonical_csv=snapshot.canonical_csv.replace("90.00", "99.00")))
    db_session.expire_all()
    assert not publication.verify(db_session, exam).text_ok


def test_a_change_after_publication_publishes_a_new_version_with_a_diff(db_session, make, now):
    exam, created, first = _published(db_session, make, now)
    _, second_staff, request = _void(db_session, make, created[0], now)
    voiding.decide(db_session, request, staff=second_staff, approve=True, note="", now=now, actor=ACTOR)
    latest = publication.latest_snapshot(db_session, exam.id)
    assert latest.version == 2 and latest.reason.startswith("违纪作废")
    moved = {c["exam_number"]: c["fields"] for c in latest.diff["changed"]}
    assert moved  # the voided attempt and everyone below it
    number = snapshots.parse_canonical(first.canonical_csv)
    voided_number = next(n for n, row in number.items() if row["total"] == "90.00")
    assert moved[voided_number]["status"] == ["finalized", "voided"]
    assert publication.verify(db_session, exam).ok
    assert db_session.scalar(select(Voiding.state)) == "approved"


def test_publication_waits_for_graders_and_unfinished_attempts(db_session, make, now):
    exam, _ = seeded_exam(db_session, now, make, [Spec(90, needs_manual=True)])
    with pytest.raises(ResultsError) as info:
        publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    assert info.value.code == "pending_manual"
    exam2, _ = seeded_exam(db_session, now, make, [Spec(90), Spec(0, state="in_progress")])
    with pytest.raises(ResultsError) as info:
        publication.publish(db_session, rf.closed(exam2, now), user_id=None, now=now, actor=ACTOR)
    assert info.value.code == "unfinished"


def test_student_sees_only_a_published_result(db_session, make, now):
    exam, created = seeded_exam(db_session, now, make, [Spec(90, league="150200"), Spec(80, league="150200")])
    from app.models import User

    user = db_session.get(User, created[1].student_id)
    before = publication.student_result(db_session, exam, user, now=now)
    assert before.snapshot is None and before.row is None
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    after = publication.student_result(db_session, exam, user, now=now)
    assert (after.row.total, after.row.rank, after.row.league_rank, after.row.percentile) == (80, 2, 2, 0.0)
    assert after.review_open
    stranger = make.student().user
    assert publication.student_result(db_session, exam, stranger, now=now) is None


def test_public_list_masks_names_and_exam_numbers(db_session, make, now):
    exam, _created = seeded_exam(db_session, now, make, [Spec(90, name="乌云其其格"), Spec(80, name="张晓彤")])
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    assert publication.public_list(db_session, exam) is None  # not enabled
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR, public_list=True)
    _, rows = publication.public_list(db_session, exam)
    assert [r.name for r in rows] == ["乌***格", "张*彤"]
    assert all("*" in r.exam_number for r in rows)
