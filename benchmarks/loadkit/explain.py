"""``python -m benchmarks.loadkit.explain``: the PostgreSQL plans of the exam-day hot queries on the bench database.

Run after ``python -m benchmarks.loadkit setup --db postgres`` (and ideally an ``exam`` run, so the
tables hold data). Prints each statement's plan; docs/performance.md § Indexes shows the output.
"""
from __future__ import annotations

from sqlalchemy import func, select, update

from benchmarks.loadkit import target as tg


def main() -> None:
    from app.auth import session as auth_session
    from app.clock import utcnow
    from app.extensions import db
    from app.models import Attempt, ExamConsent, Response, TimeGrant, WriterToken
    from app.services import attempts

    target = tg.Target.load("postgres", tg.os.environ.get("LOADKIT_WORKDIR", "/tmp/yingcai-loadkit"))
    app = tg.make_app(target)
    with app.app_context():
        conn = db.session.connection()
        attempt = conn.execute(select(Attempt.id, Attempt.student_id).limit(1)).first()
        token = conn.execute(select(WriterToken.id, WriterToken.token).limit(1)).first()
        aid, sid = (attempt.id, attempt.student_id) if attempt else (1, 1)
        tid, tok = (token.id, token.token) if token else (1, "x")
        now = utcnow()
        statements = {
            "login: user by session token (every request)": (auth_session._USER_BY_TOKEN, {"token": "t"}),
            "save: token + attempt + exam + receipt (one read)": (attempts._SAVE_LOOKUP, {"token": tok, "new_seq": 5}),
            "save: the four writes (one statement)": (attempts._pg_save_statement(), {
                "attempt": aid, "token_id": tid, "new_seq": 10**9, "question": 1, "value": "\"a\"", "now": now}),
            "start: existing attempt": (select(Attempt.id).where(Attempt.exam_id == target.exam_id,
                                                                 Attempt.student_id == sid), {}),
            "start: pledge and exam-wide grants": (select(
                select(ExamConsent.id).where(ExamConsent.exam_id == target.exam_id,
                                             ExamConsent.student_id == sid).exists(),
                select(func.coalesce(func.sum(TimeGrant.seconds), 0)).where(
                    TimeGrant.exam_id == target.exam_id, TimeGrant.attempt_id.is_(None),
                    TimeGrant.scope == "exam").scalar_subquery()), {}),
            "open: revoke older tokens": (update(WriterToken).where(WriterToken.attempt_id == aid,
                                                                    WriterToken.revoked.is_(False))
                                          .values(revoked=True), {}),
            "open/page: saved answers": (select(Response).where(Response.attempt_id == aid), {}),
            "heartbeat/submit: token of the attempt": (select(WriterToken).where(WriterToken.token == tok,
                                                                                  WriterToken.attempt_id == aid), {}),
            "finalize-overdue sweep": (select(Attempt.id).where(Attempt.state == "in_progress", Attempt.deadline < now)
                                       .order_by(Attempt.deadline).limit(1000), {}),
        }
        for title, (statement, params) in statements.items():
            compiled = statement.compile(dialect=conn.dialect)
            sql = str(compiled)
            merged = {**compiled.params, **params}
            plan = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + sql, {k: _bind(compiled, k, v) for k, v in merged.items()})
            print(f"-- {title}")
            for (line,) in plan:
                print("   " + line)
        db.session.rollback()


def _bind(compiled, key, value):
    """Bind values the way the driver expects (JSON as text, like SQLAlchemy's JSON type does)."""
    bind = compiled.binds.get(key)
    processor = bind.type.bind_processor(compiled.dialect) if bind is not None else None
    return processor(value) if processor else value


if __name__ == "__main__":
    main()
