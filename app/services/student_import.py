"""Importing students from an XLSX or CSV file: check the whole file, dry run, then all or nothing.

Flow: ``check`` reads and validates the file against the database (nothing is written) and returns
a ``Plan``: the rows, every problem by row and field, the schools and rooms that would be created.
``enqueue`` queues the real import as a background job with the file sealed in its payload;
the job (``students.import``) checks again (the database may have changed since the dry run),
hashes the random initial passwords on all cores with progress (the slow part), then writes every
school, room, account, profile, seat and audit entry in one transaction: any failure leaves nothing.
The passwords go into a sealed ``CredentialBatch`` for the slips (see ``credentials``).
Progress reports commit the job row, so nothing of the import is written before the last phase.
"""
from __future__ import annotations

from base64 import b64decode, b64encode
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import student_file
from app.domain.student_file import FileRefused, Issue, ParseResult
from app.models import League, Room, School, SeatAssignment, StudentProfile, Subject, User
from app.services import audit, credentials, national_ids
from app.services.accounts import HashParams, new_session_token
from app.services.jobs import Progress, handler
from app.services.jobs import enqueue as enqueue_job
from app.services.sealed import SealExpired, seal, unseal
from app.services.students import IdKeys

JOB_KIND = "students.import"
FILE_LABEL = "student-import-file"
FILE_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Options:
    """How to read and number the file, and what the operator confirmed."""

    filename: str
    encoding: str | None = None
    pattern: str = student_file.DEFAULT_PATTERN
    year: int = 2026
    create_schools: bool = False
    league_scope: str | None = None  # a league admin's league


@dataclass
class Plan:
    """The outcome of a check: valid rows, every issue, and what an import would create."""

    parsed: ParseResult
    new_rooms: list[tuple[str, str, str, int]] = field(default_factory=list)  # league, school, room, seats
    seats: dict[int, tuple[str, str, str, int]] = field(default_factory=dict)  # file row -> league, school, room, seat
    error: FileRefused | None = None

    @property
    def issues(self) -> list[Issue]:
        return self.parsed.issues

    @property
    def ok(self) -> bool:
        return self.error is None and not self.parsed.issues

    def summary(self) -> dict[str, Any]:
        """Counts for the page and the CLI."""
        by_league: dict[str, int] = defaultdict(int)
        for row in self.parsed.rows:
            by_league[row.league_code] += 1
        return {"rows": self.parsed.total_rows, "valid": len(self.parsed.rows), "issues": len(self.parsed.issues),
                "new_schools": len(self.parsed.new_schools), "new_rooms": len(self.new_rooms),
                "generated_numbers": sum(1 for r in self.parsed.rows if r.generated_number),
                "by_league": dict(sorted(by_league.items())), "encoding": self.parsed.encoding}


def _reference(session: Session, options: Options) -> student_file.Reference:
    leagues, subjects = student_file.reference_maps(
        session.execute(select(League.code, League.name_zh, League.name_en)).all(),
        session.execute(select(Subject.code, Subject.name_zh, Subject.name_en)).all())
    return student_file.Reference(
        leagues=leagues, subjects=subjects,
        schools={(lc, name) for lc, name in session.execute(select(School.league_code, School.name))},
        taken_numbers=set(session.scalars(select(User.login_name))),
        year=options.year, pattern=options.pattern,
        allowed_leagues=frozenset({options.league_scope}) if options.league_scope else None)


