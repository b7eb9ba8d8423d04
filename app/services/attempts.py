"""Taking an exam on the server: start, page tokens, saves, heartbeat, submit and finalization.

The rules (DESIGN §3, Timing and Saving) are stated in app/domain/timing.py; this module applies
them with the database as the arbiter:
- one attempt per student per exam (unique constraint; concurrent starts converge on one row);
- each page load gets a writer token that revokes the older ones; a save carries (token, seq),
  is accepted when seq is above the token's last, and a repeated (token, seq) gets its original
  receipt; a revoked token gets ``stale_tab``;
- writes are accepted until deadline + grace; later ones get ``time_over`` and what was saved
  stays; an attempt past deadline + grace is finalized on any read and by the sweep, once.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.domain import presentation, shuffle, timing
from app.models import (
    Attempt,
    AttemptEvent,
    Exam,
    ExamConsent,
    Response,
    SaveReceipt,
    TimeGrant,
    User,
    WriterToken,
)
from app.services import attempt_scoring, papers
from app.services.exam_authoring import exam_is_open_for
from app.services.transactions import begin_writes

MAX_EVENTS_PER_HEARTBEAT = 50
INTEGRITY_EVENTS = {"visibility_hidden", "visibility_visible", "blur", "focus", "fullscreen_exit", "copy",
                    "paste", "cut", "contextmenu", "offline", "online", "resize"}


class AttemptError(Exception):
    """A refused request, with its HTTP status, a stable code and Chinese and English messages."""

    def __init__(self, code: str, status: int, zh: str, en: str, **extra: Any):
        super().__init__(f"{code}: {en}")
        self.code, self.status, self.zh, self.en, self.extra = code, status, zh, en, extra


def _not_found() -> AttemptError:
    return AttemptError("not_found", 404, "找不到该作答记录", "attempt not found")


@dataclass(frozen=True)
class Client:
    """Where a request came from, recorded with every state change."""

    ip: str | None = None
    user_agent: str | None = None


def _event(session: Session, attempt_id: int, kind: str, now: datetime, client: Client,
           detail: dict[str, Any] | None = None) -> None:
    # A plain INSERT now rather than an ORM object flushed at commit: events are written on the hot
    # paths (start, page open, heartbeat) and are never read back in the same request.
    session.connection().execute(insert(AttemptEvent.__table__), {
        "attempt_id": attempt_id, "kind": kind, "at": now, "ip": client.ip,
        "user_agent": (client.user_agent or "")[:255] or None, "detail": detail})


def timing_view(attempt: Attempt, exam: Exam, now: datetime) -> dict[str, Any]:
    """The server's clock for the page: it never trusts the client's."""
    return {"server_time": now.isoformat(), "deadline": attempt.deadline.isoformat(),
            "remaining_seconds": timing.remaining_seconds(attempt.deadline, now),
            "grace_seconds": exam.grace_seconds, "state": attempt.state}


# --- pledge and start -----------------------------------------------------------------------------


def accept_pledge(session: Session, *, exam: Exam, user: User, now: datetime, client: Client) -> None:
    """Record the honesty pledge (诚信承诺) and privacy notice acceptance (once)."""
    if session.scalar(select(ExamConsent.id).where(ExamConsent.exam_id == exam.id,
                                                   ExamConsent.student_id == user.id)) is None:
        session.add(ExamConsent(exam_id=exam.id, student_id=user.id, accepted_at=now, ip=client.ip))


def has_pledged(session: Session, exam_id: int, user_id: int) -> bool:
    """Whether the student accepted the pledge for this exam."""
    return session.scalar(select(ExamConsent.id).where(ExamConsent.exam_id == exam_id,
                                                       ExamConsent.student_id == user_id)) is not None


# The start herd runs these for every student at once: built once, with bound parameters.
_START_FACTS = select(
    select(Attempt.id).where(Attempt.exam_id == bindparam("exam"), Attempt.student_id == bindparam("student"))
    .scalar_subquery(),
    exists().where(ExamConsent.exam_id == bindparam("exam"), ExamConsent.student_id == bindparam("student")),
    select(func.coalesce(func.sum(TimeGrant.seconds), 0)).where(
        TimeGrant.exam_id == bindparam("exam"), TimeGrant.attempt_id.is_(None), TimeGrant.scope == "exam")
    .scalar_subquery())
_START_COLUMNS = ("exam_id", "student_id", "state", "seed", "layout", "started_at", "deadline", "extra_seconds",
                  "last_seq", "last_seen_at", "needs_manual")


def _start_insert(dialect: str):
    """insert … on conflict (exam_id, student_id) do nothing returning the attempt; built once per dialect."""
    key = f"start-{dialect}"
    if key not in _UPSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        _UPSERTS[key] = (dialect_insert(Attempt).values({c: bindparam(c) for c in _START_COLUMNS})
                         .on_conflict_do_nothing(index_elements=["exam_id", "student_id"]).returning(Attempt))
    return _UPSERTS[key]


def _start_facts(session: Session, exam: Exam, user: User) -> tuple[int | None, bool, int]:
    """The student's existing attempt id, whether they pledged, and their accommodation minutes plus
    exam-wide grants (per-attempt grants come later) — one query."""
    existing, pledged, granted = session.execute(_START_FACTS, {"exam": exam.id, "student": user.id}).one()
    profile = user.student
    return existing, bool(pledged), int((profile.extra_minutes if profile else 0) * 60 + (granted or 0))


def _layout(exam: Exam, paper: papers.Paper, seed: str) -> list[list[int]]:
    layout = []
    for section in paper.sections:
        ids = list(section.question_ids)
        if exam.shuffle_questions:
            ids = [int(x) for x in shuffle.section_order(seed, section.position, [str(i) for i in ids])]
        layout.append(ids)
    return layout


def start(session: Session, *, exam: Exam, user: User, now: datetime, client: Client,
          access_code: str | None = None) -> Attempt:
    """Start (or return) the student's attempt; idempotent and safe under concurrent clicks.

    The deadline counts from the actual start: min(started_at + duration, closes_at) + extra time.
    """
    existing, pledged, extra = _start_facts(session, exam, user)
    if existing is not None:
        return session.get(Attempt, existing)
    if user.role != "student" or not exam_is_open_for(exam, profile=user.student, now=now):
        raise AttemptError("not_eligible", 403, "您不在本场考试的考生名单中", "you are not registered for this exam")
    reason = timing.can_start(exam.opens_at, exam.latest_start_at, exam.closes_at, now)
    if reason != timing.OK:
        messages = {timing.NOT_OPEN: ("考试尚未开始", "the exam has not opened yet"),
                    timing.START_CLOSED: ("已超过最晚入场时间，不能再开始作答", "the last moment to start has passed"),
                    timing.CLOSED: ("考试已结束", "the exam is over")}
        zh, en = messages[reason]
        raise AttemptError(reason, 409, zh, en)
    if exam.access_code and not secrets.compare_digest((access_code or "").strip(), exam.access_code):
        raise AttemptError("access_code", 403, "考试口令不正确，请向监考老师确认", "wrong access code; ask your proctor")
    if not pledged:
        raise AttemptError("pledge_required", 409, "请先阅读并接受诚信承诺", "accept the honesty pledge first")
    paper = papers.load(session, exam)
    seed = secrets.token_hex(16)
    deadline = timing.compute_deadline(now, timedelta(minutes=exam.duration_minutes), exam.closes_at,
                                       timedelta(seconds=extra))
    values = {"exam_id": exam.id, "student_id": user.id, "state": "in_progress", "seed": seed,
              "layout": _layout(exam, paper, seed), "started_at": now, "deadline": deadline, "extra_seconds": extra,
              "last_seq": 0, "last_seen_at": now, "needs_manual": False}
    # One statement: insert unless a concurrent start got there first (unique exam_id, student_id).
    attempt = session.scalar(_start_insert(begin_writes(session).dialect.name), values)
    if attempt is None:  # the concurrent start won the race: return that attempt
        return session.scalar(select(Attempt).where(Attempt.exam_id == values["exam_id"],
                                                    Attempt.student_id == values["student_id"]))
    _event(session, attempt.id, "start", now, client)
    return attempt


# --- reading an attempt ---------------------------------------------------------------------------


def get_own(session: Session, attempt_id: int, user: User, *, now: datetime) -> Attempt:
    """The student's own attempt (another student's is a 404), finalized first if it is overdue."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.student_id != user.id:
        raise _not_found()
    finalize_if_overdue(session, attempt, now=now)
    return attempt


