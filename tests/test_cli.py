"""The CLI: users create, demo (twice), jobs worker."""
from __future__ import annotations

from sqlalchemy import func, select

from app.models import AuditEntry, Job, School, User


def test_users_create_reads_password_from_stdin(runner, db_session):
    result = runner.invoke(args=["users", "create", "li_admin", "--role", "league_admin", "--league", "150400"],
                           input="a-strong-password\n")
    assert result.exit_code == 0, result.output
    user = db_session.scalar(select(User).where(User.login_name == "li_admin"))
    assert user.role == "league_admin" and user.league_code == "150400"
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create",
                                                      AuditEntry.object_id == str(user.id))).actor_label.startswith("cli:")


def test_users_create_teacher_with_subjects(runner, db_session):
    result = runner.invoke(args=["users", "create", "wang", "--role", "teacher", "--subject", "physics",
                                 "--subject", "math"], input="a-strong-password\n")
    assert result.exit_code == 0, result.output
    user = db_session.scalar(select(User).where(User.login_name == "wang"))
    assert user.subject_codes == {"physics", "math"}


def test_users_create_refuses_with_a_bilingual_message(runner):
    result = runner.invoke(args=["users", "create", "x", "--role", "league_admin", "--league", "123456"],
                           input="a-strong-password\n")
    assert result.exit_code != 0
    assert "未知盟市" in result.output and "unknown league" in result.output


def test_demo_is_idempotent(runner, db_session, app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = (db_session.scalar(select(func.count()).select_from(User)),
              db_session.scalar(select(func.count()).select_from(School)))
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert (db_session.scalar(select(func.count()).select_from(User)),
            db_session.scalar(select(func.count()).select_from(School))) == counts
    assert counts[1] == 36
    for login in ("admin", "hohhot_admin", "teacher_physics", "proctor1", "2026150100001"):
        assert login in second.output
    assert (tmp_path / "demo-secrets.json").exists()


def test_jobs_worker_runs_queued_jobs(runner, db_session, now):
    from app.services import jobs

    ok = jobs.enqueue(db_session, "noop", {"steps": 4}, now=now)
    bad = jobs.enqueue(db_session, "noop", {"steps": 1, "fail": "boom"}, now=now)
    db_session.flush()
    result = runner.invoke(args=["jobs", "worker", "--once"])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    ok, bad = db_session.get(Job, ok.id), db_session.get(Job, bad.id)
    assert (ok.state, ok.percent, ok.result) == ("done", 100, {"steps": 4})
    assert bad.state == "failed" and "boom" in bad.error


def test_job_page_shows_progress(as_role, db_session, now):
    from app.services import jobs

    client, user = as_role("admin")
    job = jobs.enqueue(db_session, "noop", {"steps": 2}, now=now, created_by_id=user.id)
    db_session.flush()
    assert client.get(f"/jobs/{job.id}").status_code == 200
    status = client.get(f"/jobs/{job.id}.json").json
    assert status["state"] == "queued" and status["percent"] == 0
    other, _ = as_role("teacher")
    assert other.get(f"/jobs/{job.id}.json").status_code == 404


def test_exams_close_ends_the_window_with_a_reason(runner, db_session):
    from app.clock import utcnow
    from tests import exam_fixtures as fx

    now = utcnow()
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now)
    db_session.flush()
    missing = runner.invoke(args=["exams", "close", str(exam.id)])
    assert missing.exit_code != 0 and "--reason" in missing.output
    result = runner.invoke(args=["exams", "close", str(exam.id), "--reason", "全区考试结束"])
    assert result.exit_code == 0, result.output
    assert f"{exam.id}\tclosed" in result.output
    again = runner.invoke(args=["exams", "close", str(exam.id), "--reason", "again"])
    assert again.exit_code != 0 and "already closed" in again.output


def test_jobs_prune_exports_deletes_only_old_files(runner, app, tmp_path, monkeypatch):
    import os
    import time

    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    folder = tmp_path / "exports"
    (folder / "keep").mkdir(parents=True)
    old, new = folder / "old.xlsx", folder / "new.csv"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    result = runner.invoke(args=["jobs", "prune-exports"])
    assert result.exit_code == 0 and "1 file(s) deleted" in result.output
    assert not old.exists() and new.exists() and (folder / "keep").is_dir()
