"""The load drills' machinery: private PostgreSQL and Redis, the load run with its fault windows,
the judgement of what the client saw, and the gunicorn nodes the drills share (``Bench``)."""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.clock import utcnow
from benchmarks.loadkit import oracle
from benchmarks.loadkit import target as tg
from benchmarks.loadkit.drill_services import DRILL_PG_DB, PrivatePostgres, PrivateRedis, free_port
from benchmarks.loadkit.faultproxy import FaultProxy
from benchmarks.loadkit.scenarios import latency_summary
from benchmarks.loadkit.servers import APP, Server
from benchmarks.loadkit.student import Client, Fatal, Recorder, Student


def log(message: str) -> None:
    """Progress on stderr (figures go to stdout)."""
    import sys

    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Window:
    """One fault interval (monotonic seconds); requests overlapping it (+ settle) may fail as allowed."""

    name: str
    start: float
    end: float = 0.0


@dataclass
class Load:
    """How hard and how long the students work during a drill."""

    students: int
    seconds: float
    think: float
    heartbeat: float = 2.0
    client_timeout: float = 15.0  # the page aborts a request after 15 s
    late_logins: int = 0  # students who log in and start during the fault (drill 5)


@dataclass
class Outcome:
    """What happened: the recorder, the ledger, the windows and the oracle."""

    rec: Recorder
    windows: list[Window]
    t0: float
    t_end: float
    oracle: dict[str, Any]
    failed_students: int
    late_ok: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Faults:
    """Handed to a drill's fault coroutine: records the windows it opens and closes."""

    def __init__(self) -> None:
        self.windows: list[Window] = []
        self.t0 = 0.0

    async def at(self, seconds: float) -> None:
        """Sleep until ``seconds`` after the load started."""
        await asyncio.sleep(max(0.0, self.t0 + seconds - time.monotonic()))

    def open(self, name: str) -> Window:
        w = Window(name, time.monotonic())
        self.windows.append(w)
        log(f"fault: {name}")
        return w

    def close(self, w: Window) -> None:
        w.end = time.monotonic()
        log(f"healed: {w.name} after {w.end - w.start:.1f} s")


async def run_load(target: tg.Target, bases: list[str], load: Load,
                   fault: Callable[[Faults], Awaitable[None]] | None = None,
                   during: Callable[[Faults], Awaitable[dict[str, Any]]] | None = None) -> Outcome:
    """Students on the exam page answer with a think time for ``load.seconds`` while ``fault`` runs; then submit.

    ``during`` is another coroutine run alongside (drill 17's exports); what it returns goes into ``extra``.
    """
    rec, ledger = Recorder(timeline=[]), []
    client = Client(bases, rec, connections=0, timeout=load.client_timeout)
    rng = random.Random(2026)
    n = min(load.students + load.late_logins, len(target.students))
    students = [Student(client, i, target.students[i], target.exam_id, ledger, random.Random(rng.random()))
                for i in range(n)]
    late, students = students[load.students:], students[:load.students]
    faults = Faults()
    submitted: set[int] = set()
    late_ok = 0
    try:
        sem = asyncio.Semaphore(32)

        async def prepare(s: Student) -> None:
            async with sem:
                await s.login()
                await s.lobby()
                await s.pledge()
                await s.start()
                await s.open_page()

        t_prep = time.monotonic()
        ready = await asyncio.gather(*(prepare(s) for s in students), return_exceptions=True)
        bad = [r for r in ready if isinstance(r, BaseException)]
        if bad:
            raise RuntimeError(f"{len(bad)} students could not get ready: {bad[0]!r}; {rec.errors[:3]}")
        log(f"{len(students)} students on the exam page in {time.monotonic() - t_prep:.1f} s")
        faults.t0 = t0 = time.monotonic()
        hard_deadline = t0 + load.seconds + 120

        async def sit(s: Student) -> None:
            end = t0 + load.seconds * (0.85 + 0.15 * s.rng.random())
            i, last_beat = 0, time.monotonic()
            while time.monotonic() < end:
                await asyncio.sleep(load.think * (0.5 + s.rng.random()))
                if time.monotonic() - last_beat > load.heartbeat:
                    await s.heartbeat()
                    last_beat = time.monotonic()
                qid = s.order[i % len(s.order)]
                i += 1
                if not await s.save(qid, s.answer_for(qid), deadline=hard_deadline):
                    raise Fatal("save not acknowledged in time")
            await s.submit()
            submitted.add(s.attempt_id)

        async def arrive_late(s: Student, when: float) -> bool:
            """A student who logs in, starts and saves while the fault lasts."""
            await faults.at(when)
            await prepare(s)
            qid = s.order[0]
            if not await s.save(qid, s.answer_for(qid), deadline=hard_deadline):
                return False
            await s.submit()
            submitted.add(s.attempt_id)
            return True

        fault_task = asyncio.create_task(fault(faults)) if fault else None
        during_task = asyncio.create_task(during(faults)) if during else None
        late_tasks = [arrive_late(s, load.seconds * 0.3 + 0.1 * k) for k, s in enumerate(late)]
        results = await asyncio.gather(*(sit(s) for s in students), *late_tasks, return_exceptions=True)
        t_end = time.monotonic()
        extra = {"replayed": sum(1 for ack in ledger if ack.replayed)}
        if fault_task is not None:
            await fault_task
        if during_task is not None:
            extra.update(await during_task)
        failures = [r for r in results[:len(students)] if isinstance(r, BaseException)]
        for r in failures[:5]:
            rec.note(f"student failed: {type(r).__name__}: {r}")
        late_ok = sum(1 for r in results[len(students):] if r is True)
        for r in results[len(students):]:
            if isinstance(r, BaseException):
                rec.note(f"late student failed: {type(r).__name__}: {r}")
    finally:
        await client.close()
    log(f"load done: {len(ledger)} acknowledged saves, {len(submitted)} submitted")
    report = await asyncio.to_thread(oracle.check, target, ledger, submitted=submitted)
    return Outcome(rec, faults.windows, t0, t_end, report.as_dict(), len(failures), late_ok, extra)


