"""A simulated student: the requests a browser sends, in the page's order, with the page's retry rules.

Login (GET /login, POST /login), the lobby (GET /exam/<id>, GET /api/time), the pledge, the start,
the exam page (GET /exam/attempt/<id>, then POST /open {questions: false} for the writer token),
saves one at a time with (token, seq) exactly as app/static/js/exam.js sends them, heartbeats and
the submit. A save is acknowledged only by a 200 receipt; anything retryable (network error, 429,
5xx, 503) is resent with the same (token, seq) after a pause, as the page does. Every acknowledged
save goes into the ledger that the oracle checks against the database afterwards.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from benchmarks.loadkit.page import PageQuestion, make_answer, parse_exam_page
from benchmarks.loadkit.target import PASSWORD, SCHOOL_SIZE

_FORM_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
RETRYABLE = {429, 500, 502, 503, 504}


class Fatal(Exception):
    """The page would stop here (stale tab, time over, session ended, unexpected answer)."""


@dataclass
class Recorder:
    """Latencies and statuses per request kind, and what went wrong."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)
    non_json_api_errors: int = 0
    # The drills' record of every answer: (monotonic time it came, kind, status, seconds, JSON body?,
    # Retry-After header?); None (the benchmarks) keeps nothing.
    timeline: list[tuple[float, str, int | str, float, bool, bool]] | None = None

    def add(self, kind: str, status: int | str, seconds: float) -> None:
        self.statuses[kind][status] += 1
        if status == 200 or status == 302:
            self.latencies[kind].append(seconds * 1000)

    def note(self, message: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(message)

    def count(self, predicate) -> int:
        """How many responses of any kind had a status matching ``predicate``."""
        return sum(n for c in self.statuses.values() for s, n in c.items() if predicate(s))

    @property
    def five_xx(self) -> int:
        return self.count(lambda s: isinstance(s, int) and s >= 500)


@dataclass(frozen=True)
class Ack:
    """One acknowledged save, as the page saw it."""

    attempt_id: int
    question_id: int
    seq: int
    answer: Any
    replayed: bool


class Client:
    """The HTTP side shared by all simulated students: one connection pool, one or more app nodes."""

    def __init__(self, bases: list[str], recorder: Recorder, *, connections: int = 0, timeout: float = 30):
        self.bases = bases
        self.rec = recorder
        self._turn = 0
        self.session = aiohttp.ClientSession(
            # Idle connections are dropped before gunicorn's 5 s keep-alive closes them (a browser
            # retries a request that fails on a connection the server just closed; aiohttp does not).
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=0, keepalive_timeout=3),
            cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=timeout))

    def base(self) -> str:
        """The next node (round robin per request: any node must serve any student's request)."""
        self._turn += 1
        return self.bases[self._turn % len(self.bases)]

    async def close(self) -> None:
        await self.session.close()


