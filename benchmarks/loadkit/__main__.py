"""``python -m benchmarks.loadkit COMMAND``: seed, serve, load, check, report.

Commands (each takes ``--db sqlite|postgres`` and ``--workdir``):
  setup     fresh database (SQLite file or the dedicated PostgreSQL database), schema, bank, N students, exam
  exam      a whole simulated exam on one node or several (``--nodes 2``), then the oracle
  autosave  the app's autosave against the bare upsert, 64 connections, alternating runs, medians
  start     the start herd against the bare start (one attempt row + 50 question rows), medians
  login     logins per second (argon2id at the configured parameters) and the argon2id floor
  all       setup, then every figure above, written to <workdir>/results-<db>.json and printed as a table
  quick     the CI drill: a small exam on SQLite (and two nodes on PostgreSQL + Redis with --db postgres):
            0 acknowledged saves lost, no 5xx, exit 1 otherwise; well under 60 s
  drill N   a load drill of RELIABILITY.md (1 2 3 4 5 14 16 17, comma separated, or all) with its fault
            injected under load, then the oracle; one figure line each, exit 1 if one fails (drills.py)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.clock import utcnow
from benchmarks.loadkit import scenarios as sc
from benchmarks.loadkit import target as tg
from benchmarks.loadkit.servers import APP, BARE, Running, Server
from benchmarks.loadkit.student import Recorder

DEFAULT_WORKDIR = os.environ.get("LOADKIT_WORKDIR", "/tmp/yingcai-loadkit")
REDIS_URL = os.environ.get("LOADKIT_REDIS_URL", "redis://127.0.0.1:6379/15")


def log(message: str) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(f"[loadkit {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_env(target: tg.Target, args) -> dict[str, str]:
    """The production profile: PostgreSQL with Redis for rate limits; SQLite alone as the embedded default."""
    env = target.app_env()
    if target.kind == "postgres":
        env["REDIS_URL"] = REDIS_URL
        env["YINGCAI_RATELIMIT_KEY_PREFIX"] = "loadkit"
    for item in getattr(args, "env", None) or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def servers(target: tg.Target, args, *, nodes: int = 1, bare: bool = False) -> tuple[list[Server], Server | None]:
    """App nodes on consecutive ports from --port, and the bare app on --port + 10."""
    env = server_env(target, args)
    logdir = str(Path(args.workdir) / "logs")
    apps = [Server(f"app{i + 1}", APP, args.port + i, env, logdir, args.workers, args.worker_class, args.threads)
            for i in range(nodes)]
    base = Server("bare", BARE, args.port + 10, env, logdir, args.workers, args.worker_class, args.threads) \
        if bare else None
    return apps, base


def open_exam_now(target: tg.Target) -> None:
    """Benchmarks other than the whole exam start with the exam already open."""
    tg.set_opening(target, utcnow() - timedelta(minutes=1))


# --- commands ----------------------------------------------------------------------------------------------


def cmd_setup(args) -> tg.Target:
    """A fresh database seeded through the app's services."""
    t = time.perf_counter()
    target = tg.prepare(args.db, args.workdir, args.students)
    log(f"seeded {args.db}: {len(target.students)} students, exam {target.exam_id} with {target.questions} questions "
        f"in {time.perf_counter() - t:.1f} s ({target.url})")
    return target


def cmd_exam(args, target: tg.Target | None = None) -> dict[str, Any]:
    """A whole exam on ``--nodes`` app nodes, then the oracle."""
    target = target or tg.Target.load(args.db, args.workdir)
    tg.reset_attempts(target)
    tg.set_opening(target, utcnow() + timedelta(days=1))
    apps, _ = servers(target, args, nodes=args.nodes)
    opts = sc.ExamOptions(students=min(args.students, len(target.students)), think=args.think, revise=args.revise,
                          login_concurrency=args.login_concurrency, time_limit=args.time_limit,
                          heartbeat=args.heartbeat)
    with Running(*apps):
        killer = _worker_killer(apps[0], args.kill_worker_at) if args.kill_worker_at else None
        cpu0 = sum(s.cpu_seconds() for s in apps)
        log(f"exam: {opts.students} students, think {opts.think} s, {len(apps)} node(s) on "
            f"{', '.join(s.base for s in apps)}")
        result = asyncio.run(sc.run_exam(target, [s.base for s in apps], opts))
        result.figures["server_cpu_s"] = round(sum(s.cpu_seconds() for s in apps) - cpu0, 1)
    out = {"nodes": len(apps), **result.figures, "oracle": result.oracle}
    if killer is not None:
        out["killed_worker"] = killer.killed
    log(f"exam done: {json.dumps(_short(out), ensure_ascii=False)}")
    return out


