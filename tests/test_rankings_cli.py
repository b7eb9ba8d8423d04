"""``flask rankings`` through the CLI runner, and ``flask demo --simulate`` end to end."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
from sqlalchemy import func, select, update

from app.models import Attempt, Exam, Regrade, ResultSnapshot, SelectionRule
from tests import results_fixtures as rf
from tests.results_fixtures import Spec, seeded_exam


def test_compute_select_publish_export_verify(runner, db_session, make, now, tmp_path):
    exam, created = seeded_exam(db_session, now, make, [Spec(90, league="150100"), Spec(85, league="150200"),
                                                        Spec(85, league="150100"), Spec(60, league="150200")])
    result = runner.invoke(args=["rankings", "compute", str(exam.id)])
    assert result.exit_code == 0, result.output
    assert "4 ranked of 4" in result.output
    shown = runner.invoke(args=["rankings", "show", str(exam.id)])
    assert [line.split("\t")[0] for line in shown.output.splitlines()[1:]] == ["1", "2=", "2=", "4"]
    preview = runner.invoke(args=["rankings", "select", str(exam.id), "--cutoff", "80", "--quota", "1",
                                  "--league-min", "150200=1"])
    assert preview.exit_code == 0 and "1 admitted" in preview.output
    assert db_session.scalar(select(func.count()).select_from(SelectionRule)) == 0  # a preview stores nothing
    fixed = runner.invoke(args=["rankings", "select", str(exam.id), "--cutoff", "80", "--quota", "2", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    published = runner.invoke(args=["rankings", "publish", str(exam.id), "--public-list"])
    assert published.exit_code == 0 and "version 1" in published.output, published.output
    snapshot = db_session.scalar(select(ResultSnapshot))
    assert snapshot.sha256 in published.output and snapshot.public_list

    out = tmp_path / "r.csv"
    exported = runner.invoke(args=["rankings", "export", str(exam.id), "--format", "csv", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["1", "2", "2", "4"]
    xlsx = tmp_path / "r.xlsx"
    runner.invoke(args=["rankings", "export", str(exam.id), "--format", "xlsx", "--league", "150200", str(xlsx)])
    assert openpyxl.load_workbook(xlsx).sheetnames == ["总排名-包头市", "包头市"]

    verified = runner.invoke(args=["rankings", "verify", str(exam.id)])
    assert verified.exit_code == 0 and "校验通过" in verified.output, verified.output
    db_session.execute(update(Attempt).where(Attempt.id == created[3].id).values(score_total=88.0))
    tampered = runner.invoke(args=["rankings", "verify", str(exam.id)])
    assert tampered.exit_code == 1 and "FAIL" in tampered.output


def test_refusals_are_clear(runner, db_session, make, now):
    exam, _ = seeded_exam(db_session, now, make, [Spec(90, needs_manual=True)])
    result = runner.invoke(args=["rankings", "publish", str(exam.id)])
    assert result.exit_code == 1 and "awaiting" not in result.output
    assert "简答题" in result.output and "manual grading" in result.output
    assert runner.invoke(args=["rankings", "verify", str(exam.id)]).exit_code == 1
    assert runner.invoke(args=["rankings", "compute", "99999"]).exit_code == 1


def test_regrade_from_the_cli(runner, db_session, make, now):
    exam = rf.live_exam(db_session, now)
    for answer in ("a", "b"):
        rf.sit(db_session, exam, make.student(subject="physics").user, {"t-single": answer}, now)
    qid = rf.question_ids(db_session, exam)["t-single"]
    listed = runner.invoke(args=["rankings", "questions", str(exam.id)])
    assert f"{qid}\t" in listed.output and "t-single" in listed.output
    dry = runner.invoke(args=["rankings", "regrade", str(exam.id), "--question", str(qid), "--answer", '"a"',
                              "--reason", "更正"])
    assert dry.exit_code == 0 and "2 scores change" in dry.output, dry.output
    plan = db_session.scalar(select(Regrade))
    applied = runner.invoke(args=["rankings", "regrade", str(exam.id), "--reason", "更正", "--apply", str(plan.id)])
    assert applied.exit_code == 0, applied.output
    db_session.expire_all()
    assert db_session.get(Regrade, plan.id).state == "applied"


def test_simulated_sitting(app, db_session, make, now):
    from app.services import audit, simulation, students

    exam = rf.live_exam(db_session, now)
    teacher = make.user(role="teacher", subjects=["physics"])
    admin = make.user(role="admin")
    keys = students.IdKeys(app.config["ID_ENCRYPTION_KEYS"], app.config["ID_HASH_KEY"])
    report = simulation.simulate(db_session, exam, 40, now=now, password_hash="x", id_keys=keys, graders=[teacher],
                                 staff=admin, actor=audit.Actor(None, "test"), seed=7)
    attempts = db_session.scalars(select(Attempt).where(Attempt.exam_id == exam.id)).all()
    assert report.students == 40 and len(attempts) == 40
    assert report.finalized + report.absent == 40
    finalized = [a for a in attempts if a.state == "finalized"]
    assert all(a.scored_at is not None and not a.needs_manual for a in finalized)
    assert all(a.submitted_at is None or a.submitted_at <= now for a in finalized)  # every sitting is in the past
    assert report.graded > 0 and report.distinct_totals < report.finalized  # totals tie
    leagues = {a.student_id for a in finalized}
    assert len(leagues) == len(finalized)
    from app.models import StudentProfile

    spread = set(db_session.scalars(select(StudentProfile.league_code).where(
        StudentProfile.user_id.in_([a.student_id for a in attempts]))))
    assert len(spread) >= 8
    assert db_session.get(Exam, exam.id).opens_at < now - timedelta(minutes=exam.duration_minutes)
