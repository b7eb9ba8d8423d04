"""The load drills of RELIABILITY.md: a fault injected under a simulated exam, then the oracle.

``python -m benchmarks.loadkit drill N [--quick] [--db sqlite|postgres]`` (or ``drill all``). Each drill
seeds (or reuses) a database, starts gunicorn, gets its students logged in and on the exam page, lets
them answer and heartbeat with a think time, injects its fault at a fixed moment, lets the students
submit, and then checks:

* the oracle (oracle.py): every acknowledged save in the database as acknowledged, one attempt per
  student, every submitted attempt finalized and scored once;
* every answer the client saw: inside a fault window only what the drill allows (a 503 JSON with
  Retry-After; "network" where the network itself is the fault), outside every window nothing but
  success; never an HTML error page on the API, never a request longer than the drill's bound (a
  hang), never a 500;
* the server log: no unhandled exception, no gunicorn WORKER TIMEOUT.

It prints one figure line per drill (the line docs/reliability.md records) and exits 1 if any drill
failed. Nothing here touches the shared PostgreSQL or Redis services beyond the kit's own database:
the PostgreSQL drills that restart or pause the database run a private throwaway cluster
(initdb into a temporary directory, a port in 25400–25499, fsync off) and the Redis drill a private
redis-server (26300–26399); all of them, the fault proxies and gunicorn are stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
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
from benchmarks.loadkit.faultproxy import FaultProxy
from benchmarks.loadkit.scenarios import latency_summary, pct
from benchmarks.loadkit.servers import APP, Server
from benchmarks.loadkit.student import Client, Fatal, Recorder, Student

DRILLS = (1, 2, 3, 4, 5, 14, 16, 17)
TITLES = {1: "worker killed", 2: "PostgreSQL restart", 3: "database paused / half-open", 4: "pool exhausted",
          5: "Redis down", 14: "network faults client↔app", 16: "SQLite, 4 workers", 17: "export during the exam"}
PG_PORTS = range(25400, 25500)
REDIS_PORTS = range(26300, 26400)
DRILL_PG_DB = os.environ.get("LOADKIT_DRILL_PG_DB", "yingcai_loadkit_drills")
# docs/performance.md's autosave target; drill 17 reports against it (a correctness drill: not a failure).
SAVE_P99_BUDGET_MS = 100


def log(message: str) -> None:
    """Progress on stderr (figures go to stdout)."""
    import sys

    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port(candidates: range) -> int:
    """The first port of ``candidates`` nobody listens on."""
    for port in candidates:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates.start}–{candidates.stop - 1}")


# --- private services ----------------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of our own: restart and SIGSTOP it, never the shared one."""

    def __init__(self, workdir: str):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: install postgresql")
        self.bin = Path(bins[-1]).parent
        # Its own directory under /tmp (the work directory may be private to root; the cluster runs as postgres).
        self.dir = Path(tempfile.mkdtemp(prefix="yingcai-drill-pg-"))
        self.data = self.dir / "data"
        self.port = free_port(PG_PORTS)
        self.root = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self.root else list(cmd)
        done = subprocess.run(full, capture_output=True, text=True, check=False, timeout=60)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(cmd[:1])} failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}")
        return done

    def init(self) -> PrivatePostgres:
        """initdb (trust, loopback only, fsync off) and start."""
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions", "--locale=C.UTF-8")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
                     "shared_buffers = 32MB\n")
        self.start()
        return self

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    def pids(self) -> list[int]:
        """The postmaster and all its children (backends, checkpointer, walwriter, …)."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        pids = [master]
        try:
            with open(f"/proc/{master}/task/{master}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
        return pids

    def signal_all(self, sig: int) -> int:
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return len(pids)

    def destroy(self) -> None:
        """Stop (immediate) and delete the cluster's directory."""
        self.signal_all(signal.SIGCONT)
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own (no persistence) that the Redis drill stops and starts again."""

    def __init__(self, workdir: str):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port(REDIS_PORTS)
        self.log = Path(workdir) / f"redis-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--daemonize", "no"], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- the load with a fault ------------------------------------------------------------------------------------


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


def _first(fig: dict) -> str:
    values = list(fig["recovered_after_s"].values())
    return f"{values[-1]:.1f}" if values else "?"


# --- the drills --------------------------------------------------------------------------------------------------


def drill_1(bench: Bench) -> tuple[str, list[str], dict]:
    """kill -9 one gunicorn worker during the autosave burst."""
    load = Load(bench.students(200), 5 if bench.quick else 40, 0.2 if bench.quick else 2.0)
    node = bench.node("main", load.students)
    server = node.server

    async def fault(f: Faults) -> None:
        await f.at(load.seconds * 0.4)
        w = f.open("kill -9 worker")
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        await asyncio.sleep(1.0)
        f.close(w)

    out = asyncio.run(run_load(node.target, [server.base], load, fault))
    replaced = len(server.worker_pids())
    fig, problems = judge(out, allowed={"network", 502, 503}, settle=3.0, max_seconds=load.client_timeout,
                          node=node)
    if replaced < 2:
        problems.append(f"the killed worker was not replaced ({replaced} workers)")
    line = (f"drill 1 ({node.target.kind}, {load.students} students, {load.seconds:g} s): acknowledged saves "
            f"{fig['acknowledged']:,}; lost {fig['lost']}; client-visible errors {error_words(fig['errors_in_window'])} "
            f"(all retried); worker replaced; errors after: {sum(fig['errors_outside'].values())}")
    return line, problems, fig


def drill_2(bench: Bench) -> tuple[str, list[str], dict]:
    """Restart the (private) PostgreSQL cluster under load."""
    load = Load(bench.students(150), 6 if bench.quick else 40, 0.2 if bench.quick else 1.0)
    down = 2.0 if bench.quick else 5.0
    node = bench.node("private", load.students)
    pg = bench.pg()

    async def fault(f: Faults) -> None:
        await f.at(load.seconds * 0.3)
        w = f.open("PostgreSQL stopped (fast) and started again")
        await asyncio.to_thread(pg.stop, "fast")
        await asyncio.sleep(down)
        await asyncio.to_thread(pg.start)
        f.close(w)

    out = asyncio.run(run_load(node.target, [node.server.base], load, fault))
    fig, problems = judge(out, allowed={503}, settle=1.0, max_seconds=10, node=node, need_fault_errors=True)
    line = (f"drill 2 (PostgreSQL restart, {down:g} s down, {load.students} students): acknowledged saves "
            f"{fig['acknowledged']:,}; lost {fig['lost']}; client-visible errors "
            f"{error_words(fig['errors_in_window'])} (all JSON with Retry-After, all retried); "
            f"{sum(fig['errors_outside'].values())} errors and {fig['unhandled_500_in_log']} × 500 after restart; "
            f"first save {_first(fig)} s after restart")
    return line, problems, fig


def drill_3(bench: Bench) -> tuple[str, list[str], dict]:
    """SIGSTOP PostgreSQL, then the fault proxy pausing and stalling the app's database connections."""
    load = Load(bench.students(150), 10 if bench.quick else 50, 0.2 if bench.quick else 1.0)
    stopped = 2.0 if bench.quick else 6.0
    paused = 2.0 if bench.quick else 8.0
    node = bench.node("private", load.students)
    pg, proxy = bench.pg(), bench.pg_proxy

    async def fault(f: Faults) -> None:
        await f.at(load.seconds * 0.15)
        w = f.open(f"SIGSTOP PostgreSQL ({pg.signal_all(signal.SIGSTOP)} processes)")
        await asyncio.sleep(stopped)
        pg.signal_all(signal.SIGCONT)
        f.close(w)
        await f.at(load.seconds * 0.35)
        w = f.open("proxy pauses every database connection")
        proxy.set_mode("pause")
        await asyncio.sleep(paused)
        proxy.set_mode("pass")
        f.close(w)
        await f.at(load.seconds * 0.55)
        w = f.open("proxy stalls every database connection (half-open: the stalled ones never answer again)")
        proxy.set_mode("stall")
        await asyncio.sleep(paused)
        proxy.set_mode("pass")
        f.close(w)

    out = asyncio.run(run_load(node.target, [node.server.base], load, fault))
    # Bound: the client-side deadline (3 + 2 s) plus one reconnect (connect_timeout 5 s) plus slack.
    fig, problems = judge(out, allowed={503}, settle=6.0, max_seconds=12, node=node)
    line = (f"drill 3 (SIGSTOP {stopped:g} s, proxy pause {paused:g} s, proxy stall {paused:g} s; statement timeout "
            f"3 s; {load.students} students): acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; "
            f"client-visible errors {error_words(fig['errors_in_window'])}; slowest request "
            f"{fig['slowest_request_s']} s (no worker killed); recovered without restart")
    return line, problems, fig


