"""The scenarios: a whole simulated exam, the autosave and start benchmarks with their bare baselines, logins.

Each function drives already-running servers and returns plain figures; __main__ starts the
servers, repeats runs, takes medians and prints the table. Every loop is bounded by a count and
by a deadline.
"""
from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from app.clock import utcnow
from benchmarks.loadkit import oracle
from benchmarks.loadkit import target as tg
from benchmarks.loadkit.servers import Server, own_cpu_seconds
from benchmarks.loadkit.student import Ack, Client, Fatal, Recorder, Student

HEARTBEAT_EVERY = 20.0  # seconds of exam time, as the page does


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def latency_summary(values: list[float]) -> dict[str, float]:
    """Median, p95, p99 and maximum in milliseconds."""
    return {"n": len(values), "p50": round(pct(values, 50), 1), "p95": round(pct(values, 95), 1),
            "p99": round(pct(values, 99), 1), "max": round(max(values), 1) if values else 0.0}


async def _gather_bounded(coros, limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(coro):
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


def _failures(results: list[Any], rec: Recorder) -> int:
    bad = [r for r in results if isinstance(r, BaseException)]
    for r in bad[:10]:
        rec.note(f"{type(r).__name__}: {r}")
    return len(bad)


# --- a whole exam ------------------------------------------------------------------------------------


@dataclass
class ExamOptions:
    """How the simulated exam runs."""

    students: int
    think: float = 2.0  # mean seconds between two answers (compressed from minutes)
    revise: float = 0.2  # share of questions answered a second time, later
    login_concurrency: int = 64
    spread: float = 3.0  # the lobby's random 0–3 s spread of start clicks
    heartbeat: float = HEARTBEAT_EVERY
    time_limit: float = 600.0
    seed: int = 2026


@dataclass
class ExamResult:
    """What a simulated exam produced."""

    figures: dict[str, Any] = field(default_factory=dict)
    oracle: dict[str, Any] = field(default_factory=dict)
    recorder: Recorder = field(default_factory=Recorder)


async def run_exam(target: tg.Target, bases: list[str], opts: ExamOptions) -> ExamResult:
    """Students log in, wait in the lobby, start together, answer every question, submit; then the oracle."""
    rec, ledger = Recorder(), []
    rng = random.Random(opts.seed)
    client = Client(bases, rec, connections=0, timeout=60)
    deadline = time.monotonic() + opts.time_limit
    students = [Student(client, i, n, target.exam_id, ledger, random.Random(rng.random()))
                for i, n in enumerate(target.students[:opts.students])]
    result = ExamResult(recorder=rec)
    try:
        t0 = time.perf_counter()

        async def arrive(s: Student) -> None:
            await s.login()
            await s.lobby()
            await s.pledge()

        arrived = await _gather_bounded([arrive(s) for s in students], opts.login_concurrency)
        login_s = time.perf_counter() - t0
        in_lobby = [s for s, r in zip(students, arrived) if not isinstance(r, BaseException)]
        # The office opens the exam: every waiting room counts down to the same second.
        opening = utcnow() + timedelta(seconds=2)
        await asyncio.to_thread(tg.set_opening, target, opening)
        open_at = time.monotonic() + max(0.0, (opening - utcnow()).total_seconds())
        started_at: dict[int, float] = {}
        ready_at: dict[int, float] = {}
        submitted: set[int] = set()

        async def sit(s: Student) -> None:
            await asyncio.sleep(max(0.0, open_at - time.monotonic()) + s.rng.random() * opts.spread)
            await s.start()
            started_at[s.index] = time.monotonic()
            await s.open_page()
            ready_at[s.index] = time.monotonic()
            last_beat = time.monotonic()
            plan = list(s.order)
            plan += s.rng.sample(s.order, int(len(s.order) * opts.revise))
            for qid in plan:
                await asyncio.sleep(opts.think * (0.5 + s.rng.random()))
                if time.monotonic() - last_beat > opts.heartbeat:
                    await s.heartbeat()
                    last_beat = time.monotonic()
                if not await s.save(qid, s.answer_for(qid), deadline=deadline):
                    raise Fatal("save not acknowledged in time")
            await s.submit()
            submitted.add(s.attempt_id)

        t1 = time.perf_counter()
        sat = await asyncio.gather(*(sit(s) for s in in_lobby), return_exceptions=True)
        exam_s = time.perf_counter() - t1
        failed = _failures(arrived, rec) + _failures(sat, rec)
        saves = rec.latencies.get("save", [])
        last_start = max(started_at.values(), default=open_at) - open_at
        last_ready = max(ready_at.values(), default=open_at) - open_at
        result.figures = {
            "students": len(students), "questions": target.questions, "failed_students": failed,
            "arrival_s": round(login_s, 1), "logins_per_s": round(len(in_lobby) / login_s, 1) if login_s else 0,
            "all_started_after_opening_s": round(last_start, 2), "all_pages_ready_after_opening_s": round(last_ready, 2),
            "exam_s": round(exam_s, 1), "saves_acknowledged": len(ledger),
            "saves_per_s": round(len(saves) / exam_s, 1) if exam_s else 0,
            "latency_ms": {k: latency_summary(v) for k, v in sorted(rec.latencies.items())},
            "statuses": {k: {str(s): n for s, n in c.items()} for k, c in sorted(rec.statuses.items())},
            "5xx": rec.five_xx, "non_json_api_errors": rec.non_json_api_errors, "errors": rec.errors[:10],
        }
    finally:
        await client.close()
    report = await asyncio.to_thread(oracle.check, target, ledger, submitted=submitted)
    result.oracle = report.as_dict()
    return result


# --- autosave: the app against the bare upsert ---------------------------------------------------------


async def ready_students(target: tg.Target, bases: list[str], indices: range, rec: Recorder, ledger: list[Ack],
                         *, concurrency: int = 32) -> list[Student]:
    """Students logged in, pledged, started and on the exam page with a writer token."""
    client = Client(bases, rec, connections=0, timeout=60)
    students = [Student(client, i, target.students[i], target.exam_id, ledger, random.Random(i)) for i in indices]

    async def prepare(s: Student) -> None:
        await s.login()
        await s.lobby()
        await s.pledge()
        await s.start()
        await s.open_page()

    results = await _gather_bounded([prepare(s) for s in students], concurrency)
    if _failures(results, rec):
        await client.close()
        raise RuntimeError(f"could not prepare students: {rec.errors[:3]}")
    return students


async def autosave_closed_loop(students: list[Student], seconds: float) -> dict[str, Any]:
    """Each student saves back to back (no think time) for ``seconds``: one connection each."""
    rec = students[0].c.rec
    before = len(rec.latencies.get("save", []))
    before_status = sum(rec.statuses["save"].values())
    stop = time.monotonic() + seconds
    cpu0 = own_cpu_seconds()

    async def loop(s: Student) -> None:
        i = 0
        while time.monotonic() < stop:
            qid = s.order[i % len(s.order)]
            i += 1
            await s.save(qid, s.answer_for(qid), deadline=stop + 30)

    t = time.perf_counter()
    results = await asyncio.gather(*(loop(s) for s in students), return_exceptions=True)
    elapsed = time.perf_counter() - t
    lat = rec.latencies["save"][before:]
    total = sum(rec.statuses["save"].values()) - before_status
    return {"rps": round(len(lat) / elapsed, 1), **latency_summary(lat), "requests": total,
            "errors": total - len(lat) + _failures(results, rec), "client_cpu": round(own_cpu_seconds() - cpu0, 2),
            "seconds": round(elapsed, 2)}


async def bare_closed_loop(base: str, attempts: list[int], question_ids: list[int], seconds: float,
                           seq_start: int) -> dict[str, Any]:
    """The bare app: the same number of connections, each upserting answers back to back."""
    lat: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    cpu0 = own_cpu_seconds()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def loop(attempt_id: int) -> None:
            nonlocal errors
            seq = seq_start
            rng = random.Random(attempt_id)
            while time.monotonic() < stop:
                seq += 1
                body = {"attempt_id": attempt_id, "question_id": question_ids[seq % len(question_ids)], "seq": seq,
                        "value": rng.choice(["a", "b", "c", "d"])}
                t = time.perf_counter()
                try:
                    async with http.post(base + "/save", json=body) as r:
                        await r.read()
                        ok = r.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                if ok:
                    lat.append((time.perf_counter() - t) * 1000)
                else:
                    errors += 1

        t = time.perf_counter()
        await asyncio.gather(*(loop(a) for a in attempts))
        elapsed = time.perf_counter() - t
    return {"rps": round(len(lat) / elapsed, 1), **latency_summary(lat), "requests": len(lat) + errors,
            "errors": errors, "client_cpu": round(own_cpu_seconds() - cpu0, 2), "seconds": round(elapsed, 2)}


async def bare_start_herd(base: str, exam_id: int, student_ids: list[int], *, questions: int = 50) -> dict[str, Any]:
    """The bare start: every student's one-attempt-plus-question-rows insert fired at once."""
    lat: list[float] = []
    errors = 0
    cpu0 = own_cpu_seconds()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        async def one(student_id: int) -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                async with http.post(base + "/start", json={"exam_id": exam_id, "student_id": student_id,
                                                            "questions": questions}) as r:
                    await r.read()
                    ok = r.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                lat.append((time.perf_counter() - t) * 1000)
            else:
                errors += 1

        t = time.perf_counter()
        await asyncio.gather(*(one(s) for s in student_ids))
        elapsed = time.perf_counter() - t
    return {"starts_per_s": round(len(lat) / elapsed, 1), "all_done_s": round(elapsed, 2), **latency_summary(lat),
            "errors": errors, "client_cpu": round(own_cpu_seconds() - cpu0, 2)}


async def app_start_herd(students: list[Student], *, spread: float = 0.0, page: bool = False) -> dict[str, Any]:
    """Every student clicks start at once (plus the lobby's spread); optionally the page and token too."""
    rec = students[0].c.rec
    before = len(rec.latencies.get("start", []))
    cpu0 = own_cpu_seconds()
    done: list[float] = []

    async def one(s: Student) -> None:
        if spread:
            await asyncio.sleep(s.rng.random() * spread)
        await s.start()
        done.append(time.perf_counter())
        if page:
            await s.open_page()

    t = time.perf_counter()
    results = await asyncio.gather(*(one(s) for s in students), return_exceptions=True)
    elapsed = time.perf_counter() - t
    lat = rec.latencies["start"][before:]
    starts = len(done)
    return {"starts_per_s": round(starts / (max(done) - t), 1) if done else 0, "all_done_s": round(elapsed, 2),
            "all_started_s": round(max(done) - t, 2) if done else None, **latency_summary(lat),
            "errors": _failures(results, rec), "client_cpu": round(own_cpu_seconds() - cpu0, 2)}


async def login_rate(target: tg.Target, bases: list[str], indices: range, *, concurrency: int) -> dict[str, Any]:
    """Logins (GET the form, POST it) back to back over ``concurrency`` connections."""
    rec, ledger = Recorder(), []
    client = Client(bases, rec, connections=0, timeout=60)
    students = [Student(client, i, target.students[i], target.exam_id, ledger, random.Random(i)) for i in indices]
    cpu0 = own_cpu_seconds()
    t = time.perf_counter()
    results = await _gather_bounded([s.login() for s in students], concurrency)
    elapsed = time.perf_counter() - t
    await client.close()
    ok = len(students) - _failures(results, rec)
    return {"logins_per_s": round(ok / elapsed, 1), "logins": ok, **latency_summary(rec.latencies["login"]),
            "errors": len(students) - ok + rec.five_xx, "client_cpu": round(own_cpu_seconds() - cpu0, 2)}


def argon2_floor(workers: int, seconds: float = 2.0) -> dict[str, float]:
    """What argon2id verification alone allows: checks per second on one core, times the cores."""
    import os

    from app.services.passwords import hash_password, verify_password

    stored = hash_password("x" * 12)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds and n < 1000:
        verify_password(stored, "x" * 12)
        n += 1
    per_core = n / (time.perf_counter() - t)
    return {"verify_ms": round(1000 / per_core, 1), "per_core_per_s": round(per_core, 1),
            "cores": os.cpu_count() or 1, "ceiling_per_s": round(per_core * min(workers, os.cpu_count() or 1), 1)}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """The median of one figure over repeated runs."""
    return statistics.median(r[key] for r in runs)


def spread_of(runs: list[dict[str, Any]], key: str) -> str:
    """min–max of one figure over repeated runs, to show how noisy the machine was."""
    values = [r[key] for r in runs]
    return f"{min(values):g}–{max(values):g}"


__all__ = [
    "ExamOptions",
    "Server",
    "app_start_herd",
    "argon2_floor",
    "autosave_closed_loop",
    "bare_closed_loop",
    "bare_start_herd",
    "login_rate",
    "ready_students",
    "run_exam",
]
