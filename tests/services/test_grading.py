"""Manual grading: the blind queue, 双评 with arbitration, rescoring, and score reviews."""
from __future__ import annotations

from dataclasses import asdict

import pytest

from app.services import audit, grading, papers, publication, rankings, score_reviews
from app.services.rankings import ResultsError
from tests import results_fixtures as rf

ACTOR = audit.Actor(None, "pytest")


@pytest.fixture
def sitting(db_session, make, now):
    """Three physics students: two wrote short answers, one left it empty."""
    exam = rf.live_exam(db_session, now)
    users = []
    for i, text in enumerate(["惯性是物体保持原有运动状态的性质。", "不知道怎么说，大概是惯性定律吧", None]):
        student = make.student(subject="physics", name=f"考生{'甲乙丙'[i]}")
        answers = {"t-single": "b"}
        if text:
            answers["t-short"] = text
        rf.sit(db_session, exam, student.user, answers, now)
        users.append(student.user)
    item = next(i for i in grading.manual_items(papers.load(db_session, exam)) if not i.part_key)
    return exam, [rf.attempt_of(db_session, exam, u) for u in users], item


def _grade(db_session, exam, item, grader, now, points):
    entry = grading.next_entry(db_session, exam, item, grader)
    assert entry is not None
    grading.record(db_session, exam, attempt_id=entry.attempt_id, exam_question_id=item.exam_question_id,
                   part_key=item.part_key, slot=entry.slot, grader=grader, points=points, comment=None, now=now,
                   actor=ACTOR)
    return entry


def test_the_queue_is_blind_and_skips_empty_answers(db_session, make, sitting, now):
    exam, attempts, item = sitting
    teacher = make.user(role="teacher", subjects=["physics"])
    entries = grading.queue(db_session, exam, item, teacher, limit=10)
    assert sorted(e.attempt_id for e in entries) == sorted(a.id for a in attempts[:2])
    shown = str([asdict(e)["answer"] for e in entries]) + str([e.code for e in entries])
    for attempt in attempts:
        profile = attempt.exam and db_session.get(type(teacher), attempt.student_id).student
        assert profile.name not in shown and profile.exam_number not in shown
    assert all(len(e.code) == 8 for e in entries)
    assert attempts[0].needs_manual and not attempts[2].needs_manual


def test_single_marking_rescores_the_attempt(db_session, make, sitting, now):
    exam, attempts, item = sitting
    teacher = make.user(role="teacher", subjects=["physics"])
    before = {a.id: a.score_total for a in attempts}
    graded = [_grade(db_session, exam, item, teacher, now, 6), _grade(db_session, exam, item, teacher, now, 2.5)]
    points = {graded[0].attempt_id: 6, graded[1].attempt_id: 2.5}
    for attempt in attempts[:2]:
        db_session.refresh(attempt)
        assert attempt.score_total == before[attempt.id] + points[attempt.id]
        assert not attempt.needs_manual
        assert attempt.score_detail["items"][str(item.exam_question_id)]["points"] == points[attempt.id]
        assert sum(attempt.score_detail["sections"].values()) == attempt.score_total
    assert grading.next_entry(db_session, exam, item, teacher) is None
    progress = next(p for p in grading.progress(db_session, exam) if p.item.key == item.key)
    assert (progress.answered, progress.final, progress.needs_first) == (2, 2, 0)
    assert rankings.compute(db_session, exam, now=now, actor=ACTOR).pending_manual == 0


