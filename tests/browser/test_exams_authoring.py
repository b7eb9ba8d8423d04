"""Exam authoring in Chromium: the availability check next to the sections, the subject's example
swapped in, saving, publishing with a confirmation, and the preview typeset by KaTeX without keys."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.commands.demo import DEMO_PASSWORD
from tests.browser.conftest import ui_login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def biology_bank(live_app):
    """The test bank (every type, canaries) as approved biology questions."""
    from app.clock import utcnow
    from app.extensions import db
    from tests import exam_fixtures as fx

    with live_app.app_context():
        fx.load_bank(db.session, utcnow() - timedelta(days=1), subject="biology")
        db.session.commit()


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_check_save_publish_and_preview(page, live_server, biology_bank):
    from tests.exam_fixtures import CANARY_EXPLANATION, CANARY_KEY_TEXT, CANARY_REFERENCE

    errors = _console_errors(page)
    ui_login(page, live_server, "teacher_biology", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.get_by_role("link", name="考试管理").click()
    page.get_by_role("link", name="新建考试").first.click()
    assert "type: single" in page.input_value("#sections-yaml")
    assert page.input_value("input[name=duration_minutes]") == "90"

    page.get_by_role("button", name="检查题量").click()
    page.wait_for_selector("#availability table")
    assert page.locator("#availability tr.cell").count() == 8  # one cell per type, each fully available
    assert page.locator("#availability tr.short").count() == 0
    assert "每一格的题量都够" in page.locator("#availability").inner_text()

    page.fill("#sections-yaml", "- name: 单选\n  blueprint:\n"
                                "    - {type: single, difficulty: [1, 5], count: 9}\n")
    page.get_by_role("button", name="检查题量").click()
    page.wait_for_selector("#availability tr.short")
    text = page.locator("#availability").inner_text()
    assert "需要 9 题，题库中只有 1 题" in text and "sections[1].blueprint" in text
    assert page.locator("select[name=tie_break_1] option[value='section:单选']").count() == 1

    page.fill("#sections-yaml", "- name: 单选与判断\n  blueprint:\n"
                                "    - {type: single, difficulty: [1, 5], count: 1}\n"
                                "    - {type: true_false, difficulty: [1, 5], count: 1}\n"
                                "- name: 填空\n  blueprint:\n"
                                "    - {type: fill_blank, difficulty: [1, 5], count: 1}\n")
    page.fill("input[name=title]", "浏览器测试：生物")
    page.fill("input[name=opens_at]", "2030-06-14T14:00")
    page.fill("input[name=closes_at]", "2030-06-14T16:00")
    page.get_by_role("button", name="保存为草稿").click()
    page.wait_for_selector(".flash-success")
    assert page.locator("#publish-ready").is_visible()
    assert "2030-06-14 14:00" in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="发布").click()
    page.wait_for_selector(".flash-success >> text=考试已发布")
    assert page.locator("tr.pinned-question").count() == 3

    page.get_by_role("link", name="以考生身份预览").click()
    page.wait_for_function("() => document.querySelectorAll('.katex').length > 0")
    assert page.locator(".question").count() == 3
    assert page.locator(".math-error").count() == 0
    content = page.content()
    assert not any(c in content for c in (CANARY_EXPLANATION, CANARY_KEY_TEXT, CANARY_REFERENCE))
    page.get_by_role("link", name="含答案与解析（仅教师）").click()
    page.wait_for_selector(".staff-answer")
    assert CANARY_KEY_TEXT in page.content()
    assert not [e for e in errors if "Content Security Policy" in e]


def test_changing_the_subject_swaps_in_its_example(page, live_server, biology_bank):
    ui_login(page, live_server, "admin", DEMO_PASSWORD)
    page.goto(f"{live_server}/exams/new?subject=math")
    before = page.input_value("#sections-yaml")
    page.select_option("select[name=subject]", "biology")
    page.wait_for_function("before => document.querySelector('#sections-yaml').value !== before", arg=before)
    assert "type: matching" in page.input_value("#sections-yaml")
    assert page.input_value("input[name=duration_minutes]") == "90"

    page.fill("#sections-yaml", "- name: 我自己写的\n  questions: [t-single]\n")
    page.select_option("select[name=subject]", "physics")
    page.wait_for_function("() => document.querySelector('input[name=duration_minutes]').value === '120'")
    assert "我自己写的" in page.input_value("#sections-yaml")  # what the author typed is kept
