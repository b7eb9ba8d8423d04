"""The exam page for screen-reader users: live regions that speak state changes only, and axe in each state.

- the timer is role=timer with aria-live off: it ticks every second and is never announced;
- #status-live (polite) speaks the save state only when it changes and holds: a run of quick autosaves
  says nothing, going offline says so once, coming back with everything saved says so once;
- #announcer (assertive) speaks only the 15-, 5- and 1-minute warnings.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from app.clock import utcnow
from app.extensions import db
from app.models import Attempt
from tests import exam_fixtures as fx
from tests.browser.axe import audit_context, blocking, describe, run_axe
from tests.browser.conftest import ui_login
from tests.browser.test_exam_page import (
    answer_current_with_keyboard,
    new_student,
    start_exam,
    wait_js,
    wait_saved,
)

pytestmark = pytest.mark.browser

WATCH = 30  # seconds of exam watched

# Records every change of text (or of visibility) of every live region, and of the visible save pill.
OBSERVE = """() => {
    const politeness = el => el.getAttribute('aria-live')
        || {status: 'polite', alert: 'assertive', log: 'polite', timer: 'off'}[el.getAttribute('role')];
    const watched = () => [...document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log], '
                                                         + '[role=timer], #save-status')];
    const shown = el => el.hidden ? '' : el.textContent.trim();
    const last = new Map(watched().map(el => [el, shown(el)]));
    window.__changes = [];
    new MutationObserver(() => {
        for (const el of watched()) {
            const text = shown(el);
            if (text !== last.get(el)) {
                last.set(el, text);
                if (text) {
                    window.__changes.push({id: el.id, live: el.id === 'save-status' ? 'visual' : politeness(el),
                                           text: text, at: performance.now()});
                }
            }
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                               attributeFilter: ['hidden']});
}"""


def _exam_closing_in(live_app, seconds: int) -> int:
    with live_app.app_context():
        now = utcnow()
        fx.load_bank(db.session, now - timedelta(days=1))
        exam = fx.make_exam(db.session, now, closes=timedelta(seconds=seconds), grace=30)
        db.session.commit()
        return exam.id


def _remaining(page) -> float:
    return page.evaluate("() => (window.YCExam.state.deadlineMono - performance.now()) / 1000")


def test_live_regions_speak_state_changes_only(browser, live_server, live_app):
    # The paper closes 15 min 38 s from now, so the 15-minute warning falls inside the watched 30 s.
    exam_id = _exam_closing_in(live_app, 15 * 60 + 38)
    number = new_student(live_app, exam_id)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    ui_login(page, live_server, number, "correct-horse-42")
    attempt_id = start_exam(page, live_server, exam_id)
    assert page.locator("#timer").get_attribute("role") == "timer"
    assert page.locator("#timer").get_attribute("aria-live") == "off"
    assert page.locator("#status-live").get_attribute("aria-live") == "polite"
    assert page.locator("#announcer").get_attribute("aria-live") == "assertive"
    while _remaining(page) > 900 + 22:  # start watching about 20 s before the warning
        page.wait_for_timeout(200)
    assert _remaining(page) > 902, "setup took too long: the 15-minute warning would come before the watch"
    page.evaluate(OBSERVE)
    started = time.monotonic()

    for _ in range(4):  # autosaves: one per choice, one per keystroke in the blanks
        answer_current_with_keyboard(page)
        page.click(".q-slot:not([hidden]) [data-next]")
    wait_saved(page)
    context.set_offline(True)
    for _ in range(2):
        answer_current_with_keyboard(page)
        page.click(".q-slot:not([hidden]) [data-next]")
    page.wait_for_timeout(3500)
    context.set_offline(False)
    wait_saved(page)
    page.wait_for_timeout(max(0.0, WATCH - (time.monotonic() - started)) * 1000)
    changes = page.evaluate("() => window.__changes")
    with live_app.app_context():
        saves = db.session.get(Attempt, attempt_id).last_seq
    context.close()

    by = {kind: [c["text"] for c in changes if c["live"] == kind] for kind in ("off", "visual", "polite", "assertive")}
    summary = "\n".join(f"  {c['at'] / 1000:7.1f}s {c['live']:9s} #{c['id']}: {c['text'][:60]}"
                        for c in changes if c["live"] != "off")
    assert saves >= 8, f"only {saves} autosaves"
    assert len(by["off"]) >= WATCH - 3, "the timer did not tick every second"  # ticking, silently
    assert len(by["visual"]) >= 6, summary  # the pill follows every save…
    # …but screen readers hear only the changes of state: offline once, saved again once.
    assert len(by["polite"]) <= 3, f"the polite region spoke {len(by['polite'])} times:\n{summary}"
    assert sum("网络断开" in t for t in by["polite"]) == 1, summary
    assert by["polite"][-1] == "已保存", summary
    assert all(a != b for a, b in zip(by["polite"], by["polite"][1:])), summary
    assert by["assertive"] == ["距考试结束还有 15 分钟。"], summary  # the warning, once, and nothing else


def test_axe_on_the_exam_page_in_its_states(browser, live_server, live_app):
    """Offline (the red save pill and the count), the last five minutes (the urgent timer), the submit dialog."""
    exam_id = _exam_closing_in(live_app, 4 * 60)
    number = new_student(live_app, exam_id)
    context = audit_context(browser)  # bypasses the CSP to inject axe: see tests/browser/axe.py
    page = context.new_page()
    page.set_default_timeout(15000)
    ui_login(page, live_server, number, "correct-horse-42")
    start_exam(page, live_server, exam_id)
    findings = []
    answer_current_with_keyboard(page)
    wait_saved(page)
    context.set_offline(True)
    page.click(".q-slot:not([hidden]) [data-next]")
    answer_current_with_keyboard(page)
    wait_js(page, "document.getElementById('save-status').dataset.state === 'offline'")
    assert page.locator("#timer.urgent").count() == 1
    findings += [("offline, urgent timer", v) for v in blocking(run_axe(page))]
    context.set_offline(False)
    wait_saved(page)
    page.click("#open-submit")
    page.locator("#submit-dialog").wait_for(state="visible")
    findings += [("submit dialog", v) for v in blocking(run_axe(page))]
    context.close()
    assert not findings, describe(findings)
