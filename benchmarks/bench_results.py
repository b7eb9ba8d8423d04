"""Results at national scale: compute + store, publish, verify and export 100,000 attempts.

Run: /tmp/venv/bin/python benchmarks/bench_results.py [N] — on a scratch SQLite file by default, or on
``BENCH_DATABASE_URL`` (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/yingcai_bench, dropped and
recreated). Seeding writes rows directly (it is not what is measured); each measured step goes
through the real service. Prints wall times, the domain rank() alone as the baseline of the same
run, and the peak Python memory of each export (they stream: it must not grow with N).
"""
from __future__ import annotations

import os
import pathlib
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.models import Attempt, League, School, StudentProfile, User
from app.services import audit, exports, publication, rankings, selection_service

NOW = datetime(2026, 6, 14, 6, 0, tzinfo=UTC)
ACTOR = audit.Actor(None, "bench")


def _database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url:
        return "sqlite:///" + os.path.join(tempfile.mkdtemp(), "bench.sqlite3")
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def _seed(n: int):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repository, for tests/
    from tests import exam_fixtures as fx

    session = db.session
    fx.load_bank(session, NOW)
    exam = fx.make_exam(session, NOW, tie_breaks=["section:选择", "fewer_wrong"])
    leagues = list(session.scalars(select(League.code).order_by(League.code)))
    schools = []
    for code in leagues:
        for i in range(40):
            school = School(name=f"学校{code}-{i}", league_code=code)
            session.add(school)
            schools.append(school)
    session.flush()
    rnd = random.Random(7)
    users, profiles, attempts = [], [], []
    base = session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0
    for i in range(n):
        uid = base + i + 1
        school = rnd.choice(schools)
        number = f"2026{school.league_code}{i:07d}"
        users.append({"id": uid, "login_name": number, "display_name": "考生", "role": "student",
                      "password_hash": "x", "session_token": f"t{uid}", "is_active": True, "created_at": NOW})
        profiles.append({"user_id": uid, "exam_number": number, "name": f"考生{i}", "gender": "U", "grade": "高一",
                         "school_id": school.id, "league_code": school.league_code, "subject_code": "physics",
                         "extra_minutes": 0})
        first, second = rnd.randint(0, 12) * 2.0, rnd.randint(0, 40) * 0.5
        state = "finalized" if rnd.random() > 0.02 else rnd.choice(["voided", "absent"])
        attempts.append({"exam_id": exam.id, "student_id": uid, "state": state, "seed": "s", "layout": [],
                         "started_at": NOW, "deadline": NOW + timedelta(hours=2), "extra_seconds": 0, "last_seq": 0,
                         "finalized_at": NOW, "scored_at": NOW if state != "absent" else None,
                         "score_total": first + second if state != "absent" else None,
                         "score_detail": {"items": {}, "sections": {"选择": first, "填空与排序": second, "综合": 0.0},
                                          "time_used_seconds": rnd.randint(1800, 7200)},
                         "wrong_count": rnd.randint(0, 10), "needs_manual": False})
    for table, rows in ((User, users), (StudentProfile, profiles), (Attempt, attempts)):
        for start in range(0, n, 10000):
            session.execute(insert(table), rows[start:start + 10000])
    session.commit()
    return exam


def _timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"  {label:42s} {time.perf_counter() - start:7.2f} s")
    return result


def _peak(label: str, fn) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  {label:42s} {elapsed:7.2f} s (traced; peak Python memory {peak / 2**20:.1f} MiB)")


def main(n: int = 100_000) -> None:
    from flask_migrate import upgrade

    url = _database_url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench" * 8, "ENV_NAME": "testing",
                      "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade()
        load = os.getloadavg()[0]
        print(f"{n:,} attempts on {make_url(url).get_backend_name()} (load average {load:.1f}, {os.cpu_count()} CPUs)")
        exam = _timed("seed (not measured)", lambda: _seed(n))
        inputs = _timed("load stored scores", lambda: rankings.load_inputs(db.session, exam))
        _timed("rank() in memory (baseline)", lambda: rankings.rank_inputs(exam, inputs))
        _timed("compute: load + rank + store rows", lambda: rankings.compute(db.session, exam, now=NOW, actor=ACTOR))
        db.session.commit()
        rules = selection_service.parse_rules({"cutoff": 20, "quota": 3000, "reserve_count": 100,
                                               "league_min": {"152900": 50}})
        _timed("selection fix (what-if + store decisions)",
               lambda: selection_service.fix(db.session, exam, rules, user_id=None, now=NOW, actor=ACTOR))
        db.session.commit()
        _timed("publish (canonical CSV + SHA-256)",
               lambda: publication.publish(db.session, exam, user_id=None, now=NOW, actor=ACTOR))
        db.session.commit()
        report = _timed("verify (3 checks, recompute)", lambda: publication.verify(db.session, exam))
        assert report.ok
        out = tempfile.mkdtemp()
        for fmt in ("csv", "xlsx"):
            path = os.path.join(out, f"ranking.{fmt}")
            _timed(f"export {fmt}", lambda fmt=fmt, path=path: exports.export_file(
                db.session, exam, fmt, path, league_code=None, now=NOW))
            print(f"    {os.path.getsize(path) / 2**20:.1f} MiB")
        _peak("export csv, memory traced", lambda: exports.export_file(
            db.session, exam, "csv", os.path.join(out, "t.csv"), league_code=None, now=NOW))
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
