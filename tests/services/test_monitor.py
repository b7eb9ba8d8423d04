"""The live monitor's counts against a known set of attempts; extensions, reopen and scopes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import Attempt, AuditEntry, TimeGrant
from app.services import attempts, extensions, monitor, rooms
from app.services.attempts import AttemptError, Client
from app.services.audit import Actor
from tests import exam_fixtures as fx

C = Client("127.0.0.1", "pytest")
A = Actor(None, "test")


@pytest.fixture
def world(db_session, make, now):
    """Ten physics students in two leagues and three rooms, in known states."""
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    hohhot, baotou = make.school("150100", "监控一中"), make.school("150200", "监控二中")
    room_a = rooms.create_room(db_session, hohhot, name="A", seats=10, actor=A, now=now)
    room_b = rooms.create_room(db_session, hohhot, name="B", seats=10, actor=A, now=now)
    room_c = rooms.create_room(db_session, baotou, name="C", seats=10, actor=A, now=now)
    people = {}
    plan = [  # key, school, room, what happens
        ("a1", hohhot, room_a, "in_progress"), ("a2", hohhot, room_a, "stale"), ("a3", hohhot, room_a, "submitted"),
        ("a4", hohhot, room_a, "not_started"), ("b1", hohhot, room_b, "absent"), ("b2", hohhot, room_b, "time_over"),
        ("b3", hohhot, room_b, "in_progress"), ("c1", baotou, room_c, "in_progress"), ("c2", baotou, room_c, "submitted"),
        ("c3", baotou, room_c, "not_started"),
    ]
    for key, school, room, what in plan:
        profile = make.student(school=school, league_code=school.league_code, subject="physics",
                               exam_number=f"MON{key.upper()}01")
        rooms.assign_seat(db_session, profile, room, None, actor=A, now=now)
        people[key] = profile
        if what in ("not_started", "absent"):
            if what == "absent":
                rooms.mark_attendance(db_session, exam, room, profile.user_id, "absent", actor=A, now=now)
            continue
        attempts.accept_pledge(db_session, exam=exam, user=profile.user, now=now, client=C)
        attempt = attempts.start(db_session, exam=exam, user=profile.user, now=now, client=C)
        if what == "submitted":
            attempts.submit(db_session, attempt, token=None, now=now + timedelta(minutes=30), client=C)
        elif what == "time_over":
            attempts.finalize(db_session, attempt, now=now + timedelta(minutes=125), reason="time_over")
        elif what == "stale":
            attempt.last_seen_at = now - timedelta(minutes=5)
        else:
            attempt.last_seen_at = now + timedelta(minutes=9, seconds=30)
            attempts.heartbeat(db_session, attempt, token=None, events=[{"kind": "blur"}, {"kind": "paste"},
                                                                        {"kind": "not-a-kind"}],
                               now=now + timedelta(minutes=9, seconds=30), client=C)
    # an ineligible student (another subject) is not counted
    make.student(school=hohhot, subject="math", exam_number="MONMATH01")
    db_session.flush()
    return exam, people, {"A": room_a, "B": room_b, "C": room_c}, (hohhot, baotou)


def test_counts_match_the_known_attempts(db_session, world, now):
    exam, _people, _room, _ = world
    snap = monitor.snapshot(db_session, exam, monitor.Scope(), now=now + timedelta(minutes=10))
    t = snap["totals"]
    assert (t["total"], t["not_started"], t["in_progress"], t["submitted"], t["finalized"], t["absent"]) == (10, 2, 4, 2, 1, 1)
    assert t["stale"] == 1 and t["integrity_events"] == 2 * 3
    by_room = {r["name"]: r for r in snap["rooms"]}
    assert (by_room["A"]["in_progress"], by_room["A"]["stale"], by_room["A"]["submitted"], by_room["A"]["not_started"]) == (2, 1, 1, 1)
    assert (by_room["B"]["absent"], by_room["B"]["finalized"]) == (1, 1)
    by_league = {r["id"]: r["total"] for r in snap["leagues"]}
    assert by_league == {"150100": 7, "150200": 3}
    stale = [s["exam_number"] for s in snap["students"] if s["stale"]]
    assert stale == ["MONA201"]


def test_scopes_of_league_admins_and_proctors(db_session, world, make, now):
    exam, _people, room, _ = world
    league_admin = make.user(role="league_admin", league_code="150200")
    scope = monitor.scope_for(db_session, league_admin)
    assert {s["exam_number"] for s in monitor.student_rows(db_session, exam, scope, now=now)} == {"MONC101", "MONC201", "MONC301"}
    assert monitor.student_rows(db_session, exam, scope.narrowed(league="150100"), now=now) == []
    proctor = make.user(role="proctor")
    rooms.set_proctors(db_session, room["B"], [proctor.id], actor=A, now=now)
    pscope = monitor.scope_for(db_session, proctor)
    assert {s["room"] for s in monitor.student_rows(db_session, exam, pscope, now=now)} == {"B"}
    assert monitor.student_rows(db_session, exam, pscope.narrowed(room=room["A"].id), now=now) == []
    assert monitor.scope_for(db_session, make.user(role="teacher")) is None


def test_extending_a_room_changes_the_deadline_the_page_receives(db_session, world, now):
    exam, people, room, _ = world
    later = now + timedelta(minutes=10)
    a1 = db_session.scalar(select(Attempt).where(Attempt.student_id == people["a1"].user_id))
    c1 = db_session.scalar(select(Attempt).where(Attempt.student_id == people["c1"].user_id))
    before_a1, before_c1 = a1.deadline, c1.deadline
    result = extensions.extend(db_session, exam, target="room", value=str(room["A"].id), minutes=10, reason="A 室停电",
                               actor=A, scope=monitor.Scope(), now=later)
    assert result["attempts"] == 2  # a1 and a2 in progress; a3 submitted is not extended
    beat = attempts.heartbeat(db_session, a1, token=None, events=[], now=later, client=C)
    assert beat["deadline"] == (before_a1 + timedelta(minutes=10)).isoformat()
    assert beat["remaining_seconds"] == int((before_a1 + timedelta(minutes=10) - later).total_seconds())
    assert c1.deadline == before_c1
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.extend"))
    assert entry.reason == "A 室停电" and entry.after["attempts"] == 2 and entry.league_code == "150100"
    assert {g.scope for g in db_session.scalars(select(TimeGrant))} == {"room"}


def test_extension_rules(db_session, world, make, now):
    exam, people, room, _ = world
    with pytest.raises(AttemptError) as no_reason:
        extensions.extend(db_session, exam, target="exam", value=None, minutes=5, reason=" ", actor=A,
                          scope=monitor.Scope(), now=now)
    assert no_reason.value.code == "reason_required"
    league_scope = monitor.Scope(league_code="150200")
    with pytest.raises(AttemptError):
        extensions.extend(db_session, exam, target="exam", value=None, minutes=5, reason="x", actor=A,
                          scope=league_scope, now=now)
    # a league admin extending another league's room reaches nobody
    result = extensions.extend(db_session, exam, target="room", value=str(room["A"].id), minutes=5, reason="x",
                               actor=A, scope=league_scope, now=now)
    assert result["attempts"] == 0
    whole = extensions.extend(db_session, exam, target="exam", value=None, minutes=7, reason="全区断网补时", actor=A,
                              scope=monitor.Scope(), now=now)
    assert whole["attempts"] == 4
    # a student starting after an exam-wide credit gets it too
    late = people["a4"]
    attempts.accept_pledge(db_session, exam=exam, user=late.user, now=now, client=C)
    started = attempts.start(db_session, exam=exam, user=late.user, now=now + timedelta(minutes=1), client=C)
    assert started.deadline == now + timedelta(minutes=1 + 120 + 7)


def test_reopen_supersedes_the_score_and_rescores(db_session, world, now):
    _exam, people, _room, _ = world
    attempt = db_session.scalar(select(Attempt).where(Attempt.student_id == people["b2"].user_id))
    old_score = attempt.score_total
    assert attempt.state == "finalized" and attempt.scored_at is not None
    later = now + timedelta(minutes=130)
    with pytest.raises(AttemptError):
        extensions.reopen(db_session, attempt, minutes=10, reason="", actor=A, now=later, league_code=None)
    extensions.reopen(db_session, attempt, minutes=10, reason="机器故障，补时 10 分钟", actor=A, now=later, league_code="150100")
    assert attempt.state == "in_progress" and attempt.deadline == later + timedelta(minutes=10)
    assert attempt.score_total is None and attempt.scored_at is None
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "attempt.reopen"))
    assert entry.before["score_total"] == old_score and entry.before["state"] == "finalized"
    attempts.submit(db_session, attempt, token=None, now=later + timedelta(minutes=5), client=C)
    assert attempt.state == "finalized" and attempt.scored_at is not None and attempt.score_total is not None
    with pytest.raises(AttemptError):
        extensions.reopen(db_session, db_session.scalar(select(Attempt).where(
            Attempt.student_id == people["a1"].user_id)), minutes=5, reason="x", actor=A, now=later, league_code=None)


def test_a_long_list_keeps_only_students_needing_attention(db_session, world, now):
    exam, _people, _room, _ = world
    snap = monitor.snapshot(db_session, exam, monitor.Scope(), now=now + timedelta(minutes=10), max_students=3)
    assert snap["totals"]["total"] == 10 and snap["students_truncated"]
    assert all(monitor.needs_attention(s) for s in snap["students"]) and len(snap["students"]) == 3
    full = monitor.snapshot(db_session, exam, monitor.Scope(), now=now + timedelta(minutes=10))
    assert len(full["students"]) == 10 and not full["students_truncated"]


def test_closing_the_window_stops_new_starts_keeps_writers_and_lets_results_be_published(db_session, world, make, now):
    from app.services import publication, rankings

    exam, people, _, _ = world
    writer = db_session.scalar(select(Attempt).where(Attempt.student_id == people["a1"].user_id))
    deadline = writer.deadline
    with pytest.raises(AttemptError) as info:
        extensions.close_window(db_session, exam, reason=" ", actor=A, now=now + timedelta(minutes=10))
    assert info.value.code == "reason_required"
    # Publishing while students can still start is refused.
    with pytest.raises(rankings.ResultsError) as refused:
        publication.publish(db_session, exam, user_id=None, now=now + timedelta(minutes=10), actor=A)
    assert refused.value.code == "exam_open"

    closed = extensions.close_window(db_session, exam, reason="全区考试结束", actor=A, now=now + timedelta(minutes=10))
    assert closed["in_progress"] == 4 and exam.closes_at == now + timedelta(minutes=10)
    assert writer.deadline == deadline  # students writing keep their time
    late = people["a4"].user
    attempts.accept_pledge(db_session, exam=exam, user=late, now=now + timedelta(minutes=11), client=C)
    with pytest.raises(AttemptError):
        attempts.start(db_session, exam=exam, user=late, now=now + timedelta(minutes=11), client=C)
    with pytest.raises(AttemptError) as again:
        extensions.close_window(db_session, exam, reason="again", actor=A, now=now + timedelta(minutes=12))
    assert again.value.code == "invalid_state"
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.close"))
    assert entry.reason == "全区考试结束" and entry.object_id == str(exam.id)
