"""Fast reliability and security drills of ../shared/RELIABILITY.md that run as ordinary tests.

The numbers in the names are the drill numbers; docs/reliability.md lists where each drill lives.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, AttemptEvent, Response, User
from app.services import attempts as service
from tests import exam_fixtures as fx
from tests import factories
from tests.conftest import csrf_token, login

C = service.Client("127.0.0.1", "drill")


@pytest.fixture
def sitting(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    student = make.student(subject="physics")
    service.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=C)
    attempt = service.start(db_session, exam=exam, user=student.user, now=now, client=C)
    page = service.open_page(db_session, attempt, now=now, client=C)
    tf = next(q for s in page["sections"] for q in s["questions"] if q["type"] == "true_false")
    return exam, student.user, attempt, page, tf


@pytest.mark.parametrize("offset,accepted", [(-1, True), (0, True), (60, True), (61, False)])
def test_drill_11_submit_around_the_deadline(db_session, sitting, offset, accepted):
    exam, user, attempt, page, tf = sitting
    service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1, question_id=tf["id"],
                 answer=False, now=attempt.deadline - timedelta(minutes=1))
    when = attempt.deadline + timedelta(seconds=offset)
    if accepted:
        assert service.submit(db_session, attempt, token=page["token"], now=when, client=C)["state"] == "finalized"
        assert attempt.finalized_reason == "submitted"
    else:
        with pytest.raises(service.AttemptError) as info:
            service.submit(db_session, attempt, token=page["token"], now=when, client=C)
        assert info.value.code == "time_over"
    db_session.refresh(attempt)
    assert attempt.score_total == 2.0  # the earlier answer is kept and scored either way


def test_drill_12_forged_timer_fields_are_ignored(as_role, db_session):
    now = utcnow()
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    client, user = as_role("student")
    token = csrf_token(client)
    client.post(f"/api/exams/{exam.id}/pledge", json={"accept": True}, headers={"X-CSRFToken": token})
    started = client.post(f"/api/exams/{exam.id}/start", json={"deadline": "2099-01-01T00:00:00+00:00",
                                                               "remaining_seconds": 999999},
                          headers={"X-CSRFToken": token}).json
    assert started["remaining_seconds"] <= 120 * 60
    beat = client.post(f"/api/attempts/{started['attempt_id']}/heartbeat",
                       json={"deadline": "2099-01-01T00:00:00+00:00", "remaining": 99999},
                       headers={"X-CSRFToken": token}).json
    assert beat["deadline"] == started["deadline"]


def test_drill_15_session_dropped_mid_exam_then_resumed(app, make, db_session):
    now = utcnow()
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    student = make.student(subject="physics")
    client = app.test_client()
    login(client, student.exam_number)
    token = csrf_token(client)
    client.post(f"/api/exams/{exam.id}/pledge", json={"accept": True}, headers={"X-CSRFToken": token})
    first = client.post(f"/api/exams/{exam.id}/start", json={}, headers={"X-CSRFToken": token}).json
    client.delete_cookie("yingcai_session")  # the server-side session is gone
    lost = client.post(f"/api/attempts/{first['attempt_id']}/heartbeat", json={}, headers={"X-CSRFToken": token})
    assert lost.status_code in (400, 401) and lost.is_json  # JSON, never an HTML redirect
    login(client, student.exam_number)
    token = csrf_token(client)
    again = client.post(f"/api/exams/{exam.id}/start", json={}, headers={"X-CSRFToken": token}).json
    assert again["attempt_id"] == first["attempt_id"] and again["deadline"] == first["deadline"]


def test_drill_18_every_id_route_answers_404_to_another_student(app, as_role, db_session):
    """Generated from the URL map: every student-reachable route with an id parameter."""
    now = utcnow()
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    owner, _ = as_role("student")
    otoken = csrf_token(owner)
    owner.post(f"/api/exams/{exam.id}/pledge", json={"accept": True}, headers={"X-CSRFToken": otoken})
    attempt_id = owner.post(f"/api/exams/{exam.id}/start", json={}, headers={"X-CSRFToken": otoken}).json["attempt_id"]
    intruder, _ = as_role("student")
    itoken = csrf_token(intruder)
    from app.authz import rule_for

    checked = 0
    with app.test_request_context():
        rules = [r for r in app.url_map.iter_rules() if "attempt_id" in r.arguments]
        allowed = [r for r in rules if rule_for(r.endpoint).roles and "student" in rule_for(r.endpoint).roles]
    for rule in allowed:
        url = re.sub(r"<int:attempt_id>", str(attempt_id), rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = intruder.open(url, method=method, json={}, headers={"X-CSRFToken": itoken})
            assert response.status_code == 404, (url, method, response.status_code)
            assert set(response.json) <= {"error", "message", "message_zh", "message_en"}  # no data
            checked += 1
    assert checked >= 6
    # a sequential id scan finds nothing either
    for guess in range(max(1, attempt_id - 3), attempt_id + 4):
        if guess != attempt_id:
            assert intruder.post(f"/api/attempts/{guess}/open", json={}, headers={"X-CSRFToken": itoken}).status_code == 404


def test_drill_21_forms_without_token_and_foreign_origin_are_refused(as_role, client):
    assert client.post("/login", data={"login_name": "x", "password": "y"}).status_code == 400
    student, _ = as_role("student")
    token = csrf_token(student)
    foreign = student.post("/api/preferences", json={"locale": "en"},
                           headers={"X-CSRFToken": token, "Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.is_json
    same = student.post("/api/preferences", json={"locale": "en"},
                        headers={"X-CSRFToken": token, "Origin": "http://localhost"})
    assert same.status_code == 200


def test_drill_21_session_id_rotates_at_login(app, make, db_session):
    user = make.user(role="teacher")
    before = user.session_token
    client = app.test_client()
    client.get("/login")
    cookie_before = client.get_cookie("yingcai_session")
    login(client, user.login_name)
    db_session.expire(user)
    assert db_session.get(User, user.id).session_token != before
    assert client.get_cookie("yingcai_session").value != (cookie_before.value if cookie_before else None)


# ---- drills that need real commits and several connections --------------------------------------


@pytest.fixture
def committed(app, committing_db):
    now = utcnow()
    fx.load_bank(db.session, now)
    exam = fx.make_exam(db.session, now)
    student = factories.Factory(db.session, app.config).student(subject="physics")
    service.accept_pledge(db.session, exam=exam, user=student.user, now=now, client=C)
    attempt = service.start(db.session, exam=exam, user=student.user, now=now, client=C)
    page = service.open_page(db.session, attempt, now=now, client=C)
    tf = next(q for s in page["sections"] for q in s["questions"] if q["type"] == "true_false")
    ids = attempt.id, student.user_id, page["token"], tf["id"]
    db.session.commit()
    db.session.close()
    return ids


def _parallel(app, calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, fn):
        with app.app_context():
            try:
                barrier.wait()
                results[i] = fn()
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_drill_9_autosave_racing_the_final_submit(app, committed):
    attempt_id, user_id, token, qid = committed

    def save(seq=1):
        return service.save(db.session, attempt_id=attempt_id, user=db.session.get(User, user_id), token=token,
                            seq=seq, question_id=qid, answer=True, now=utcnow())

    def submit():
        attempt = db.session.get(Attempt, attempt_id)
        return service.submit(db.session, attempt, token=token, now=utcnow(), client=C)

    results = _parallel(app, [save, submit])
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        stored = db.session.scalar(select(Response).where(Response.attempt_id == attempt_id))
        assert attempt.state == "finalized" and attempt.scored_at is not None
        # Either the save made it in before the submit (and counts), or it was told the attempt closed.
        if isinstance(results[0], Exception):
            assert getattr(results[0], "code", "") in ("attempt_closed", "time_over", "stale_tab")
            assert stored is None and attempt.score_total == 0
        else:
            assert stored is not None and stored.value is True
        db.session.commit()
    later = _parallel(app, [lambda: save(seq=2)])[0]  # a new save after the submit
    assert isinstance(later, service.AttemptError) and later.code in ("attempt_closed", "time_over")


def test_drill_10_replayed_submit(app, committed):
    attempt_id, user_id, token, qid = committed

    def submit():
        attempt = db.session.get(Attempt, attempt_id)
        return service.submit(db.session, attempt, token=token, now=utcnow(), client=C)

    results = _parallel(app, [submit] * 12)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if not r["replayed"]) == 1
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        scored_at = attempt.scored_at
        submits = db.session.scalar(select(func.count()).select_from(AttemptEvent).where(
            AttemptEvent.attempt_id == attempt_id, AttemptEvent.kind == "submit"))
        assert submits == 1
        an_hour_later = service.submit(db.session, attempt, token=token, now=utcnow() + timedelta(hours=1), client=C)
        assert an_hour_later["replayed"] and db.session.get(Attempt, attempt_id).scored_at == scored_at