def _worker_killer(server: Server, after: float):
    """Drill 1: SIGKILL one gunicorn worker ``after`` seconds into the run (the master replaces it)."""
    import signal
    import threading

    def kill() -> None:
        pids = server.worker_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            thread.killed = pids[0]
            log(f"drill 1: killed worker {pids[0]} of {server.name} with SIGKILL")

    thread = threading.Timer(after, kill)
    thread.killed = None
    thread.daemon = True
    thread.start()
    return thread


def _short(figures: dict[str, Any]) -> dict[str, Any]:
    keep = ("nodes", "killed_worker", "students", "failed_students", "saves_acknowledged", "saves_per_s", "5xx",
            "all_started_after_opening_s", "all_pages_ready_after_opening_s", "exam_s")
    short = {k: figures[k] for k in keep if k in figures}
    if "oracle" in figures:
        short["lost"] = figures["oracle"]["lost"]
        short["oracle_ok"] = figures["oracle"]["ok"]
    return short


def cmd_autosave(args, target: tg.Target | None = None) -> dict[str, Any]:
    """The app's autosave and the bare upsert, ``--runs`` alternating pairs at ``--connections``."""
    target = target or tg.Target.load(args.db, args.workdir)
    tg.reset_attempts(target)
    open_exam_now(target)
    c = args.connections
    if len(target.students) < 2 * c:
        raise SystemExit(f"autosave needs {2 * c} students; seed more with setup --students")
    apps, bare = servers(target, args, bare=True)
    with Running(apps[0], bare):
        from benchmarks.loadkit import bare_app_setup
        bare_ids = bare_app_setup.bare_attempts(target, range(c, 2 * c))
        question_ids = bare_app_setup.question_ids(target)

        async def go() -> dict[str, Any]:
            rec, ledger = Recorder(), []
            students = await sc.ready_students(target, [apps[0].base], range(c), rec, ledger)
            app_runs, bare_runs = [], []
            seq = 0
            await sc.autosave_closed_loop(students, args.warmup)  # warm every worker (imports, caches, pool)
            await sc.bare_closed_loop(bare.base, bare_ids, question_ids, args.warmup, seq)
            seq += 100_000
            for i in range(args.runs):
                cpu = apps[0].cpu_seconds()
                app_runs.append(await sc.autosave_closed_loop(students, args.seconds))
                app_runs[-1]["server_cpu"] = round(apps[0].cpu_seconds() - cpu, 2)
                cpu = bare.cpu_seconds()
                bare_runs.append(await sc.bare_closed_loop(bare.base, bare_ids, question_ids, args.seconds, seq))
                bare_runs[-1]["server_cpu"] = round(bare.cpu_seconds() - cpu, 2)
                seq += 100_000
                log(f"autosave run {i + 1}: app {app_runs[-1]['rps']}/s p99 {app_runs[-1]['p99']} ms, "
                    f"bare {bare_runs[-1]['rps']}/s p99 {bare_runs[-1]['p99']} ms")
            await students[0].c.close()
            report = await asyncio.to_thread(sc.oracle.check, target, ledger)
            return {"connections": c, "seconds": args.seconds, "app_runs": app_runs, "bare_runs": bare_runs,
                    "app_rps": sc.median_of(app_runs, "rps"), "bare_rps": sc.median_of(bare_runs, "rps"),
                    "app_p99": sc.median_of(app_runs, "p99"), "bare_p99": sc.median_of(bare_runs, "p99"),
                    "app_p50": sc.median_of(app_runs, "p50"), "errors": sum(r["errors"] for r in app_runs),
                    "app_rps_range": sc.spread_of(app_runs, "rps"), "bare_rps_range": sc.spread_of(bare_runs, "rps"),
                    "ratio": round(sc.median_of(app_runs, "rps") / max(sc.median_of(bare_runs, "rps"), 1e-9), 3),
                    "oracle": report.as_dict()}

        out = asyncio.run(go())
    log(f"autosave: app {out['app_rps']}/s ({out['app_rps_range']}), bare {out['bare_rps']}/s "
        f"({out['bare_rps_range']}), ratio {out['ratio']}, p99 {out['app_p99']} ms, errors {out['errors']}, "
        f"lost {out['oracle']['lost']}")
    return out


