"""The role guides' screenshots (docs/guides/), taken in Chromium from the demo data.

For each role (student, teacher, proctor, league admin, provincial admin) the test logs in through the
real form and visits the pages the guide describes; every page is checked (HTTP 200, its heading and the
content the guide talks about) before it is photographed at 1280×800 in Chinese. By default the
pictures go to a temporary directory, so CI's browser stage checks the pages; `scripts/screenshots.sh`
sets GUIDE_SCREENSHOT_DIR=docs/guides/img to regenerate the committed pictures.

The data are the demo's (`flask demo`: schools, one account per role, the sample banks, the open exams)
plus what `flask demo --simulate N` and `flask analysis simulate` add (a scored, ranked and published
physics sitting; a practice sitting with ungraded short answers), and one exam room of live students.
The app runs on a database of its own, so the pictures never depend on other browser tests.
"""
from __future__ import annotations

import csv
import io
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser.conftest import free_port, serve, ui_login
from tests.browser.test_exam_page import wait_js

pytestmark = pytest.mark.browser

PASSWORD = "yingcai-demo-2026"
VIEWPORT = {"width": 1280, "height": 800}
ROOM_NAME = "第1考场"
LIVE_STUDENTS = [  # (name, state) seated after the demo student 2026150100001
    ("王思远", "in_progress"), ("乌云其其格", "in_progress"), ("李明轩", "stale"), ("陈雨桐", "not_started"),
    ("巴特尔", "absent"),
]
SIMULATED_PHYSICS, SIMULATED_MATH = 60, 80
SELECTION = {"cutoff": 30, "quota": 20, "reserve_count": 5, "min_150100": 3, "min_152900": 1}