def _rooms(session: Session) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(league, school, room) -> (room id, seats)."""
    rows = session.execute(select(School.league_code, School.name, Room.name, Room.id, Room.seats)
                           .join(Room, Room.school_id == School.id)).all()
    return {(lc, sn, rn): (rid, seats) for lc, sn, rn, rid, seats in rows}


def check(session: Session, data: bytes, options: Options, *, id_keys: IdKeys | None) -> Plan:
    """Read and validate the whole file against the database; writes nothing."""
    try:
        table, encoding = student_file.read_table(data, options.filename, options.encoding)
        if options.pattern != student_file.DEFAULT_PATTERN:
            student_file.check_pattern(options.pattern)
    except FileRefused as exc:
        return Plan(ParseResult(issues=[Issue(0, "file", exc.code, exc.zh, exc.en)]), error=exc)
    rooms = _rooms(session)
    taken_seats = {(room_id, seat) for room_id, seat in session.execute(select(SeatAssignment.room_id,
                                                                               SeatAssignment.seat))}

    def seat_taken(league: str, school: str, room: str, seat: int) -> bool:
        found = rooms.get((league, school, room))
        return found is not None and (found[0], seat) in taken_seats

    try:
        parsed = student_file.parse(table, _reference(session, options), seat_taken=seat_taken)
    except FileRefused as exc:
        return Plan(ParseResult(issues=[Issue(0, "file", exc.code, exc.zh, exc.en)]), error=exc)
    parsed.encoding = encoding
    plan = Plan(parsed)
    _check_national_ids(session, parsed, id_keys)
    _plan_seats(plan, rooms, taken_seats)
    if parsed.new_schools and not options.create_schools:
        names = "、".join(f"{school}（{league}）" for league, school in parsed.new_schools[:20])
        more = f" 等 {len(parsed.new_schools)} 所" if len(parsed.new_schools) > 20 else ""
        parsed.notes.append(f"将新建学校 / new schools: {names}{more}")
    return plan


def _check_national_ids(session: Session, parsed: ParseResult, id_keys: IdKeys | None) -> None:
    with_ids = [r for r in parsed.rows if r.national_id]
    if not with_ids:
        return
    if id_keys is None or not id_keys.hash_key or not id_keys.encryption_keys:
        for row in with_ids:
            parsed.issues.append(Issue(row.row, "national_id", "id_keys_missing", "未配置身份证号密钥，不能导入身份证号",
                                       "national ID keys are not configured; IDs cannot be imported"))
        return
    hashes = {national_ids.keyed_hash(r.national_id, id_keys.hash_key): r for r in with_ids}
    existing = set(session.scalars(select(StudentProfile.national_id_hash)
                                   .where(StudentProfile.national_id_hash.in_(list(hashes)))))
    for digest in existing:
        row = hashes[digest]
        parsed.issues.append(Issue(row.row, "national_id", "duplicate_id_in_db", "身份证号已被其他考生使用",
                                   "this national ID is already registered"))
    if existing:
        bad_rows = {hashes[d].row for d in existing}
        parsed.rows = [r for r in parsed.rows if r.row not in bad_rows]


def _plan_seats(plan: Plan, rooms: dict[tuple[str, str, str], tuple[int, int]], taken: set[tuple[int, int]]) -> None:
    """Give every row with a room a seat: the file's, else the next free one; new rooms get enough seats."""
    by_room: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in plan.parsed.rows:
        if row.room:
            by_room[(row.league_code, row.school, row.room)].append(row)
    for key, rows in sorted(by_room.items()):
        existing = rooms.get(key)
        used = {seat for (rid, seat) in taken if existing and rid == existing[0]}
        used |= {r.seat for r in rows if r.seat}
        capacity = existing[1] if existing else max([len(rows)] + [r.seat for r in rows if r.seat])
        free = (s for s in range(1, capacity + 1) if s not in used)
        for row in rows:
            if row.seat and existing and row.seat > capacity:
                plan.parsed.issues.append(Issue(row.row, "seat", "bad_seat", f"{row.room} 只有 {capacity} 个座位",
                                                f"room {row.room} has only {capacity} seats"))
                continue
            seat = row.seat or next(free, None)
            if seat is None:
                plan.parsed.issues.append(Issue(row.row, "room", "room_full", f"{row.room} 已满（{capacity} 个座位）",
                                                f"room {row.room} is full ({capacity} seats)"))
                continue
            plan.seats[row.row] = (*key, seat)
        if not existing:
            plan.new_rooms.append((*key, capacity))