def finalize_if_overdue(session: Session, attempt: Attempt, *, now: datetime) -> bool:
    """Finalize an attempt past deadline + grace (any read does this); True if this call did it."""
    exam = attempt.exam
    if attempt.state == "in_progress" and timing.is_overdue(attempt.deadline, timedelta(seconds=exam.grace_seconds), now):
        return finalize(session, attempt, now=now, reason="time_over")
    return False


def open_page(session: Session, attempt: Attempt, *, now: datetime, client: Client,
              include_questions: bool = True) -> dict[str, Any]:
    """A page load: a new writer token (revoking older ones), the questions, saved answers and the clock.

    The server-rendered exam page already holds the questions and asks without them.
    """
    exam = attempt.exam
    paper = papers.load(session, exam)
    token = None
    if attempt.state == "in_progress":
        session.execute(update(WriterToken).where(WriterToken.attempt_id == attempt.id, WriterToken.revoked.is_(False))
                        .values(revoked=True))
        token = secrets.token_urlsafe(24)
        session.add(WriterToken(attempt_id=attempt.id, token=token, last_seq=attempt.last_seq, created_at=now))
        _event(session, attempt.id, "open", now, client)
    responses = {r.exam_question_id: r.value for r in session.scalars(
        select(Response).where(Response.attempt_id == attempt.id))}
    payload = {"attempt_id": attempt.id, "exam_id": exam.id, "title": exam.title, "kind": exam.kind,
               "token": token, "last_seq": attempt.last_seq, **timing_view(attempt, exam, now)}
    if include_questions:
        payload["sections"] = student_sections(attempt, paper, responses)
    return payload