def _seed(app) -> dict[str, Any]:
    """The demo, a simulated and published physics sitting, a practice sitting, a room of live students."""
    from app.clock import utcnow
    from app.commands import demo
    from app.extensions import db
    from app.models import Attempt, Exam, School, User
    from app.services import (
        analysis_demo,
        attempts,
        credentials,
        extensions,
        papers,
        publication,
        rankings,
        rooms,
        selection_service,
        simulation,
        students,
    )
    from app.services.accounts import HashParams
    from app.services.audit import Actor
    from app.services.passwords import hash_password

    cheap = HashParams(1, 1024, 1)
    session = db.session
    now = utcnow()
    actor = Actor(None, "guide-screenshots")
    client = attempts.Client("127.0.0.1", "guide-screenshots")
    id_keys = students.IdKeys(app.config["ID_ENCRYPTION_KEYS"], app.config["ID_HASH_KEY"])

    # flask demo
    schools = demo.ensure_schools(session)
    demo.ensure_accounts(session, schools, cheap)
    session.commit()
    _banks_and_exams(app, session)
    users = {u.login_name: u for u in session.scalars(select(User).where(User.role != "student"))}
    exams = {(e.subject_code, e.kind): e for e in session.scalars(select(Exam))}
    physics, practice, math = (exams[("physics", "selection")], exams[("physics", "practice")],
                               exams[("math", "selection")])

    # flask demo --simulate N: mathematics was sat before: graded, ranked, a fixed selection, published
    simulation.simulate(session, math, SIMULATED_MATH, now=now, password_hash=hash_password(PASSWORD, cheap.as_tuple()),
                        id_keys=id_keys, graders=[users["teacher_math"]], staff=users["admin"], actor=actor)
    rankings.compute(session, math, now=now, actor=actor)
    rules = selection_service.parse_rules(SELECTION, leagues=set(schools))
    selection_service.fix(session, math, rules, user_id=users["admin"].id, now=now, actor=actor)
    extensions.close_window(session, math, reason="数学考试结束", actor=actor, now=now)  # publish after the window
    publication.publish(session, math, user_id=users["admin"].id, now=now, actor=actor, public_list=False)
    session.commit()

    physics.opens_at = now - timedelta(minutes=40)  # the physics sitting began 40 minutes ago
    # flask analysis simulate: physics is being sat today (those who already handed in, short answers
    # waiting for the teachers), and a practice sitting with one planted wrong key for the item analysis
    analysis_demo.simulate_sitting(session, physics, SIMULATED_PHYSICS, now=now, id_keys=id_keys, hash_params=cheap,
                                   password=PASSWORD, actor=actor, wrong_key=False)
    analysis_demo.simulate_sitting(session, practice, SIMULATED_PHYSICS, now=now, id_keys=id_keys, hash_params=cheap,
                                   password=PASSWORD, actor=actor)
    session.commit()

    # One exam room of 呼和浩特第一中学 with live students, a proctor and a password batch
    school = schools["150100"][0]
    room = rooms.create_room(session, school, name=ROOM_NAME, seats=30, location="实验楼 3 层", actor=actor, now=now)
    first = session.scalar(select(User).where(User.login_name == "2026150100001"))
    rooms.assign_seat(session, first.student, room, 1, actor=actor, now=now)
    rooms.set_proctors(session, room, [users["proctor1"].id], actor=actor, now=now)
    paper = papers.load(session, physics)
    passwords = {}
    for i, (name, state) in enumerate(LIVE_STUDENTS, start=2):
        user = students.create_student(
            session, students.StudentInput(exam_number=f"2026150100{100 + i:03d}", name=name, school_id=school.id,
                                           subject_code="physics", gender="F" if i % 2 else "M", grade="高一"),
            password=PASSWORD, now=now, actor=actor, id_keys=id_keys, hash_params=cheap)
        rooms.assign_seat(session, user.student, room, i, actor=actor, now=now)
        passwords[user.id] = f"Yc-{i}47-q{i}m"
        if state == "absent":
            rooms.mark_attendance(session, physics, room, user.id, "absent", actor=actor, now=now)
        if state not in ("in_progress", "stale"):
            continue
        began = now - timedelta(minutes=35 if state == "stale" else 30)
        attempts.accept_pledge(session, exam=physics, user=user, now=began, client=client)
        attempt = attempts.start(session, exam=physics, user=user, now=began, client=client)
        page = attempts.open_page(session, attempt, now=began, client=client, include_questions=False)
        ids = [qid for section_ids in attempt.layout for qid in section_ids][:6 + i]
        for seq, qid in enumerate(ids, 1):
            value = simulation.answer(paper.questions[qid].content, 0.7, random.Random(seq * i))
            if value is not None:
                attempts.save(session, attempt_id=attempt.id, user=user, token=page["token"], seq=seq, question_id=qid,
                              answer=attempts.to_opaque(paper.questions[qid].content, attempt.seed, value),
                              now=began + timedelta(seconds=40 * seq))
        seen = began + timedelta(minutes=3) if state == "stale" else now
        attempts.heartbeat(session, attempt, token=page["token"], events=[{"kind": "blur", "at": seen.isoformat()}]
                           if state == "stale" else [], now=seen, client=client)
        rooms.mark_attendance(session, physics, room, user.id, "present", actor=actor, now=began)
    credentials.create_batch(session, passwords, kind="reset", created_by_id=users["admin"].id, league_code="150100",
                             now=now, secret_key=app.config["SECRET_KEY"])
    session.commit()

    top = session.scalar(select(Attempt).where(Attempt.exam_id == math.id, Attempt.state == "finalized")
                         .order_by(Attempt.score_total.desc(), Attempt.id).limit(1))
    return {"physics": physics.id, "practice": practice.id, "math": math.id, "room": room.id, "school": school.id,
            "school_name": school.name, "top_student": session.get(User, top.student_id).login_name,
            "question": _question_with_math(session), "other_school": session.scalar(
                select(School.id).where(School.league_code == "150200").order_by(School.id).limit(1))}


def _banks_and_exams(app, session) -> None:
    """What `flask demo` does for its banks and open exams, for physics and mathematics only."""
    from app.clock import utcnow
    from app.commands import demo
    from app.commands.bank import collect
    from app.commands.context import cli_actor
    from app.services import bank_import, exam_authoring

    root = Path(app.root_path).parent / "question_bank"
    for files in collect((str(root / "physics"), str(root / "math"))):
        parsed, name = bank_import.parse_files(files, subject=None)
        assert not parsed.issues
        bank_import.import_bank(session, parsed, actor=cli_actor(), author_id=None, now=utcnow(), approve=True,
                                format_name=name)
    session.commit()
    for subject, kind in (("physics", "selection"), ("physics", "practice"), ("math", "selection")):
        spec = demo.demo_exam_spec(session, subject, kind=kind, now=utcnow())
        exam_authoring.create_exam(session, spec, actor=cli_actor(), creator_id=None, now=utcnow())
    session.commit()


