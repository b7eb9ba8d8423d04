"""Regrades: the dry run lists exactly what applying does; a stale plan is refused; audited; new versions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Attempt, AuditEntry, ExamQuestion, ExamSection, QuestionVersion, RankingRow
from app.services import audit, jobs, papers, publication, rankings, regrade
from app.services.rankings import ResultsError
from tests import results_fixtures as rf

ACTOR = audit.Actor(None, "pytest")
SINGLE_ANSWERS = ["a", "b", "c", None, "b", "a", "d", "b"]
MULTIPLE_ANSWERS = [["a", "b"], ["a"], ["a", "b"], ["a", "c"], ["a"], ["b"], ["a", "b"], None]


@pytest.fixture
def sat(db_session, make, now):
    """Eight students of two leagues who sat the exam; their answers differ on the single and multiple choice."""
    exam = rf.live_exam(db_session, now)
    users = []
    for i, (single, multiple) in enumerate(zip(SINGLE_ANSWERS, MULTIPLE_ANSWERS)):
        student = make.student(league_code=("150100", "150200")[i % 2], subject="physics")
        answers = {"t-tf": False, "t-order": ["r", "i", "v", "x"] if i % 3 else ["i", "r", "v", "x"]}
        if single:
            answers["t-single"] = single
        if multiple:
            answers["t-multiple"] = multiple
        rf.sit(db_session, exam, student.user, answers, now)
        users.append(student.user)
    return exam, [rf.attempt_of(db_session, exam, u) for u in users]


def _totals(db_session, attempts):
    for a in attempts:
        db_session.refresh(a)
    return {a.id: a.score_total for a in attempts}


def _ranks(db_session, exam):
    run = rankings.current_run(db_session, exam.id)
    return {r.attempt_id: (r.rank, r.league_rank) for r in rankings.stored_rows(db_session, run.id)}


def _single_id(db_session, exam):
    return rf.question_ids(db_session, exam)["t-single"]


def test_a_corrected_key_dry_run_equals_what_applying_does(db_session, sat, now):
    exam, attempts = sat
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    before_totals, before_ranks = _totals(db_session, attempts), _ranks(db_session, exam)
    qid = _single_id(db_session, exam)
    version = regrade.correct_key(db_session, exam, qid, "a", user_id=None, now=now, actor=ACTOR)
    plan = regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": qid, "version_id": version.id}],
                           reason="第1题答案应为A", user_id=None, now=now, actor=ACTOR)
    # Answered a: +4; answered b: -4; c, d and blank: unchanged.
    expected = {a.id: 4 if s == "a" else -4 for a, s in zip(attempts, SINGLE_ANSWERS) if s in ("a", "b")}
    assert {row[0]: row[2] - row[1] for row in plan.score_changes} == expected
    assert plan.attempts_checked == len(attempts)
    # Nothing is written by a dry run.
    assert _totals(db_session, attempts) == before_totals
    assert exam.revision == plan.base_revision

    regrade.apply(db_session, plan, user_id=None, now=now, actor=ACTOR)
    after_totals, after_ranks = _totals(db_session, attempts), _ranks(db_session, exam)
    applied = {aid: [before_totals[aid], after_totals[aid]] for aid in after_totals
               if after_totals[aid] != before_totals[aid]}
    assert applied == {row[0]: [row[1], row[2]] for row in plan.score_changes}
    moved = sorted([aid, *before_ranks[aid][:1], *after_ranks[aid][:1], before_ranks[aid][1], after_ranks[aid][1]]
                   for aid in after_ranks if before_ranks[aid] != after_ranks[aid])
    assert moved == sorted(plan.rank_moves)
    assert plan.state == "applied" and exam.revision == plan.base_revision + 1
    pinned = db_session.get(ExamQuestion, qid)
    assert pinned.version_id == version.id and pinned.version.content["answer"] == "a"
    assert papers.load(db_session, exam).questions[qid].content["answer"] == "a"
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "exam.regrade"))
    assert entry.after["scores_changed"] == len(plan.score_changes) and entry.reason == "第1题答案应为A"


def test_a_policy_change(db_session, sat, now):
    exam, attempts = sat
    section = db_session.scalar(select(ExamSection).where(ExamSection.exam_id == exam.id, ExamSection.name == "选择"))
    plan = regrade.dry_run(db_session, exam, [{"kind": "policy", "section_id": section.id, "policy": "all_or_nothing"}],
                           reason="多选题不给部分分", user_id=None, now=now, actor=ACTOR)
    # Under gaokao_partial a correct subset earned 3 of 6; all or nothing gives it 0.
    partial = {a.id for a, m in zip(attempts, MULTIPLE_ANSWERS) if m in (["a"], ["b"])}
    assert {row[0] for row in plan.score_changes} == partial
    assert all(row[2] - row[1] == -3 for row in plan.score_changes)
    regrade.apply(db_session, plan, user_id=None, now=now, actor=ACTOR)
    assert section.policy == "all_or_nothing"


def test_a_plan_is_refused_once_scores_changed_after_the_dry_run(db_session, sat, now):
    exam, attempts = sat
    qid = _single_id(db_session, exam)
    version = regrade.correct_key(db_session, exam, qid, "c", user_id=None, now=now, actor=ACTOR)
    plan = regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": qid, "version_id": version.id}],
                           reason="更正", user_id=None, now=now, actor=ACTOR)
    attempts[2].score_total += 1  # someone's score changed in between
    db_session.flush()
    with pytest.raises(ResultsError) as info:
        regrade.apply(db_session, plan, user_id=None, now=now, actor=ACTOR)
    assert info.value.code == "stale"
    assert db_session.get(ExamQuestion, qid).version_id != version.id


def test_changes_are_validated(db_session, sat, now):
    exam, _ = sat
    ids = rf.question_ids(db_session, exam)
    other = db_session.get(ExamQuestion, ids["t-tf"]).version_id
    with pytest.raises(ResultsError):  # a version of another question
        regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": ids["t-single"], "version_id": other}],
                        reason="x", user_id=None, now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # the key must be valid for the question
        regrade.correct_key(db_session, exam, ids["t-single"], "z", user_id=None, now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # a short answer has no key to correct
        regrade.correct_key(db_session, exam, ids["t-short"], "x", user_id=None, now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # unknown policy
        section = db_session.scalar(select(ExamSection).where(ExamSection.exam_id == exam.id))
        regrade.dry_run(db_session, exam, [{"kind": "policy", "section_id": section.id, "policy": "nope"}],
                        reason="x", user_id=None, now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # a reason is required
        regrade.dry_run(db_session, exam, [{"kind": "policy", "section_id": section.id, "policy": None}],
                        reason=" ", user_id=None, now=now, actor=ACTOR)


def test_options_must_stay_the_same(db_session, sat, now):
    exam, _ = sat
    qid = _single_id(db_session, exam)
    pinned = db_session.get(ExamQuestion, qid)
    content = dict(pinned.version.content)
    content["options"] = [*content["options"], {"id": "e", "text": "W"}]
    from app.services import bank_store

    version = bank_store.add_version(db_session, pinned.question, content, {}, actor_id=None, now=now)
    with pytest.raises(ResultsError):
        regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": qid, "version_id": version.id}],
                        reason="x", user_id=None, now=now, actor=ACTOR)


def test_applying_after_publication_publishes_the_next_version(db_session, sat, now):
    exam, _attempts = sat
    first = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR).snapshot
    qid = _single_id(db_session, exam)
    version = regrade.correct_key(db_session, exam, qid, "a", user_id=None, now=now, actor=ACTOR)
    plan = regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": qid, "version_id": version.id}],
                           reason="更正第1题", user_id=None, now=now, actor=ACTOR)
    regrade.apply(db_session, plan, user_id=None, now=now, actor=ACTOR)
    latest = publication.latest_snapshot(db_session, exam.id)
    assert latest.version == first.version + 1 and latest.reason == f"重新评分 #{plan.id}"
    assert {c["exam_number"] for c in latest.diff["changed"]}
    assert publication.verify(db_session, exam).ok
    assert db_session.scalar(select(QuestionVersion.note).where(QuestionVersion.id == version.id)).startswith("更正答案")


def test_the_background_job_applies_a_plan(db_session, sat, now):
    exam, _attempts = sat
    qid = _single_id(db_session, exam)
    version = regrade.correct_key(db_session, exam, qid, "a", user_id=None, now=now, actor=ACTOR)
    plan = regrade.dry_run(db_session, exam, [{"kind": "version", "exam_question_id": qid, "version_id": version.id}],
                           reason="更正", user_id=None, now=now, actor=ACTOR)
    job = jobs.enqueue(db_session, "regrade.apply", {"regrade_id": plan.id, "actor": "admin"}, now=now)
    jobs.run(db_session, job, now=lambda: now)
    assert job.state == "done", job.error
    assert job.result["scores_changed"] == len(plan.score_changes)
    assert db_session.get(type(plan), plan.id).state == "applied"
    run = rankings.current_run(db_session, exam.id)
    assert db_session.scalar(select(RankingRow.run_id).where(RankingRow.run_id == run.id).limit(1)) == run.id
    changed = {row[0]: row[2] for row in plan.score_changes}
    for a in db_session.scalars(select(Attempt).where(Attempt.id.in_(list(changed)))):
        assert a.score_total == changed[a.id]