def test_double_marking_with_arbitration(db_session, make, sitting, now):
    exam, attempts, item = sitting
    settings = rankings.settings_for(db_session, exam.id)
    settings.double_marking, settings.double_threshold = True, 2
    first, second, third = (make.user(role="teacher", subjects=["physics"]) for _ in range(3))
    # Answer X: 6 and 7 are within the threshold → their mean. Answer Y: 1 and 8 differ → arbitration.
    x = _grade(db_session, exam, item, first, now, 6)
    y = next(e for e in grading.queue(db_session, exam, item, first, limit=5) if e.attempt_id != x.attempt_id)
    grading.record(db_session, exam, attempt_id=y.attempt_id, exam_question_id=item.exam_question_id, part_key="",
                   slot=y.slot, grader=first, points=1, comment=None, now=now, actor=ACTOR)
    assert grading.next_entry(db_session, exam, item, first) is None  # never the same answer twice
    for entry in grading.queue(db_session, exam, item, second, limit=5):
        assert entry.slot == 2 and entry.earlier_marks == ()  # the second grader does not see the first's points
        grading.record(db_session, exam, attempt_id=entry.attempt_id, exam_question_id=item.exam_question_id,
                       part_key="", slot=2, grader=second, points=7 if entry.attempt_id == x.attempt_id else 8,
                       comment=None, now=now, actor=ACTOR)
    x_attempt = db_session.get(type(attempts[0]), x.attempt_id)
    y_attempt = db_session.get(type(attempts[0]), y.attempt_id)
    assert not x_attempt.needs_manual and x_attempt.score_detail["items"][str(item.exam_question_id)]["points"] == 6.5
    assert y_attempt.needs_manual
    assert grading.next_entry(db_session, exam, item, second) is None  # a grader of it cannot arbitrate
    arbiter = grading.next_entry(db_session, exam, item, third)
    assert arbiter.attempt_id == y.attempt_id and arbiter.slot == 3 and arbiter.earlier_marks == (1.0, 8.0)
    grading.record(db_session, exam, attempt_id=y.attempt_id, exam_question_id=item.exam_question_id, part_key="",
                   slot=3, grader=third, points=5, comment="按评分标准第2点", now=now, actor=ACTOR)
    assert not y_attempt.needs_manual
    assert y_attempt.score_detail["items"][str(item.exam_question_id)]["points"] == 5


def test_refusals(db_session, make, sitting, now):
    exam, attempts, item = sitting
    teacher = make.user(role="teacher", subjects=["physics"])
    math_teacher = make.user(role="teacher", subjects=["math"])
    with pytest.raises(ResultsError) as info:
        grading.next_entry(db_session, exam, item, math_teacher)
    assert info.value.status == 403
    kwargs = {"exam_question_id": item.exam_question_id, "part_key": "", "grader": teacher, "comment": None,
              "now": now, "actor": ACTOR}
    with pytest.raises(ResultsError):  # more than the question is worth
        grading.record(db_session, exam, attempt_id=attempts[0].id, slot=1, points=9, **kwargs)
    with pytest.raises(ResultsError):  # an empty answer is not graded
        grading.record(db_session, exam, attempt_id=attempts[2].id, slot=1, points=0, **kwargs)
    grading.record(db_session, exam, attempt_id=attempts[0].id, slot=1, points=3, **kwargs)
    other = make.user(role="teacher", subjects=["physics"])
    with pytest.raises(ResultsError) as info:  # someone else already took slot 1 (a race between graders)
        grading.record(db_session, exam, attempt_id=attempts[0].id, slot=1, points=4,
                       **{**kwargs, "grader": other})
    assert info.value.code in ("taken", "graded_twice")


def test_a_score_review_corrects_a_grade_and_publishes_the_next_version(db_session, make, sitting, now):
    exam, attempts, item = sitting
    teacher = make.user(role="teacher", subjects=["physics"])
    admin = make.user(role="admin")
    for _ in range(2):
        _grade(db_session, exam, item, teacher, now, 2)
    first = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR).snapshot
    student = db_session.get(type(teacher), attempts[0].student_id)
    review = score_reviews.request_review(db_session, exam, student, reason="简答题要点都写了", now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # once per published version
        score_reviews.request_review(db_session, exam, student, reason="再次申请", now=now, actor=ACTOR)
    with pytest.raises(ResultsError):  # a change needs the corrected item
        score_reviews.resolve(db_session, review, outcome="changed", response="更正", staff=admin, now=now,
                              actor=ACTOR)
    score_reviews.resolve(db_session, review, outcome="changed", response="第7题改为7分", staff=admin, now=now,
                          actor=ACTOR, correction=(item.exam_question_id, "", 7))
    assert review.state == "changed" and review.total_after == review.total_before + 5
    latest = publication.latest_snapshot(db_session, exam.id)
    assert latest.version == first.version + 1 and latest.reason == f"成绩复核 #{review.id}"
    changed = {c["exam_number"]: c["fields"] for c in latest.diff["changed"]}
    assert changed[student.student.exam_number]["total"][1] == f"{review.total_after:.2f}"
    assert publication.verify(db_session, exam).ok


def test_a_review_outside_the_window_is_refused(db_session, make, sitting, now):
    from datetime import timedelta

    exam, attempts, item = sitting
    teacher = make.user(role="teacher", subjects=["physics"])
    for _ in range(2):
        _grade(db_session, exam, item, teacher, now, 2)
    snapshot = publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR).snapshot
    student = db_session.get(type(teacher), attempts[1].student_id)
    with pytest.raises(ResultsError) as info:
        score_reviews.request_review(db_session, exam, student, reason="请复核", actor=ACTOR,
                                     now=snapshot.review_closes_at + timedelta(seconds=1))
    assert info.value.code == "window_closed"
