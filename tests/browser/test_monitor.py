"""The live monitor in Chromium: filled by monitor.js from the JSON endpoint and updated without a reload."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.clock import utcnow
from app.commands.demo import DEMO_PASSWORD
from tests.browser.conftest import ui_login

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser


def _start(live_app, exam_title: str, exam_number: str) -> None:
    from app.extensions import db
    from app.models import Exam, User
    from app.services import attempts
    from app.services.attempts import Client

    with live_app.app_context():
        exam = db.session.scalar(select(Exam).where(Exam.title == exam_title))
        user = db.session.scalar(select(User).where(User.login_name == exam_number))
        attempts.accept_pledge(db.session, exam=exam, user=user, now=utcnow(), client=Client())
        attempts.start(db.session, exam=exam, user=user, now=utcnow(), client=Client())
        db.session.commit()


def test_monitor_updates_itself_without_a_reload(page, live_app, live_server):
    from app.extensions import db
    from app.models import StudentProfile
    from tests import exam_fixtures as fx
    from tests.factories import Factory

    with live_app.app_context():
        now = utcnow()
        fx.load_bank(db.session, now, subject="physics")
        exam = fx.make_exam(db.session, now, subject="physics", title="监控浏览器测试")
        factory = Factory(db.session, live_app.config)
        factory.student(subject="physics", exam_number="BRMON0001", name="乌云其其格")
        factory.student(subject="physics", exam_number="BRMON0002", name="巴特尔")
        db.session.commit()
        exam_id = exam.id
        assert db.session.scalar(select(StudentProfile).where(StudentProfile.exam_number == "BRMON0002")) is not None
    _start(live_app, "监控浏览器测试", "BRMON0001")
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    ui_login(page, live_server, "admin", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/admin/")
    page.goto(f"{live_server}/ops/monitor/{exam_id}")
    in_progress = page.locator('[data-total="in_progress"]')
    expect(in_progress).to_have_text("1")
    assert "乌云其其格" in page.locator("#monitor-students").inner_text()
    page.evaluate("window.__notReloaded = true")
    _start(live_app, "监控浏览器测试", "BRMON0002")
    expect(in_progress).to_have_text("2", timeout=20000)
    assert page.evaluate("window.__notReloaded") is True  # the same page, updated by polling
    assert in_progress.inner_text() == "2"
    assert not [e for e in errors if "Content Security Policy" in e]
    page.locator("[data-group=leagues] a").first.click()  # drill down into one league
    page.wait_for_url("**league=*")
    expect(page.locator('[data-total="total"]')).not_to_have_text("–")


def test_proctor_room_page_shows_each_seats_live_state(page, live_app, live_server):
    from app.extensions import db
    from app.models import School, StudentProfile, User
    from app.services import rooms
    from app.services.audit import Actor
    from tests import exam_fixtures as fx
    from tests.factories import Factory

    with live_app.app_context():
        now = utcnow()
        fx.load_bank(db.session, now, subject="physics")
        fx.make_exam(db.session, now, subject="physics", title="考场浏览器测试")
        school = db.session.scalar(select(School).where(School.league_code == "150200"))
        room = rooms.create_room(db.session, school, name="浏览器考场", seats=4, actor=Actor(None, "t"), now=now)
        profile = Factory(db.session, live_app.config).student(league_code="150200", subject="physics",
                                                               exam_number="BRROOM001", name="孟和巴雅尔", school=school)
        rooms.assign_seat(db.session, profile, room, 2, actor=Actor(None, "t"), now=now)
        proctor = db.session.scalar(select(User).where(User.login_name == "proctor1"))
        rooms.set_proctors(db.session, room, [proctor.id], actor=Actor(None, "t"), now=now)
        db.session.commit()
        room_id, student_id = room.id, profile.user_id
        assert db.session.get(StudentProfile, student_id).exam_number == "BRROOM001"
    _start(live_app, "考场浏览器测试", "BRROOM001")
    ui_login(page, live_server, "proctor1", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.click(f"a[href='/ops/rooms/{room_id}']")
    page.select_option("select[name=exam]", label="考场浏览器测试")
    page.click("form.filters button[type=submit]")
    expect(page.locator(f"[data-seat-status='{student_id}']")).to_contain_text("作答中")