def drill_4(bench: Bench) -> tuple[str, list[str], dict]:
    """Row locks held from another connection with a small pool: fast 503, recovery without restart."""
    load = Load(bench.students(150), 6 if bench.quick else 40, 0.2 if bench.quick else 1.0)
    pool_timeout = 1.0 if bench.quick else 5.0
    held = pool_timeout + (3.0 if bench.quick else 4.0)
    node = bench.node("pool", load.students)
    target = node.target

    async def fault(f: Faults) -> None:
        import psycopg

        await f.at(load.seconds * 0.3)
        url = target.url.replace("postgresql+psycopg://", "postgresql://")
        conn = await asyncio.to_thread(psycopg.connect, url)
        try:
            w = f.open("row locks on every attempt held by another connection")
            rows = await asyncio.to_thread(lambda: conn.execute(
                "SELECT id FROM attempts WHERE exam_id = %s FOR UPDATE", (target.exam_id,)).fetchall())
            w.name += f" ({len(rows)} rows)"
            await asyncio.sleep(held)
            await asyncio.to_thread(conn.rollback)
            f.close(w)
        finally:
            await asyncio.to_thread(conn.close)

    before = set(node.server.worker_pids())
    out = asyncio.run(run_load(target, [node.server.base], load, fault))
    after = set(node.server.worker_pids())
    # A pool of 2 also turns the students' login burst (argon2 holds a connection) into a few 503s: retried.
    fig, problems = judge(out, allowed={503}, settle=1.0, max_seconds=max(held, pool_timeout) + 3, node=node,
                          need_fault_errors=True, prep_allowed={503})
    if before != after:
        problems.append("workers were replaced (recovery needed a restart)")
    fast = [s for t, k, st, s, *_ in out.rec.timeline if st == 503]
    line = (f"drill 4 (pool 2+0, pool timeout {pool_timeout:g} s, locks held {held:g} s, {load.students} students): "
            f"acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; client-visible errors "
            f"{error_words(fig['errors_in_window'])} (503 after p50 {pct(fast, 50):.1f} s, max "
            f"{max(fast, default=0):.1f} s); recovered without restart")
    return line, problems, fig


