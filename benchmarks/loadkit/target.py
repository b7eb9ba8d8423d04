"""The database under test: a fresh SQLite file or a dedicated PostgreSQL database, seeded through the app.

``prepare`` drops and recreates the database, runs the Alembic migrations, imports the shipped
physics bank, creates N students with the app's own student service and publishes a 30-question
exam over the bank with the app's own exam service. The students share one password, hashed once
with argon2id at the configured (OWASP minimum) parameters, so seeding 2,000 students takes seconds
while every login still pays for a real argon2id verification.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("LOADKIT_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("LOADKIT_PG_DB", "yingcai_bench")
PASSWORD = "bench-pass-2026"
SCHOOL_SIZE = 30  # students per simulated computer room (one NAT address each)

# 30 questions of every type the paper has, drawn from the shipped physics bank at publication.
EXAM_SECTIONS = [
    {"name": "一、单项选择题", "points_per_question": 3,
     "blueprint": [{"type": "single", "difficulty": [1, 5], "count": 12}]},
    {"name": "二、多项选择题", "policy": "gaokao_partial",
     "blueprint": [{"type": "multiple", "difficulty": [1, 5], "count": 6}]},
    {"name": "三、判断与填空", "blueprint": [{"type": "true_false", "difficulty": [1, 5], "count": 4},
                                       {"type": "fill_blank", "difficulty": [1, 5], "count": 4}]},
    {"name": "四、排序、匹配与综合", "blueprint": [{"type": "ordering", "difficulty": [1, 5], "count": 1},
                                          {"type": "matching", "difficulty": [1, 5], "count": 1},
                                          {"type": "group", "difficulty": [1, 5], "count": 1},
                                          {"type": "short_answer", "difficulty": [1, 5], "count": 1}]},
]


@dataclass
class Target:
    """Where the kit's data lives and what was seeded."""

    kind: str  # sqlite | postgres
    workdir: str
    url: str = ""
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    exam_id: int = 0
    students: list[str] = field(default_factory=list)
    questions: int = 0

    @property
    def state_file(self) -> Path:
        return Path(self.workdir) / f"target-{self.kind}.json"

    def save(self) -> None:
        """Remember the seeded target for later commands."""
        self.state_file.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, kind: str, workdir: str) -> Target:
        """The target ``prepare`` seeded last."""
        path = Path(workdir) / f"target-{kind}.json"
        if not path.exists():
            raise SystemExit(f"no seeded {kind} target in {workdir}: run `python -m benchmarks.loadkit setup` first")
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def app_env(self) -> dict[str, str]:
        """Environment for the app and the bare app (production settings on loopback)."""
        return {"DATABASE_URL": self.url, "SECRET_KEY": self.secret_key, "YINGCAI_ENV_NAME": "production",
                "YINGCAI_PROXY_COUNT": "1"}


def sqlite_url(workdir: str) -> str:
    """The kit's SQLite file."""
    return "sqlite:///" + str(Path(workdir) / "bench.sqlite3")


def pg_url() -> str:
    """The kit's dedicated PostgreSQL database."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://") + "/" + PG_DB


def recreate_database(kind: str, workdir: str) -> str:
    """Drop and create the kit's database; return its URL."""
    os.makedirs(workdir, exist_ok=True)
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = Path(workdir) / f"bench.sqlite3{suffix}"
            if path.exists():
                path.unlink()
        return sqlite_url(workdir)
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return pg_url()