def image_url_for(images: dict[str, str]):
    """An image_url function for a question's stored images (the web layer gives the URL prefix)."""
    return lambda ref: f"/bank/images/{images[ref]}" if ref in images else None


def student_sections(attempt: Attempt, paper: papers.Paper, responses: dict[int, Any]) -> list[dict[str, Any]]:
    """The questions in the student's order, as the student sees them, with their saved answers (opaque ids)."""
    sections = []
    by_id = {s.id: s for s in paper.sections}
    section_list = list(paper.sections)
    shuffle_options = attempt.exam.shuffle_options
    for index, ids in enumerate(attempt.layout):
        section = section_list[index] if index < len(section_list) else by_id.get(index)
        questions = []
        for qid in ids:
            q = paper.questions[qid]
            view = presentation.student_view(q.content, seed=attempt.seed, image_url=image_url_for(q.images),
                                             shuffle_options=shuffle_options, rendered=q.rendered)
            view["id"] = qid
            view["points"] = q.points
            view["answer"] = to_opaque(q.content, attempt.seed, responses.get(qid))
            questions.append(view)
        sections.append({"name": section.name, "questions": questions})
    return sections


def to_opaque(content: dict[str, Any], seed: str, value: Any) -> Any:
    """A saved canonical answer written back with the student's opaque ids (for the page to restore)."""
    if value is None:
        return None
    key, qtype = content["key"], content["type"]

    def tok(cid: str) -> str:
        return shuffle.opaque_id(seed, key, cid)

    if qtype == "single":
        return tok(value)
    if qtype in ("multiple", "ordering"):
        return [tok(v) for v in value]
    if qtype == "matching":
        return {tok("p:" + p): tok(c) for p, c in value.items()}
    if qtype == "group":
        parts = {p["key"]: p for p in content.get("parts", [])}
        return {shuffle.opaque_id(seed, "q", k): to_opaque(parts[k], seed, v) for k, v in value.items() if k in parts}
    return value