def drill_5(bench: Bench) -> tuple[str, list[str], dict]:
    """Stop the (private) Redis under load, and log students in while it is down."""
    load = Load(bench.students(150), 6 if bench.quick else 40, 0.2 if bench.quick else 1.0,
                late_logins=2 if bench.quick else 20)
    down = 3.0 if bench.quick else 15.0
    node = bench.node("main", load.students + load.late_logins)
    redis = bench.private_redis()

    async def fault(f: Faults) -> None:
        await f.at(load.seconds * 0.3 - 0.5)
        w = f.open("Redis stopped")
        await asyncio.to_thread(redis.stop)
        await asyncio.sleep(down)
        await asyncio.to_thread(redis.start)
        f.close(w)

    out = asyncio.run(run_load(node.target, [node.server.base], load, fault))
    fig, problems = judge(out, allowed=set(), settle=0.0, max_seconds=5, node=node)
    if out.late_ok != load.late_logins:
        problems.append(f"only {out.late_ok} of {load.late_logins} logins during the outage got through")
    line = (f"drill 5 (Redis down {down:g} s, {load.students} students): acknowledged saves {fig['acknowledged']:,}; "
            f"lost {fig['lost']}; errors {error_words(fig['errors_in_window'])}; {out.late_ok}/{load.late_logins} "
            f"logins during the outage succeeded (memory fallback); save p99 {fig['save_ms_outside_fault']['p99']:.0f} ms "
            f"outside the outage, {fig['save_ms_during_fault']['p99']:.0f} ms during it (while the late students log in)")
    return line, problems, fig


