"""The analysis pages, the report download and ``flask analysis``: who may see what, and what they show."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from app.models import Question
from app.services import charts, papers
from tests import exam_fixtures
from tests.conftest import csrf_token
from tests.services.test_analysis import sit


@pytest.fixture
def sat_exam(db_session, make, now):
    exam_fixtures.load_bank(db_session, now)
    exam = exam_fixtures.make_exam(db_session, now)
    papers.forget(exam.id)
    sit(db_session, make, exam, now)
    return exam


def _text(html: bytes) -> str:
    return re.sub(r"<svg.*?</svg>", "", html.decode(), flags=re.DOTALL)


@pytest.mark.skipif(not charts.has_cjk_font(), reason="fonts-noto-cjk is not installed")
def test_teacher_sees_the_flagged_item_charts_and_leagues_in_chinese(as_role, sat_exam, db_session, runner, tmp_path):
    client, _ = as_role("teacher", subjects=["physics"])
    page = client.get(f"/analysis/exams/{sat_exam.id}")
    assert page.status_code == 200
    text = _text(page.data)
    assert "需要注意的题目" in text and "t-single" in text
    assert "请先检查答案是否正确" in text and "可能应为 C" in text  # the planted wrong key: 'c' is the third option
    assert "呼和浩特市" in text and "包头市" in text and "赤峰市" in text  # the league comparison
    assert "仍在阅卷" in text and "Cronbach" in text
    assert page.data.count(b"<svg") >= 5  # histogram, box plots, league histograms, scatter, option curve
    assert exam_fixtures.CANARY_EXPLANATION.encode() not in page.data

    # The report downloads as a workbook with the tables, the advice and the charts.
    report = client.get(f"/analysis/exams/{sat_exam.id}/report.xlsx")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    assert "attachment" in report.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(report.data))
    assert book.sheetnames == ["概览", "题目", "选项", "盟市", "DIF"]
    advice = [row[14] for row in book["题目"].iter_rows(min_row=2, values_only=True)]
    assert any("请先检查答案是否正确" in (a or "") for a in advice)
    assert len(book["概览"]._images) >= 3 and len(book["盟市"]._images) == 1

    # The question's page: its statistics across exams, with the option curve.
    single = db_session.scalar(select(Question).where(Question.key == "t-single"))
    question = client.get(f"/analysis/questions/{single.id}")
    assert question.status_code == 200 and sat_exam.title in question.data.decode()
    assert b"<svg" in question.data

    # Writing the measured difficulty back goes through a CSRF-protected POST.
    token = csrf_token(client, f"/analysis/exams/{sat_exam.id}")
    done = client.post(f"/analysis/exams/{sat_exam.id}/write-back", data={"csrf_token": token})
    assert done.status_code == 302
    db_session.expire_all()
    assert db_session.get(Question, single.id).measured_difficulty is not None
    assert client.post(f"/analysis/exams/{sat_exam.id}/write-back", data={}).status_code == 400

    # The CLI writes the same report.
    out = tmp_path / "report.xlsx"
    result = runner.invoke(args=["analysis", "report", str(sat_exam.id), str(out)])
    assert result.exit_code == 0, result.output
    assert "flagged: 1" in result.output
    assert openpyxl.load_workbook(out).sheetnames[0] == "概览"


def test_teachers_of_other_subjects_and_other_roles_are_refused(as_role, db_session, now):
    exam_fixtures.load_bank(db_session, now)
    exam = exam_fixtures.make_exam(db_session, now)
    single = db_session.scalar(select(Question).where(Question.key == "t-single"))
    math_teacher, _ = as_role("teacher", subjects=["math"])
    for path in (f"/analysis/exams/{exam.id}", f"/analysis/exams/{exam.id}/report.xlsx",
                 f"/analysis/questions/{single.id}"):
        assert math_teacher.get(path).status_code == 403, path
    assert exam.title not in math_teacher.get("/analysis/").data.decode()
    for role in ("student", "proctor", "league_admin"):
        client, _ = as_role(role)
        assert client.get(f"/analysis/exams/{exam.id}").status_code == 403, role
    admin, _ = as_role("admin")
    page = admin.get(f"/analysis/exams/{exam.id}")
    assert page.status_code == 200 and "还没有已交卷并计分的作答" in page.data.decode()
    assert exam.title in admin.get("/analysis/").data.decode()
    assert admin.get("/analysis/exams/999999").status_code == 404


def test_cli_refuses_an_unknown_exam(runner, tmp_path):
    result = runner.invoke(args=["analysis", "report", "999999", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0 and "no published exam" in result.output


def test_cli_simulate_plants_a_wrong_key_and_calibrate_writes_back(runner, db_session, make, now):
    from app.clock import utcnow

    exam_fixtures.load_bank(db_session, now)
    exam = exam_fixtures.make_exam(db_session, utcnow())  # the command sits the exam at the real time
    for league in ("150100", "150200"):
        make.school(league)
    result = runner.invoke(args=["analysis", "simulate", str(exam.id), "--students", "20"])
    assert result.exit_code == 0, result.output
    assert "20 attempts" in result.output and "planted wrong key: t-" in result.output
    assert "flagged" not in result.output
    calibrated = runner.invoke(args=["analysis", "calibrate", str(exam.id)])
    assert calibrated.exit_code == 0, calibrated.output
    db_session.expire_all()
    # Items everyone (or no one) got right have no finite Rasch difficulty and are left alone;
    # with 20 simulated students that can be any item, so look at them all.
    measured = db_session.scalars(select(Question.measured_difficulty).where(Question.key.like("t-%"))).all()
    assert any(value is not None for value in measured)
