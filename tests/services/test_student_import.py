"""Student import against the database: checks, dry run, all or nothing, the job, the CLI, credentials."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.domain.national_id import check_digit
from app.models import AuditEntry, CredentialBatch, Job, Room, School, SeatAssignment, StudentProfile, User
from app.services import credentials, jobs, student_import
from app.services.accounts import HashParams
from app.services.audit import Actor
from app.services.passwords import verify_password
from app.services.students import IdKeys

CHEAP = HashParams(1, 1024, 1)
HEADER = ["准考证号", "姓名", "性别", "学校", "年级", "盟市", "学科", "身份证号", "考场", "座位号"]
NAMES = ["张晓彤", "巴特尔", "乌云其其格", "李明轩", "王思远", "其木格·娜仁", "刘子涵", "赵一鸣", "孟和巴雅尔", "陈雨桐"]


def nid(n: int) -> str:
    first = f"150102200901{n % 28 + 1:02d}{n % 1000:03d}"
    return first + check_digit(first)


def rows(n: int, *, school: str = "导入测试一中", league: str = "呼和浩特市", prefix: str = "IMP") -> list[list[str]]:
    return [[f"{prefix}{i:05d}", NAMES[i % len(NAMES)], "男" if i % 2 else "女", school, "高一", league,
             ["物理", "数学", "化学", "生物", "计算机"][i % 5], "", "", ""] for i in range(1, n + 1)]


def to_csv(table: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return out.getvalue().encode(encoding)


@pytest.fixture
def keys(app):
    return IdKeys(app.config["ID_ENCRYPTION_KEYS"], app.config["ID_HASH_KEY"])


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def run_import(session, app, data: bytes, now, keys, *, filename="s.csv", **opts):
    options = student_import.Options(filename=filename, create_schools=True, **opts)
    plan = student_import.check(session, data, options, id_keys=keys)
    if not plan.ok:
        return plan, None
    result = student_import.execute(session, plan, options, actor=Actor(None, "test"), now=now, id_keys=keys,
                                    hash_params=CHEAP, secret_key=app.config["SECRET_KEY"])
    return plan, result


def test_utf8_csv_imports_with_passwords_batch_seats_and_audit(db_session, app, now, keys):
    table = [HEADER] + rows(6)
    table[1][7] = nid(1)
    table[1][8], table[1][9] = "第1考场", "3"
    table[2][8] = "第1考场"
    plan, result = run_import(db_session, app, to_csv(table), now, keys)
    assert plan.ok and result["created"] == 6 and result["schools_created"] == 1 and result["rooms_created"] == 1
    profile = db_session.scalar(select(StudentProfile).where(StudentProfile.exam_number == "IMP00001"))
    assert profile.name == "巴特尔" and profile.national_id_masked.startswith("150102")
    seats = dict(db_session.execute(select(SeatAssignment.student_id, SeatAssignment.seat)).all())
    assert sorted(seats.values()) == [1, 3]
    batch = db_session.get(CredentialBatch, result["batch_id"])
    passwords = credentials.read_batch(db_session, batch, now=now, secret_key=app.config["SECRET_KEY"])
    assert verify_password(profile.user.password_hash, passwords[profile.user_id])
    assert b"IMP00001" not in batch.sealed and passwords[profile.user_id].encode() not in batch.sealed
    actions = set(db_session.scalars(select(AuditEntry.action)))
    assert {"students.import", "student.create", "school.create", "room.create"} <= actions
    # shown once
    assert credentials.reveal_once(db_session, batch, now=now, secret_key=app.config["SECRET_KEY"])
    assert credentials.reveal_once(db_session, batch, now=now, secret_key=app.config["SECRET_KEY"]) is None


def test_gbk_csv_is_detected_and_names_are_not_garbled(db_session, app, now, keys):
    plan, result = run_import(db_session, app, to_csv([HEADER] + rows(3), "gbk"), now, keys)
    assert plan.parsed.encoding == "gbk" and result["created"] == 3
    assert db_session.scalar(select(StudentProfile.name).where(StudentProfile.exam_number == "IMP00002")) == "乌云其其格"


def test_duplicates_in_database_exam_number_and_national_id(db_session, app, now, keys, make):
    make.student(exam_number="IMP00002", national_id=nid(7))
    table = [HEADER] + rows(3)
    table[3][7] = nid(7)
    plan = student_import.check(db_session, to_csv(table), student_import.Options("s.csv", create_schools=True),
                                id_keys=keys)
    found = {(i.row, i.field, i.code) for i in plan.issues}
    assert found == {(3, "exam_number", "duplicate_in_db"), (4, "national_id", "duplicate_id_in_db")}


def test_a_bad_row_in_the_middle_leaves_the_database_unchanged(db_session, app, now, keys):
    before = (count(db_session, User), count(db_session, School), count(db_session, AuditEntry))
    table = [HEADER] + rows(200)
    table[100][5] = "火星市"
    plan = student_import.check(db_session, to_csv(table), student_import.Options("s.csv", create_schools=True),
                                id_keys=keys)
    assert [(i.row, i.code) for i in plan.issues] == [(101, "unknown_league")]
    with pytest.raises(student_import.ImportRefused):
        student_import.execute(db_session, plan, student_import.Options("s.csv", create_schools=True),
                               actor=Actor(None, "t"), now=now, id_keys=keys, hash_params=CHEAP, secret_key="k")
    assert (count(db_session, User), count(db_session, School), count(db_session, AuditEntry)) == before


def test_a_failure_while_writing_rolls_back_everything(db_session, app, now, keys, make):
    """The database changed after the check (row 120's number taken): the whole import is undone."""
    before = count(db_session, User)
    table = [HEADER] + rows(150)
    options = student_import.Options("s.csv", create_schools=True)
    plan = student_import.check(db_session, to_csv(table), options, id_keys=keys)
    assert plan.ok
    make.student(exam_number="IMP00120")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        student_import.execute(db_session, plan, options, actor=Actor(None, "t"), now=now, id_keys=keys,
                               hash_params=CHEAP, secret_key="k")
    assert count(db_session, User) == before + 1
    assert db_session.scalar(select(School).where(School.name == "导入测试一中")) is None


def test_new_schools_need_confirmation(db_session, app, now, keys):
    options = student_import.Options("s.csv", create_schools=False)
    plan = student_import.check(db_session, to_csv([HEADER] + rows(2, school="未确认中学")), options, id_keys=keys)
    assert plan.ok and plan.parsed.new_schools == [("150100", "未确认中学")]
    with pytest.raises(student_import.ImportRefused):
        student_import.execute(db_session, plan, options, actor=Actor(None, "t"), now=now, id_keys=keys,
                               hash_params=CHEAP, secret_key="k")


def test_generated_numbers_follow_the_pattern(db_session, app, now, keys):
    table = [HEADER] + rows(3)
    for r in table[1:]:
        r[0] = ""
    _plan, _result = run_import(db_session, app, to_csv(table), now, keys, pattern="T{year}{league}{seq:03d}")
    numbers = sorted(db_session.scalars(select(StudentProfile.exam_number).where(StudentProfile.exam_number.like("T2026%"))))
    assert numbers == ["T2026150100001", "T2026150100002", "T2026150100003"]


def test_seat_conflicts_with_existing_rooms(db_session, app, now, keys):
    table = [HEADER] + rows(2)
    table[1][8], table[1][9] = "A", "1"
    run_import(db_session, app, to_csv(table), now, keys)
    again = [HEADER] + rows(2, prefix="NEW")
    again[1][8], again[1][9] = "A", "1"
    again[2][8], again[2][9] = "A", "9"
    plan = student_import.check(db_session, to_csv(again), student_import.Options("s.csv"), id_keys=keys)
    assert {(i.row, i.code) for i in plan.issues} == {(2, "seat_taken"), (3, "bad_seat")}
    assert db_session.scalar(select(Room.seats).where(Room.name == "A")) == 1


def test_league_admin_scope(db_session, app, now, keys):
    table = [HEADER] + rows(2) + rows(1, league="包头市", prefix="BT")
    plan = student_import.check(db_session, to_csv(table),
                                student_import.Options("s.csv", league_scope="150100", create_schools=True), id_keys=keys)
    assert [(i.row, i.code) for i in plan.issues] == [(4, "outside_scope")]


def test_the_background_job_imports_with_progress_and_fails_whole(db_session, app, now, keys):
    actor = Actor(None, "test")
    good = student_import.enqueue(db_session, to_csv([HEADER] + rows(30)), student_import.Options("s.csv", create_schools=True),
                                  actor=actor, now=now, secret_key=app.config["SECRET_KEY"])
    bad_table = [HEADER] + rows(30, prefix="BAD")
    bad_table[15][1] = ""
    bad = student_import.enqueue(db_session, to_csv(bad_table), student_import.Options("s.csv", create_schools=True),
                                 actor=actor, now=now, secret_key=app.config["SECRET_KEY"])
    assert b"IMP00001" not in str(good.payload).encode()  # the file is sealed in the payload
    with app.app_context():
        jobs.run(db_session, good, now=lambda: now)
        jobs.run(db_session, bad, now=lambda: now)
    good, bad = db_session.get(Job, good.id), db_session.get(Job, bad.id)
    assert good.state == "done" and good.result["created"] == 30 and good.progress_done == 30
    assert bad.state == "failed" and "row 16 name" in bad.error
    assert db_session.scalar(select(func.count()).select_from(User).where(User.login_name.like("BAD%"))) == 0


def test_cli_dry_run_refusal_and_import(runner, db_session, tmp_path):
    path = tmp_path / "students.csv"
    table = [HEADER] + rows(4, prefix="CLI")
    table[2][6] = "天文"
    path.write_bytes(to_csv(table, "gbk"))
    refused = runner.invoke(args=["students", "import", str(path), "--dry-run"])
    assert refused.exit_code == 1
    assert "第 3 行" in refused.output and "unknown_subject" in refused.output
    table[2][6] = "物理"
    path.write_bytes(to_csv(table, "gbk"))
    dry = runner.invoke(args=["students", "import", str(path), "--dry-run", "--create-schools"])
    assert dry.exit_code == 0, dry.output
    assert db_session.scalar(select(func.count()).select_from(User).where(User.login_name.like("CLI%"))) == 0
    unconfirmed = runner.invoke(args=["students", "import", str(path)])
    assert unconfirmed.exit_code == 1 and "--create-schools" in unconfirmed.output
    out = tmp_path / "passwords.csv"
    done = runner.invoke(args=["students", "import", str(path), "--create-schools", "--passwords-out", str(out)])
    assert done.exit_code == 0, done.output
    assert db_session.scalar(select(func.count()).select_from(User).where(User.login_name.like("CLI%"))) == 4
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 5 and lines[1].startswith("CLI0000")


def test_cli_template(runner, tmp_path):
    out = tmp_path / "t.xlsx"
    result = runner.invoke(args=["students", "template", str(out)])
    assert result.exit_code == 0 and out.read_bytes()[:2] == b"PK"


def test_cli_asks_for_the_encoding_it_cannot_tell(runner, tmp_path):
    path = tmp_path / "ascii-header.csv"
    path.write_bytes("name,school,league,subject\n乌云,一中,呼和浩特市,物理\n".encode("gbk"))
    asked = runner.invoke(args=["students", "import", str(path), "--dry-run"])
    assert asked.exit_code == 1 and "--encoding" in asked.output
    told = runner.invoke(args=["students", "import", str(path), "--dry-run", "--encoding", "gbk", "--create-schools"])
    assert told.exit_code == 0, told.output