def drill_14(bench: Bench) -> tuple[str, list[str], dict]:
    """The fault proxy between client and app: delay, stall, pause, drop (drop lasts through the submits)."""
    timeout = 4.0 if bench.quick else 15.0
    load = Load(bench.students(150), 8 if bench.quick else 50, 0.2 if bench.quick else 1.0, client_timeout=timeout)
    step = load.seconds * 0.12  # four faults of one step each, half a step apart, then the last drop from 0.82
    node = bench.node("main", load.students)
    proxy = FaultProxy(bench.next_port(), node.server.port).start()
    bench.cleanups.append(proxy.stop)

    async def fault(f: Faults) -> None:
        await f.at(load.seconds * 0.1)
        for mode, param in (("delay", 300), ("stall", 0), ("pause", 0), ("drop", 0.3)):
            w = f.open(f"{mode} {param:g}" if param else mode)
            proxy.set_mode(mode, param)
            await asyncio.sleep(step)
            proxy.set_mode("pass")
            f.close(w)
            await asyncio.sleep(step / 2)
        w = f.open("drop 0.2 through the first submits")
        proxy.set_mode("drop", 0.2)
        await f.at(load.seconds)  # students stop answering from 0.85 × seconds on, and submit
        proxy.set_mode("pass")
        f.close(w)

    out = asyncio.run(run_load(node.target, [f"http://127.0.0.1:{proxy.listen_port}"], load, fault))
    counts = dict(proxy.counts)
    proxy.stop()
    fig, problems = judge(out, allowed={"network"}, settle=timeout + 1, max_seconds=timeout + 1, node=node,
                          need_fault_errors=True)
    replayed = out.extra.get("replayed", 0)
    line = (f"drill 14 (proxy client↔app: delay 300 ms, stall, pause, drop 30%, then drop 20% through the first submits; "
            f"{load.students} students): acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; "
            f"duplicates {fig['duplicates']}; client-visible errors {error_words(fig['errors_in_window'])} "
            f"(all retried); {counts.get('resets', 0)} connections reset, {counts.get('stalled', 0)} stalled; "
            f"{replayed} retried saves answered from their receipt")
    return line, problems, fig


def drill_16(bench: Bench) -> tuple[str, list[str], dict]:
    """SQLite with four gunicorn workers autosaving together: no "database is locked"."""
    load = Load(bench.students(200), 5 if bench.quick else 40, 0.05 if bench.quick else 0.5)
    node = bench.node("sqlite4", load.students)
    out = asyncio.run(run_load(node.target, [node.server.base], load))
    fig, problems = judge(out, allowed=set(), settle=0, max_seconds=10, node=node)
    locked = node.log_since_drill().count("database is locked")
    if locked:
        problems.append(f'{locked} × "database is locked" in the server log')
    rate = fig["save_latency_ms"]["n"] / max(out.t_end - out.t0, 1e-9)
    line = (f"drill 16 (SQLite WAL, 4 workers × {bench.args.threads or 4} threads, {load.students} students, "
            f"{rate:.0f} saves/s): acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; "
            f'"database is locked" {locked}; errors {sum(fig["errors_outside"].values())}; '
            f"save p99 {fig['save_latency_ms']['p99']:.0f} ms")
    return line, problems, fig


