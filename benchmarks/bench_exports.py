"""Exporting 100,000 ranked rows: XLSX (overall sheet + one per league) and CSV, time and peak RSS growth.

Run: .venv/bin/python benchmarks/bench_exports.py [--db sqlite|postgres] [--rows 100000] [--pg-db NAME]
Seeds a fresh database (SQLite file in /tmp, or its own PostgreSQL database, yingcai_bench_exports by
default, dropped and created) with N students, finalized attempts and one stored ranking run through
bulk inserts (then ANALYZE on PostgreSQL, as `rankings.compute` does after storing a run), then calls
app.services.exports.export_file exactly as `flask rankings export` does, three times per format,
each in a fresh process, and prints the medians with the range and the export's CPU time (the
machine is shared: wall time includes waiting for a core). Peak RSS growth is sampled every 10 ms
while the export runs. The baseline
measured in the same run is the floor for any CSV: writing the same rows' cells with the csv module
from memory (no database).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from typing import Self

from sqlalchemy import insert, select

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root, for benchmarks.*


def rss_mb() -> float:
    """Resident set size of this process, MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples RSS in a thread while a block runs; ``growth`` is the peak above the start, MB."""

    def __enter__(self) -> Self:
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def seed(session, n: int):
    """One exam, n students over the 36 schools, n finalized attempts and a stored ranking run."""
    from app.clock import utcnow
    from app.commands.demo import ensure_schools
    from app.domain.ranking import Entry, rank
    from app.models import Attempt, Exam, RankingRow, RankingRun, School, StudentProfile, User

    now = utcnow()
    ensure_schools(session)
    schools = session.execute(select(School.id, School.league_code).order_by(School.id)).all()
    exam = Exam(subject_code="physics", title="导出压力测试", instructions="", kind="selection", state="published",
                opens_at=now - timedelta(hours=3), closes_at=now - timedelta(hours=1), duration_minutes=120,
                grace_seconds=60, eligibility={}, tie_breaks=["fewer_wrong"], shuffle_questions=True,
                shuffle_options=True, seed="bench", created_at=now)
    session.add(exam)
    session.flush()
    rnd = random.Random(7)
    conn = session.connection()
    batch = 5000
    for start in range(0, n, batch):
        ids = range(start, min(n, start + batch))
        conn.execute(insert(User), [{"id": i + 1, "login_name": f"X{i:06d}", "display_name": "x", "role": "student",
                                     "password_hash": "-", "session_token": f"t{i}", "is_active": True,
                                     "created_at": now} for i in ids])
        conn.execute(insert(StudentProfile), [
            {"user_id": i + 1, "exam_number": f"X{i:06d}", "name": "=SUM(A1)" if i % 997 == 0 else f"考生{chr(0x4e00 + i % 500)}",
             "gender": "U", "grade": "高一", "school_id": schools[i % len(schools)][0],
             "league_code": schools[i % len(schools)][1], "subject_code": "physics"} for i in ids])
        conn.execute(insert(Attempt), [
            {"id": i + 1, "exam_id": exam.id, "student_id": i + 1, "state": "finalized", "seed": "s", "layout": [],
             "started_at": now - timedelta(hours=2), "deadline": now - timedelta(minutes=1), "extra_seconds": 0,
             "last_seq": 0, "needs_manual": False, "finalized_reason": "submitted", "score_total": 0.0}
            for i in ids])
    entries = [Entry(i + 1, rnd.randint(0, 3000) / 10, schools[i % len(schools)][1], schools[i % len(schools)][0],
                     {"选择": rnd.randint(0, 60)}, rnd.randint(0, 30), rnd.randint(600, 7200)) for i in range(n)]
    ranked = rank(entries, ["fewer_wrong"])
    run = RankingRun(exam_id=exam.id, computed_at=now, computed_by="bench", exam_revision=1, tie_breaks=["fewer_wrong"],
                     section_names=["选择"], row_count=n, ranked_count=n)
    session.add(run)
    session.flush()
    rows = []
    for position, r in enumerate(ranked):
        i = r.entry.attempt_id - 1
        rows.append({"run_id": run.id, "attempt_id": i + 1, "position": position, "student_id": i + 1,
                     "exam_number": f"X{i:06d}", "league_code": schools[i % len(schools)][1],
                     "school_id": schools[i % len(schools)][0], "status": "finalized", "total": r.entry.total,
                     "sections": {"选择": entries[i].sections["选择"]}, "wrong_count": entries[i].wrong_count,
                     "time_used_seconds": entries[i].time_used_seconds, "rank": r.rank,
                     "league_rank": r.league_rank, "school_rank": r.school_rank, "count": n,
                     "percentile": r.percentile, "tied": r.tied})
        if len(rows) == batch:
            conn.execute(insert(RankingRow), rows)
            rows = []
    if rows:
        conn.execute(insert(RankingRow), rows)
    exam_id = exam.id
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        # Statistics as production has them (compute() analyzes ranking_rows; autovacuum the rest).
        with session.get_bind().connect() as analyze:
            analyze.exec_driver_sql("ANALYZE")
            analyze.commit()
    session.close()  # no transaction left open: the exports run in child processes
    return exam_id


def export_once(tg, args) -> None:
    """Child process: one export, printing seconds, rows and peak RSS growth (MB) as JSON."""
    from app.clock import utcnow
    from app.extensions import db
    from app.models import Exam
    from app.services import exports

    app = tg.make_app(tg.Target(kind="x", workdir="", url=args.url, secret_key=args.secret))
    with app.app_context():
        exam = db.session.get(Exam, args.exam)
        before = rss_mb()
        with PeakRss() as mem:
            t, cpu = time.perf_counter(), time.process_time()
            rows = exports.export_file(db.session, exam, args.one, args.out, league_code=None, now=utcnow())
            elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        # Sampled every 10 ms during the export (ru_maxrss would also count the import-time peak).
    print(json.dumps({"seconds": round(elapsed, 3), "cpu": round(cpu, 3), "rows": rows,
                      "growth_mb": round(mem.peak - before, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-db", default=os.environ.get("LOADKIT_PG_DB", "yingcai_bench_exports"),
                        help="PostgreSQL database to drop and create (not the load kit's yingcai_bench)")
    parser.add_argument("--one", choices=["csv", "xlsx"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--exam", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from benchmarks.loadkit import target as tg

    tg.PG_DB = args.pg_db
    if args.one:
        export_once(tg, args)
        return

    workdir = tempfile.mkdtemp(prefix="yingcai-exports-")
    target = tg.Target(kind=args.db, workdir=workdir, url=tg.recreate_database(args.db, workdir))
    app = tg.make_app(target)
    from app.extensions import db

    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        t = time.perf_counter()
        exam_id = seed(db.session, args.rows)
        print(f"seeded {args.rows:,} ranked rows on {args.db} in {time.perf_counter() - t:.1f} s")
        results: dict[str, list[tuple[float, float, int, float]]] = {"xlsx": [], "csv": []}
        for _ in range(args.runs):
            for fmt in ("csv", "xlsx"):
                # Each export in a fresh process: its peak RSS above its RSS just before the export is the
                # memory the export itself needed (the seeding above would otherwise hide it).
                path = os.path.join(workdir, f"export.{fmt}")
                out = subprocess.run([sys.executable, __file__, "--one", fmt, "--url", target.url,
                                      "--secret", target.secret_key, "--exam", str(exam_id), "--out", path],
                                     check=False, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stderr[-2000:])
                out = out.stdout.strip().splitlines()[-1]
                one = json.loads(out)
                assert one["rows"] == args.rows, one
                results[fmt].append((one["seconds"], one["growth_mb"], os.path.getsize(path), one["cpu"]))
        # Baseline in the same run: the same number of rows of cells through the csv module, from memory.
        cells = [[i, "", 3, 7, f"X{i:06d}", "考生", "呼和浩特第一中学", "呼和浩特市", 250.5, 50, 3600, 99.5, "有效", "", ""]
                 for i in range(args.rows)]
        base = []
        for _ in range(args.runs):
            t = time.perf_counter()
            buffer = io.StringIO()
            csv.writer(buffer).writerows(cells)
            buffer.getvalue().encode("utf-8")
            base.append(time.perf_counter() - t)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for fmt in ("csv", "xlsx"):
        times = [r[0] for r in results[fmt]]
        growth = [r[1] for r in results[fmt]]
        cpu = [r[3] for r in results[fmt]]
        print(f"export {fmt} {args.rows:,} rows ({args.db}): median {statistics.median(times):.2f} s "
              f"(runs {', '.join(f'{x:.2f}' for x in times)}; CPU median {statistics.median(cpu):.2f} s), "
              f"peak RSS growth median {statistics.median(growth):.0f} MB "
              f"(max {max(growth):.0f}), file {results[fmt][0][2] / 2**20:.1f} MB")
    print(f"baseline: csv.writer over the same rows from memory {statistics.median(base):.2f} s")
    if args.db == "sqlite":
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)


if __name__ == "__main__":
    main()
