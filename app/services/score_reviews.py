"""成绩复核: students ask for a check of their published score within the review window.

A request names the student's own attempt of a published exam and is open while the window of
the first published version lasts; one request per student per published version. Staff answer
it: unchanged, rejected, or changed — a change corrects a manually graded answer (it overrides
the graders), rescoring the attempt and publishing the next snapshot version with what moved.
Objective keys are corrected by a regrade, which publishes a new version the same way.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Attempt, Exam, ScoreReview, User
from app.services import audit, grading, publication
from app.services.rankings import ResultsError

OUTCOMES = ("unchanged", "changed", "rejected")


def request_review(session: Session, exam: Exam, user: User, *, reason: str, now: datetime,
                   actor: audit.Actor) -> ScoreReview:
    """A student's request, refused outside the window, for another's attempt, or twice per version."""
    result = publication.student_result(session, exam, user, now=now)
    if result is None:
        raise ResultsError("not_found", "找不到该考试的成绩", "no result for this exam", 404)
    if result.snapshot is None:
        raise ResultsError("not_published", "成绩尚未发布", "results are not published yet", 409)
    if not result.review_open:
        raise ResultsError("window_closed", "成绩复核申请时间已过", "the score review window is closed", 409)
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 1000:
        raise ResultsError("reason", "请说明复核理由（2–1000 字）", "give a reason (2–1000 characters)", 422)
    review = ScoreReview(exam_id=exam.id, attempt_id=result.attempt.id, student_id=user.id,
                         snapshot_version=result.snapshot.version, reason=reason, state="open", requested_at=now,
                         total_before=result.row.total if result.row else None)
    try:
        with session.begin_nested():
            session.add(review)
    except IntegrityError:
        raise ResultsError("duplicate", "您已就本次发布的成绩申请过复核", "you already asked for a review of this version",
                           409) from None
    audit.record(session, actor=actor, action="review.request", object_type="attempt", object_id=result.attempt.id,
                 now=now, after={"review": review.id, "version": review.snapshot_version}, reason=reason,
                 league_code=user.student.league_code if user.student else None)
    return review


def reviews_of(session: Session, exam_id: int) -> list[ScoreReview]:
    """An exam's review requests, open ones first, then newest first."""
    rows = session.scalars(select(ScoreReview).where(ScoreReview.exam_id == exam_id)
                           .order_by(ScoreReview.id.desc())).all()
    return sorted(rows, key=lambda r: r.state != "open")


def resolve(session: Session, review: ScoreReview, *, outcome: str, response: str, staff: User, now: datetime,
            actor: audit.Actor, correction: tuple[int, str, float] | None = None) -> ScoreReview:
    """Answer a review; a ``changed`` outcome needs a correction (question id, part key, points)."""
    if review.state != "open":
        raise ResultsError("closed", "该复核申请已处理", "this review has already been answered")
    if outcome not in OUTCOMES:
        raise ResultsError("outcome", "处理结果无效", "unknown outcome", 422)
    response = (response or "").strip()
    if not response:
        raise ResultsError("response", "请填写复核答复", "write an answer to the student", 422)
    attempt = session.get(Attempt, review.attempt_id)
    exam = attempt.exam
    if outcome == "changed":
        if correction is None:
            raise ResultsError("correction", "成绩有变化时须给出更正的题目和分数（客观题请用重新评分）",
                               "a change needs the corrected question and points (objective keys: use a regrade)",
                               422)
        qid, part, points = correction
        review.total_after = grading.review_correction(session, exam, attempt=attempt, exam_question_id=qid,
                                                       part_key=part, points=points, staff=staff,
                                                       note=f"成绩复核 #{review.id}: {response}", now=now,
                                                       actor=actor)
    else:
        review.total_after = review.total_before
    review.state, review.response = outcome, response
    review.resolved_by_id, review.resolved_at = staff.id, now
    audit.record(session, actor=actor, action="review.resolve", object_type="attempt", object_id=attempt.id, now=now,
                 before={"total": review.total_before}, after={"review": review.id, "outcome": outcome,
                                                                "total": review.total_after}, reason=response)
    if outcome == "changed":
        publication.after_change(session, exam, user_id=staff.id, now=now, actor=actor,
                                 reason=f"成绩复核 #{review.id}")
    return review