def drill_17(bench: Bench) -> tuple[str, list[str], dict]:
    """An admin exports the ranking of a past exam (XLSX and CSV via the app) while students save."""
    load = Load(bench.students(200), 6 if bench.quick else 60, 0.2 if bench.quick else 1.0)
    rows = 2000 if bench.quick else 20000
    node = bench.node("main", load.students)
    target, server = node.target, node.server
    past_exam = seed_ranked_exam(target, rows)
    export_dir = Path(bench.workdir) / "exports"
    export_dir.mkdir(parents=True, exist_ok=True)
    # Exports above exports.INLINE_ROWS are written by the job worker (its own process; in production its
    # own host), as the office's would be: the drill runs one beside the node and follows the job.
    worker = _job_worker(node, Path(bench.workdir) / "logs")
    bench.cleanups.append(lambda: _stop(worker))

    async def exporter(f: Faults) -> dict[str, Any]:
        import aiohttp

        await f.at(load.seconds * 0.4)
        w = f.open("admin exports the ranking")
        done: list[tuple[str, int, float, int]] = []
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            cookies = await _admin_login(http, server.base)
            headers = {**ADMIN_HEADERS, "Cookie": _cookie_header(cookies)}
            i = 0
            while time.monotonic() < f.t0 + load.seconds * 0.8 or i < 2:
                fmt = ("xlsx", "csv")[i % 2]
                t = time.perf_counter()
                status, body = await _export(http, server.base, f"/results/exams/{past_exam}/export.{fmt}", headers)
                done.append((fmt, status, time.perf_counter() - t, len(body)))
                (export_dir / f"export-{i}.{fmt}").write_bytes(body)
                i += 1
        f.close(w)
        return {"exports": done}

    out = asyncio.run(run_load(target, [server.base], load, during=exporter))
    fig, problems = judge(out, allowed=set(), settle=0, max_seconds=10, node=node)
    exports = out.extra.get("exports", [])
    w = out.windows[0] if out.windows else Window("none", 0, 0)
    before = [s * 1000 for t, k, st, s, *_ in out.rec.timeline if k == "save" and st == 200 and t - s < w.start
              and t - s > out.t0]
    during = [s * 1000 for t, k, st, s, *_ in out.rec.timeline if k == "save" and st == 200 and t - s >= w.start
              and t <= w.end]
    checked = verify_exports(export_dir, exports, rows)
    for fmt, status, _seconds, size in exports:
        if status != 200 or size == 0:
            problems.append(f"export {fmt} answered {status} ({size} bytes)")
    if checked["bad"]:
        problems.append(f"exports with the wrong rows: {checked['bad']}")
    if not exports:
        problems.append("no export ran")
    fig["p99_without_export_ms"], fig["p99_during_export_ms"] = round(pct(before, 99), 1), round(pct(during, 99), 1)
    fig["p50_without_export_ms"], fig["p50_during_export_ms"] = round(pct(before, 50), 1), round(pct(during, 50), 1)
    fig["exports"] = exports
    times = {fmt: [s for f_, st, s, _ in exports if f_ == fmt] for fmt in ("xlsx", "csv")}
    line = (f"drill 17 ({target.kind}, {load.students} students saving; {len(exports)} exports back to back of "
            f"{rows:,} ranked rows: XLSX {_median_s(times['xlsx'])} s, CSV {_median_s(times['csv'])} s, all "
            f"complete): acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; errors "
            f"{sum(fig['errors_outside'].values())}; save p99 {fig['p99_without_export_ms']:.0f} ms before the "
            f"export, {fig['p99_during_export_ms']:.0f} ms during (p50 {fig['p50_without_export_ms']:.0f} → "
            f"{fig['p50_during_export_ms']:.0f} ms; autosave budget p99 ≤ {SAVE_P99_BUDGET_MS} ms "
            f"{'met' if fig['p99_during_export_ms'] <= SAVE_P99_BUDGET_MS else 'NOT met'})")
    return line, problems, fig


