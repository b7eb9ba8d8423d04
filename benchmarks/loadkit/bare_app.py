"""The bare baseline: a minimal Flask app that only writes, run under the same gunicorn settings.

It shares the database, the engine options (``app.database.engine_options``: pool, timeouts,
SQLite WAL and BEGIN IMMEDIATE) and the gunicorn configuration with the real app, and does
nothing else: no session, no login, no CSRF, no checks. What it reaches is the limit of "Flask
plus one transaction" on this machine and database, and every figure of the real app is reported
as a ratio of it, measured in the same run.

- ``POST /save`` {attempt_id, question_id, seq, value}: one upsert into ``responses`` (the same
  statement shape as the app's save: insert … on conflict (attempt_id, exam_question_id) do update
  where the stored seq is lower), one commit.
- ``POST /start`` {exam_id, student_id, questions}: one ``attempts`` row and ``questions`` (50)
  question rows in ``loadkit_bare_questions``, one commit.
- ``GET /health``: readiness.

Run: ``gunicorn -c gunicorn.conf.py benchmarks.loadkit.bare_app:app`` with ``DATABASE_URL`` set.
"""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, insert

from app import database
from app.config import load_config
from app.models import Attempt, Response
from benchmarks.loadkit.bare_app_setup import bare_questions

_config = load_config()
_url = _config["SQLALCHEMY_DATABASE_URI"]
if _url.startswith("postgresql://"):
    _url = "postgresql+psycopg://" + _url[len("postgresql://"):]
engine = create_engine(_url, **database.engine_options(_url, _config))

if engine.dialect.name == "postgresql":
    from sqlalchemy.dialects.postgresql import insert as upsert
else:
    from sqlalchemy.dialects.sqlite import insert as upsert

_save = upsert(Response.__table__)
_save = _save.on_conflict_do_update(
    index_elements=["attempt_id", "exam_question_id"],
    set_={"value": _save.excluded.value, "seq": _save.excluded.seq, "saved_at": _save.excluded.saved_at},
    where=Response.__table__.c.seq < _save.excluded.seq)

app = Flask(__name__)


@app.get("/health")
def health():
    """Ready."""
    return jsonify(ok=True)


@app.post("/save")
def save():
    """One upsert, one commit."""
    body = request.get_json()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(_save, {"attempt_id": body["attempt_id"], "exam_question_id": body["question_id"],
                             "value": body["value"], "seq": body["seq"], "saved_at": now})
    return jsonify(seq=body["seq"], question_id=body["question_id"], saved_at=now.isoformat())


@app.post("/start")
def start():
    """One attempt row and its question rows, one commit."""
    body = request.get_json()
    now = datetime.now(UTC)
    n = int(body.get("questions", 50))
    with engine.begin() as conn:
        attempt_id = conn.execute(insert(Attempt.__table__).returning(Attempt.__table__.c.id), {
            "exam_id": body["exam_id"], "student_id": body["student_id"], "state": "in_progress",
            "seed": secrets.token_hex(16), "layout": [list(range(n))], "started_at": now,
            "deadline": now + timedelta(minutes=120), "extra_seconds": 0, "last_seq": 0, "last_seen_at": now,
            "needs_manual": False}).scalar_one()
        conn.execute(insert(bare_questions), [{"attempt_id": attempt_id, "position": i, "question_id": i}
                                              for i in range(n)])
    return jsonify(attempt_id=attempt_id)