# --- saving ---------------------------------------------------------------------------------------


@dataclass
class SaveResult:
    """The receipt of a save; ``replayed`` when (token, seq) had been acknowledged before."""

    receipt: dict[str, Any]
    replayed: bool = False
    timing: dict[str, Any] = field(default_factory=dict)


def _check_writable(session: Session, attempt: Attempt, now: datetime) -> None:
    exam = attempt.exam
    if attempt.state == "in_progress" and not timing.accepts_writes(
            attempt.deadline, timedelta(seconds=exam.grace_seconds), now):
        finalize(session, attempt, now=now, reason="time_over")
        session.commit()
    if attempt.state != "in_progress":
        if attempt.finalized_reason == "time_over" or now > attempt.deadline:
            raise AttemptError("time_over", 409, "考试时间已到，之前保存的答案已记录并将计分",
                               "time is over; the answers saved before are kept and will be scored",
                               state=attempt.state)
        raise AttemptError("attempt_closed", 409, "试卷已提交，不能再修改答案", "the paper was submitted; answers can no longer change",
                           state=attempt.state)


# The save path runs for every answer a student types, so it is written for the hot loop (profiled in
# docs/performance.md): one joined read (token, attempt, exam, any receipt for this (token, seq)),
# then Core statements built once here with bound parameters, so SQLAlchemy compiles each of them
# once per process and the ORM's unit of work stays out of the way.
_TOKENS, _ATTEMPTS, _RESPONSES, _RECEIPTS, _USERS = (
    WriterToken.__table__, Attempt.__table__, Response.__table__, SaveReceipt.__table__, User.__table__)
_SAVE_LOOKUP = (
    select(_TOKENS.c.id.label("token_id"), _TOKENS.c.revoked, _ATTEMPTS.c.id.label("attempt_id"),
           _ATTEMPTS.c.student_id, _ATTEMPTS.c.state, _ATTEMPTS.c.deadline, _ATTEMPTS.c.seed,
           Exam.__table__.c.id.label("exam_id"), Exam.__table__.c.revision, Exam.__table__.c.seed.label("exam_seed"),
           Exam.__table__.c.grace_seconds, _RECEIPTS.c.exam_question_id.label("receipt_question"),
           _RECEIPTS.c.saved_at.label("receipt_saved_at"), _USERS.c.session_token.label("owner_session"),
           _USERS.c.is_active.label("owner_active"), _USERS.c.role.label("owner_role"))
    .join(_ATTEMPTS, _ATTEMPTS.c.id == _TOKENS.c.attempt_id)
    .join(_USERS, _USERS.c.id == _ATTEMPTS.c.student_id)
    .join(Exam.__table__, Exam.__table__.c.id == _ATTEMPTS.c.exam_id)
    .outerjoin(_RECEIPTS, and_(_RECEIPTS.c.token_id == _TOKENS.c.id, _RECEIPTS.c.seq == bindparam("new_seq")))
    .where(_TOKENS.c.token == bindparam("token")))
# Lock order: the attempt row first, then the token (finalize does the same), so a save racing the
# final submit waits for it instead of deadlocking; and a save that comes after the submit's commit
# finds the attempt closed.
_SAVE_ATTEMPT = (update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt"), _ATTEMPTS.c.state == "in_progress")
                 .values(last_seq=case((_ATTEMPTS.c.last_seq < bindparam("new_seq"), bindparam("new_seq")),
                                       else_=_ATTEMPTS.c.last_seq)))
