"""What the bare baseline needs in the bench database: its scratch table, attempts to write into, ids."""
from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table

from benchmarks.loadkit.target import Target, make_app

scratch = MetaData()
bare_questions = Table("loadkit_bare_questions", scratch,
                       Column("attempt_id", Integer, primary_key=True),
                       Column("position", Integer, primary_key=True),
                       Column("question_id", Integer, nullable=False))


def create_scratch_table(target: Target) -> None:
    """The bare start's question rows live here (only in the bench database, dropped with it)."""
    from app.extensions import db

    app = make_app(target)
    with app.app_context():
        bare_questions.create(db.engine, checkfirst=True)


def student_ids(target: Target, indices: range) -> list[int]:
    """User ids of the seeded students at ``indices``."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    numbers = [target.students[i] for i in indices]
    app = make_app(target)
    with app.app_context():
        ids = dict(db.session.execute(select(User.login_name, User.id).where(User.login_name.in_(numbers))).all())
    return [ids[n] for n in numbers]


def bare_attempts(target: Target, indices: range) -> list[int]:
    """Attempts (started through the app's own service) for the bare upsert to write into."""
    from app.clock import utcnow
    from app.extensions import db
    from app.models import Exam, User
    from app.services import attempts

    ids = student_ids(target, indices)
    app = make_app(target)
    result = []
    with app.app_context():
        exam = db.session.get(Exam, target.exam_id)
        client = attempts.Client("127.0.0.1", "loadkit")
        for user_id in ids:
            user = db.session.get(User, user_id)
            attempts.accept_pledge(db.session, exam=exam, user=user, now=utcnow(), client=client)
            result.append(attempts.start(db.session, exam=exam, user=user, now=utcnow(), client=client).id)
        db.session.commit()
    return result


def question_ids(target: Target) -> list[int]:
    """The exam's question ids (the bare upsert writes real (attempt, question) rows)."""
    from app.extensions import db
    from app.models import Exam
    from app.services import papers

    app = make_app(target)
    with app.app_context():
        return sorted(papers.load(db.session, db.session.get(Exam, target.exam_id)).questions)