def execute(session: Session, plan: Plan, options: Options, *, actor: audit.Actor, now: datetime,
            id_keys: IdKeys | None, hash_params: HashParams, secret_key: str, progress=None,
            ttl_hours: int = credentials.DEFAULT_TTL_HOURS) -> dict[str, Any]:
    """Write a checked plan, all or nothing (the caller commits); returns counts and the credential batch id.

    ``progress(done, total, message)`` is called only while hashing, before anything is written.
    """
    if not plan.ok:
        raise ImportRefused(plan)
    if plan.parsed.new_schools and not options.create_schools:
        raise ImportRefused(plan, new_schools=True)
    rows = plan.parsed.rows
    passwords = credentials.new_passwords(len(rows))
    total = len(rows)
    if progress:
        progress(0, total, f"正在生成 {total} 个初始密码 / hashing {total} initial passwords")
    hashes = credentials.hash_many(passwords, hash_params,
                                   (lambda done: progress(done, total, f"{done}/{total}")) if progress else None)
    if progress:
        progress(total, total, "正在写入数据库 / writing")
    schools = {(s.league_code, s.name): s for s in session.scalars(select(School))}
    created_schools = []
    for league, name in plan.parsed.new_schools:
        school = School(name=name, league_code=league)
        session.add(school)
        schools[(league, name)] = school
        created_schools.append(school)
    session.flush()
    for school in created_schools:
        audit.record(session, actor=actor, action="school.create", object_type="school", object_id=school.id, now=now,
                     league_code=school.league_code, after={"name": school.name}, reason="import")
    rooms = {k: v[0] for k, v in _rooms(session).items()}
    for league, school_name, room_name, seats in plan.new_rooms:
        room = Room(school_id=schools[(league, school_name)].id, name=room_name, seats=seats, location="")
        session.add(room)
        session.flush()
        rooms[(league, school_name, room_name)] = room.id
        audit.record(session, actor=actor, action="room.create", object_type="room", object_id=room.id, now=now,
                     league_code=league, after={"school": school_name, "name": room_name, "seats": seats},
                     reason="import")
    created: dict[int, str] = {}
    made: list[tuple[Any, User, str, Any]] = []
    for row, password, hashed in zip(rows, passwords, hashes):
        stored = national_ids.protect(row.national_id, keys=id_keys.encryption_keys, hash_key=id_keys.hash_key) \
            if row.national_id and id_keys else None
        user = User(login_name=row.exam_number, display_name=row.name, role="student", password_hash=hashed,
                    session_token=new_session_token(), is_active=True, created_at=now)
        user.student = StudentProfile(
            exam_number=row.exam_number, name=row.name, gender=row.gender, grade=row.grade,
            school=schools[(row.league_code, row.school)], league_code=row.league_code, subject_code=row.subject_code,
            national_id_encrypted=stored.encrypted if stored else None,
            national_id_hash=stored.keyed_hash if stored else None,
            national_id_masked=stored.masked if stored else None, extra_minutes=0)
        made.append((row, user, password, stored))
    # One flush for all accounts: SQLAlchemy batches the INSERTs (with RETURNING for the ids).
    session.add_all([user for _, user, _, _ in made])
    session.flush()
    for row, user, password, stored in made:
        if row.row in plan.seats:
            session.add(SeatAssignment(student_id=user.id, room_id=rooms[plan.seats[row.row][:3]],
                                       seat=plan.seats[row.row][3]))
        audit.record(session, actor=actor, action="student.create", object_type="student", object_id=user.id, now=now,
                     league_code=row.league_code, reason="import",
                     after={"exam_number": row.exam_number, "name": row.name, "school": row.school,
                            "subject": row.subject_code, "national_id": stored.masked if stored else None})
        created[user.id] = password
    session.flush()
    leagues = {r.league_code for r in rows}
    batch = credentials.create_batch(session, created, kind="import", created_by_id=actor.user_id,
                                     league_code=next(iter(leagues)) if len(leagues) == 1 else None, now=now,
                                     secret_key=secret_key, ttl_hours=ttl_hours)
    result = {"created": len(created), "schools_created": len(created_schools), "rooms_created": len(plan.new_rooms),
              "seats_assigned": len(plan.seats), "batch_id": batch.id, "expires_at": batch.expires_at.isoformat(),
              "filename": options.filename}
    audit.record(session, actor=actor, action="students.import", object_type="credential_batch", object_id=batch.id,
                 now=now, league_code=options.league_scope, after=result)
    return result