def _job_worker(node, logdir: Path) -> subprocess.Popen:
    """``flask jobs worker`` with the node's environment (database, secret), in its own process group."""
    import sys

    from benchmarks.loadkit.servers import REPO

    logdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **node.server.env, "PYTHONPATH": str(REPO), "FLASK_APP": "wsgi"}
    with open(logdir / "jobs-worker.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _export(http, base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Download an export as the office does: inline, or via its background job (poll, download, delete)."""
    async with http.get(base + path, headers=headers, allow_redirects=False) as r:
        if r.status != 302:
            return r.status, await r.read()
        page = r.headers["Location"]
    job_id = int(page.rstrip("/").rsplit("/", 1)[1])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with http.get(f"{base}/jobs/{job_id}.json", headers=headers) as r:
            state = await r.json()
        if state["state"] in ("done", "failed"):
            break
        await asyncio.sleep(0.2)
    if state["state"] != "done":
        return 500, b""
    async with http.get(f"{base}/results/exports/{job_id}/file", headers=headers) as r:
        status, body = r.status, await r.read()
    path_on_disk = (state.get("result") or {}).get("path")
    if path_on_disk and os.path.exists(path_on_disk):
        os.unlink(path_on_disk)  # the instance folder is the repo's: leave nothing behind
    return status, body


def _median_s(values: list[float]) -> str:
    import statistics

    return f"{statistics.median(values):.2f}" if values else "–"


async def _admin_login(http, base: str) -> dict[str, str]:
    """Log the drill's admin in; the session cookie (Secure in production, so kept by hand over http)."""
    import re

    cookies: dict[str, str] = {}
    async with http.get(base + "/login", headers=ADMIN_HEADERS) as r:
        html = await r.text()
        cookies.update({k: m.value for k, m in r.cookies.items()})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    async with http.post(base + "/login", data={"csrf_token": token, "login_name": "drill_admin",
                                                "password": tg.PASSWORD}, allow_redirects=False,
                         headers={**ADMIN_HEADERS, "Cookie": _cookie_header(cookies)}) as r:
        if r.status != 302:
            raise RuntimeError(f"admin login: {r.status}")
        cookies.update({k: m.value for k, m in r.cookies.items()})
    return cookies


ADMIN_HEADERS = {"X-Forwarded-For": "127.78.0.1", "User-Agent": "yingcai-loadkit-admin"}


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def seed_ranked_exam(target: tg.Target, n: int) -> int:
    """A past exam with ``n`` finalized attempts and a stored ranking run (bulk inserts), and an admin."""
    from sqlalchemy import insert, select

    from app.commands.demo import ensure_schools
    from app.domain.ranking import Entry, rank
    from app.extensions import db
    from app.models import Attempt, Exam, RankingRow, RankingRun, School, StudentProfile, User
    from app.services import accounts
    from app.services.accounts import HashParams
    from app.services.audit import Actor

    app = tg.make_app(target)
    now = utcnow()
    rnd = random.Random(17)
    with app.app_context():
        session = db.session
        if session.scalar(select(User.id).where(User.login_name == "drill_admin")) is None:
            accounts.create_user(session, login_name="drill_admin", role="admin", password=tg.PASSWORD, now=now,
                                 actor=Actor.system("loadkit"), hash_params=HashParams(1, 8, 1))
        ensure_schools(session)
        schools = session.execute(select(School.id, School.league_code).order_by(School.id)).all()
        exam = Exam(subject_code="physics", title="上一场考试（导出演练）", instructions="", kind="selection",
                    state="published", opens_at=now - timedelta(days=3), closes_at=now - timedelta(days=2),
                    duration_minutes=120, grace_seconds=60, eligibility={}, tie_breaks=["fewer_wrong"],
                    shuffle_questions=True, shuffle_options=True, seed="drill17", created_at=now)
        session.add(exam)
        session.flush()
        conn = session.connection()
        tag = f"P{exam.id}"
        user_ids: list[int] = []
        for start in range(0, n, 2000):
            ids = range(start, min(n, start + 2000))
            got = conn.execute(insert(User).returning(User.id, sort_by_parameter_order=True), [
                {"login_name": f"{tag}-{i:06d}", "display_name": "x", "role": "student", "password_hash": "-",
                 "session_token": f"{tag}-t{i}", "is_active": True, "created_at": now} for i in ids]).scalars().all()
            user_ids += got
            conn.execute(insert(StudentProfile), [
                {"user_id": uid, "exam_number": f"{tag}-{i:06d}", "name": f"考生{chr(0x4e00 + i % 500)}",
                 "gender": "U", "grade": "高一", "school_id": schools[i % len(schools)][0],
                 "league_code": schools[i % len(schools)][1], "subject_code": "physics"} for uid, i in zip(got, ids)])
        attempt_ids = conn.execute(insert(Attempt).returning(Attempt.id, sort_by_parameter_order=True), [
            {"exam_id": exam.id, "student_id": uid, "state": "finalized", "seed": "s", "layout": [],
             "started_at": now - timedelta(days=2, hours=2), "deadline": now - timedelta(days=2), "extra_seconds": 0,
             "last_seq": 0, "needs_manual": False, "finalized_reason": "submitted", "score_total": 0.0}
            for uid in user_ids]).scalars().all()
        entries = [Entry(attempt_ids[i], rnd.randint(0, 3000) / 10, schools[i % len(schools)][1],
                         schools[i % len(schools)][0], {"选择": rnd.randint(0, 60)}, rnd.randint(0, 30),
                         rnd.randint(600, 7200)) for i in range(n)]
        index = {aid: i for i, aid in enumerate(attempt_ids)}
        run = RankingRun(exam_id=exam.id, computed_at=now, computed_by="drill", exam_revision=1,
                         tie_breaks=["fewer_wrong"], section_names=["选择"], row_count=n, ranked_count=n)
        session.add(run)
        session.flush()
        batch = []
        for position, r in enumerate(rank(entries, ["fewer_wrong"])):
            i = index[r.entry.attempt_id]
            batch.append({"run_id": run.id, "attempt_id": attempt_ids[i], "position": position,
                          "student_id": user_ids[i], "exam_number": f"{tag}-{i:06d}",
                          "league_code": schools[i % len(schools)][1], "school_id": schools[i % len(schools)][0],
                          "status": "finalized", "total": r.entry.total, "sections": dict(entries[i].sections),
                          "wrong_count": entries[i].wrong_count, "time_used_seconds": entries[i].time_used_seconds,
                          "rank": r.rank, "league_rank": r.league_rank, "school_rank": r.school_rank, "count": n,
                          "percentile": r.percentile, "tied": r.tied})
            if len(batch) == 2000:
                conn.execute(insert(RankingRow), batch)
                batch = []
        if batch:
            conn.execute(insert(RankingRow), batch)
        exam_id = exam.id
        session.commit()
    tg.analyze(target, tables=f"users, {StudentProfile.__tablename__}, attempts, ranking_rows")
    return exam_id


def verify_exports(directory: Path, exports: list[tuple[str, int, float, int]], rows: int) -> dict[str, Any]:
    """Every export file holds every ranked row (CSV: data lines; XLSX: the overall sheet's rows)."""
    import csv
    import io
    import re

    ours = re.compile(r"P\d+-\d{6}")  # the seeded exam numbers
    bad = []
    xlsx = 0
    for i, (fmt, status, _, _) in enumerate(exports):
        if status != 200 or (fmt == "xlsx" and xlsx >= 2):  # reading XLSX back is slow: the first two
            continue
        xlsx += fmt == "xlsx"
        path = directory / f"export-{i}.{fmt}"
        data = path.read_bytes()
        if fmt == "csv":
            lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            found = sum(1 for line in lines if any(ours.fullmatch(c) for c in line))
        else:
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(data), read_only=True)
            sheet = book.worksheets[0]
            found = sum(1 for row in sheet.iter_rows(values_only=True)
                        if any(isinstance(c, str) and ours.fullmatch(c) for c in row))
            book.close()
        if found != rows:
            bad.append(f"{path.name}: {found} rows")
    return {"bad": bad}