def _question_with_math(session) -> int:
    from app.models import Question

    return session.scalar(select(Question.id).where(Question.key == "phy-kin-003"))


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """The demo app on its own SQLite database, served on a port of 18700–18799; yields (base URL, ids)."""
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import test_config

    path = tmp_path_factory.mktemp("guide") / "guide.sqlite3"
    app = create_app(test_config(f"sqlite:///{path}", TESTING=False))
    with app.app_context():
        upgrade()
        ids = _seed(app)
    with serve(app, free_port(range(18700, 18800))) as base:  # this module's port range
        yield base, ids


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the pictures go: GUIDE_SCREENSHOT_DIR, or a temporary directory (CI)."""
    target = os.environ.get("GUIDE_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("guide-shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Camera:
    """One role's browser context: visits pages, checks them and takes the pictures."""

    def __init__(self, browser, base: str, folder: Path):
        self.context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10000)
        self.base, self.folder, self.taken = base, folder, []
        self.errors: list[str] = []
        # Script errors, CSP refusals and failed requests (the favicon aside) fail the page.
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text)
                     if msg.type == "error" and "Content Security Policy" in msg.text else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)

    def login(self, name: str, home: str) -> None:
        ui_login(self.page, self.base, name, PASSWORD)
        self.page.wait_for_url(f"{self.base}{home}")

    def visit(self, path: str, heading: str, *texts: str) -> None:
        """Open a page and check that it loaded: status 200, its h1, and the texts the guide relies on."""
        response = self.page.goto(f"{self.base}{path}")
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        self.check(heading, *texts)

    def check(self, heading: str, *texts: str) -> None:
        h1 = self.page.locator("h1").first.inner_text()
        assert heading in h1, f"{self.page.url}: heading {h1!r}, expected {heading!r}"
        body = self.page.locator("body").inner_text()
        for text in texts:
            assert text in body, f"{self.page.url}: {text!r} missing"

    def snap(self, name: str, at: str | None = None) -> None:
        """Photograph the viewport: the top of the page, or scrolled so that `at` is at the top."""
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        if at:
            self.page.locator(at).first.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 16)")
        else:
            self.page.evaluate("() => window.scrollTo(0, 0)")
        assert not self.errors, f"browser errors on {self.page.url}: {self.errors}"
        self.page.screenshot(path=str(self.folder / f"{name}.png"))
        self.taken.append(name)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def camera(browser, guide, shots):
    cams: list[Camera] = []

    def make() -> Camera:
        cams.append(Camera(browser, guide[0], shots))
        return cams[-1]

    yield make
    for cam in cams:
        cam.close()


def test_student_guide(camera, guide):
    base, ids = guide
    cam = camera()
    cam.page.goto(f"{base}/login")
    cam.page.fill("input[name=login_name]", "2026150100001")
    cam.page.fill("input[name=password]", PASSWORD)
    cam.check("登录", "准考证号")
    cam.snap("student-login")
    cam.page.click("#login-form button[type=submit]")
    cam.page.wait_for_url(f"{base}/exam/")
    cam.check("我的考试", "2026150100001", "2026 年物理学科潜质测试", "进入考场")
    cam.snap("student-my-exams")

    cam.page.goto(f"{base}/exam/{ids['physics']}")
    cam.page.check("#pledge-check")
    cam.page.click("#pledge-button")
    cam.page.locator("#pledge-done").wait_for(state="visible")
    cam.page.locator("#start-button").wait_for(state="visible")
    wait_js(cam.page, "document.querySelectorAll('#checks .check-ok').length === 4")
    cam.check("物理学科潜质测试", "设备检测", "诚信承诺与隐私说明", "已确认诚信承诺", "开始作答")
    cam.snap("student-lobby", at="#check-title")

    cam.page.click("#start-button")
    cam.page.wait_for_url("**/exam/attempt/*")
    wait_js(cam.page, "window.YCExam && window.YCExam.state.token")
    page = cam.page
    for _ in range(3):  # answer the first three (single choice) and flag the second
        page.locator(".q-slot:not([hidden]) input[type=radio]").first.check()
        if page.locator(".q-slot:not([hidden])").get_attribute("data-number") == "2":
            page.locator(".q-slot:not([hidden]) [data-flag]").check()
        page.locator(".q-slot:not([hidden]) [data-next]").click()
    wait_js(page, "Object.keys(window.YCExam.journal()).length === 0 && !window.YCExam.state.inflight")
    assert page.locator("#save-status").inner_text() == "已保存"
    assert page.locator("button.nav-item.answered").count() == 3
    assert page.locator("button.nav-item.flagged").count() == 1
    cam.snap("student-exam")

    cam.context.set_offline(True)  # the network drops: the answer waits in the browser's journal
    page.locator(".q-slot:not([hidden]) input[type=radio]").first.check()
    wait_js(page, "document.getElementById('save-status').dataset.state === 'offline'")
    assert "暂存在本机" in page.locator("#save-status").inner_text()
    cam.snap("student-offline")
    cam.context.set_offline(False)
    wait_js(page, "Object.keys(window.YCExam.journal()).length === 0 && !window.YCExam.state.inflight")

    page.click("#open-submit")
    page.locator("#submit-dialog").wait_for(state="visible")
    assert "已作答 4 题" in page.locator("#submit-summary").inner_text()
    assert "已标记待检查：第 2 题" in page.locator("#submit-list").inner_text()
    cam.snap("student-submit")
    page.click("#submit-cancel")

    other = camera()  # a simulated student of the published sitting
    other.login(ids["top_student"], "/exam/")
    other.visit(f"/results/my/{ids['math']}", "数学学科潜质测试", "总分", "全区排名", "入围情况", "成绩复核")
    other.snap("student-result")