# --- judging -----------------------------------------------------------------------------------------------------


def judge(out: Outcome, *, allowed: set, settle: float, max_seconds: float, node: Node,
          need_fault_errors: bool = False, prep_allowed: set = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """Figures of one drill and the reasons it failed (empty: passed)."""
    problems: list[str] = []
    in_window: Counter = Counter()
    outside: Counter = Counter()
    refused: Counter = Counter()
    prep: Counter = Counter()
    saves_in: list[float] = []
    saves_out: list[float] = []
    html_errors = no_retry_after = 0
    slowest = 0.0
    first_ok_after: dict[str, float] = {}
    for t, kind, status, seconds, is_json, retry_after in out.rec.timeline:
        slowest = max(slowest, seconds)
        started = t - seconds
        if status == 200 or status == 302:
            if kind == "save" and t >= out.t0:
                overlaps = any(started <= w.end and t >= w.start for w in out.windows)
                (saves_in if overlaps else saves_out).append(seconds * 1000)
            for w in out.windows:
                if w.end and t >= w.end and w.name not in first_ok_after and kind == "save":
                    first_ok_after[w.name] = t - w.end
            continue
        if t < out.t0:  # students getting ready (log in, start, open the page)
            if status in prep_allowed:
                prep[(kind, status)] += 1
            else:
                outside[(kind, status)] += 1
            continue
        hit = any(started <= w.end + settle and t >= w.start for w in out.windows)
        if hit:
            in_window[status] += 1
            if status not in allowed:
                refused[(kind, status)] += 1
        else:
            outside[(kind, status)] += 1
        if isinstance(status, int) and not is_json:
            html_errors += 1
        if status == 503 and not retry_after:
            no_retry_after += 1
    if refused:
        problems.append("during the fault: " + ", ".join(f"{n} × {k} {s}" for (k, s), n in refused.most_common(5))
                        + f" (allowed: {', '.join(sorted(map(str, allowed))) or 'none'})")
    if outside:
        problems.append("errors outside the fault window: "
                        + ", ".join(f"{n} × {k} {s}" for (k, s), n in outside.most_common(5)))
    if html_errors:
        problems.append(f"{html_errors} error answers were not JSON")
    if no_retry_after:
        problems.append(f"{no_retry_after} × 503 without Retry-After")
    if slowest > max_seconds:
        problems.append(f"a request took {slowest:.1f} s (bound {max_seconds:g} s)")
    if not out.oracle["ok"] or out.oracle["checked"] == 0:
        problems.append(f"oracle: {out.oracle}")
    if out.failed_students:
        problems.append(f"{out.failed_students} students could not finish: {out.rec.errors[:3]}")
    if need_fault_errors and not in_window:
        problems.append("the fault produced no client-visible error at all: did it happen?")
    text = node.log_since_drill()
    unhandled, worker_timeouts = text.count("unhandled error"), text.count("WORKER TIMEOUT")
    if unhandled:
        problems.append(f"{unhandled} unhandled exceptions (500) in the server log")
    if worker_timeouts:
        problems.append(f"{worker_timeouts} gunicorn WORKER TIMEOUTs")
    saves = out.rec.latencies.get("save", [])
    figures = {"acknowledged": out.oracle["acknowledged"], "lost": out.oracle["lost"],
               "duplicates": out.oracle["duplicate_attempts"] + out.oracle["finalized_twice"],
               "errors_in_window": dict(in_window), "errors_outside": {f"{k} {s}": n for (k, s), n in outside.items()},
               "prep_errors": {f"{k} {s}": n for (k, s), n in prep.items()}, "html_errors": html_errors, "slowest_request_s": round(slowest, 2),
               "recovered_after_s": {k: round(v, 2) for k, v in first_ok_after.items()},
               "save_latency_ms": latency_summary(saves), "unhandled_500_in_log": unhandled,
               "save_ms_during_fault": latency_summary(saves_in), "save_ms_outside_fault": latency_summary(saves_out),
               "windows": [(w.name, round(w.start - out.t0, 1), round(w.end - w.start, 1)) for w in out.windows],
               "oracle": out.oracle}
    return figures, problems


def error_words(counter: dict) -> str:
    """'37 × 503' style."""
    if not counter:
        return "0"
    return ", ".join(f"{n:,} × {s}" for s, n in sorted(counter.items(), key=lambda kv: -kv[1]))


# --- the bench: targets and servers shared by the drills of one run ----------------------------------------------


@dataclass
class Node:
    """A gunicorn node shared by the drills of one run that need the same settings."""

    server: Server
    target: tg.Target
    log_offset: int = 0

    @property
    def log(self) -> Path:
        return Path(self.server.logdir) / f"{self.server.name}-{self.server.port}.log"

    def mark(self) -> None:
        """A drill starts: its share of the server log begins here."""
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0

    def log_since_drill(self) -> str:
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as fh:
            fh.seek(self.log_offset)
            return fh.read().decode(errors="replace")


class Bench:
    """What the drills of one run share: seeded targets, private services, gunicorn nodes, cleanup."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.quick = args.quick
        self.workdir = args.workdir
        self.port = args.port
        self.targets: dict[str, tg.Target] = {}
        self.nodes: dict[str, Node] = {}
        self.private_pg: PrivatePostgres | None = None
        self.pg_proxy: FaultProxy | None = None
        self.redis: PrivateRedis | None = None
        self.cleanups: list[Callable[[], None]] = []
        self.ports = iter(range(self.port, self.port + 40))

    def students(self, full: int, quick: int = 16) -> int:
        return self.args.students if self.args.students_given else (quick if self.quick else full)

    def next_port(self) -> int:
        """The next free loopback port of this run (from --port, 40 of them)."""
        for port in self.ports:
            if free_port(range(port, port + 1)) == port:
                return port
            continue
        raise RuntimeError("no free port left for the drills")

    def target(self, kind: str, n: int) -> tg.Target:
        """A seeded database (seeded once per run and kind); its attempts are removed before each drill."""
        if kind not in self.targets or len(self.targets[kind].students) < n:
            workdir = str(Path(self.workdir) / kind)
            t = time.perf_counter()
            saved = tg.PG_ADMIN_URL, tg.PG_DB
            try:
                if kind == "private":
                    tg.PG_ADMIN_URL, tg.PG_DB = self.pg().admin_url, "yingcai_drill"
                elif kind == "postgres":
                    tg.PG_DB = DRILL_PG_DB
                # A few spare students: a later drill of the run may want more (late logins) without a reseed.
                self.targets[kind] = tg.prepare("sqlite" if kind == "sqlite" else "postgres", workdir, n + 16)
            finally:
                tg.PG_ADMIN_URL, tg.PG_DB = saved
            log(f"seeded {kind}: {n + 16} students in {time.perf_counter() - t:.1f} s")
        target = self.targets[kind]
        tg.reset_attempts(target)
        tg.set_opening(target, utcnow() - timedelta(minutes=1))
        return target

    def pg(self) -> PrivatePostgres:
        """The private cluster (started on first use)."""
        if self.private_pg is None:
            t = time.perf_counter()
            self.private_pg = PrivatePostgres(self.workdir).init()
            self.cleanups.append(self.private_pg.destroy)
            log(f"private PostgreSQL on 127.0.0.1:{self.private_pg.port} in {time.perf_counter() - t:.1f} s")
        return self.private_pg

    def private_redis(self) -> PrivateRedis:
        """The private redis-server (started on first use): the rate limits of the PostgreSQL nodes."""
        if self.redis is None:
            self.redis = PrivateRedis(self.workdir).start()
            self.cleanups.append(self.redis.stop)
        return self.redis

    def node(self, name: str, n: int) -> Node:
        """The gunicorn node ``name`` with its seeded target (started on first use, stopped at the end).

        main      PostgreSQL (the kit's own database on the shared server; SQLite with --db sqlite), rate
                  limits in the private Redis; 2 workers (drills 1, 5, 14, 17)
        private   the private PostgreSQL cluster, reached through a fault proxy (pass unless a drill
                  says otherwise) and a 3 s statement timeout (drills 2 and 3)
        pool      PostgreSQL with a pool of 2 and no overflow (drill 4)
        sqlite4   SQLite with four workers (drill 16)
        """
        kind = {"main": self.args.db_given or "postgres", "private": "private", "pool": "postgres",
                "sqlite4": "sqlite"}[name]
        target = self.target(kind, n)
        if name in self.nodes and len(self.nodes[name].target.students) >= n:
            node = self.nodes[name]
            node.mark()
            return node
        env = target.app_env()
        workers = 2
        if name == "main":
            env["REDIS_URL"] = self.private_redis().url
        elif name == "private":
            pg = self.pg()
            self.pg_proxy = FaultProxy(self.next_port(), pg.port).start()
            self.cleanups.append(self.pg_proxy.stop)
            env["DATABASE_URL"] = target.url.replace(f":{pg.port}/", f":{self.pg_proxy.listen_port}/")
            # The app gives up on an unanswered round trip after the statement timeout + 2 s (app/database.py).
            env["YINGCAI_DB_STATEMENT_TIMEOUT_MS"] = "3000"
        elif name == "pool":
            env.update({"YINGCAI_DB_POOL_SIZE": "2", "YINGCAI_DB_MAX_OVERFLOW": "0",
                        "YINGCAI_DB_POOL_TIMEOUT": "1" if self.quick else "5"})
        elif name == "sqlite4":
            workers = 4
        env["YINGCAI_RATELIMIT_KEY_PREFIX"] = f"loadkit-drill-{os.getpid()}-{name}"
        server = Server(f"drill-{name}", APP, self.next_port(), env, str(Path(self.workdir) / "logs"), workers,
                        self.args.worker_class, self.args.threads)
        t = time.perf_counter()
        server.start()
        self.cleanups.append(server.stop)
        log(f"node {name} on {server.base} in {time.perf_counter() - t:.1f} s")
        node = self.nodes[name] = Node(server, target)
        node.mark()
        return node

    def close(self) -> None:
        """Stop the gunicorn nodes together (each may wait for its graceful timeout), then the rest."""
        import threading

        stops = [threading.Thread(target=node.server.stop) for node in self.nodes.values()]
        for t in stops:
            t.start()
        for t in stops:
            t.join(60)
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - clean up the rest
                log(f"cleanup: {exc}")