_SAVE_CLAIM = (update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id"), _TOKENS.c.last_seq < bindparam("new_seq"),
                                     _TOKENS.c.revoked.is_(False)).values(last_seq=bindparam("new_seq")))
_SAVE_RECEIPT = insert(_RECEIPTS).values(token_id=bindparam("token_id"), seq=bindparam("new_seq"),
                                         exam_question_id=bindparam("question"), saved_at=bindparam("now"))
_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str):
    """insert … on conflict (attempt, question) do update where the stored seq is lower; built once per dialect."""
    if dialect not in _UPSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(_RESPONSES).values(
            attempt_id=bindparam("attempt"), exam_question_id=bindparam("question"), value=bindparam("value"),
            seq=bindparam("new_seq"), saved_at=bindparam("now"))
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=["attempt_id", "exam_question_id"],
            set_={"value": statement.excluded.value, "seq": statement.excluded.seq,
                  "saved_at": statement.excluded.saved_at},
            where=_RESPONSES.c.seq < statement.excluded.seq)
    return _UPSERTS[dialect]


def _pg_save_statement():
    """PostgreSQL: the four writes of a save as data-modifying CTEs in one statement → (alive, claimed).

    ``att`` locks the attempt row first (only while in progress); ``claim`` advances the token's
    sequence only if ``att`` found the attempt alive, so the token row is locked second, the order
    finalize uses; the upsert and the receipt only happen for a claimed (token, seq).
    """
    if "postgresql-cte" not in _UPSERTS:
        att = (update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("attempt"), _ATTEMPTS.c.state == "in_progress")
               .values(last_seq=func.greatest(_ATTEMPTS.c.last_seq, bindparam("new_seq")))
               .returning(_ATTEMPTS.c.id).cte("att"))
        claim = (update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id"), _TOKENS.c.last_seq < bindparam("new_seq"),
                                       _TOKENS.c.revoked.is_(False), exists(select(att.c.id)))
                 .values(last_seq=bindparam("new_seq")).returning(_TOKENS.c.id).cte("claim"))
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        columns = ["attempt_id", "exam_question_id", "value", "seq", "saved_at"]
        source = select(bindparam("attempt", type_=_RESPONSES.c.attempt_id.type),
                        bindparam("question", type_=_RESPONSES.c.exam_question_id.type),
                        bindparam("value", type_=_RESPONSES.c.value.type),
                        bindparam("new_seq", type_=_RESPONSES.c.seq.type),
                        bindparam("now", type_=_RESPONSES.c.saved_at.type)).select_from(claim)
        up = pg_insert(_RESPONSES).from_select(columns, source)
        up = up.on_conflict_do_update(index_elements=["attempt_id", "exam_question_id"],
                                      set_={"value": up.excluded.value, "seq": up.excluded.seq,
                                            "saved_at": up.excluded.saved_at},
                                      where=_RESPONSES.c.seq < up.excluded.seq).cte("up")
        receipt = insert(_RECEIPTS).from_select(
            ["token_id", "seq", "exam_question_id", "saved_at"],
            select(claim.c.id, bindparam("new_seq", type_=_RECEIPTS.c.seq.type),
                   bindparam("question", type_=_RECEIPTS.c.exam_question_id.type),
                   bindparam("now", type_=_RECEIPTS.c.saved_at.type))).cte("receipt")
        _UPSERTS["postgresql-cte"] = (
            select(select(func.count()).select_from(att).scalar_subquery().label("alive"),
                   select(func.count()).select_from(claim).scalar_subquery().label("claimed"))
            .add_cte(up).add_cte(receipt))
    return _UPSERTS["postgresql-cte"]


def _clock(deadline: datetime, grace_seconds: int, state: str, now: datetime) -> dict[str, Any]:
    return {"server_time": now.isoformat(), "deadline": deadline.isoformat(),
            "remaining_seconds": timing.remaining_seconds(deadline, now), "grace_seconds": grace_seconds,
            "state": state}


