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
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.loadkit.drill_exports import (
    ADMIN_HEADERS,
    admin_login,
    cookie_header,
    download_export,
    job_worker,
    median_s,
    seed_ranked_exam,
    stop_process,
    verify_exports,
)
from benchmarks.loadkit.drill_kit import Bench, Faults, Load, Window, error_words, judge, log, run_load
from benchmarks.loadkit.faultproxy import FaultProxy
from benchmarks.loadkit.scenarios import pct

DRILLS = (1, 2, 3, 4, 5, 14, 16, 17)
TITLES = {1: "worker killed", 2: "PostgreSQL restart", 3: "database paused / half-open", 4: "pool exhausted",
          5: "Redis down", 14: "network faults client↔app", 16: "SQLite, 4 workers", 17: "export during the exam"}
# docs/performance.md's autosave target; drill 17 reports against it (a correctness drill: not a failure).
SAVE_P99_BUDGET_MS = 100


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
    worker = job_worker(node, Path(bench.workdir) / "logs")
    bench.cleanups.append(lambda: stop_process(worker))

    async def exporter(f: Faults) -> dict[str, Any]:
        import aiohttp

        await f.at(load.seconds * 0.4)
        w = f.open("admin exports the ranking")
        done: list[tuple[str, int, float, int]] = []
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            cookies = await admin_login(http, server.base)
            headers = {**ADMIN_HEADERS, "Cookie": cookie_header(cookies)}
            i = 0
            while time.monotonic() < f.t0 + load.seconds * 0.8 or i < 2:
                fmt = ("xlsx", "csv")[i % 2]
                t = time.perf_counter()
                status, body = await download_export(http, server.base, f"/results/exams/{past_exam}/export.{fmt}", headers)
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
            f"{rows:,} ranked rows: XLSX {median_s(times['xlsx'])} s, CSV {median_s(times['csv'])} s, all "
            f"complete): acknowledged saves {fig['acknowledged']:,}; lost {fig['lost']}; errors "
            f"{sum(fig['errors_outside'].values())}; save p99 {fig['p99_without_export_ms']:.0f} ms before the "
            f"export, {fig['p99_during_export_ms']:.0f} ms during (p50 {fig['p50_without_export_ms']:.0f} → "
            f"{fig['p50_during_export_ms']:.0f} ms; autosave budget p99 ≤ {SAVE_P99_BUDGET_MS} ms "
            f"{'met' if fig['p99_during_export_ms'] <= SAVE_P99_BUDGET_MS else 'NOT met'})")
    return line, problems, fig


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