# --- entry point -------------------------------------------------------------------------------------------------

RUN = {1: drill_1, 2: drill_2, 3: drill_3, 4: drill_4, 5: drill_5, 14: drill_14, 16: drill_16, 17: drill_17}


def main(args: argparse.Namespace) -> int:
    """Run the chosen drills; one figure line each; exit 1 if any failed."""
    import json

    wanted = list(DRILLS) if args.drill == "all" else [int(x) for x in args.drill.split(",")]
    unknown = [n for n in wanted if n not in RUN]
    if unknown:
        raise SystemExit(f"no load drill {unknown}; load drills: {', '.join(map(str, DRILLS))} or all")
    if not args.workdir_given:
        args.workdir = tempfile.mkdtemp(prefix="yingcai-drills-")
    if not args.port_given:
        args.port = 18600
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    results: dict[str, Any] = {}
    failed: list[int] = []
    t_all = time.perf_counter()
    try:
        for n in wanted:
            t = time.perf_counter()
            log(f"drill {n}: {TITLES[n]}{' (quick)' if args.quick else ''}")
            try:
                line, problems, figures = RUN[n](bench)
            except Exception as exc:  # noqa: BLE001 - report the drill as failed, run the others
                import traceback

                log(traceback.format_exc())
                line, problems, figures = f"drill {n}: did not complete", [f"{type(exc).__name__}: {exc}"], {}
            status = "pass" if not problems else "FAIL: " + "; ".join(problems)
            print(f"{line} [{time.perf_counter() - t:.0f} s] — {status}", flush=True)
            results[str(n)] = {"line": line, "problems": problems, "figures": figures}
            if problems:
                failed.append(n)
    finally:
        bench.close()
        path = Path(args.workdir) / f"drills-{'quick' if args.quick else 'full'}.json"
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        log(f"{len(wanted)} drill(s) in {time.perf_counter() - t_all:.0f} s; figures in {path}; logs in "
            f"{Path(args.workdir) / 'logs'}")
    if failed:
        print(f"load drills FAILED: {', '.join(map(str, failed))} (logs and figures in {args.workdir})", flush=True)
        return 1
    if not args.workdir_given:  # a temporary directory of a passing run: nothing to look at
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0
