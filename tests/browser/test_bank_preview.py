"""The question editor in Chromium: the live preview typesets formulas and \\ce, and shows bank images;
and the whole path a bank takes: import, edit with preview, review by another teacher, history."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.commands.demo import DEMO_PASSWORD
from tests.browser.conftest import ui_login

pytestmark = pytest.mark.browser

BANK = Path(__file__).resolve().parents[2] / "question_bank"


@pytest.fixture(scope="module")
def physics_bank(live_app):
    """The shipped physics bank, imported into the live app (idempotent: a second import changes nothing)."""
    from app.clock import utcnow
    from app.commands.bank import collect
    from app.extensions import db
    from app.models import Question
    from app.services import bank_import
    from app.services.audit import Actor

    with live_app.app_context():
        for files in collect((str(BANK / "physics"),)):
            parsed, name = bank_import.parse_files(files, subject="physics")
            report = bank_import.import_bank(db.session, parsed, actor=Actor.system("test"), author_id=None,
                                             now=utcnow(), format_name=name)
            assert report.ok, report.issues
        db.session.commit()
        ids = dict(db.session.execute(select(Question.key, Question.id).where(Question.subject_code == "physics")).all())
    return ids


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _wait_for_preview(page, text: str) -> None:
    page.wait_for_function(
        "text => { const p = document.querySelector('#preview'); "
        "return p && p.textContent.includes(text) && p.querySelectorAll('.katex').length > 0; }", arg=text)


def test_preview_typesets_math_chemistry_and_shows_the_image(page, live_server, physics_bank):
    errors = _console_errors(page)
    ui_login(page, live_server, "teacher_physics", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.goto(f"{live_server}/bank/{physics_bank['phy-kin-003']}/edit")
    source = page.input_value("#yaml-text")
    assert "images/incline.svg" in source
    stem = ("预览检查：动能 $\\frac{1}{2}mv^2$，氢气燃烧 $\\ce{2H2 + O2 -> 2H2O}$。\n"
            "  ![倾角 37° 的斜面](images/incline.svg)\n")
    edited = re.sub(r"stem: \|-?\n(  .*\n)+?(?=options:)", lambda m: "stem: |\n  " + stem, source, count=1)
    assert edited != source
    page.fill("#yaml-text", edited)
    _wait_for_preview(page, "预览检查")

    preview = page.locator("#preview")
    assert preview.locator(".katex").count() >= 2
    assert preview.locator(".katex-error").count() == 0
    assert preview.locator(".math-error").count() == 0
    assert "2H" in preview.locator(".katex").nth(1).inner_text()  # \ce was typeset by mhchem
    page.wait_for_function("() => { const i = document.querySelector('#preview img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    assert page.locator("#preview-issues").is_hidden()
    assert not [e for e in errors if "Content Security Policy" in e]


def test_preview_lists_located_problems_while_typing(page, live_server, physics_bank):
    ui_login(page, live_server, "teacher_physics", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.goto(f"{live_server}/bank/new?subject=physics&type=single")
    source = page.input_value("#yaml-text")
    page.fill("#yaml-text", source.replace("answer: a", "answer: e"))
    page.wait_for_selector("#preview-issues:not([hidden])")
    assert "answer" in page.locator("#preview-issues").inner_text()
    page.fill("#yaml-text", source)
    page.wait_for_selector("#preview-issues[hidden]", state="attached")


def test_import_edit_review_and_history(page, live_server):
    """Done, as the issue says: a teacher imports a shipped bank, edits a question with the live
    preview, sends it for review, another teacher approves it, and the history shows both versions."""
    ui_login(page, live_server, "teacher_chemistry", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.goto(f"{live_server}/bank/import")
    folder = BANK / "chemistry"
    page.set_input_files("#import-files", sorted(str(p) for p in folder.glob("*.yaml"))
                         + sorted(str(p) for p in (folder / "images").glob("*")))
    page.uncheck("#dry_run")
    page.get_by_role("button", name="开始").click()
    page.wait_for_selector("#report-title")
    assert "导入完成" in page.locator("#report-title").inner_text()

    page.goto(f"{live_server}/bank/?q=&subject=chemistry")
    page.locator("table.bank-list tbody a").first.click()
    page.get_by_role("link", name="编辑").click()
    source = page.input_value("#yaml-text")
    start = re.search(r"^stem: (\|-?\n  |['\"])?", source, re.MULTILINE).end()  # block, quoted or plain
    edited = source[:start] + "（修订）" + source[start:]
    assert edited != source
    page.fill("#yaml-text", edited)
    page.wait_for_function("() => document.querySelector('#preview').textContent.includes('（修订）')")
    page.fill("#note", "题干加注修订")
    page.get_by_role("button", name="保存").click()
    page.wait_for_selector(".flash-success")
    question_url = page.url
    page.get_by_role("button", name="提交审核").click()
    page.wait_for_selector(".flash-success")
    assert "待审核" in page.locator("h1").inner_text()
    page.get_by_role("button", name="退出").click()

    ui_login(page, live_server, "reviewer", DEMO_PASSWORD)
    page.wait_for_url(f"{live_server}/home")
    page.goto(question_url)
    page.get_by_role("button", name="审核通过").click()
    page.wait_for_selector(".flash-success")
    assert "已通过" in page.locator("h1").inner_text()

    page.get_by_role("link", name="版本历史").click()
    versions = page.locator("table.versions tbody tr")
    assert versions.count() == 2
    assert "题干加注修订" in versions.first.inner_text()
    assert page.locator("tr.diff-add").filter(has_text="（修订）").count() == 1
    assert page.locator("tr.diff-del").count() >= 1
