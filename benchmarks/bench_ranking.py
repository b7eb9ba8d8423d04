"""Ranking 100,000 attempts (overall, per league, per school): in memory, and computed + stored.

Run: .venv/bin/python benchmarks/bench_ranking.py [--db sqlite|postgres] [--rows 100000] [--runs 3]

Without --db: ``rank()`` alone over N entries with a three-step tie-break chain, median of the runs,
and as the baseline measured in the same run Python's own sort of the same keys (the floor any
ranking pays).

With --db: seeds a fresh database (a SQLite file in a temporary directory, or its own PostgreSQL
database, yingcai_bench_ranking by default, dropped and created) with N scored attempts in 12
leagues and 480 schools (the seeding of benchmarks/bench_results.py), computes the ranking once
(not measured), then times ``rankings.compute`` + commit — load the stored scores, rank, store the
new run's N rows, delete the previous run's N rows, one transaction — median of the runs, with
wall and CPU time (the machine is shared: wall time includes waiting for a core) and ``rank()``
alone on the same inputs as the baseline of the same run.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root

from app.domain.ranking import Entry, rank


def in_memory(n: int, runs: int) -> None:
    rnd = random.Random(7)
    entries = [Entry(i, rnd.randint(0, 30000) / 100, f"15{rnd.randint(1, 12):02d}00", rnd.randint(1, 900),
                     {"A": rnd.randint(0, 60)}, rnd.randint(0, 40), rnd.randint(600, 7200)) for i in range(n)]
    times, base = [], []
    for _ in range(runs):
        t = time.perf_counter()
        rank(entries, ["section:A", "fewer_wrong", "less_time"])
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        sorted(entries, key=lambda e: (-e.total, -e.sections["A"], e.wrong_count, e.time_used_seconds))
        base.append(time.perf_counter() - t)
    med, bmed = statistics.median(times), statistics.median(base)
    print(f"rank {n:,} attempts: median {med:.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}; "
          f"baseline sort {bmed:.3f} s, ratio {med / bmed:.1f}x)")


def stored(db: str, n: int, runs: int, pg_db: str) -> None:
    import tempfile

    from flask_migrate import upgrade
    from sqlalchemy import select

    from benchmarks import bench_results as br

    if db == "postgres":
        os.environ["BENCH_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_db}"
    else:
        os.environ.pop("BENCH_DATABASE_URL", None)
    url = br._database_url()  # a fresh SQLite file, or the PostgreSQL database dropped and created
    from app import create_app
    from app.extensions import db as sa
    from app.models import RankingRow
    from app.services import rankings

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench" * 8, "ENV_NAME": "testing",
                      "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade()
        t = time.perf_counter()
        exam = br._seed(n)
        rankings.compute(sa.session, exam, now=br.NOW, actor=br.ACTOR)  # the run the first measured one replaces
        sa.session.commit()
        if db == "postgres":
            with sa.engine.connect() as conn:  # statistics as production has them (autovacuum)
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        print(f"seeded {n:,} scored attempts on {db} in {time.perf_counter() - t:.1f} s")
        walls, cpus, base = [], [], []
        for _ in range(runs):
            inputs = rankings.load_inputs(sa.session, exam)
            t = time.perf_counter()
            rankings.rank_inputs(exam, inputs)
            base.append(time.perf_counter() - t)
            sa.session.rollback()
            del inputs
            t, cpu = time.perf_counter(), time.process_time()
            run = rankings.compute(sa.session, exam, now=br.NOW, actor=br.ACTOR)
            sa.session.commit()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - cpu)
            stored_rows = sa.session.scalar(select(RankingRow.run_id).where(RankingRow.run_id != run.id).limit(1))
            assert stored_rows is None and run.row_count == n, "the previous run was not replaced"
        sa.session.remove()
        sa.engine.dispose()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"compute + store {n:,} attempts ({db}): median {statistics.median(walls):.2f} s "
          f"(runs {', '.join(f'{x:.2f}' for x in walls)}; CPU of this process median {statistics.median(cpus):.2f} s); "
          f"rank() alone in the same run {statistics.median(base):.2f} s")
    if db == "sqlite":
        directory = os.path.dirname(url.removeprefix("sqlite:///"))
        if directory.startswith(tempfile.gettempdir()):
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], help="also compute and store on this database")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-db", default="yingcai_bench_ranking", help="PostgreSQL database to drop and create")
    args = parser.parse_args()
    if args.db:
        stored(args.db, args.rows, args.runs, args.pg_db)
    else:
        in_memory(args.rows, args.runs)


if __name__ == "__main__":
    main()
