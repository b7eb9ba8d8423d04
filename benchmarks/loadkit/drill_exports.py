"""Drill 17's side: a past exam's ranking to export, the admin's session, the job worker, the
download that follows a background export job, and the check that every file holds every row."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.clock import utcnow
from benchmarks.loadkit import target as tg


def job_worker(node, logdir: Path) -> subprocess.Popen:
    """``flask jobs worker`` with the node's environment (database, secret), in its own process group."""
    import sys

    from benchmarks.loadkit.servers import REPO

    logdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **node.server.env, "PYTHONPATH": str(REPO), "FLASK_APP": "wsgi"}
    with open(logdir / "jobs-worker.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def download_export(http, base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
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


def median_s(values: list[float]) -> str:
    import statistics

    return f"{statistics.median(values):.2f}" if values else "–"


async def admin_login(http, base: str) -> dict[str, str]:
    """Log the drill's admin in; the session cookie (Secure in production, so kept by hand over http)."""
    import re

    cookies: dict[str, str] = {}
    async with http.get(base + "/login", headers=ADMIN_HEADERS) as r:
        html = await r.text()
        cookies.update({k: m.value for k, m in r.cookies.items()})
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    async with http.post(base + "/login", data={"csrf_token": token, "login_name": "drill_admin",
                                                "password": tg.PASSWORD}, allow_redirects=False,
                         headers={**ADMIN_HEADERS, "Cookie": cookie_header(cookies)}) as r:
        if r.status != 302:
            raise RuntimeError(f"admin login: {r.status}")
        cookies.update({k: m.value for k, m in r.cookies.items()})
    return cookies


ADMIN_HEADERS = {"X-Forwarded-For": "127.78.0.1", "User-Agent": "yingcai-loadkit-admin"}


def cookie_header(cookies: dict[str, str]) -> str:
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

