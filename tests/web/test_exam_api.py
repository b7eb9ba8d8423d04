"""The JSON API of exam taking, through the client: the flow, CSRF, IDOR, JSON errors, OpenAPI."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.models import AuditEntry
from tests import exam_fixtures as fx
from tests.conftest import csrf_token


@pytest.fixture
def exam(db_session, now):
    from app.clock import utcnow

    real_now = utcnow()
    fx.load_bank(db_session, real_now)
    return fx.make_exam(db_session, real_now)


def _student_client(as_role, make, subject="physics"):
    client, user = as_role("student")
    user.student.subject_code = subject
    return client, user


def _post(client, url, body, token):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def test_full_flow_through_the_api(as_role, exam, db_session):
    client, user = as_role("student")
    token = csrf_token(client)
    listed = client.get("/api/exams").json["exams"]
    assert [e["state"] for e in listed if e["id"] == exam.id] == ["open"]
    assert _post(client, f"/api/exams/{exam.id}/start", {}, token).json["error"] == "pledge_required"
    assert _post(client, f"/api/exams/{exam.id}/pledge", {"accept": True}, token).status_code == 200
    started = _post(client, f"/api/exams/{exam.id}/start", {}, token)
    assert started.status_code == 200
    attempt_id = started.json["attempt_id"]
    assert _post(client, f"/api/exams/{exam.id}/start", {}, token).json["attempt_id"] == attempt_id
    page = _post(client, f"/api/attempts/{attempt_id}/open", {}, token).json
    tf = next(q for s in page["sections"] for q in s["questions"] if q["type"] == "true_false")
    body = {"token": page["token"], "seq": page["last_seq"] + 1, "question_id": tf["id"], "answer": False}
    saved = _post(client, f"/api/attempts/{attempt_id}/answers", body, token)
    assert saved.status_code == 200 and saved.json["receipt"]["seq"] == 1
    again = _post(client, f"/api/attempts/{attempt_id}/answers", body, token)
    assert again.json["replayed"] is True and again.json["receipt"] == saved.json["receipt"]
    beat = _post(client, f"/api/attempts/{attempt_id}/heartbeat", {"token": page["token"],
                                                                   "events": [{"kind": "blur"}]}, token).json
    assert beat["stale_tab"] is False and 0 < beat["remaining_seconds"] <= 120 * 60
    second = _post(client, f"/api/attempts/{attempt_id}/open", {}, token).json
    stale = _post(client, f"/api/attempts/{attempt_id}/answers", {**body, "seq": 2}, token)
    assert stale.status_code == 409 and stale.json["error"] == "stale_tab"
    assert "最新" in stale.json["message_zh"]
    done = _post(client, f"/api/attempts/{attempt_id}/submit", {"token": second["token"]}, token)
    assert done.status_code == 200 and done.json["state"] == "finalized"
    assert _post(client, f"/api/attempts/{attempt_id}/submit", {"token": second["token"]}, token).json["replayed"]
    review = client.get(f"/api/attempts/{attempt_id}/review")
    assert review.status_code == 403  # a selection exam never shows keys


def test_another_students_attempt_is_a_404_with_an_audit_entry(as_role, exam, db_session):
    owner, _ = as_role("student")
    token = csrf_token(owner)
    _post(owner, f"/api/exams/{exam.id}/pledge", {"accept": True}, token)
    attempt_id = _post(owner, f"/api/exams/{exam.id}/start", {}, token).json["attempt_id"]
    intruder, intruder_user = as_role("student")
    itoken = csrf_token(intruder)
    for path in ("open", "heartbeat", "submit"):
        response = _post(intruder, f"/api/attempts/{attempt_id}/{path}", {}, itoken)
        assert response.status_code == 404 and response.is_json
    assert intruder.get(f"/api/attempts/{attempt_id}/review").status_code == 404
    entries = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "security.not_found",
                                                          AuditEntry.actor_id == intruder_user.id)).all()
    assert len(entries) == 4


def test_api_posts_need_the_csrf_header(as_role, exam):
    client, _ = as_role("student")
    response = client.post(f"/api/exams/{exam.id}/pledge", json={"accept": True})
    assert response.status_code == 400 and response.json["error"] == "csrf"


def test_staff_cannot_take_exams(as_role, exam):
    client, _ = as_role("teacher")
    assert client.post(f"/api/exams/{exam.id}/start", json={}, headers={"X-CSRFToken": csrf_token(client)}).status_code == 403


def test_every_api_route_is_in_the_openapi_document(app, client):
    spec = client.get("/api/openapi.json").json
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    actual = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                actual.add((path, method.lower()))
    assert documented == actual


def test_api_errors_are_json(client):
    response = client.get("/api/nope")
    assert response.status_code == 404 and response.is_json
    assert json.loads(response.data)["error"]


def test_autosave_checks_the_session_inside_its_own_read(as_role, exam, db_session):
    """The autosave skips the user query (authz.session_checked_in_view) but not one of its checks."""
    owner, owner_user = as_role("student")
    token = csrf_token(owner)
    _post(owner, f"/api/exams/{exam.id}/pledge", {"accept": True}, token)
    attempt_id = _post(owner, f"/api/exams/{exam.id}/start", {}, token).json["attempt_id"]
    page = _post(owner, f"/api/attempts/{attempt_id}/open", {}, token).json
    tf = next(q for s in page["sections"] for q in s["questions"] if q["type"] == "true_false")
    body = {"token": page["token"], "seq": 1, "question_id": tf["id"], "answer": True}
    url = f"/api/attempts/{attempt_id}/answers"

    saved = _post(owner, url, body, token)
    assert saved.status_code == 200 and "Set-Cookie" not in saved.headers  # the heartbeat slides the session
    beat = _post(owner, f"/api/attempts/{attempt_id}/heartbeat", {"token": page["token"]}, token)
    assert beat.status_code == 200 and "Set-Cookie" in beat.headers

    # Another student holding the owner's writer token: the owner's attempt is still a 404 to them.
    intruder, _ = as_role("student")
    stolen = _post(intruder, url, {**body, "seq": 2}, csrf_token(intruder))
    assert stolen.status_code == 404 and stolen.json["error"] == "not_found"
    # Staff with the token: the role check still applies.
    teacher, _ = as_role("teacher")
    assert _post(teacher, url, {**body, "seq": 2}, csrf_token(teacher)).status_code == 403

    # A deactivated account, then a session ended by a login elsewhere: 401 JSON, nothing stored.
    owner_user.is_active = False
    db_session.flush()
    ended = _post(owner, url, {**body, "seq": 3, "answer": False}, token)
    assert ended.status_code == 401 and ended.json["error"] == "unauthorized"
    owner_user.is_active = True
    owner_user.session_token = "rotated-by-a-new-login-" + "x" * 20
    db_session.flush()
    ended = _post(owner, url, {**body, "seq": 4, "answer": False}, token)
    assert ended.status_code == 401 and ended.json["error"] == "unauthorized"
    from app.models import Response

    stored = db_session.scalars(select(Response).where(Response.attempt_id == attempt_id)).all()
    assert [(r.seq, r.value) for r in stored] == [(1, True)]