def cmd_start(args, target: tg.Target | None = None) -> dict[str, Any]:
    """The start herd (all at once, and with the lobby's 0–3 s spread) against the bare start."""
    target = target or tg.Target.load(args.db, args.workdir)
    tg.reset_attempts(target)
    open_exam_now(target)
    n = min(args.students, len(target.students))
    apps, bare = servers(target, args, bare=True)
    from benchmarks.loadkit import bare_app_setup

    with Running(apps[0], bare):
        student_ids = bare_app_setup.student_ids(target, range(n))

        async def go() -> dict[str, Any]:
            rec, ledger = Recorder(), []
            client = sc.Client([apps[0].base], rec, connections=0, timeout=120)
            students = [sc.Student(client, i, target.students[i], target.exam_id, ledger, sc.random.Random(i))
                        for i in range(n)]

            async def arrive(s):
                await s.login()
                await s.lobby()
                await s.pledge()

            t = time.perf_counter()
            results = await sc._gather_bounded([arrive(s) for s in students], args.login_concurrency)
            if sc._failures(results, rec):
                raise RuntimeError(f"students could not arrive: {rec.errors[:3]}")
            log(f"start: {n} students in the lobby after {time.perf_counter() - t:.1f} s")
            app_runs, bare_runs, lobby_runs = [], [], []
            for i in range(args.runs):
                await asyncio.to_thread(tg.reset_attempts, target, keep_consents=True)
                app_runs.append(await sc.app_start_herd(students))
                await asyncio.to_thread(tg.reset_attempts, target, keep_consents=True)
                bare_runs.append(await sc.bare_start_herd(bare.base, target.exam_id, student_ids))
                await asyncio.to_thread(tg.reset_attempts, target, keep_consents=True)
                lobby_runs.append(await sc.app_start_herd(students, spread=3.0, page=True))
                log(f"start run {i + 1}: app {app_runs[-1]['starts_per_s']}/s all in {app_runs[-1]['all_done_s']} s, "
                    f"bare {bare_runs[-1]['starts_per_s']}/s; lobby spread: started by "
                    f"{lobby_runs[-1]['all_started_s']} s, pages ready by {lobby_runs[-1]['all_done_s']} s")
            await client.close()
            report = await asyncio.to_thread(sc.oracle.check, target, [])
            return {"students": n, "app_runs": app_runs, "bare_runs": bare_runs, "lobby_runs": lobby_runs,
                    "app_starts_per_s": sc.median_of(app_runs, "starts_per_s"),
                    "bare_starts_per_s": sc.median_of(bare_runs, "starts_per_s"),
                    "ratio": round(sc.median_of(app_runs, "starts_per_s")
                                   / max(sc.median_of(bare_runs, "starts_per_s"), 1e-9), 3),
                    "app_all_done_s": sc.median_of(app_runs, "all_done_s"),
                    "lobby_all_started_s": sc.median_of(lobby_runs, "all_started_s"),
                    "lobby_pages_ready_s": sc.median_of(lobby_runs, "all_done_s"),
                    "app_range": sc.spread_of(app_runs, "starts_per_s"), "bare_range": sc.spread_of(bare_runs, "starts_per_s"),
                    "errors": sum(r["errors"] for r in app_runs + lobby_runs), "5xx": rec.five_xx,
                    "attempts_after_last_run": report.attempts, "duplicate_attempts": report.duplicate_attempts}

        out = asyncio.run(go())
    log(f"start: app {out['app_starts_per_s']}/s, bare {out['bare_starts_per_s']}/s, ratio {out['ratio']}; "
        f"{n} started within {out['lobby_all_started_s']} s of opening (lobby spread), errors {out['errors']}, "
        f"attempts {out['attempts_after_last_run']}, duplicates {out['duplicate_attempts']}")
    return out


