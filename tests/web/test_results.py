"""The results pages: admin actions, league scope, the student's own result, blind grading, public list."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from app.clock import utcnow
from app.models import Attempt, AuditEntry, Regrade, ResultSnapshot, SelectionRule, StudentProfile, Voiding
from app.services import audit, papers, publication, rankings, selection_service
from tests import results_fixtures as rf
from tests.conftest import csrf_token, login
from tests.results_fixtures import SECTIONS, Spec, seeded_exam

ACTOR = audit.Actor(None, "pytest")


@pytest.fixture
def exam_with_leagues(db_session, make, now):
    specs = [Spec(90, league="150100", name="张晓彤"), Spec(85, league="150200", name="巴特尔"),
             Spec(85, league="150100", name="乌云其其格"), Spec(60, league="150200", name="李明轩")]
    return seeded_exam(db_session, now, make, specs)


def _number(db_session, attempt):
    return db_session.get(StudentProfile, attempt.student_id).exam_number


def _student_client(app, db_session, attempt):
    client = app.test_client()
    assert login(client, _number(db_session, attempt)).status_code == 302
    return client


def test_admin_computes_publishes_verifies_and_exports(db_session, as_role, exam_with_leagues):
    exam, created = exam_with_leagues
    client, _ = as_role("admin")
    page = client.get(f"/results/exams/{exam.id}")
    assert page.status_code == 200 and "尚未计算".encode() in page.data
    token = csrf_token(client, f"/results/exams/{exam.id}")
    assert client.post(f"/results/exams/{exam.id}/compute", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/results/exams/{exam.id}")
    for attempt in created:
        assert _number(db_session, attempt).encode() in page.data
    assert "并列".encode() in page.data
    response = client.post(f"/results/exams/{exam.id}/publish", data={"csrf_token": token, "reason": "首次发布"})
    assert response.status_code == 302
    snapshot = db_session.scalar(select(ResultSnapshot).where(ResultSnapshot.exam_id == exam.id))
    assert snapshot.version == 1
    verify = client.get(f"/results/exams/{exam.id}/verify")
    assert verify.status_code == 200 and "校验通过".encode() in verify.data
    csv_response = client.get(f"/results/exams/{exam.id}/export.csv")
    assert csv_response.status_code == 200 and csv_response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_response.data.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["1", "2", "2", "4"]
    xlsx = client.get(f"/results/exams/{exam.id}/export.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book["总排名"].cell(8, 2).value == snapshot.sha256
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "results.export")) is not None


def test_a_league_admin_sees_and_exports_only_their_league(db_session, as_role, exam_with_leagues, now):
    exam, created = exam_with_leagues
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    client, _ = as_role("league_admin", league_code="150200")
    page = client.get(f"/results/exams/{exam.id}")
    assert page.status_code == 200
    for attempt, league in zip(created, ["150100", "150200", "150100", "150200"]):
        assert (_number(db_session, attempt).encode() in page.data) == (league == "150200")
    assert client.get(f"/results/exams/{exam.id}?league=150100").status_code == 403
    assert client.get(f"/results/exams/{exam.id}/export.csv?league=150100").status_code == 403
    data = client.get(f"/results/exams/{exam.id}/export.csv").data.decode("utf-8-sig")
    body = list(csv.reader(io.StringIO(data)))[1:]
    assert {line[7] for line in body} == {"包头市"} and len(body) == 2
    token = csrf_token(client, f"/results/exams/{exam.id}")
    assert client.post(f"/results/exams/{exam.id}/compute", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/results/exams/{exam.id}/publish", data={"csrf_token": token}).status_code == 403
    assert client.get(f"/results/exams/{exam.id}/selection").status_code == 403


def test_a_student_sees_their_result_only_after_publication(app, db_session, exam_with_leagues, now):
    exam, created = exam_with_leagues
    client = _student_client(app, db_session, created[1])
    before = client.get(f"/results/my/{exam.id}")
    assert before.status_code == 200 and "成绩尚未发布".encode() in before.data
    text = before.data.decode()
    assert "总分" not in text and ">85<" not in text and "排名" not in text  # no score before publication (drill 19)
    selection_service.fix(db_session, exam, selection_service.parse_rules({"cutoff": 80, "quota": 2}),
                          user_id=None, now=now, actor=ACTOR)
    publication.publish(db_session, rf.closed(exam, utcnow()), user_id=None, now=utcnow(), actor=ACTOR)  # the review window is open
    after = client.get(f"/results/my/{exam.id}")
    text = after.data.decode()
    assert after.status_code == 200
    assert "85" in text and "并列" in text and "包头市排名" in text and "入围" in text
    assert "张晓彤" not in text  # nobody else's name
    listing = client.get("/results/my")
    assert exam.title.encode() in listing.data
    token = csrf_token(client, f"/results/my/{exam.id}")
    response = client.post(f"/results/my/{exam.id}/review", data={"csrf_token": token, "reason": "请复核简答题"})
    assert response.status_code == 302
    assert "您于".encode() in client.get(f"/results/my/{exam.id}").data


def test_another_students_result_is_a_404_and_leaves_a_trace(app, db_session, make, exam_with_leagues, now):
    exam, _created = exam_with_leagues
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    outsider = make.student(league_code="150100")
    client = app.test_client()
    login(client, outsider.exam_number)
    for exam_id in (exam.id, exam.id + 1000):
        assert client.get(f"/results/my/{exam_id}").status_code == 404
    entries = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "security.not_found",
                                                          AuditEntry.object_type == "result")).all()
    assert len(entries) == 2
    for path in (f"/results/exams/{exam.id}", f"/results/exams/{exam.id}/export.csv", "/results/grading"):
        assert client.get(path).status_code == 403


def test_public_list_only_when_enabled_and_masked(app, db_session, exam_with_leagues, now):
    exam, created = exam_with_leagues
    client = app.test_client()
    assert client.get(f"/results/public/{exam.id}").status_code == 404
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR)
    assert client.get(f"/results/public/{exam.id}").status_code == 404
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR, public_list=True)
    page = client.get(f"/results/public/{exam.id}")
    text = page.data.decode()
    assert page.status_code == 200 and "张*彤" in text and "乌***格" in text
    for attempt in created:
        assert _number(db_session, attempt) not in text
    assert "张晓彤" not in text


def test_voiding_takes_two_admins(app, db_session, as_role, make, exam_with_leagues, now):
    exam, created = exam_with_leagues
    first, _ = as_role("admin")
    token = csrf_token(first, f"/results/exams/{exam.id}/voiding")
    number = _number(db_session, created[0])
    response = first.post(f"/results/exams/{exam.id}/voiding",
                          data={"csrf_token": token, "void-exam_number": number, "void-reason": "考场使用手机"})
    assert response.status_code == 302
    request = db_session.scalar(select(Voiding))
    assert request.state == "pending"
    first.post(f"/results/voidings/{request.id}/decide", data={"csrf_token": token, "decision": "approve"})
    db_session.refresh(request)
    assert request.state == "pending"  # the requester's own approval is refused
    second, _ = as_role("admin")
    token2 = csrf_token(second, f"/results/exams/{exam.id}/voiding")
    second.post(f"/results/voidings/{request.id}/decide", data={"csrf_token": token2, "decision": "approve",
                                                                "note": "核实"})
    db_session.refresh(request)
    db_session.refresh(created[0])
    assert request.state == "approved" and created[0].state == "voided"
    run = rankings.compute(db_session, exam, now=now, actor=ACTOR)
    assert rankings.row_of_attempt(db_session, run.id, created[0].id).rank is None


def test_selection_what_if_and_fix(db_session, as_role, exam_with_leagues, now):
    exam, _created = exam_with_leagues
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    client, _ = as_role("admin")
    page = client.get(f"/results/exams/{exam.id}/selection?cutoff=80&quota=1&boundary_ties=admit_all"
                      f"&reserve_count=1&min_150200=1")
    text = page.data.decode()
    # Baotou's minimum takes the one place (巴特尔, 85); the 90 is then first on the reserve list.
    assert page.status_code == 200 and "入围 1 人，候补 1 人" in text
    assert "盟市最少入围名额" in text
    token = csrf_token(client, f"/results/exams/{exam.id}/selection")
    response = client.post(f"/results/exams/{exam.id}/selection",
                           data={"csrf_token": token, "cutoff": "80", "quota": "1", "boundary_ties": "admit_all",
                                 "reserve_count": "1", "min_150200": "1"})
    assert response.status_code == 302
    rule = db_session.scalar(select(SelectionRule).where(SelectionRule.state == "fixed"))
    assert rule.admitted_count == 1 and rule.league_min == {"150200": 1}
    bad = client.get(f"/results/exams/{exam.id}/selection?cutoff=80&quota=1&min_150200=5")
    assert bad.status_code == 200 and "矛盾".encode() in bad.data


def test_regrade_dry_run_then_apply_from_the_page(app, db_session, as_role, make, now):
    exam = rf.live_exam(db_session, now)
    for answer in ("a", "b", "b"):
        student = make.student(subject="physics")
        rf.sit(db_session, exam, student.user, {"t-single": answer}, now)
    client, _ = as_role("admin")
    assert client.get(f"/results/exams/{exam.id}/regrade").status_code == 200
    qid = rf.question_ids(db_session, exam)["t-single"]
    token = csrf_token(client, f"/results/exams/{exam.id}/regrade")
    response = client.post(f"/results/exams/{exam.id}/regrade",
                           data={"csrf_token": token, "kind": "key", "question": qid, "answer": '"a"',
                                 "reason": "答案更正"})
    assert response.status_code == 302
    plan = db_session.scalar(select(Regrade))
    page = client.get(f"/results/regrades/{plan.id}")
    assert page.status_code == 200 and "3 人成绩变化".encode() in page.data
    client.post(f"/results/regrades/{plan.id}/apply", data={"csrf_token": token})
    db_session.expire_all()
    assert plan.state == "applied"
    totals = sorted(a.score_total for a in db_session.scalars(select(Attempt).where(Attempt.exam_id == exam.id)))
    assert totals[0] < totals[-1]


def test_blind_grading_for_teachers_of_the_subject(app, db_session, as_role, make, now):
    exam = rf.live_exam(db_session, now)
    student = make.student(subject="physics", name="乌云其其格")
    answer = "惯性是物体保持运动状态不变的性质<img src=x onerror=alert(1)>"
    rf.sit(db_session, exam, student.user, {"t-short": answer}, now)
    item = next(i for i in __import__("app.services.grading", fromlist=["x"]).manual_items(
        papers.load(db_session, exam)) if not i.part_key)
    math, _ = as_role("teacher", subjects=["math"])
    assert math.get(f"/results/grading/{exam.id}/{item.exam_question_id}").status_code == 403
    client, _ = as_role("teacher", subjects=["physics"])
    index = client.get("/results/grading")
    assert index.status_code == 200 and exam.title.encode() in index.data
    page = client.get(f"/results/grading/{exam.id}/{item.exam_question_id}")
    text = page.data.decode()
    assert page.status_code == 200 and "惯性是物体保持运动状态不变的性质" in text
    assert "乌云其其格" not in text and student.exam_number not in text and student.school.name not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img src=x" not in text  # the answer stays text
    assert "&lt;p&gt;" not in text and "解释惯性。" in text  # the stem is rendered (sanitized), not escaped
    token = re.search(r'name="token" value="([^"]+)"', text).group(1)
    response = client.post(f"/results/grading/{exam.id}/{item.exam_question_id}",
                           data={"csrf_token": csrf_token(client, "/results/grading"), "token": token, "points": "6"})
    assert response.status_code == 302
    attempt = rf.attempt_of(db_session, exam, student.user)
    db_session.refresh(attempt)
    assert not attempt.needs_manual
    forged = client.post(f"/results/grading/{exam.id}/{item.exam_question_id}",
                         data={"csrf_token": csrf_token(client, "/results/grading"), "token": "forged", "points": "8"})
    assert forged.status_code == 400


def test_every_results_page_renders_for_an_admin(db_session, as_role, exam_with_leagues, now):
    exam, _ = exam_with_leagues
    selection_service.fix(db_session, exam, selection_service.parse_rules({"cutoff": 0, "quota": 2}),
                          user_id=None, now=now, actor=ACTOR)
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=ACTOR, public_list=True)
    client, _ = as_role("admin")
    for path in ("/results/", f"/results/exams/{exam.id}", f"/results/exams/{exam.id}/selection",
                 f"/results/exams/{exam.id}/regrade", f"/results/exams/{exam.id}/voiding",
                 f"/results/exams/{exam.id}/reviews", f"/results/exams/{exam.id}/snapshots",
                 f"/results/exams/{exam.id}/verify", f"/results/grading/{exam.id}", "/results/grading",
                 f"/results/exams/{exam.id}?league=150200&page=1"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert SECTIONS[0].encode() in client.get(f"/results/exams/{exam.id}").data


def test_a_large_xlsx_export_runs_as_a_job_for_its_requester(app, db_session, as_role, exam_with_leagues, now,
                                                             monkeypatch, tmp_path):
    from app.models import Job
    from app.services import exports, jobs

    exam, _created = exam_with_leagues
    rankings.compute(db_session, exam, now=now, actor=ACTOR)
    monkeypatch.setattr(exports, "INLINE_ROWS", 1)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    client, _ = as_role("league_admin", league_code="150200")
    response = client.get(f"/results/exams/{exam.id}/export.xlsx")
    assert response.status_code == 302 and "/results/exports/" in response.headers["Location"]
    job = db_session.scalar(select(Job).where(Job.kind == "results.export"))
    assert job.payload["league"] == "150200"  # the league admin's scope travels with the job
    assert client.get(f"/results/exports/{job.id}/file").status_code == 404  # not written yet
    jobs.run(db_session, job, now=lambda: now)
    assert job.state == "done", job.error
    page = client.get(f"/results/exports/{job.id}")
    assert page.status_code == 200 and "下载".encode() in page.data
    download = client.get(f"/results/exports/{job.id}/file")
    assert download.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(download.data))
    assert book.sheetnames == ["总排名-包头市", "包头市"]
    other, _ = as_role("league_admin", league_code="150100")
    assert other.get(f"/results/exports/{job.id}/file").status_code == 404
    # The file holds personal data: after EXPORT_FILE_HOURS the worker's prune deletes it, and the page says so.
    from datetime import timedelta

    from app.services import export_files

    folder = export_files.directory(str(tmp_path))
    assert export_files.prune(folder, now=utcnow(), keep=timedelta(hours=24)) == 0
    assert export_files.prune(folder, now=utcnow() + timedelta(hours=25), keep=timedelta(hours=24)) == 1
    assert client.get(f"/results/exports/{job.id}/file").status_code == 404
    assert "已在 24 小时后删除".encode() in client.get(f"/results/exports/{job.id}").data


def test_a_large_regrade_runs_its_dry_run_and_apply_as_jobs(app, db_session, as_role, make, now, monkeypatch):
    from app.models import Job
    from app.services import jobs, regrade

    exam = rf.live_exam(db_session, now)
    for answer in ("a", "b"):
        rf.sit(db_session, exam, make.student(subject="physics").user, {"t-single": answer}, now)
    monkeypatch.setattr(regrade, "INLINE_LIMIT", 1)
    client, _ = as_role("admin")
    token = csrf_token(client, f"/results/exams/{exam.id}/regrade")
    qid = rf.question_ids(db_session, exam)["t-single"]
    response = client.post(f"/results/exams/{exam.id}/regrade", data={
        "csrf_token": token, "kind": "key", "question": qid, "answer": '"a"', "reason": "答案更正"})
    assert "/results/regrade-jobs/" in response.headers["Location"]
    job = db_session.scalar(select(Job).where(Job.kind == "regrade.dry_run"))
    assert "后台".encode() in client.get(f"/results/regrade-jobs/{job.id}").data
    jobs.run(db_session, job, now=lambda: now)
    plan = db_session.scalar(select(Regrade))
    assert job.state == "done" and plan.state == "planned" and len(plan.score_changes) == 2
    assert client.get(f"/results/regrade-jobs/{job.id}").headers["Location"].endswith(f"/results/regrades/{plan.id}")
    applied = client.post(f"/results/regrades/{plan.id}/apply", data={"csrf_token": token})
    apply_job = db_session.scalar(select(Job).where(Job.kind == "regrade.apply"))
    assert applied.headers["Location"].endswith(f"/results/regrade-jobs/{apply_job.id}")
    jobs.run(db_session, apply_job, now=lambda: now)
    db_session.refresh(plan)
    assert apply_job.state == "done" and plan.state == "applied"
    assert "查看方案".encode() in client.get(f"/results/regrade-jobs/{apply_job.id}").data
