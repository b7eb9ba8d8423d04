"""The ops pages through the client: import, batches and slips, rooms, proctor page, monitor, extensions,
user management and the audit trail; scope rules; every audited action leaves an entry."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clock import utcnow
from app.models import Attempt, AuditEntry, CredentialBatch, Job, Room, User
from app.services import attempts, jobs, rooms
from app.services.attempts import Client
from app.services.audit import Actor
from tests import exam_fixtures as fx
from tests.conftest import csrf_token

A = Actor(None, "test")
HEADER = ["准考证号", "姓名", "性别", "学校", "年级", "盟市", "学科", "身份证号", "考场", "座位号"]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER] + rows)
    return out.getvalue().encode(encoding)


def student_rows(n, league="呼和浩特市", school="网页导入中学", prefix="WEB"):
    return [[f"{prefix}{i:04d}", "乌云其其格" if i == 1 else "李明轩", "女", school, "高一", league, "物理", "", "第1考场", ""]
            for i in range(1, n + 1)]


def post_import(client, data: bytes, *, action="check", filename="s.csv", **fields):
    form = {"csrf_token": csrf_token(client, "/ops/import"), "action": action, "file": (io.BytesIO(data), filename)}
    form.update(fields)
    return client.post("/ops/import", data=form, content_type="multipart/form-data")


def run_jobs(app, db_session):
    with app.app_context():
        for job in db_session.scalars(select(Job).where(Job.state == "queued").order_by(Job.id)).all():
            jobs.run(db_session, job, now=utcnow)


def test_import_page_dry_run_lists_bad_rows_and_changes_nothing(as_role, db_session):
    client, _ = as_role("admin")
    rows = student_rows(5)
    rows[2][5] = "火星市"
    rows[3][1] = ""
    before = db_session.scalar(select(func.count()).select_from(User))
    page = post_import(client, csv_bytes(rows), action="import", create_schools="1")
    text = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "未知盟市" in text and "unknown league" in text and "姓名不能为空" in text
    assert re.search(r'<td class="num">4</td>', text) and re.search(r'<td class="num">5</td>', text)
    assert db_session.scalar(select(func.count()).select_from(User)) == before
    assert db_session.scalar(select(func.count()).select_from(Job)) == 0


def test_import_asks_for_the_encoding_when_it_cannot_tell(as_role):
    client, _ = as_role("admin")
    data = "name,school,league,subject\n乌云,一中,呼和浩特市,物理\n".encode("gbk")
    page = post_import(client, data)
    assert page.status_code == 422 and "无法确定文件编码" in page.get_data(as_text=True)
    ok = post_import(client, data, encoding="gbk", create_schools="1")
    assert ok.status_code == 200 and "文件无误" in ok.get_data(as_text=True)


def test_import_job_then_batch_shows_passwords_once_then_slips_pdf(app, as_role, db_session):
    client, _admin = as_role("admin")
    page = post_import(client, csv_bytes(student_rows(4), "gbk"), action="import", create_schools="1")
    assert page.status_code == 302
    job_id = int(page.headers["Location"].rsplit("/", 1)[1])
    run_jobs(app, db_session)
    done = client.get(f"/ops/import/{job_id}").get_data(as_text=True)
    assert "已导入 4 名考生" in done
    batch_id = db_session.get(Job, job_id).result["batch_id"]
    assert "WEB0001" not in client.get(f"/ops/batches/{batch_id}").get_data(as_text=True)  # a GET never reveals
    token = csrf_token(client, f"/ops/batches/{batch_id}")
    first = client.post(f"/ops/batches/{batch_id}", data={"csrf_token": token}).get_data(as_text=True)
    assert "WEB0001" in first and "只显示这一次" in first
    again = client.post(f"/ops/batches/{batch_id}", data={"csrf_token": token}).get_data(as_text=True)
    assert "不再显示" in again
    room = db_session.scalar(select(Room).where(Room.name == "第1考场"))
    printed = client.get(f"/ops/slips/print?batch_id={batch_id}&room_id={room.id}")
    assert printed.status_code == 200 and "乌云其其格" in printed.get_data(as_text=True)
    assert "<script" not in printed.get_data(as_text=True)
    queued = client.post("/ops/slips", data={"csrf_token": csrf_token(client, "/ops/slips"), "mode": "batch",
                                             "batch_id": batch_id, "room_id": room.id})
    assert queued.status_code == 302
    run_jobs(app, db_session)
    slip_job = db_session.scalar(select(Job).where(Job.kind == "slips.generate"))
    assert slip_job.state == "done", slip_job.error
    pdf = client.get(f"/ops/slips/{slip_job.result['slip_file_id']}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Cache-Control"] == "no-store"
    purge = client.post(f"/ops/batches/{batch_id}/purge", data={"csrf_token": csrf_token(client, "/ops/slips")})
    assert purge.status_code == 302 and db_session.get(CredentialBatch, batch_id).sealed is None
    assert client.get(f"/ops/slips/{slip_job.result['slip_file_id']}.pdf").status_code == 302


def test_league_admin_scope_on_import_batches_rooms_and_users(app, as_role, make, db_session, now):
    client, _ = as_role("league_admin", league_code="150200")
    page = post_import(client, csv_bytes(student_rows(2)), create_schools="1")
    assert "您只能导入本盟市的考生" in page.get_data(as_text=True)
    hohhot_school = make.school("150100", "呼市某中")
    room = rooms.create_room(db_session, hohhot_school, name="X", seats=5, actor=A, now=now)
    other_student = make.student(league_code="150100")
    db_session.flush()
    assert client.get(f"/ops/schools/{hohhot_school.id}").status_code == 404
    assert client.get(f"/ops/rooms/{room.id}").status_code == 404
    assert client.get(f"/admin/users/{other_student.user_id}").status_code == 404
    token = csrf_token(client, "/ops/")
    assert client.post(f"/ops/users/{other_student.user_id}/password", data={"csrf_token": token}).status_code == 404
    assert "呼市某中" not in client.get("/ops/schools").get_data(as_text=True)


@pytest.fixture
def live_exam(db_session, make, now):
    """A physics exam open now with two rooms in two leagues and students in progress."""
    real_now = utcnow()
    fx.load_bank(db_session, real_now)
    exam = fx.make_exam(db_session, real_now)
    h_school, b_school = make.school("150100", "监控甲中"), make.school("150200", "监控乙中")
    room_h = rooms.create_room(db_session, h_school, name="甲1", seats=5, actor=A, now=real_now)
    room_b = rooms.create_room(db_session, b_school, name="乙1", seats=5, actor=A, now=real_now)
    people = []
    for school, room, number in ((h_school, room_h, "LIVEH01"), (h_school, room_h, "LIVEH02"), (b_school, room_b, "LIVEB01")):
        profile = make.student(school=school, league_code=school.league_code, exam_number=number)
        rooms.assign_seat(db_session, profile, room, None, actor=A, now=real_now)
        attempts.accept_pledge(db_session, exam=exam, user=profile.user, now=real_now, client=Client())
        attempts.start(db_session, exam=exam, user=profile.user, now=real_now, client=Client())
        people.append(profile)
    db_session.flush()
    return exam, {"h": room_h, "b": room_b}, people


def test_monitor_json_is_scoped_for_league_admins_and_proctors(as_role, live_exam, db_session, now):
    exam, room, _people = live_exam
    admin, _ = as_role("admin")
    assert admin.get(f"/ops/monitor/{exam.id}.json").json["totals"]["in_progress"] == 3
    page = admin.get(f"/ops/monitor/{exam.id}").get_data(as_text=True)
    assert "monitor.js" in page and "<script>" not in page
    league_admin, _ = as_role("league_admin", league_code="150200")
    data = league_admin.get(f"/ops/monitor/{exam.id}.json").json
    assert [s["exam_number"] for s in data["students"]] == ["LIVEB01"]
    assert league_admin.get(f"/ops/monitor/{exam.id}.json?league=150100").json["totals"]["total"] == 0
    proctor_client, proctor = as_role("proctor")
    rooms.set_proctors(db_session, room["h"], [proctor.id], actor=A, now=now)
    db_session.flush()
    data = proctor_client.get(f"/ops/monitor/{exam.id}.json").json
    assert sorted(s["exam_number"] for s in data["students"]) == ["LIVEH01", "LIVEH02"]
    assert proctor_client.get(f"/ops/rooms/{room['h'].id}?exam={exam.id}").status_code == 200
    assert proctor_client.get(f"/ops/rooms/{room['b'].id}").status_code == 404
    teacher, _ = as_role("teacher")
    assert teacher.get(f"/ops/monitor/{exam.id}.json").status_code == 403


def test_extending_a_room_from_the_monitor_reaches_the_students_heartbeat(app, as_role, live_exam, db_session):
    from tests.conftest import login
    from tests.factories import PASSWORD

    exam, room, people = live_exam
    student = app.test_client()
    assert login(student, people[0].exam_number, PASSWORD).status_code == 302
    attempt = db_session.scalar(select(Attempt).where(Attempt.student_id == people[0].user_id))
    token = csrf_token(student, "/home")
    before = student.post(f"/api/attempts/{attempt.id}/heartbeat", json={}, headers={"X-CSRFToken": token}).json
    admin, _ = as_role("admin")
    response = admin.post(f"/ops/monitor/{exam.id}/extend", data={
        "csrf_token": csrf_token(admin, f"/ops/monitor/{exam.id}"), "target": "room", "value": str(room["h"].id),
        "minutes": "15", "reason": "甲1 停电 15 分钟"})
    assert response.status_code == 302
    after = student.post(f"/api/attempts/{attempt.id}/heartbeat", json={}, headers={"X-CSRFToken": token}).json
    from datetime import datetime

    moved = datetime.fromisoformat(after["deadline"]) - datetime.fromisoformat(before["deadline"])
    assert moved == timedelta(minutes=15)
    other = db_session.scalar(select(Attempt).where(Attempt.student_id == people[2].user_id))
    assert other.extra_seconds == 0
    missing_reason = admin.post(f"/ops/monitor/{exam.id}/extend", data={
        "csrf_token": csrf_token(admin, f"/ops/monitor/{exam.id}"), "target": "exam", "minutes": "5", "reason": ""})
    assert missing_reason.status_code == 302
    assert "必须填写原因" in admin.get(f"/ops/monitor/{exam.id}").get_data(as_text=True)


def test_proctor_takes_attendance_and_notes_incidents(as_role, live_exam, db_session, now):
    exam, room, people = live_exam
    client, proctor = as_role("proctor")
    rooms.set_proctors(db_session, room["h"], [proctor.id], actor=A, now=now)
    db_session.flush()
    token = csrf_token(client, f"/ops/rooms/{room['h'].id}?exam={exam.id}")
    ok = client.post(f"/ops/rooms/{room['h'].id}/attendance", data={"csrf_token": token, "exam": exam.id,
                                                                  "student_id": people[1].user_id, "status": "absent"})
    assert ok.status_code == 302
    client.post(f"/ops/rooms/{room['h'].id}/incidents", data={"csrf_token": token, "exam": exam.id, "text": "<b>键盘</b>故障"})
    page = client.get(f"/ops/rooms/{room['h'].id}?exam={exam.id}").get_data(as_text=True)
    assert "&lt;b&gt;键盘&lt;/b&gt;故障" in page
    other_room = client.post(f"/ops/rooms/{room['b'].id}/attendance", data={"csrf_token": token, "exam": exam.id,
                                                                          "student_id": people[2].user_id, "status": "absent"})
    assert other_room.status_code == 404
    assert client.post(f"/ops/rooms/{room['h'].id}/edit", data={"csrf_token": token, "name": "x", "seats": "3"}).status_code == 403


def test_user_management_reset_once_disable_and_assignments(as_role, make, db_session, now):
    client, admin = as_role("admin")
    student = make.student()
    token = csrf_token(client, "/admin/users")
    page = client.post(f"/ops/users/{student.user_id}/password", data={"csrf_token": token})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    password = re.search(r'<p class="mono" style="font-size:1.6rem">([a-z0-9]+)</p>', page.get_data(as_text=True)).group(1)
    from app.services.passwords import verify_password

    db_session.expire_all()
    assert verify_password(db_session.get(User, student.user_id).password_hash, password)
    client.post(f"/admin/users/{student.user_id}/manage", data={"csrf_token": token, "action": "disable"})
    db_session.expire_all()
    assert db_session.get(User, student.user_id).is_active is False
    teacher = make.user(role="teacher")
    client.post(f"/admin/users/{teacher.id}/manage", data={"csrf_token": token, "action": "subjects", "subject": ["math", "cs"]})
    db_session.expire_all()
    assert db_session.get(User, teacher.id).subject_codes == {"math", "cs"}
    client.post(f"/admin/users/{teacher.id}/manage", data={"csrf_token": token, "action": "league_admin", "league": "150400"})
    db_session.expire_all()
    assert (teacher.role, teacher.league_code) == ("league_admin", "150400")
    proctor = make.user(role="proctor")
    school = make.school("150100")
    room = rooms.create_room(db_session, school, name="R", seats=3, actor=A, now=now)
    client.post(f"/admin/users/{proctor.id}/manage", data={"csrf_token": token, "action": "rooms", "room": [str(room.id)]})
    assert rooms.proctor_room_ids(db_session, proctor.id) == [room.id]
    listing = client.get("/admin/users?role=student&active=0").get_data(as_text=True)
    assert student.exam_number in listing
    own = client.post(f"/admin/users/{admin.id}/manage", data={"csrf_token": token, "action": "disable"})
    assert own.status_code == 302 and db_session.get(User, admin.id).is_active


def test_audit_trail_search_and_export_are_read_only(as_role, db_session, now):
    from app.services import audit

    audit.record(db_session, actor=Actor(None, "alice"), action="exam.extend", object_type="exam", object_id=7,
                 reason="=HYPERLINK(\"x\")", now=now, league_code="150100")
    audit.record(db_session, actor=Actor(None, "bob"), action="student.create", object_type="student", object_id=8,
                 now=now, league_code="150200")
    db_session.flush()
    client, _ = as_role("admin")
    page = client.get("/admin/audit?who=alice").get_data(as_text=True)
    assert ">exam.extend<" in page and ">student.create<" not in page
    assert ">exam.extend<" not in client.get("/admin/audit?object_type=student").get_data(as_text=True)
    assert ">exam.extend<" in client.get("/admin/audit?object_type=exam&object_id=7&from=2026-06-14&to=2026-06-14").get_data(as_text=True)
    assert ">exam.extend<" not in client.get("/admin/audit?action=exam&from=2026-06-15").get_data(as_text=True)
    export = client.get("/admin/audit.csv?who=alice")
    text = export.get_data(as_text=True)
    assert export.status_code == 200 and text.startswith("\ufeff") and "'=HYPERLINK" in text and "bob" not in text
    league, _ = as_role("league_admin", league_code="150200")
    assert "alice" not in league.get("/admin/audit.csv").get_data(as_text=True)
    for method in ("post", "put", "delete"):
        assert getattr(client, method)("/admin/audit").status_code == 405


# --- every audited action leaves an entry (a generated list) --------------------------------------------

def _setup_room(db_session, make, now):
    school = make.school("150100", "审计中学")
    room = rooms.create_room(db_session, school, name="审计考场", seats=5, actor=A, now=now)
    return school, room


ACTIONS = {
    "room.create": lambda c, t, ctx: c.post(f"/ops/schools/{ctx['school'].id}", data={"csrf_token": t, "name": "新考场", "seats": "10"}),
    "room.update": lambda c, t, ctx: c.post(f"/ops/rooms/{ctx['room'].id}/edit", data={"csrf_token": t, "name": "改名", "seats": "6"}),
    "seat.assign": lambda c, t, ctx: c.post(f"/ops/rooms/{ctx['room'].id}/seat", data={"csrf_token": t, "exam_number": ctx["student"].exam_number}),
    "seat.auto_assign": lambda c, t, ctx: c.post(f"/ops/schools/{ctx['school'].id}/auto-assign", data={"csrf_token": t}),
    "room.proctors": lambda c, t, ctx: c.post(f"/ops/rooms/{ctx['room'].id}/proctors", data={"csrf_token": t, "proctors": ctx["proctor"].login_name}),
    "user.password_reset": lambda c, t, ctx: c.post(f"/ops/users/{ctx['student'].user_id}/password", data={"csrf_token": t}),
    "user.disable": lambda c, t, ctx: c.post(f"/admin/users/{ctx['student'].user_id}/manage", data={"csrf_token": t, "action": "disable"}),
    "user.subjects": lambda c, t, ctx: c.post(f"/admin/users/{ctx['teacher'].id}/manage", data={"csrf_token": t, "action": "subjects", "subject": "math"}),
    "user.rooms": lambda c, t, ctx: c.post(f"/admin/users/{ctx['proctor'].id}/manage", data={"csrf_token": t, "action": "rooms", "room": str(ctx["room"].id)}),
    "audit.export": lambda c, t, ctx: c.get("/admin/audit.csv"),
    "students.import": lambda c, t, ctx: (post_import(c, csv_bytes(student_rows(1, school="审计中学", prefix="AUD")), action="import"),
                                          run_jobs(ctx["app"], ctx["db"])),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_audited_action_leaves_an_entry(app, as_role, make, db_session, now, action):
    client, admin = as_role("admin")
    school, room = _setup_room(db_session, make, now)
    ctx = {"school": school, "room": room, "student": make.student(school=school), "proctor": make.user(role="proctor"),
           "teacher": make.user(role="teacher"), "app": app, "db": db_session}
    db_session.flush()
    before = db_session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action,
                                                                                  AuditEntry.actor_id == admin.id))
    ACTIONS[action](client, csrf_token(client, "/ops/"), ctx)
    after = db_session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action,
                                                                                 AuditEntry.actor_id == admin.id))
    assert after == before + 1, action


def test_proctor_home_and_admin_dashboard_link_to_exam_day_pages(as_role, db_session, make, now):
    client, proctor = as_role("proctor")
    school = make.school("150100", "链接测试中学")
    room = rooms.create_room(db_session, school, name="链接考场", seats=3, actor=A, now=now)
    rooms.set_proctors(db_session, room, [proctor.id], actor=A, now=now)
    db_session.flush()
    home = client.get("/home").get_data(as_text=True)
    assert f"/ops/rooms/{room.id}" in home and "链接考场" in home
    admin, _ = as_role("admin")
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert "/ops/import" in dashboard and "/ops/monitor" in dashboard


EXAM_ACTIONS = {
    "exam.extend": lambda c, t, x: c.post(f"/ops/monitor/{x['exam'].id}/extend", data={
        "csrf_token": t, "target": "student", "value": x["people"][0].exam_number, "minutes": "5", "reason": "死机"}),
    "attempt.reopen": lambda c, t, x: (x["finish"](), c.post(f"/ops/monitor/{x['exam'].id}/reopen", data={
        "csrf_token": t, "exam_number": x["people"][0].exam_number, "minutes": "5", "reason": "误交卷"})),
    "exam.close": lambda c, t, x: c.post(f"/ops/monitor/{x['exam'].id}/close", data={
        "csrf_token": t, "reason": "全区考试结束"}),
    "attendance.mark": lambda c, t, x: c.post(f"/ops/rooms/{x['room']['h'].id}/attendance", data={
        "csrf_token": t, "exam": x["exam"].id, "student_id": x["people"][0].user_id, "status": "present"}),
    "incident.note": lambda c, t, x: c.post(f"/ops/rooms/{x['room']['h'].id}/incidents", data={
        "csrf_token": t, "exam": x["exam"].id, "text": "网络中断 3 分钟"}),
    "user.enable": lambda c, t, x: (x["disable"](), c.post(f"/admin/users/{x['people'][0].user_id}/manage", data={
        "csrf_token": t, "action": "enable"})),
    "user.role": lambda c, t, x: c.post(f"/admin/users/{x['teacher'].id}/manage", data={
        "csrf_token": t, "action": "league_admin", "league": "150300"}),
}


@pytest.mark.parametrize("action", sorted(EXAM_ACTIONS))
def test_each_audited_exam_day_action_leaves_an_entry(as_role, make, db_session, live_exam, action):
    exam, room, people = live_exam
    client, admin = as_role("admin")

    def finish():
        attempt = db_session.scalar(select(Attempt).where(Attempt.student_id == people[0].user_id))
        attempts.submit(db_session, attempt, token=None, now=utcnow(), client=Client())
        db_session.flush()

    def disable():
        db_session.get(User, people[0].user_id).is_active = False
        db_session.flush()

    ctx = {"exam": exam, "room": room, "people": people, "teacher": make.user(role="teacher"), "finish": finish,
           "disable": disable}
    db_session.flush()

    def count() -> int:
        return db_session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.actor_id == admin.id))

    before = count()
    EXAM_ACTIONS[action](client, csrf_token(client, "/ops/"), ctx)
    assert count() == before + 1, action


def test_slip_and_credential_actions_are_audited(app, as_role, db_session):
    client, admin = as_role("admin")
    post_import(client, csv_bytes(student_rows(2, prefix="AUS")), action="import", create_schools="1")
    run_jobs(app, db_session)
    batch_id = db_session.scalar(select(CredentialBatch.id).order_by(CredentialBatch.id.desc()))
    room = db_session.scalar(select(Room).where(Room.name == "第1考场"))
    client.post(f"/ops/batches/{batch_id}", data={"csrf_token": csrf_token(client, f"/ops/batches/{batch_id}")})
    client.get(f"/ops/slips/print?batch_id={batch_id}&room_id={room.id}")
    client.post("/ops/slips", data={"csrf_token": csrf_token(client, "/ops/slips"), "mode": "batch", "batch_id": batch_id,
                                    "room_id": room.id})
    run_jobs(app, db_session)
    file_id = db_session.scalar(select(Job).where(Job.kind == "slips.generate")).result["slip_file_id"]
    client.get(f"/ops/slips/{file_id}.pdf")
    client.post(f"/ops/batches/{batch_id}/purge", data={"csrf_token": csrf_token(client, "/ops/slips")})
    actions = set(db_session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)))
    assert {"students.import", "credentials.reveal", "slips.print_view", "slips.generate", "slips.download",
            "credentials.purge"} <= actions


def test_only_the_provincial_office_closes_an_exam(as_role, live_exam, db_session):
    exam, _, _ = live_exam
    league_admin, _ = as_role("league_admin")
    token = csrf_token(league_admin, "/home")
    assert league_admin.post(f"/ops/monitor/{exam.id}/close", data={"csrf_token": token, "reason": "x"}).status_code == 403
    admin, _ = as_role("admin")
    page = admin.get(f"/ops/monitor/{exam.id}").get_data(as_text=True)
    assert f"/ops/monitor/{exam.id}/close" in page
    response = admin.post(f"/ops/monitor/{exam.id}/close", data={
        "csrf_token": csrf_token(admin, f"/ops/monitor/{exam.id}"), "reason": "全区考试结束"})
    assert response.status_code == 302
    db_session.refresh(exam)
    assert "考试已结束" in admin.get(f"/ops/monitor/{exam.id}").get_data(as_text=True)