def cmd_login(args, target: tg.Target | None = None) -> dict[str, Any]:
    """Logins per second over ``--login-concurrency`` connections, ``--runs`` times; and the argon2id floor."""
    target = target or tg.Target.load(args.db, args.workdir)
    apps, _ = servers(target, args)
    n = min(args.logins, len(target.students))
    runs = []
    with apps[0]:
        for i in range(args.runs):
            runs.append(asyncio.run(sc.login_rate(target, [apps[0].base], range(n),
                                                  concurrency=args.login_concurrency)))
            log(f"login run {i + 1}: {runs[-1]['logins_per_s']}/s p99 {runs[-1]['p99']} ms errors {runs[-1]['errors']}")
    floor = sc.argon2_floor(args.workers or os.cpu_count() or 2)
    out = {"logins": n, "runs": runs, "logins_per_s": sc.median_of(runs, "logins_per_s"),
           "range": sc.spread_of(runs, "logins_per_s"), "errors": sum(r["errors"] for r in runs), "argon2": floor,
           "ratio_to_argon2_ceiling": round(sc.median_of(runs, "logins_per_s") / floor["ceiling_per_s"], 3)}
    log(f"login: {out['logins_per_s']}/s ({out['range']}); argon2id verify {floor['verify_ms']} ms, "
        f"ceiling {floor['ceiling_per_s']}/s")
    return out


def cmd_all(args) -> dict[str, Any]:
    """Every figure on one database; the results file is rewritten after each stage (a crash keeps the rest)."""
    results: dict[str, Any] = {"db": args.db, "started": utcnow().isoformat(), "load_before": os.getloadavg()}
    path = Path(args.workdir) / f"results-{args.db}.json"

    def stage(name: str, run) -> None:
        try:
            results[name] = run()
        except Exception as exc:  # noqa: BLE001 - one failed stage must not lose the others' figures
            results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
            log(f"{name} failed: {exc}")
        results["load_after_" + name] = os.getloadavg()
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")

    target = cmd_setup(args)
    stage("login", lambda: cmd_login(args, target))
    stage("autosave", lambda: cmd_autosave(args, target))
    stage("start", lambda: cmd_start(args, target))
    stage("exam", lambda: cmd_exam(argparse.Namespace(**{**vars(args), "nodes": 1}), target))
    if args.db == "postgres":
        stage("exam_two_nodes", lambda: cmd_exam(argparse.Namespace(**{**vars(args), "nodes": 2}), target))
    print(summary_table(results))
    log(f"results written to {path}")
    return results


def summary_table(r: dict[str, Any]) -> str:
    """The figures as a Markdown table (docs/performance.md takes its rows from here)."""
    lines = [f"| figure ({r['db']}) | measured | baseline (same run) | ratio / target |", "|---|---|---|---|"]
    r = {k: v for k, v in r.items() if not (isinstance(v, dict) and "failed" in v)}
    if "autosave" in r:
        a = r["autosave"]
        lines.append(f"| autosave, {a['connections']} connections | {a['app_rps']}/s ({a['app_rps_range']}), "
                     f"p50 {a['app_p50']} ms, p99 {a['app_p99']} ms, errors {a['errors']}, lost {a['oracle']['lost']} "
                     f"| bare upsert {a['bare_rps']}/s ({a['bare_rps_range']}), p99 {a['bare_p99']} ms "
                     f"| {a['ratio']:.0%} (≥ 70%, p99 ≤ 100 ms) |")
    if "start" in r:
        s = r["start"]
        lines.append(f"| start herd, {s['students']} at once | {s['app_starts_per_s']}/s ({s['app_range']}), all in "
                     f"{s['app_all_done_s']} s | bare start {s['bare_starts_per_s']}/s ({s['bare_range']}) "
                     f"| {s['ratio']:.0%} (≥ 60%) |")
        lines.append(f"| {s['students']} start with the lobby's 0–3 s spread | all started {s['lobby_all_started_s']} s "
                     f"after opening, pages ready {s['lobby_pages_ready_s']} s; errors {s['errors']}, "
                     f"duplicates {s['duplicate_attempts']} | — | ≤ 5 s, 0 errors |")
    if "login" in r:
        g = r["login"]
        lines.append(f"| login (argon2id m=19456 t=2 p=1) | {g['logins_per_s']}/s ({g['range']}), errors {g['errors']} "
                     f"| argon2id ceiling {g['argon2']['ceiling_per_s']}/s ({g['argon2']['verify_ms']} ms a check) "
                     f"| {g['ratio_to_argon2_ceiling']:.0%} of ceiling (≥ 60/s) |")
    for key in ("exam", "exam_two_nodes"):
        if key in r:
            e = r[key]
            lines.append(f"| whole exam, {e['students']} students × {e['questions']} questions, {e['nodes']} node(s) "
                         f"| {e['saves_acknowledged']} saves acknowledged, {e['saves_per_s']}/s, "
                         f"save p99 {e['latency_ms'].get('save', {}).get('p99')} ms; lost {e['oracle']['lost']}, "
                         f"5xx {e['5xx']}, failed students {e['failed_students']} | — | 0 lost, 0 5xx |")
    return "\n".join(lines)