def test_teacher_guide(camera, guide):
    ids = guide[1]
    cam = camera()
    cam.login("teacher_physics", "/home")
    cam.visit("/bank/?subject=physics", "题库", "新建试题", "导入", "导出", "phy-kin-001", "已通过")
    cam.snap("teacher-bank")
    cam.visit(f"/bank/{ids['question']}", "phy-kin-003", "考生看到的样子", "审核", "版本历史")
    wait_js(cam.page, "document.querySelector('.preview-box .katex')")
    cam.snap("teacher-question")
    cam.visit(f"/bank/{ids['question']}/edit", "编辑试题", "试题内容（YAML）", "预览（考生看到的样子）")
    wait_js(cam.page, "document.querySelector('#preview .katex')")
    cam.snap("teacher-editor")

    cam.visit("/bank/import", "导入题库", "原生 YAML", "Moodle XML", "GIFT", "Excel")
    gift = ("::phy-gift-001:: 自由落体运动的加速度约为多少？ {=9.8 m/s² ~4.9 m/s² ~19.6 m/s²}\n\n"
            "::phy-gift-002:: 光在真空中的传播速度约为 $3\\times10^8$ m/s。 {TRUE}\n")
    cam.page.set_input_files("#import-files", files=[{"name": "demo.gift", "mimeType": "text/plain",
                                                      "buffer": gift.encode("utf-8")}])
    cam.page.select_option("select[name=subject]", "physics")
    cam.page.click("form.import-form button[type=submit]")
    cam.check("导入题库", "试运行结果", "phy-gift-001")
    cam.snap("teacher-import")

    cam.visit(f"/exams/{ids['physics']}", "物理学科潜质测试", "以考生身份预览", "一、单项选择题")
    cam.snap("teacher-exam")
    cam.visit(f"/results/grading/{ids['physics']}", "阅卷", "开始评阅", "待一评")
    cam.page.locator("a.button", has_text="开始评阅").first.click()
    cam.check("物理学科潜质测试", "评分标准", "参考答案", "保存并评下一份")
    cam.snap("teacher-grading")
    cam.visit(f"/analysis/exams/{ids['practice']}", "试题分析", "总体情况", "需要注意的题目", "题目统计")
    cam.snap("teacher-analysis")


def test_proctor_guide(camera, guide):
    ids = guide[1]
    cam = camera()
    cam.login("proctor1", "/home")
    cam.check("我的考场", ROOM_NAME, "实时监控")
    cam.snap("proctor-home")
    cam.visit(f"/ops/rooms/{ids['room']}?exam={ids['physics']}", ROOM_NAME, "座位与考勤", "情况记录", "为本考场延时")
    seat = cam.page.locator("[data-seat-status]", has_text="作答中")
    seat.first.wait_for()
    row = cam.page.locator("tr", has_text="2026150100001")
    row.locator("button[value=present]").click()
    cam.page.wait_for_load_state()
    cam.page.fill("#note", "9:12 王思远所用电脑死机，已换到备用机 31 号继续作答，答案和时间未受影响。")
    cam.page.click("form[action$='/incidents'] button[type=submit]")
    cam.check(ROOM_NAME, "情况说明已记录", "备用机")
    cam.page.locator("[data-seat-status]", has_text="作答中").first.wait_for()
    cam.snap("proctor-room", at="#monitor-students")

    cam.visit(f"/ops/monitor/{ids['physics']}", "物理学科潜质测试", "延时", "一名考生（准考证号）")
    cam.page.locator("#monitor-students tbody tr").first.wait_for()
    cam.page.select_option("select[name=target]", "student")
    cam.page.fill("input[name=value]", "2026150100102")
    cam.page.fill("input[name=minutes]", "5")
    cam.page.fill("input[name=reason]", "电脑死机更换备用机，耽误约 5 分钟")
    cam.page.click("form[action$='/extend'] button[type=submit]")
    cam.check("物理学科潜质测试", "已为 1 份作答延时 5 分钟")
    cam.page.locator("#monitor-students tbody tr").first.wait_for()
    cam.snap("proctor-monitor")


