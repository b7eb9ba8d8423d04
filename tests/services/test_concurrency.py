"""Real concurrency (committing tier): starts, saves and the finalize sweep from several connections."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, Response, User
from app.services import attempts as service
from tests import exam_fixtures as fx
from tests import factories

C = service.Client("127.0.0.1", "pytest")


def _run_parallel(app, n, fn):
    """Run fn(i) in n threads, each with its own app context (its own session and connection)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i):
        with app.app_context():
            try:
                barrier.wait()
                results[i] = fn(i)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.fixture
def committed_exam(app, committing_db):
    now = utcnow()
    fx.load_bank(db.session, now)
    exam = fx.make_exam(db.session, now)
    student = factories.Factory(db.session, app.config).student(subject="physics")
    service.accept_pledge(db.session, exam=exam, user=student.user, now=now, client=C)
    ids = exam.id, student.user_id
    db.session.commit()
    db.session.close()  # hold no transaction (and so no SQLite lock) while the threads run
    return ids


def test_twenty_concurrent_starts_make_one_attempt(app, committed_exam):
    exam_id, user_id = committed_exam

    def start(_):
        from app.models import Exam

        attempt = service.start(db.session, exam=db.session.get(Exam, exam_id), user=db.session.get(User, user_id),
                                now=utcnow(), client=C)
        db.session.commit()
        attempt_id = attempt.id
        db.session.commit()
        return attempt_id

    results, errors = _run_parallel(app, 20, start)
    assert errors == []
    assert len(set(results)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1


def test_same_save_retried_concurrently_is_stored_once(app, committed_exam):
    exam_id, user_id = committed_exam
    with app.app_context():
        from app.models import Exam

        attempt = service.start(db.session, exam=db.session.get(Exam, exam_id), user=db.session.get(User, user_id),
                                now=utcnow(), client=C)
        page = service.open_page(db.session, attempt, now=utcnow(), client=C)
        attempt_id = attempt.id
        db.session.commit()
    tf = next(q for s in page["sections"] for q in s["questions"] if q["type"] == "true_false")

    def save(_):
        result = service.save(db.session, attempt_id=attempt_id, user=db.session.get(User, user_id),
                              token=page["token"], seq=1, question_id=tf["id"], answer=True, now=utcnow())
        receipt = result.receipt
        db.session.commit()
        return receipt

    results, errors = _run_parallel(app, 10, save)
    # Every caller gets the receipt, or (at worst) a clean conflict it can retry; never two rows.
    assert all(getattr(e, "code", None) in ("stale_sequence",) or "UniqueViolation" in repr(e)
               or "IntegrityError" in repr(e) for e in errors)
    receipts = [r for r in results if r]
    assert receipts and all(r["seq"] == 1 for r in receipts)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 1


def test_finalize_overdue_in_parallel_finalizes_once(app, committed_exam):
    exam_id, user_id = committed_exam
    with app.app_context():
        from app.models import Exam

        attempt = service.start(db.session, exam=db.session.get(Exam, exam_id), user=db.session.get(User, user_id),
                                now=utcnow(), client=C)
        later = attempt.deadline + timedelta(minutes=2)
        db.session.commit()

    results, errors = _run_parallel(app, 4, lambda _: service.finalize_overdue(db.session, now=later))
    assert errors == []
    assert sum(results) == 1
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        assert attempt.state == "finalized" and attempt.scored_at is not None