class ImportRefused(Exception):
    """The file has problems (or new schools were not confirmed): nothing was written."""

    def __init__(self, plan: Plan, new_schools: bool = False):
        self.plan = plan
        if new_schools:
            msg = (f"文件中有 {len(plan.parsed.new_schools)} 所新学校，请确认后再导入 / "
                   f"{len(plan.parsed.new_schools)} new school(s): confirm creating them")
        else:
            msg = (f"导入被拒绝：{len(plan.issues)} 处问题，未写入任何内容 / "
                   f"import refused: {len(plan.issues)} problem(s), nothing written")
        super().__init__(msg)


def enqueue(session: Session, data: bytes, options: Options, *, actor: audit.Actor, now: datetime,
            secret_key: str):
    """Queue the import as a job; the file travels sealed in the payload and is unreadable after a day."""
    payload = {"file": b64encode(seal(b64encode(data).decode(), secret_key=secret_key, label=FILE_LABEL)).decode(),
               "filename": options.filename, "encoding": options.encoding, "pattern": options.pattern,
               "year": options.year, "create_schools": options.create_schools, "league_scope": options.league_scope,
               "actor": {"id": actor.user_id, "label": actor.label, "ip": actor.source_ip}}
    return enqueue_job(session, JOB_KIND, payload, now=now, created_by_id=actor.user_id)


@handler(JOB_KIND)
def _run_job(session: Session, payload: dict[str, Any], progress: Progress, now: datetime) -> dict[str, Any]:
    """The background import: unseal the file, check it again, then import all or nothing."""
    from flask import current_app

    cfg = current_app.config
    try:
        data = b64decode(unseal(b64decode(payload["file"]), secret_key=cfg["SECRET_KEY"], label=FILE_LABEL,
                                ttl_seconds=FILE_TTL_SECONDS))
    except SealExpired:
        raise RuntimeError("上传的文件已过期，请重新上传 / the uploaded file expired; upload it again") from None
    options = Options(filename=payload["filename"], encoding=payload.get("encoding"), pattern=payload["pattern"],
                      year=int(payload["year"]), create_schools=bool(payload.get("create_schools")),
                      league_scope=payload.get("league_scope"))
    id_keys = IdKeys(cfg["ID_ENCRYPTION_KEYS"], cfg["ID_HASH_KEY"])
    progress(0, 1, "正在检查文件 / checking the file")
    plan = check(session, data, options, id_keys=id_keys)
    if not plan.ok:
        issues = "; ".join(f"row {i.row} {i.field}: {i.en}" for i in plan.issues[:10])
        raise RuntimeError(f"导入被拒绝：{len(plan.issues)} 处问题 / import refused: {len(plan.issues)} problem(s): {issues}")
    who = payload["actor"]
    return execute(session, plan, options, actor=audit.Actor(who["id"], who["label"], who["ip"]), now=now,
                   id_keys=id_keys, secret_key=cfg["SECRET_KEY"], progress=progress,
                   hash_params=HashParams(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]),
                   ttl_hours=int(cfg.get("SLIP_PASSWORD_TTL_HOURS", credentials.DEFAULT_TTL_HOURS)))


def count_students(session: Session, league_code: str | None = None) -> int:
    """How many students are registered (in a league)."""
    query = select(func.count()).select_from(StudentProfile)
    if league_code:
        query = query.where(StudentProfile.league_code == league_code)
    return session.scalar(query) or 0