def _expire_loaded(session: Session, model: type, ident: int) -> None:
    """Core updates bypass the identity map: an object this session already holds reloads its last_seq."""
    loaded = session.identity_map.get(identity_key(model, ident))
    if loaded is not None:
        session.expire(loaded, ["last_seq"])


class SessionNotMatched(Exception):
    """``save`` was given a session token that is not its owner's current one: check the user fully."""


def save(session: Session, *, attempt_id: int, user: User | None = None, session_token: str | None = None,
         token: str, seq: int, question_id: int, answer: Any, now: datetime) -> SaveResult:
    """Store one answer under the (token, seq) protocol (see the module docstring).

    The caller is either ``user`` (loaded and checked) or ``session_token``, the token of the signed-in
    session, checked here in the same read against the attempt owner's current token, active flag and
    role (``authz.session_checked_in_view``). When that does not match, nothing has been written and
    ``SessionNotMatched`` asks the caller to check the user the usual way and call again with it.
    """
    valid_seq = isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= 2**53
    row = None
    # Core statements go straight to the session's connection (same transaction), skipping the ORM layer.
    conn = session.connection()
    if isinstance(token, str) and 0 < len(token) <= 64:
        row = conn.execute(_SAVE_LOOKUP, {"token": token, "new_seq": seq if valid_seq else 0}).first()
    if user is None:
        if (row is None or not isinstance(session_token, str) or row.owner_role != "student"
                or not row.owner_active or not secrets.compare_digest(row.owner_session, session_token)):
            raise SessionNotMatched
        user_id = row.student_id
    else:
        user_id = user.id
    if row is None or row.student_id != user_id or row.attempt_id != attempt_id:
        # Only on this error path: someone else's attempt is a 404, one's own a stale page.
        owner = session.scalar(select(Attempt.student_id).where(Attempt.id == attempt_id))
        if owner != user_id:
            raise _not_found()
        raise AttemptError("stale_tab", 409, "此页面已失效，请刷新页面或在最新打开的窗口中继续作答",
                           "this page is no longer valid; reload it or continue in your newest window")
    if not valid_seq:
        raise AttemptError("invalid_request", 422, "序号无效", "invalid sequence number")
    if row.receipt_question is not None:
        return SaveResult({"seq": seq, "question_id": row.receipt_question,
                           "saved_at": row.receipt_saved_at.isoformat()}, replayed=True,
                          timing=_clock(row.deadline, row.grace_seconds, row.state, now))
    if row.state != "in_progress" or not timing.accepts_writes(row.deadline, timedelta(seconds=row.grace_seconds), now):
        # Rare: closed or overdue. The ORM path finalizes an overdue attempt and says why it is closed.
        begin_writes(session)
        _check_writable(session, session.get(Attempt, row.attempt_id), now)
    if row.revoked:
        raise AttemptError("stale_tab", 409, "您已在新的窗口或设备上打开了本试卷，请在最新的窗口中继续作答",
                           "this exam was opened in a newer window or device; continue there")
    paper = papers.load_by_key(session, row.exam_id, row.revision, row.exam_seed)
    question = paper.questions.get(question_id) if isinstance(question_id, int) else None
    if question is None:
        raise AttemptError("unknown_question", 422, "试卷中没有这道题", "no such question in this paper")
    try:
        value = presentation.to_canonical_response(question.content, row.seed, answer)
    except ValueError as exc:
        raise AttemptError("invalid_answer", 422, "答案格式无效", f"invalid answer: {exc}") from None
    params = {"attempt": row.attempt_id, "token_id": row.token_id, "new_seq": seq, "question": question_id,
              "value": value, "now": now}
    conn = begin_writes(session)  # SQLite: the write lock is taken only now (app.database.reads_first)
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # One round trip for the four writes (attempt, token, response, receipt), in the same lock order.
        alive, claimed = conn.execute(_pg_save_statement(), params).one()
    else:
        alive = conn.execute(_SAVE_ATTEMPT, params).rowcount
        claimed = alive and conn.execute(_SAVE_CLAIM, params).rowcount
    if not alive:
        attempt = session.get(Attempt, row.attempt_id)
        session.refresh(attempt)
        _check_writable(session, attempt, now)
    if not claimed:
        # Nothing was written yet: re-read what a concurrent request committed and answer from it.
        again = session.scalar(select(SaveReceipt).where(SaveReceipt.token_id == row.token_id, SaveReceipt.seq == seq)
                               .execution_options(populate_existing=True))
        if again is not None:  # a concurrent retry of the same save got there first
            return SaveResult({"seq": seq, "question_id": again.exam_question_id,
                               "saved_at": again.saved_at.isoformat()}, replayed=True)
        writer = session.get(WriterToken, row.token_id)
        session.refresh(writer)
        if writer.revoked:
            raise AttemptError("stale_tab", 409, "您已在新的窗口中打开了本试卷，请在最新的窗口中继续作答",
                               "this exam was opened in a newer window; continue there")
        raise AttemptError("stale_sequence", 409, "这次保存已被更新的答案取代", "a newer save already replaced this one",
                           last_seq=writer.last_seq)
    if dialect != "postgresql":
        conn.execute(_upsert_statement(dialect), params)
        conn.execute(_SAVE_RECEIPT, params)
    _expire_loaded(session, Attempt, row.attempt_id)
    _expire_loaded(session, WriterToken, row.token_id)
    return SaveResult({"seq": seq, "question_id": question_id, "saved_at": now.isoformat()},
                      timing=_clock(row.deadline, row.grace_seconds, row.state, now))


