"""The exam page in Chromium: keyboard-only at 200% zoom, reload, offline journal, deadline, clock, tabs, leaks."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.models import Attempt, Response
from tests import exam_fixtures as fx
from tests.browser.conftest import ui_login

pytestmark = pytest.mark.browser
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def exams(live_app):
    """A selection exam over every item type (open now), stored in the live server's database."""
    with live_app.app_context():
        now = utcnow()
        fx.load_bank(db.session, now - timedelta(days=1))
        exam = fx.make_exam(db.session, now)
        db.session.commit()
        return {"selection": exam.id}


def new_student(live_app, exam_id=None, pledge=True):
    """A fresh physics student (so tests never share an attempt), optionally with the pledge accepted."""
    from app.models import Exam
    from app.services import attempts
    from tests import factories

    with live_app.app_context():
        profile = factories.Factory(db.session, live_app.config).student(
            subject="physics", exam_number=f"2026990{next(_seq):05d}")
        if exam_id and pledge:
            attempts.accept_pledge(db.session, exam=db.session.get(Exam, exam_id), user=profile.user, now=utcnow(),
                                   client=attempts.Client())
        db.session.commit()
        return profile.exam_number


def start_exam(page, base, exam_id):
    page.goto(f"{base}/exam/{exam_id}")
    page.locator("#start-button").wait_for(state="visible", timeout=15000)
    page.click("#start-button")
    page.wait_for_url("**/exam/attempt/*")
    wait_js(page, "window.YCExam && window.YCExam.state.token")
    return int(page.url.rstrip("/").split("/")[-1])


def wait_js(page, expression, timeout=15000):
    """Poll a JS expression until it is truthy (wait_for_function would need 'unsafe-eval' under our CSP)."""
    import time

    end = time.monotonic() + timeout / 1000
    while time.monotonic() < end:
        if page.evaluate(f"() => !!({expression})"):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {expression}")


def saved_values(live_app, attempt_id):
    with live_app.app_context():
        rows = db.session.scalars(select(Response).where(Response.attempt_id == attempt_id)).all()
        return {r.exam_question_id: r.value for r in rows}


def wait_saved(page):
    wait_js(page, "Object.keys(window.YCExam.journal()).length === 0 && !window.YCExam.state.inflight")


def current_type(page):
    return page.locator(".q-slot:not([hidden]) > .question").get_attribute("data-type")