def cmd_quick(args) -> int:
    """The CI drill (correctness only): seed, a small exam; 0 lost, no 5xx.

    It never touches the full benchmark's data: its own temporary work directory, its own PostgreSQL
    database (yingcai_loadkit_quick) and ports from 18200, unless given explicitly.
    """
    import tempfile

    t = time.perf_counter()
    if not args.workdir_given:
        args.workdir = tempfile.mkdtemp(prefix="yingcai-loadkit-quick-")
    if not args.port_given:
        args.port = 18200
    tg.PG_DB = os.environ.get("LOADKIT_QUICK_PG_DB", "yingcai_loadkit_quick")
    nodes = 2 if args.db == "postgres" else 1
    args.students = args.students if args.students_given else 24
    target = cmd_setup(args)
    exam = cmd_exam(argparse.Namespace(**{**vars(args), "nodes": nodes, "think": 0.02, "heartbeat": 0.5,
                                          "time_limit": 40, "revise": 0.2}), target)
    ok = exam["oracle"]["ok"] and exam["5xx"] == 0 and exam["failed_students"] == 0 \
        and exam["non_json_api_errors"] == 0 and exam["oracle"]["checked"] > 0
    print(json.dumps({"quick": "ok" if ok else "FAILED", "seconds": round(time.perf_counter() - t, 1),
                      **_short(exam), "oracle": exam["oracle"]}, ensure_ascii=False))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "exam", "autosave", "start", "login", "all", "quick", "drill"])
    parser.add_argument("drill", nargs="?", default="all", help="`drill`: 1, 2, 3, 4, 5, 14, 16, 17, a list, or all")
    parser.add_argument("--quick", action="store_true", help="`drill`: a few seconds of load, 16 students (CI)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR)
    parser.add_argument("--students", type=int, default=None, help="students to seed / to simulate (2000)")
    parser.add_argument("--port", type=int, default=18080, help="first loopback port (app nodes; bare at +10)")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument("--worker-class", default="", help="gunicorn worker class (default: gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=0, help="threads per gthread worker")
    parser.add_argument("--nodes", type=int, default=1, help="app nodes for `exam` (2: split across two ports)")
    parser.add_argument("--think", type=float, default=4.0, help="mean seconds between answers in `exam`")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between heartbeats in `exam`")
    parser.add_argument("--time-limit", type=float, default=2400.0, help="hard limit of one exam run, seconds")
    parser.add_argument("--revise", type=float, default=0.2, help="`exam`: share of questions answered twice")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections for `autosave`")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one autosave run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured warm-up before autosave runs")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    parser.add_argument("--logins", type=int, default=600, help="logins per `login` run")
    parser.add_argument("--login-concurrency", type=int, default=32)
    parser.add_argument("--kill-worker-at", type=float, default=0.0,
                        help="`exam`: SIGKILL one worker of node 1 after this many seconds (drill 1)")
    parser.add_argument("--env", action="append", help="extra KEY=VALUE for the servers (e.g. YINGCAI_DB_POOL_SIZE=8)")
    args = parser.parse_args(argv)
    args.students_given = args.students is not None
    args.workdir_given = "--workdir" in (argv if argv is not None else sys.argv)
    args.port_given = "--port" in (argv if argv is not None else sys.argv)
    args.db_given = args.db if "--db" in (argv if argv is not None else sys.argv) else None
    if args.students is None:
        args.students = 2000
    if not 1024 <= args.port <= 32767 - 20:
        parser.error("--port must leave room below 32768")
    commands = {"setup": cmd_setup, "exam": cmd_exam, "autosave": cmd_autosave, "start": cmd_start,
                "login": cmd_login, "all": cmd_all}
    if args.command == "quick":
        return cmd_quick(args)
    if args.command == "drill":
        from benchmarks.loadkit import drills

        return drills.main(args)
    result = commands[args.command](args)
    if args.command not in ("setup", "all"):
        print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