# --- heartbeat, submit, finalize ------------------------------------------------------------------


def heartbeat(session: Session, attempt: Attempt, *, token: str | None, events: list[Any], now: datetime,
              client: Client) -> dict[str, Any]:
    """Record that the student is here (and any integrity events, as evidence only); return the clock."""
    attempt.last_seen_at = now
    stale = True
    if token:
        writer = session.scalar(select(WriterToken).where(WriterToken.token == token, WriterToken.attempt_id == attempt.id))
        stale = writer is None or writer.revoked
    for raw in (events or [])[:MAX_EVENTS_PER_HEARTBEAT]:
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind in INTEGRITY_EVENTS:
            _event(session, attempt.id, "integrity:" + kind, now, client,
                   {"client_time": str(raw.get("at", ""))[:40]})
    return {**timing_view(attempt, attempt.exam, now), "stale_tab": stale, "last_seq": attempt.last_seq}


def submit(session: Session, attempt: Attempt, *, token: str | None, now: datetime, client: Client) -> dict[str, Any]:
    """Hand in the paper: idempotent; accepted until deadline + grace; scored once."""
    # Lock the attempt first (lock order attempt -> token) and re-read it, so a concurrent retry of the
    # same submit sees the committed hand-in instead of its own revoked token.
    attempt = session.scalar(select(Attempt).where(Attempt.id == attempt.id).with_for_update()
                             .execution_options(populate_existing=True))
    if attempt.state == "finalized":
        if attempt.finalized_reason == "submitted":
            return {"state": attempt.state, "submitted_at": attempt.submitted_at.isoformat(), "replayed": True}
        raise AttemptError("time_over", 409, "考试时间已到，系统已自动交卷，之前保存的答案已记录",
                           "time is over; the paper was handed in automatically with the answers saved before",
                           state=attempt.state)
    if attempt.state != "in_progress":
        raise AttemptError("attempt_closed", 409, "该作答已关闭", "this attempt is closed", state=attempt.state)
    if token:
        writer = session.scalar(select(WriterToken).where(WriterToken.token == token, WriterToken.attempt_id == attempt.id))
        if writer is None or writer.revoked:
            raise AttemptError("stale_tab", 409, "您已在新的窗口中打开了本试卷，请在最新的窗口中交卷",
                               "this exam was opened in a newer window; submit there")
    _check_writable(session, attempt, now)
    if not finalize(session, attempt, now=now, reason="submitted", client=client):
        session.refresh(attempt)
        return {"state": attempt.state, "submitted_at": (attempt.submitted_at or now).isoformat(), "replayed": True}
    return {"state": "finalized", "submitted_at": now.isoformat(), "replayed": False}