def _students_csv() -> bytes:
    """A small import file for 呼和浩特市 with three mistakes (the check lists them by row)."""
    from app.domain.student_file import TEMPLATE_HEADERS

    rows = [list(TEMPLATE_HEADERS),
            ["", "张子涵", "女", "呼和浩特第一中学", "高一", "呼和浩特市", "物理", "", "第1考场", ""],
            ["", "其木格", "女", "呼和浩特第二中学", "高二", "呼和浩特市", "数学", "", "", ""],
            ["", "", "男", "呼和浩特实验中学", "高一", "呼和浩特市", "化学", "", "", ""],
            ["", "刘浩宇", "男", "呼和浩特第一中学", "高一", "呼和浩特市", "天文", "", "", ""],
            ["", "赵一诺", "女", "呼和浩特第二中学", "高一", "呼和浩特市", "生物", "150102200901011230", "", ""],
            ["", "孟和", "男", "呼和浩特实验中学", "高二", "呼和浩特市", "计算机", "", "", ""]]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def test_league_admin_guide(camera, guide):
    base, ids = guide
    cam = camera()
    cam.login("hohhot_admin", "/admin/")
    cam.check("管理概览", "导入考生", "学校与考场", "登录凭条", "实时监控")
    cam.snap("league-dashboard")
    cam.visit("/ops/import", "导入考生", "检查（试运行）", "检查并导入")
    cam.page.set_input_files("#file", files=[{"name": "students.csv", "mimeType": "text/csv",
                                             "buffer": _students_csv()}])
    cam.page.click("button[value=check]")
    cam.errors.remove(f"422 {base}/ops/import")  # a file with mistakes is answered 422, as it should
    cam.check("导入考生", "检查结果", "天文")
    cam.snap("league-import", at="form.stack")
    cam.visit(f"/ops/schools/{ids['school']}", ids["school_name"], ROOM_NAME, "自动安排座位", "重置密码并生成凭条")
    cam.snap("league-school")
    cam.visit(f"/ops/monitor/{ids['physics']}", "物理学科潜质测试", "按盟市", "重新开放已结束的作答")
    cam.page.locator("#monitor-students tbody tr").first.wait_for()
    assert cam.page.locator("select[name=league] option").count() == 2  # 全部 + their own league
    cam.snap("league-monitor")
    cam.visit(f"/results/exams/{ids['math']}", "数学学科潜质测试", "导出 Excel", "导出 CSV", "呼和浩特市")
    assert cam.page.locator("select[name=league]").is_disabled()  # their league only
    cam.snap("league-ranking")
    response = cam.page.goto(f"{base}/ops/schools/{ids['other_school']}")
    assert response is not None and response.status in (403, 404)  # another league's school


def test_provincial_admin_guide(camera, guide):
    ids = guide[1]
    cam = camera()
    cam.login("admin", "/admin/")
    cam.check("管理概览", "各盟市", "呼和浩特市", "锡林郭勒盟")
    cam.snap("admin-dashboard")
    cam.visit("/ops/slips", "登录凭条", "有效的密码批次")
    cam.page.locator("a", has_text="reset").first.click()
    cam.check("密码批次", "显示初始密码（仅一次）", "打印完毕，立即清除初始密码和凭条文件")
    cam.snap("admin-batch")
    cam.page.locator("a", has_text="打印").first.click()
    cam.page.locator(".slip").first.wait_for()
    assert cam.page.locator(".slip").count() == len(LIVE_STUDENTS)
    cam.snap("admin-slips")
    cam.visit(f"/ops/monitor/{ids['physics']}", "物理学科潜质测试", "整场考试", "重新开放")
    cam.page.locator("[data-group=leagues] tbody tr").nth(11).wait_for()
    cam.snap("admin-monitor")
    cam.visit("/results/", "成绩与排名", "数学学科潜质测试", "物理学科潜质测试", "第 1 版")
    cam.snap("admin-results")
    query = "&".join(f"{k}={v}" for k, v in SELECTION.items())
    cam.visit(f"/results/exams/{ids['math']}/selection?{query}&boundary_ties=admit_all", "入围", "预览：入围", "按此规则确定入围名单")
    cam.snap("admin-selection")
    cam.visit(f"/results/exams/{ids['math']}", "数学学科潜质测试", "发布", "SHA-256", "总排名")
    cam.snap("admin-ranking")
    cam.visit(f"/results/exams/{ids['math']}/verify", "校验已发布成绩", "校验通过")
    cam.snap("admin-verify")
