"""Ranking 100,000 attempts (overall, per league, per school) with a three-step tie-break chain.

Run: .venv/bin/python benchmarks/bench_ranking.py — prints the median of 3 runs and, as the
baseline measured in the same run, Python's own sort of the same keys (the floor any ranking pays).
"""
import random
import statistics
import time

from app.domain.ranking import Entry, rank


def main(n: int = 100_000) -> None:
    rnd = random.Random(7)
    entries = [Entry(i, rnd.randint(0, 30000) / 100, f"15{rnd.randint(1, 12):02d}00", rnd.randint(1, 900),
                     {"A": rnd.randint(0, 60)}, rnd.randint(0, 40), rnd.randint(600, 7200)) for i in range(n)]
    runs, base = [], []
    for _ in range(3):
        t = time.perf_counter()
        rank(entries, ["section:A", "fewer_wrong", "less_time"])
        runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        sorted(entries, key=lambda e: (-e.total, -e.sections["A"], e.wrong_count, e.time_used_seconds))
        base.append(time.perf_counter() - t)
    med, bmed = statistics.median(runs), statistics.median(base)
    print(f"rank {n:,} attempts: median {med:.3f} s (baseline sort {bmed:.3f} s, ratio {med / bmed:.1f}x)")


if __name__ == "__main__":
    main()