def tab_to(page, predicate_js, limit=60):
    """Press Tab until document.activeElement satisfies predicate_js (a JS expression over `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate_js}); }})()"):
            return
    raise AssertionError(f"could not reach {predicate_js} with Tab")


VISIBLE = "el.closest('.q-slot') && !el.closest('.q-slot').hidden"


def answer_current_with_keyboard(page):
    qtype = current_type(page)
    if qtype in ("single", "true_false"):
        tab_to(page, f"el.type === 'radio' && {VISIBLE}")
        page.keyboard.press("Space")
    elif qtype == "multiple":
        tab_to(page, f"el.type === 'checkbox' && !el.dataset.flag && {VISIBLE}")
        page.keyboard.press("Space")
    elif qtype == "fill_blank":
        tab_to(page, f"el.dataset.blank && el.tagName === 'INPUT' && {VISIBLE}")
        page.keyboard.type("19.6")
        page.keyboard.press("Tab")
        page.keyboard.type("铁球")
    elif qtype == "ordering":
        tab_to(page, f"el.dataset.move === 'down' && {VISIBLE}")
        page.keyboard.press("Enter")
    elif qtype == "matching":
        tab_to(page, f"el.tagName === 'SELECT' && {VISIBLE}")
        page.keyboard.press("ArrowDown")
    elif qtype == "short_answer":
        tab_to(page, f"el.tagName === 'TEXTAREA' && {VISIBLE}")
        page.keyboard.type("惯性是物体保持原有运动状态的性质。")
    elif qtype == "group":
        tab_to(page, f"el.type === 'radio' && {VISIBLE}")
        page.keyboard.press("Space")
    return qtype


def test_keyboard_only_at_200_percent_zoom(browser, live_server, live_app, exams):
    exam_id = exams["selection"]
    number = new_student(live_app, exam_id)
    context = browser.new_context(locale="zh-CN", viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(15000)
    ui_login(page, live_server, number, "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    types = []
    total = page.locator(".q-slot").count()
    for i in range(total):
        types.append(answer_current_with_keyboard(page))
        if i < total - 1:
            tab_to(page, f"el.hasAttribute('data-next') && {VISIBLE}")
            page.keyboard.press("Enter")
    assert set(types) == {"single", "multiple", "true_false", "fill_blank", "ordering", "matching", "short_answer", "group"}
    wait_saved(page)
    assert len(saved_values(live_app, attempt_id)) == total
    tab_to(page, "el.id === 'open-submit'")
    page.keyboard.press("Enter")
    page.locator("#submit-dialog").wait_for(state="visible")
    tab_to(page, "el.id === 'submit-confirm'", limit=5)
    page.keyboard.press("Enter")
    page.wait_for_url("**/done")
    assert "已交卷" in page.content()
    context.close()


def test_reload_keeps_answers_and_time(page, live_server, live_app, exams):
    exam_id = exams["selection"]
    ui_login(page, live_server, new_student(live_app, exam_id), "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    answer_current_with_keyboard(page)
    wait_saved(page)
    before = page.evaluate("window.YCExam.state.deadlineMono - performance.now()")
    page.reload()
    wait_js(page, "window.YCExam && window.YCExam.state.token")
    after = page.evaluate("window.YCExam.state.deadlineMono - performance.now()")
    assert abs(before - after) < 5000
    assert page.locator(".nav-item.answered[data-goto]").count() == 1
    assert len(saved_values(live_app, attempt_id)) == 1


def test_offline_answers_are_journalled_and_replayed_in_order(browser, live_server, live_app, exams):
    exam_id = exams["selection"]
    number = new_student(live_app, exam_id)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    ui_login(page, live_server, number, "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    context.set_offline(True)
    for _ in range(3):
        answer_current_with_keyboard(page)
        page.click(".q-slot:not([hidden]) [data-next]")
    wait_js(page, "Object.keys(window.YCExam.journal()).length === 3")
    assert "网络断开" in page.locator("#save-status").inner_text() or "等待保存" in page.locator("#save-status").inner_text()
    # Close the page without running beforeunload handlers (as a crash or power cut would).
    page.close(run_before_unload=False)
    assert saved_values(live_app, attempt_id) == {}
    context.set_offline(False)
    page = context.new_page()
    page.goto(f"{live_server}/exam/attempt/{attempt_id}")
    wait_js(page, "window.YCExam && window.YCExam.state.token")
    wait_saved(page)
    stored = saved_values(live_app, attempt_id)
    assert len(stored) == 3
    with live_app.app_context():
        seqs = [r.seq for r in db.session.scalars(select(Response).where(Response.attempt_id == attempt_id)
                                                  .order_by(Response.seq))]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    context.close()


def test_second_tab_makes_the_first_stale(browser, live_server, live_app, exams):
    exam_id = exams["selection"]
    number = new_student(live_app, exam_id)
    context = browser.new_context(locale="zh-CN")
    first = context.new_page()
    ui_login(first, live_server, number, "correct-horse-42")
    attempt_id = start_exam(first, live_server, exam_id)
    second = context.new_page()
    second.goto(f"{live_server}/exam/attempt/{attempt_id}")
    wait_js(second, "window.YCExam && window.YCExam.state.token")
    answer_current_with_keyboard(second)
    wait_saved(second)
    newer = saved_values(live_app, attempt_id)
    answer_current_with_keyboard(first)  # the old tab tries to write
    first.locator("#banner").wait_for(state="visible")
    assert "最新打开的窗口" in first.locator("#banner").inner_text()
    assert saved_values(live_app, attempt_id) == newer  # nothing newer was overwritten
    context.close()


def test_clock_moved_an_hour_changes_nothing(page, live_server, live_app, exams):
    exam_id = exams["selection"]
    ui_login(page, live_server, new_student(live_app, exam_id), "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    before = page.locator("#timer").inner_text()
    page.clock.set_system_time(utcnow() + timedelta(hours=1))
    page.wait_for_timeout(1500)
    after = page.locator("#timer").inner_text()
    minutes = lambda t: int(t.split(":")[-2])
    assert abs(minutes(before) - minutes(after)) <= 1
    with live_app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        assert attempt.state == "in_progress"


def test_deadline_submits_the_page_itself(page, live_server, live_app):
    with live_app.app_context():
        now = utcnow()
        exam = fx.make_exam(db.session, now, closes=timedelta(seconds=20), grace=30)
        db.session.commit()
        exam_id = exam.id
    ui_login(page, live_server, new_student(live_app, exam_id), "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    answer_current_with_keyboard(page)
    page.wait_for_url("**/done", timeout=60000)
    with live_app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        assert attempt.state == "finalized" and attempt.finalized_reason == "submitted"
        assert db.session.scalar(select(Response).where(Response.attempt_id == attempt_id)) is not None


def test_no_key_or_explanation_in_any_response(page, live_server, live_app, exams):
    exam_id = exams["selection"]
    texts = []

    def keep(response):
        if response.request.resource_type in ("document", "fetch", "xhr"):
            try:
                texts.append(response.text())
            except Exception:  # redirects have no body
                pass

    page.on("response", keep)
    ui_login(page, live_server, new_student(live_app, exam_id), "correct-horse-42")
    start_exam(page, live_server, exam_id)
    for _ in range(page.locator(".q-slot").count()):
        answer_current_with_keyboard(page)
        if page.locator(".q-slot:not([hidden]) [data-next]").is_visible():
            page.click(".q-slot:not([hidden]) [data-next]")
    wait_saved(page)
    page.click("#open-submit")
    page.click("#submit-confirm")
    page.wait_for_url("**/done")
    joined = "\n".join(texts)
    assert len(texts) > 10
    for canary in (fx.CANARY_EXPLANATION, fx.CANARY_KEY_TEXT, fx.CANARY_REFERENCE):
        assert canary not in joined
