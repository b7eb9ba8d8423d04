"""A hypothesis state machine over the attempt service (app/services/attempts.py).

One student, one exam, a clock the machine moves. Rules: start (again), open the page (a new writer
token: the second tab), save with (token, seq) — the next sequence number, a retry of an acknowledged
pair, a stale lower number, from the newest or an older tab —, heartbeat, submit (with the newest
token, an old one or none), any read (which finalizes an overdue attempt) and the sweep
(finalize_overdue), with the clock jumping around the deadline and deadline + grace.

A small model predicts every outcome (accepted, replayed, or the error code) and the invariants are
checked against the database after every step:
- one attempt per (exam, student), whatever the number of starts;
- per question the stored answer is the acknowledged save with the highest seq; seq never decreases
  (attempt, tokens, stored responses);
- a revoked (stale) tab never overwrites anything; nothing is accepted after the hand-in or after
  deadline + grace (a retry of an acknowledged pair only repeats its receipt);
- the attempt is finalized and scored exactly once: one submit/finalize event, ``scored_at`` set at
  finalization and never again, the score that of the answers stored at that moment.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from app.domain import presentation
from app.models import Attempt, AttemptEvent, Response, WriterToken
from app.services import attempts as service
from app.services.attempts import AttemptError
from tests import exam_fixtures as fx
from tests.fuzz.conftest import fuzz_settings

C = service.Client("127.0.0.1", "state-machine")
GRACE = 60
# 30 machines of up to 30 steps, ~500 service calls: about 10 s per database on a quiet machine.
# Fewer machines leave whole branches of the protocol unvisited (the check at the end says which).
MACHINES, STEPS = 30, 30
CONTENT = {q["key"]: q for q in fx.QUESTIONS}
# Points when right (fx.QUESTIONS): true/false False → 2, single choice b → 4; the rest stays unanswered.
CORRECT = {"t-tf": (False, 2.0), "t-single": ("b", 4.0)}
_instances = itertools.count(1)
OUTCOMES: Counter = Counter()  # what the runs exercised, checked at the end so the test cannot pass vacuously


@dataclass
class Tab:
    """What the model knows of one writer token."""

    token: str
    last_seq: int
    revoked: bool = False
    receipts: dict[int, int] = field(default_factory=dict)  # seq → question id acknowledged


def _attempt_machine(session, make, base_now):
    class AttemptMachine(RuleBasedStateMachine):
        """The model: state, deadline, tabs, the stored answer per question, the clock."""

        def __init__(self):
            super().__init__()
            n = next(_instances)
            self.exam = fx.make_exam(session, base_now, grace=GRACE, title=f"状态机考试 {n}")
            self.user = make.student(subject="physics").user
            service.accept_pledge(session, exam=self.exam, user=self.user, now=base_now, client=C)
            self.now = base_now
            self.attempt = None
            self.tabs: list[Tab] = []
            self.stored: dict[int, tuple[int, object]] = {}  # question id → (seq, canonical value)
            self.last_seq = 0
            self.state, self.reason = "in_progress", None
            self.scored: tuple | None = None  # (scored_at, score_total) once finalized

        # --- helpers -----------------------------------------------------------------------------

        def writable(self) -> bool:
            return self.state == "in_progress" and self.now <= self.deadline + timedelta(seconds=GRACE)

        def overdue(self) -> bool:
            return self.state == "in_progress" and self.now > self.deadline + timedelta(seconds=GRACE)

        def finalize_model(self, reason: str) -> None:
            self.state, self.reason = "finalized", reason
            for tab in self.tabs:
                tab.revoked = True

        def closed_code(self) -> str:
            return "time_over" if self.reason == "time_over" or self.now > self.deadline else "attempt_closed"

        def expect_error(self, code: str, call, what: str) -> None:
            with pytest.raises(AttemptError) as info:
                call()
            assert info.value.code == code, (code, info.value.code, info.value.en)
            OUTCOMES[f"{what} {code}"] += 1

        # --- rules -------------------------------------------------------------------------------

        @initialize(minutes=st.integers(0, 30))
        def start(self, minutes):
            self.now = base_now + timedelta(minutes=minutes)
            self.attempt = service.start(session, exam=self.exam, user=self.user, now=self.now, client=C)
            self.deadline = self.attempt.deadline
            assert self.deadline == self.now + timedelta(minutes=self.exam.duration_minutes)
            page = service.open_page(session, self.attempt, now=self.now, client=C)
            questions = {q["type"]: q for s in page["sections"] for q in s["questions"]}
            self.tf, self.single = questions["true_false"], questions["single"]
            self.tabs.append(Tab(page["token"], 0))

        @rule(seconds=st.sampled_from([1, 5, 30, 120, 600]))
        def tick(self, seconds):
            self.now += timedelta(seconds=seconds)

        # Mostly to just before the deadline: a jump past deadline + grace ends what a run can still do.
        @rule(offset=st.sampled_from([-3600, -600, -61, -1, 0, 1, GRACE, GRACE + 1, 3600]))
        def jump_near_the_deadline(self, offset):
            target = self.deadline + timedelta(seconds=offset)
            self.now = max(self.now, target)  # the clock never goes back

        @rule()
        def start_again(self):
            again = service.start(session, exam=self.exam, user=self.user, now=self.now, client=C)
            assert again.id == self.attempt.id

        @rule()
        def open_page(self):
            attempt = service.get_own(session, self.attempt.id, self.user, now=self.now)  # a read: may finalize
            if self.overdue():
                self.finalize_model("time_over")
            page = service.open_page(session, attempt, now=self.now, client=C)
            assert page["last_seq"] == self.last_seq
            if self.state != "in_progress":
                assert page["token"] is None
                return
            for tab in self.tabs:
                tab.revoked = True
            self.tabs.append(Tab(page["token"], self.last_seq))
            # A reload shows what is stored.
            shown = {q["id"]: q["answer"] for s in page["sections"] for q in s["questions"]}
            if self.tf["id"] in self.stored:
                assert shown[self.tf["id"]] == self.stored[self.tf["id"]][1]

        # Saves are four rules (the next number from the newest tab, from an older tab, a retry of an
        # acknowledged pair, a stale number) so that they make up most steps.
        @rule(data=st.data(), gap=st.sampled_from([1, 1, 1, 2, 1000]), question=st.sampled_from(["tf", "single"]))
        def save_next(self, data, gap, question):
            self.save(data, self.tabs[-1], self.tabs[-1].last_seq + gap, question)

        @rule(data=st.data(), question=st.sampled_from(["tf", "single"]))
        def save_from_an_older_tab(self, data, question):
            tab = data.draw(st.sampled_from(self.tabs), label="tab")
            self.save(data, tab, tab.last_seq + 1, question)

        @rule(data=st.data(), question=st.sampled_from(["tf", "single"]))
        def save_retry(self, data, question):
            tab = data.draw(st.sampled_from(self.tabs), label="tab")
            if tab.receipts:
                self.save(data, tab, data.draw(st.sampled_from(sorted(tab.receipts)), label="acknowledged seq"),
                          question)

        @rule(data=st.data(), question=st.sampled_from(["tf", "single"]))
        def save_stale(self, data, question):
            tab = data.draw(st.sampled_from(self.tabs), label="tab")
            if tab.last_seq >= 1:
                self.save(data, tab, data.draw(st.integers(1, tab.last_seq), label="stale seq"), question)

        def save(self, data, tab: Tab, seq: int, question: str):
            if question == "tf":
                qid, answer = self.tf["id"], data.draw(st.sampled_from([True, False, None]), label="tf")
                value = answer
            else:
                qid = self.single["id"]
                answer = data.draw(st.sampled_from([o["id"] for o in self.single["options"]] + [None]), label="choice")
                value = presentation.to_canonical_response(CONTENT["t-single"], self.attempt.seed, answer)

            def call():
                return service.save(session, attempt_id=self.attempt.id, user=self.user, token=tab.token, seq=seq,
                                    question_id=qid, answer=answer, now=self.now)

            if seq in tab.receipts:  # a retry: the original receipt, nothing written
                result = call()
                assert result.replayed and result.receipt["question_id"] == tab.receipts[seq]
                OUTCOMES["save replayed" + (" after close" if self.state != "in_progress" else "")] += 1
                return
            if not self.writable():
                if self.overdue():
                    self.finalize_model("time_over")
                self.expect_error(self.closed_code(), call, "save")
                return
            if tab.revoked:
                self.expect_error("stale_tab", call, "save")
                return
            if seq <= tab.last_seq:
                self.expect_error("stale_sequence", call, "save")
                return
            result = call()
            assert not result.replayed and result.receipt == {"seq": seq, "question_id": qid,
                                                              "saved_at": self.now.isoformat()}
            OUTCOMES["save accepted"] += 1
            tab.last_seq, tab.receipts[seq] = seq, qid
            self.last_seq = max(self.last_seq, seq)
            if qid not in self.stored or self.stored[qid][0] < seq:
                self.stored[qid] = (seq, value)

        @rule(which=st.sampled_from(["newest", "oldest", "none"]))
        def heartbeat(self, which):
            attempt = service.get_own(session, self.attempt.id, self.user, now=self.now)
            if self.overdue():
                self.finalize_model("time_over")
            tab = {"newest": self.tabs[-1], "oldest": self.tabs[0], "none": None}[which]
            beat = service.heartbeat(session, attempt, token=tab.token if tab else None, events=[{"kind": "blur"}],
                                     now=self.now, client=C)
            assert beat["stale_tab"] is (tab is None or tab.revoked)
            assert beat["state"] == self.state and beat["last_seq"] == self.last_seq

        @rule(which=st.sampled_from(["newest", "oldest", "none"]))
        def submit(self, which):
            tab = {"newest": self.tabs[-1], "oldest": self.tabs[0], "none": None}[which]
            attempt = service.get_own(session, self.attempt.id, self.user, now=self.now)
            if self.overdue():
                self.finalize_model("time_over")

            def call():
                return service.submit(session, attempt, token=tab.token if tab else None, now=self.now, client=C)

            if self.state == "finalized":
                if self.reason == "submitted":
                    assert call()["replayed"] is True
                    OUTCOMES["submit replayed"] += 1
                else:
                    self.expect_error("time_over", call, "submit")
            elif tab is not None and tab.revoked:
                self.expect_error("stale_tab", call, "submit")
            else:
                assert call() == {"state": "finalized", "submitted_at": self.now.isoformat(), "replayed": False}
                OUTCOMES["submit accepted"] += 1
                self.finalize_model("submitted")

        @rule()
        def sweep(self):
            expected = 1 if self.overdue() else 0
            assert service.finalize_overdue(session, now=self.now) == expected
            if expected:
                OUTCOMES["sweep finalized"] += 1
                self.finalize_model("time_over")

        # --- invariants ----------------------------------------------------------------------------

        @invariant()
        def database_agrees_with_the_model(self):
            if self.attempt is None:
                return
            session.expire_all()
            assert session.scalar(select(func.count()).select_from(Attempt).where(
                Attempt.exam_id == self.exam.id, Attempt.student_id == self.user.id)) == 1
            attempt = session.get(Attempt, self.attempt.id)
            assert (attempt.state, attempt.finalized_reason) == (self.state, self.reason)
            assert attempt.last_seq == self.last_seq  # the highest acknowledged seq: never decreases
            rows = session.scalars(select(Response).where(Response.attempt_id == attempt.id)).all()
            assert {r.exam_question_id: (r.seq, r.value) for r in rows} == self.stored
            tokens = {t.token: (t.last_seq, t.revoked) for t in session.scalars(
                select(WriterToken).where(WriterToken.attempt_id == attempt.id))}
            assert tokens == {t.token: (t.last_seq, t.revoked) for t in self.tabs}
            closing = session.scalar(select(func.count()).select_from(AttemptEvent).where(
                AttemptEvent.attempt_id == attempt.id, AttemptEvent.kind.in_(["submit", "finalize"])))
            if self.state == "in_progress":
                assert closing == 0 and attempt.scored_at is None and attempt.score_total is None
                return
            assert closing == 1
            assert attempt.scored_at == attempt.finalized_at
            if self.scored is None:  # the score of the answers stored when it was finalized
                expected = sum(points for key, (right, points) in CORRECT.items()
                               if self.stored.get({"t-tf": self.tf, "t-single": self.single}[key]["id"],
                                                  (0, None))[1] == right)
                assert attempt.score_total == expected
                self.scored = (attempt.scored_at, attempt.score_total)
            assert (attempt.scored_at, attempt.score_total) == self.scored  # scored once, never again

        def teardown(self):
            # Close the attempt, so a later machine's sweep sees only its own.
            if self.attempt is not None and self.state == "in_progress":
                service.finalize(session, session.get(Attempt, self.attempt.id), now=self.now, reason="staff")

        # Rules that need a started attempt (always true after initialize; explicit for readability).
        for _name in ("tick", "jump_near_the_deadline", "start_again", "open_page", "save_next",
                      "save_from_an_older_tab", "save_retry", "save_stale", "heartbeat", "submit",
                      "sweep"):
            locals()[_name] = precondition(lambda self: self.attempt is not None)(locals()[_name])

    return AttemptMachine


def test_attempt_service_state_machine(db_session, make, now):
    fx.load_bank(db_session, now)
    machine = _attempt_machine(db_session, make, now)
    OUTCOMES.clear()
    run_state_machine_as_test(machine, settings=fuzz_settings(MACHINES, stateful_step_count=STEPS))
    print("attempt state machine:", dict(OUTCOMES))
    # Every branch of the protocol was reached (a submit from a stale tab is rarer: checked when it happens).
    for outcome in ("save accepted", "save replayed", "save replayed after close", "save stale_tab",
                    "save stale_sequence", "save time_over", "submit accepted", "submit replayed", "submit time_over",
                    "sweep finalized"):
        assert OUTCOMES[outcome], (outcome, OUTCOMES)