class Student:
    """One simulated student with their own cookies, writer token and sequence."""

    def __init__(self, client: Client, index: int, number: str, exam_id: int, ledger: list[Ack], rng: random.Random):
        self.c, self.index, self.number, self.exam_id = client, index, number, exam_id
        self.ledger, self.rng = ledger, rng
        # Each computer room sits behind one NAT address (X-Forwarded-For, as nginx would pass it on).
        room = index // SCHOOL_SIZE
        self.address = f"127.77.{room // 250}.{room % 250 + 1}"
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.attempt_id = 0
        self.token = ""
        self.last_seq = 0
        self.order: list[int] = []
        self.questions: dict[int, PageQuestion] = {}
        self.answers: dict[int, Any] = {}

    # --- transport ----------------------------------------------------------------------------

    async def _request(self, kind: str, method: str, path: str, *, body: Any = None, form: dict | None = None,
                       expect_json: bool = True) -> tuple[int | str, Any]:
        headers = {"X-Forwarded-For": self.address, "User-Agent": "yingcai-loadkit"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["Accept"] = "application/json"
            headers["X-CSRFToken"] = self.csrf
        data = json.dumps(body) if body is not None else form
        t = time.perf_counter()
        try:
            async with self.c.session.request(method, self.c.base() + path, data=data, headers=headers,
                                              allow_redirects=False) as r:
                text = await r.text()
                status = r.status
                for name, morsel in r.cookies.items():
                    self.cookies[name] = morsel.value
                retry_after = "Retry-After" in r.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.c.rec.add(kind, "network", time.perf_counter() - t)
            self.c.rec.note(f"{kind} {path}: {type(exc).__name__} {exc}")
            self._timeline(kind, "network", t, False, False)
            return "network", None
        self.c.rec.add(kind, status, time.perf_counter() - t)
        if not expect_json:
            self._timeline(kind, status, t, False, retry_after)
            return status, text
        try:
            data = json.loads(text)
        except ValueError:
            if status != 200:
                self.c.rec.non_json_api_errors += 1
                self.c.rec.note(f"{kind} {path}: {status} without JSON: {text[:120]!r}")
            self._timeline(kind, status, t, False, retry_after)
            return status, {}
        self._timeline(kind, status, t, True, retry_after)
        return status, data

    def _timeline(self, kind: str, status: int | str, started: float, is_json: bool, retry_after: bool) -> None:
        if self.c.rec.timeline is not None:
            now = time.perf_counter()
            self.c.rec.timeline.append((time.monotonic(), kind, status, now - started, is_json, retry_after))

    async def _retrying(self, kind: str, path: str, body: dict, *, tries: int = 8, pause: float = 0.5) -> dict:
        """POST until a non-retryable answer (the page's rule for open, start and submit), bounded."""
        for attempt in range(tries):
            status, data = await self._request(kind, "POST", path, body=body)
            if status == 200:
                return data
            if status not in RETRYABLE and status != "network":
                raise Fatal(f"{kind}: {status} {data}")
            await asyncio.sleep(min(pause * 2 ** attempt, 8) * (0.5 + self.rng.random()))
        raise Fatal(f"{kind}: still failing after {tries} tries")

    async def _page(self, kind: str, path: str, *, tries: int = 6) -> str:
        """GET an HTML page until it answers 200 (a retryable failure waits a little longer each time)."""
        for attempt in range(tries):
            status, html = await self._request(kind, "GET", path, expect_json=False)
            if status == 200:
                return html
            if status not in RETRYABLE and status != "network":
                raise Fatal(f"{kind}: {status}")
            await asyncio.sleep(0.5 * (1 + attempt))
        raise Fatal(f"{kind}: still failing")

    # --- the student's steps ------------------------------------------------------------------

    async def login(self) -> None:
        """GET /login for the form's CSRF token, POST the exam number and password."""
        for attempt in range(6):
            status, html = await self._request("login_form", "GET", "/login", expect_json=False)
            if status == 200:
                match = _FORM_CSRF.search(html)
                status, _ = await self._request("login", "POST", "/login", expect_json=False, form={
                    "csrf_token": match.group(1) if match else "", "login_name": self.number, "password": PASSWORD})
                if status == 302:
                    return
            if status not in RETRYABLE and status != "network":
                raise Fatal(f"login {self.number}: {status}")
            await asyncio.sleep(0.5 * (1 + attempt))
        raise Fatal(f"login {self.number}: still failing")

    async def lobby(self) -> None:
        """The waiting room: the page (with the CSRF meta tag) and the server clock."""
        html = await self._page("lobby", f"/exam/{self.exam_id}")
        self.csrf = _META_CSRF.search(html).group(1)
        await self._request("time", "GET", "/api/time")

    async def pledge(self) -> None:
        await self._retrying("pledge", f"/api/exams/{self.exam_id}/pledge", {"accept": True})

    async def start(self) -> None:
        """POST start (idempotent: a retry returns the same attempt)."""
        data = await self._retrying("start", f"/api/exams/{self.exam_id}/start", {"access_code": None})
        self.attempt_id = int(data["attempt_id"])

    async def open_page(self) -> None:
        """GET the exam page (every question rendered), then POST open for the writer token."""
        html = await self._page("take", f"/exam/attempt/{self.attempt_id}")
        self.order, self.questions = parse_exam_page(html)
        match = _META_CSRF.search(html)
        if match:
            self.csrf = match.group(1)
        await self.open_token()

    async def open_token(self) -> None:
        """POST open {questions: false}: a new writer token and the last acknowledged sequence."""
        data = await self._retrying("open", f"/api/attempts/{self.attempt_id}/open", {"questions": False})
        self.token, self.last_seq = data["token"], int(data["last_seq"])

    async def save(self, qid: int, answer: Any, *, deadline: float) -> bool:
        """One save under (token, seq); retried with the same pair until acknowledged (bounded)."""
        seq = self.last_seq + 1
        backoff = 0.2
        while time.monotonic() < deadline:
            body = {"token": self.token, "seq": seq, "question_id": qid, "answer": answer}
            status, data = await self._request("save", "POST", f"/api/attempts/{self.attempt_id}/answers", body=body)
            if status == 200:
                self.last_seq = max(self.last_seq, seq)
                self.ledger.append(Ack(self.attempt_id, qid, seq, answer, bool(data.get("replayed"))))
                return True
            code = (data or {}).get("error")
            if status == 409 and code == "stale_sequence":
                self.last_seq = max(self.last_seq, int(data.get("last_seq") or seq))
                seq = self.last_seq + 1
                continue
            if status in RETRYABLE or status == "network":
                await asyncio.sleep(backoff * (0.5 + self.rng.random()))
                backoff = min(backoff * 2, 4)
                continue
            raise Fatal(f"save: {status} {code}")
        self.c.rec.note(f"save {self.attempt_id}/{qid} seq {seq}: not acknowledged before the run's deadline")
        return False

    async def heartbeat(self) -> None:
        status, data = await self._request("heartbeat", "POST", f"/api/attempts/{self.attempt_id}/heartbeat",
                                           body={"token": self.token, "events": []})
        if status == 200 and data.get("stale_tab"):
            raise Fatal("heartbeat: stale tab")

    async def submit(self) -> None:
        await self._retrying("submit", f"/api/attempts/{self.attempt_id}/submit", {"token": self.token})

    def answer_for(self, qid: int) -> Any:
        """A fresh answer to one question of the page."""
        value = make_answer(self.questions[qid], self.rng)
        self.answers[qid] = value
        return value
