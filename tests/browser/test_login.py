"""A user logs in through the real page in Chromium and sees the Chinese home page; English works."""
from __future__ import annotations

import pytest

from app.commands.demo import DEMO_PASSWORD
from tests.browser.conftest import ui_login

pytestmark = pytest.mark.browser


def test_student_logs_in_and_sees_chinese_home(page, live_server):
    ui_login(page, live_server, "2026150100001", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/exam/")
    assert page.locator("h1").inner_text() == "我的考试"
    assert "张晓彤" in page.content()
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_admin_switches_to_english(page, live_server):
    ui_login(page, live_server, "admin", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/admin/")
    assert page.locator("h1").inner_text() == "管理概览"
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Overview"
    page.reload()
    assert page.locator("h1").inner_text() == "Overview"  # remembered


def test_wrong_password_is_explained(page, live_server):
    ui_login(page, live_server, "admin", "not-the-password")
    assert "用户名/准考证号或密码错误" in page.content()


def test_no_csp_violations_on_login(page, live_server):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server}/login")
    page.wait_for_load_state("networkidle")
    assert not [e for e in errors if "Content Security Policy" in e]