def make_app(target: Target):
    """The application bound to the target database (for seeding and for the oracle)."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": target.url, "SECRET_KEY": target.secret_key,
                       "ENV_NAME": "production", "RATELIMIT_ENABLED": False})


def prepare(kind: str, workdir: str, n_students: int, *, opens_in: timedelta = timedelta(days=1)) -> Target:
    """A fresh database with the schema, the physics bank, ``n_students`` students and a published exam."""
    url = recreate_database(kind, workdir)
    target = Target(kind=kind, workdir=workdir, url=url)
    app = make_app(target)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        _seed(app, target, n_students, opens_in)
    target.save()
    analyze(target)
    return target


def _seed(app, target: Target, n_students: int, opens_in: timedelta) -> None:
    from sqlalchemy import select, update

    from app.clock import utcnow
    from app.commands.bank import collect
    from app.commands.demo import ensure_schools
    from app.extensions import db
    from app.models import School, User
    from app.services import bank_import, exam_authoring, students
    from app.services.accounts import HashParams
    from app.services.audit import Actor
    from app.services.passwords import hash_password

    session, now, actor = db.session, utcnow(), Actor.system("loadkit")
    for files in collect((str(REPO / "question_bank" / "physics"),)):
        parsed, name = bank_import.parse_files(files, subject=None)
        report = bank_import.import_bank(session, parsed, actor=actor, author_id=None, now=now, approve=True,
                                         format_name=name)
        assert report.ok, report.issues
    session.commit()
    ensure_schools(session)
    session.commit()
    schools = session.scalars(select(School).order_by(School.id)).all()
    cheap = HashParams(1, 8, 1)  # replaced below by one real argon2id hash shared by all
    numbers = []
    for i in range(n_students):
        number = f"B{i:05d}"
        school = schools[(i // SCHOOL_SIZE) % len(schools)]
        students.create_student(session, students.StudentInput(exam_number=number, name=_name(i),
                                                               school_id=school.id, subject_code="physics"),
                                password=PASSWORD, now=now, actor=actor, id_keys=None, hash_params=cheap)
        numbers.append(number)
        if i % 500 == 499:
            session.commit()
    cfg = app.config
    real = hash_password(PASSWORD, (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]))
    session.execute(update(User).where(User.role == "student").values(password_hash=real))
    session.commit()
    spec: dict[str, Any] = {"subject": "physics", "title": "压力测试 · 物理学科潜质测试", "kind": "selection",
                            "opens_at": (now + opens_in).isoformat(),
                            "closes_at": (now + opens_in + timedelta(days=2)).isoformat(),
                            "duration_minutes": 120, "grace_seconds": 60, "sections": EXAM_SECTIONS,
                            "publish": True}
    exam = exam_authoring.create_exam(session, spec, actor=actor, creator_id=None, now=now)
    session.commit()
    target.exam_id = exam.id
    target.students = numbers
    target.questions = sum(len(s.questions) for s in exam.sections)


def _name(i: int) -> str:
    surnames, given = "王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林", "子涵浩宇欣怡梓轩雨桐一诺思远俊杰佳琪明晓彤"
    return surnames[i % 20] + given[(i // 20) % 20] + given[(i // 400) % 20]


def set_opening(target: Target, opens_at: datetime) -> None:
    """Move the exam's opening (the waiting room counts down to it); the exam stays open two days."""
    from app.extensions import db
    from app.models import Exam

    app = make_app(target)
    with app.app_context():
        exam = db.session.get(Exam, target.exam_id)
        exam.opens_at = opens_at
        exam.closes_at = opens_at + timedelta(days=2)
        db.session.commit()


def reset_attempts(target: Target, *, keep_consents: bool = False) -> None:
    """Remove every attempt (and the pledges unless kept) and bare-baseline row: a fresh exam."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import Attempt, AttemptEvent, ExamConsent, Response, SaveReceipt, WriterToken
    from benchmarks.loadkit.bare_app_setup import bare_questions

    app = make_app(target)
    with app.app_context():
        bare_questions.create(db.engine, checkfirst=True)
        db.session.execute(delete(bare_questions))
        for model in (SaveReceipt, Response, AttemptEvent, WriterToken, Attempt):
            db.session.execute(delete(model))
        if not keep_consents:
            db.session.execute(delete(ExamConsent))
        db.session.commit()
    analyze(target, tables="attempts, writer_tokens, responses, save_receipts, attempt_events, exam_consents")


def analyze(target: Target, tables: str = "") -> None:
    """Fresh planner statistics after bulk changes (PostgreSQL; SQLite plans from its indexes)."""
    if target.kind != "postgres":
        return
    import psycopg

    with psycopg.connect(target.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {tables}" if tables else "VACUUM ANALYZE")