def finalize(session: Session, attempt: Attempt, *, now: datetime, reason: str, client: Client = Client()) -> bool:
    """Close an in-progress attempt and score it; a conditional UPDATE makes this happen once only."""
    values: dict[str, Any] = {"state": "finalized", "finalized_at": now, "finalized_reason": reason}
    if reason == "submitted":
        values["submitted_at"] = now
    done = session.execute(update(Attempt).where(Attempt.id == attempt.id, Attempt.state == "in_progress")
                           .values(**values)).rowcount
    if not done:
        return False
    session.execute(update(WriterToken).where(WriterToken.attempt_id == attempt.id).values(revoked=True))
    session.refresh(attempt)
    _event(session, attempt.id, "submit" if reason == "submitted" else "finalize", now, client, {"reason": reason})
    attempt_scoring.score_attempt(session, attempt, papers.load(session, attempt.exam), now=now)
    return True


def finalize_overdue(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """The sweep: finalize every in-progress attempt past deadline + grace (idempotent, parallel-safe)."""
    candidates = session.execute(
        select(Attempt.id, Attempt.deadline, Exam.grace_seconds).join(Exam, Exam.id == Attempt.exam_id)
        .where(Attempt.state == "in_progress", Attempt.deadline < now).order_by(Attempt.deadline).limit(limit)).all()
    count = 0
    for attempt_id, deadline, grace in candidates:
        if not timing.is_overdue(deadline, timedelta(seconds=grace), now):
            continue
        attempt = session.get(Attempt, attempt_id)
        if finalize(session, attempt, now=now, reason="time_over"):
            count += 1
        session.commit()
    return count


def grant_time(session: Session, attempt: Attempt, *, seconds: int, reason: str, granted_by_id: int | None,
               now: datetime) -> TimeGrant:
    """Extra time for one attempt, logged with who and why; the page learns the new deadline at its next heartbeat."""
    if not reason.strip():
        raise AttemptError("reason_required", 422, "延时必须填写原因", "a reason is required")
    if not 0 < seconds <= 6 * 3600:
        raise AttemptError("invalid_request", 422, "延时应在 1 秒到 6 小时之间", "extra time must be 1 s to 6 h")
    grant = TimeGrant(exam_id=attempt.exam_id, attempt_id=attempt.id, seconds=seconds, scope="attempt",
                      reason=reason.strip(), granted_by_id=granted_by_id, granted_at=now)
    session.add(grant)
    attempt.extra_seconds += seconds
    attempt.deadline = attempt.deadline + timedelta(seconds=seconds)
    return grant


def practice_review(session: Session, attempt: Attempt) -> list[dict[str, Any]] | None:
    """Keys and explanations of a practice exam after it is finalized; None for a selection exam."""
    if attempt.exam.kind != "practice" or attempt.state != "finalized":
        return None
    paper = papers.load(session, attempt.exam)
    detail = (attempt.score_detail or {}).get("items", {})
    from app.domain import richtext

    review = []
    for ids in attempt.layout:
        for qid in ids:
            q = paper.questions[qid]
            answer = to_opaque(q.content, attempt.seed, q.content.get("answer")) if "answer" in q.content else None
            review.append({"id": qid, "answer": answer, "points": detail.get(str(qid), {}).get("points"),
                           "explanation_html": richtext.render(q.content.get("explanation", ""),
                                                               image_url=image_url_for(q.images))})
    return review
