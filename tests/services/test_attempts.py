"""The server side of taking an exam: deadlines, tokens and sequences, finalization, scoring, leaks."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.models import Attempt, Response
from app.services import attempts as service
from app.services.attempts import AttemptError, Client
from tests import exam_fixtures as fx

C = Client("127.0.0.1", "pytest")


@pytest.fixture
def setup(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    student = make.student(subject="physics")
    service.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=C)
    return exam, student.user


def _start(db_session, exam, user, now):
    return service.start(db_session, exam=exam, user=user, now=now, client=C)


def test_deadline_counts_from_the_actual_start(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now + timedelta(minutes=3))
    assert attempt.deadline == now + timedelta(minutes=123)


def test_deadline_is_capped_by_the_close_but_extra_time_goes_past_it(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now, closes=timedelta(minutes=60))
    student = make.student(subject="physics")
    student.extra_minutes = 15
    service.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=C)
    attempt = _start(db_session, exam, student.user, now)
    assert attempt.deadline == now + timedelta(minutes=60 + 15)


def test_start_is_idempotent(db_session, setup, now):
    exam, user = setup
    first = _start(db_session, exam, user, now)
    second = _start(db_session, exam, user, now + timedelta(seconds=5))
    assert first.id == second.id and second.deadline == first.deadline


@pytest.mark.parametrize("offset,code", [(timedelta(minutes=-10), "not_open"), (timedelta(hours=4), "closed")])
def test_start_outside_the_window(db_session, setup, now, offset, code):
    exam, user = setup
    with pytest.raises(AttemptError) as info:
        _start(db_session, exam, user, now + offset)
    assert info.value.code == code


def test_start_needs_the_pledge_and_eligibility(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    student = make.student(subject="physics")
    with pytest.raises(AttemptError, match="pledge"):
        _start(db_session, exam, student.user, now)
    math_student = make.student(subject="math")
    with pytest.raises(AttemptError) as info:
        _start(db_session, exam, math_student.user, now)
    assert info.value.status == 403


def test_access_code(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now, access_code="room-1234")
    student = make.student(subject="physics")
    service.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=C)
    with pytest.raises(AttemptError, match="access_code"):
        service.start(db_session, exam=exam, user=student.user, now=now, client=C, access_code="wrong")
    assert service.start(db_session, exam=exam, user=student.user, now=now, client=C, access_code="room-1234")


def _question(page, qtype):
    return next(q for s in page["sections"] for q in s["questions"] if q["type"] == qtype)


def test_save_protocol_tokens_sequences_and_receipts(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    page = service.open_page(db_session, attempt, now=now, client=C)
    single = _question(page, "single")
    choice = single["options"][0]["id"]

    first = service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1,
                         question_id=single["id"], answer=choice, now=now)
    assert first.receipt["seq"] == 1 and not first.replayed
    # A retry after a lost acknowledgement gets the original receipt, even if its body differs.
    retry = service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1,
                         question_id=single["id"], answer=single["options"][1]["id"], now=now + timedelta(seconds=3))
    assert retry.replayed and retry.receipt == first.receipt
    stored = db_session.query(Response).filter_by(attempt_id=attempt.id).one()
    assert stored.value in {"a", "b", "c", "d"}  # canonical id, never the opaque token or the letter
    assert stored.value == service.presentation.to_canonical_response(
        next(q for q in fx.QUESTIONS if q["key"] == "t-single"), attempt.seed, choice)

    service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=5,
                 question_id=single["id"], answer=single["options"][2]["id"], now=now)
    with pytest.raises(AttemptError) as info:  # an older save arriving late never overwrites newer work
        service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=3,
                     question_id=single["id"], answer=choice, now=now)
    assert info.value.code == "stale_sequence"


def test_a_second_tab_makes_the_first_stale(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    tab_a = service.open_page(db_session, attempt, now=now, client=C)
    tf = _question(tab_a, "true_false")
    service.save(db_session, attempt_id=attempt.id, user=user, token=tab_a["token"], seq=1,
                 question_id=tf["id"], answer=True, now=now)
    tab_b = service.open_page(db_session, attempt, now=now, client=C)
    assert tab_b["last_seq"] == 1 and _question(tab_b, "true_false")["answer"] is True
    with pytest.raises(AttemptError) as info:
        service.save(db_session, attempt_id=attempt.id, user=user, token=tab_a["token"], seq=2,
                     question_id=tf["id"], answer=False, now=now)
    assert info.value.code == "stale_tab" and info.value.status == 409
    service.save(db_session, attempt_id=attempt.id, user=user, token=tab_b["token"], seq=2,
                 question_id=tf["id"], answer=False, now=now)
    assert db_session.query(Response).filter_by(attempt_id=attempt.id).one().value is False


def test_invalid_answers_are_refused_and_change_nothing(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    page = service.open_page(db_session, attempt, now=now, client=C)
    single = _question(page, "single")
    for bad in ("a", ["x"], 7, {"a": 1}):
        with pytest.raises(AttemptError) as info:
            service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1,
                         question_id=single["id"], answer=bad, now=now)
        assert info.value.code == "invalid_answer"
    with pytest.raises(AttemptError, match="unknown_question"):
        service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1,
                     question_id=999999, answer=None, now=now)
    assert db_session.query(Response).filter_by(attempt_id=attempt.id).count() == 0


def test_saves_until_deadline_plus_grace_then_time_over(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    page = service.open_page(db_session, attempt, now=now, client=C)
    tf = _question(page, "true_false")
    deadline = attempt.deadline
    service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=1, question_id=tf["id"],
                 answer=False, now=deadline + timedelta(seconds=60))  # within the grace: accepted
    with pytest.raises(AttemptError) as info:
        service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=2,
                     question_id=tf["id"], answer=True, now=deadline + timedelta(seconds=61))
    assert info.value.code == "time_over"
    db_session.refresh(attempt)
    assert attempt.state == "finalized" and attempt.finalized_reason == "time_over"
    assert db_session.query(Response).filter_by(attempt_id=attempt.id).one().value is False
    assert attempt.score_total == 2.0  # the saved answer counted


def test_finalize_overdue_closes_abandoned_attempts_once(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    assert service.finalize_overdue(db_session, now=attempt.deadline) == 0
    later = attempt.deadline + timedelta(seconds=61)
    assert service.finalize_overdue(db_session, now=later) == 1
    scored_at = db_session.get(Attempt, attempt.id).scored_at
    assert service.finalize_overdue(db_session, now=later + timedelta(minutes=5)) == 0
    assert db_session.get(Attempt, attempt.id).scored_at == scored_at


def _correct_answers(page, attempt):
    by_key = {q["key"]: q for q in fx.QUESTIONS}
    answers = {}
    for section in page["sections"]:
        for q in section["questions"]:
            content = next(c for c in fx.QUESTIONS if service.shuffle.opaque_id(attempt.seed, "q", c["key"]) == q["key_token"])
            if content["type"] == "fill_blank":
                answers[q["id"]] = ["19.6", fx.CANARY_KEY_TEXT]
            elif content["type"] == "group":
                answers[q["id"]] = service.to_opaque(content, attempt.seed,
                                                     {p["key"]: p["answer"] for p in content["parts"]})
            elif content["type"] == "short_answer":
                answers[q["id"]] = "物体保持原有运动状态的性质。"
            else:
                answers[q["id"]] = service.to_opaque(content, attempt.seed, by_key[content["key"]]["answer"])
    return answers


def test_submit_scores_once_and_closes_the_attempt(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    page = service.open_page(db_session, attempt, now=now, client=C)
    for seq, (qid, answer) in enumerate(_correct_answers(page, attempt).items(), 1):
        service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq,
                     question_id=qid, answer=answer, now=now)
    result = service.submit(db_session, attempt, token=page["token"], now=now + timedelta(minutes=30), client=C)
    assert result["state"] == "finalized" and not result["replayed"]
    again = service.submit(db_session, attempt, token=page["token"], now=now + timedelta(minutes=31), client=C)
    assert again["replayed"]
    db_session.refresh(attempt)
    # Everything right except the short answer, which waits for a teacher.
    assert attempt.score_total == 4 + 6 + 2 + 4 + 4 + 6 + 5
    assert attempt.needs_manual and attempt.wrong_count == 0
    assert attempt.score_detail["time_used_seconds"] == 30 * 60
    with pytest.raises(AttemptError, match="attempt_closed|time_over"):
        service.save(db_session, attempt_id=attempt.id, user=user, token=page["token"], seq=99,
                     question_id=page["sections"][0]["questions"][0]["id"], answer=None, now=now)


def test_no_key_or_explanation_reaches_the_student_page(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    page = json.dumps(service.open_page(db_session, attempt, now=now, client=C), ensure_ascii=False)
    for canary in (fx.CANARY_EXPLANATION, fx.CANARY_KEY_TEXT, fx.CANARY_REFERENCE):
        assert canary not in page
    assert '"answer": "b"' not in page and "explanation" not in page and "rubric" not in page


def test_option_ids_are_opaque_and_ordering_never_in_key_order(db_session, make, now):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    for _ in range(8):
        student = make.student(subject="physics")
        service.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=C)
        attempt = _start(db_session, exam, student.user, now)
        page = service.open_page(db_session, attempt, now=now, client=C)
        single = _question(page, "single")
        assert not {o["id"] for o in single["options"]} & {"a", "b", "c", "d"}
        order = [service.presentation.canonical_ids(
            next(q for q in fx.QUESTIONS if q["key"] == "t-order"), attempt.seed)["t-order"][i["id"]]
            for i in _question(page, "ordering")["items"]]
        assert order != ["r", "i", "v", "x"]


def test_practice_review_shows_keys_after_submit_and_selection_never(db_session, make, now):
    fx.load_bank(db_session, now)
    practice = fx.make_exam(db_session, now, kind="practice")
    student = make.student(subject="physics")
    service.accept_pledge(db_session, exam=practice, user=student.user, now=now, client=C)
    attempt = _start(db_session, practice, student.user, now)
    assert service.practice_review(db_session, attempt) is None  # not before submitting
    service.submit(db_session, attempt, token=None, now=now, client=C)
    review = service.practice_review(db_session, attempt)
    assert any(fx.CANARY_EXPLANATION in item["explanation_html"] for item in review)


def test_extra_time_grant_moves_the_deadline(db_session, setup, now):
    exam, user = setup
    attempt = _start(db_session, exam, user, now)
    before = attempt.deadline
    with pytest.raises(AttemptError):
        service.grant_time(db_session, attempt, seconds=600, reason=" ", granted_by_id=None, now=now)
    service.grant_time(db_session, attempt, seconds=600, reason="机房停电", granted_by_id=None, now=now)
    assert attempt.deadline == before + timedelta(minutes=10)
    beat = service.heartbeat(db_session, attempt, token=None, events=[], now=now, client=C)
    assert beat["remaining_seconds"] == 130 * 60
