"""Schemathesis against the JSON API's own OpenAPI document, in-process through the WSGI app.

Every operation of /api/openapi.json is called with generated parameters and bodies as a signed-in
student who has a started attempt (the CSRF header sent, the session cookie of a real login). Path
ids, the writer token and question ids are sometimes swapped for the real ones, so the generated
answers reach the save protocol instead of stopping at a 404. Checked for every request: no 5xx, and
a JSON body (the API never answers with an HTML page). The hand-in runs last so the attempt stays open
for the other operations.
"""
from __future__ import annotations

import json
from collections import Counter

import schemathesis
from hypothesis import given
from hypothesis import strategies as st

from app.clock import utcnow
from tests import exam_fixtures as fx
from tests.conftest import csrf_token
from tests.fuzz.conftest import fuzz_settings

EXAMPLES_PER_OPERATION = 40
# Saves go first, while the first page's writer token is the newest; the hand-in closes the attempt,
# so it goes last and the other operations fuzz an open attempt.
_ORDER = {"/api/attempts/{attempt_id}/answers": 0, "/api/attempts/{attempt_id}/submit": 2}


def _sitting(as_role, db_session):
    """A student with a started attempt on an open exam, through the API itself."""
    now = utcnow()
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    client, _ = as_role("student")
    token = csrf_token(client)
    headers = {"X-CSRFToken": token}
    assert client.post(f"/api/exams/{exam.id}/pledge", json={"accept": True}, headers=headers).status_code == 200
    started = client.post(f"/api/exams/{exam.id}/start", json={}, headers=headers)
    assert started.status_code == 200, started.json
    attempt_id = started.json["attempt_id"]
    page = client.post(f"/api/attempts/{attempt_id}/open", json={}, headers=headers).json
    question_ids = [q["id"] for s in page["sections"] for q in s["questions"]]
    return client, headers, {"exam_id": exam.id, "attempt_id": attempt_id, "writer": page["token"],
                             "question_ids": question_ids, "seq": 0}


def _real(data, what: str) -> bool:
    return data.draw(st.sampled_from([True, True, True, False]), label=f"real {what}")  # mostly real


def _steer(data, case, real):
    """Mostly replace generated ids and tokens by the real ones (drawn, so the run stays reproducible)."""
    for name in ("exam_id", "attempt_id"):
        if case.path_parameters and name in case.path_parameters and _real(data, name):
            case.path_parameters[name] = real[name]
    if isinstance(case.body, dict):
        if "token" in case.body and _real(data, "token"):
            case.body["token"] = real["writer"]
        if "question_id" in case.body and _real(data, "question"):
            case.body["question_id"] = data.draw(st.sampled_from(real["question_ids"]), label="question")
        if "seq" in case.body and _real(data, "seq"):
            real["seq"] += 1  # the next sequence number of the page, as the exam page would send
            case.body["seq"] = real["seq"]


def _check(response, case):
    where = f"{case.method} {case.formatted_path} body={case.body!r}"
    assert response.status_code < 500, f"{where} → {response.status_code} {response.text[:500]}"
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), where
    json.loads(response.content)  # a JSON body, never an HTML error page


def test_every_api_operation_answers_without_a_server_error(app, as_role, db_session):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    client, headers, real = _sitting(as_role, db_session)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: _ORDER.get(op.path, 1))
    assert len(operations) >= 11
    statuses: dict[tuple[str, str], Counter] = {}
    cookies = {"yingcai_session": client.get_cookie("yingcai_session").value}

    def fuzzer(operation):
        @fuzz_settings(EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy(), data=st.data())
        def fuzz(case, data):
            _steer(data, case, real)
            # The real session cookie and CSRF header win over the generated apiKey values.
            response = case.call(session=client, headers=headers, cookies=cookies)
            statuses.setdefault((case.method, operation.path), Counter())[response.status_code] += 1
            _check(response, case)

        return fuzz

    for operation in operations:
        fuzzer(operation)()
    print("openapi fuzz:", {f"{m} {p}": dict(c) for (m, p), c in statuses.items()})
    assert len(statuses) == len(operations)
    # The generated answers reached the save protocol: some were stored, some refused as invalid.
    saves = statuses[("POST", "/api/attempts/{attempt_id}/answers")]
    assert saves[200] and saves[422], saves
