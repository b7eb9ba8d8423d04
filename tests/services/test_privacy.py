"""Minors' personal data: audited reveal, key rotation, purge after retention, own-data export."""
from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.models import AuditEntry
from app.services import attempts, privacy
from app.services.audit import Actor
from tests import exam_fixtures as fx
from tests.conftest import csrf_token
from tests.domain.test_national_id import VALID

A = Actor(None, "test")


def test_reveal_needs_permission_and_a_reason_and_is_audited(app, make, db_session, now):
    profile = make.student(league_code="150100", national_id=VALID)
    keys = app.config["ID_ENCRYPTION_KEYS"]
    own_league = make.user(role="league_admin", league_code="150100")
    other_league = make.user(role="league_admin", league_code="150200")
    with pytest.raises(PermissionError):
        privacy.reveal_national_id(db_session, other_league, profile, reason="核对", keys=keys, actor=A, now=now)
    with pytest.raises(privacy.PrivacyError):
        privacy.reveal_national_id(db_session, own_league, profile, reason=" ", keys=keys, actor=A, now=now)
    assert privacy.reveal_national_id(db_session, own_league, profile, reason="核对报名信息", keys=keys,
                                      actor=A, now=now) == VALID
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.reveal_id"))
    assert entry.reason == "核对报名信息" and VALID not in str(entry.after)


def test_reveal_through_the_admin_page(as_role, make):
    profile = make.student(league_code="150100", national_id=VALID)
    client, _ = as_role("admin")
    page = client.get(f"/admin/students/{profile.user_id}").get_data(as_text=True)
    assert VALID not in page and "110105********002X" in page
    token = csrf_token(client, f"/admin/students/{profile.user_id}")
    shown = client.post(f"/admin/students/{profile.user_id}", data={"csrf_token": token, "reason": "复核"})
    assert VALID in shown.get_data(as_text=True)
    other, _ = as_role("league_admin", league_code="150200")
    assert other.get(f"/admin/students/{profile.user_id}").status_code == 404


def test_key_rotation_re_encrypts_every_id(app, make, db_session, now):
    old = app.config["ID_ENCRYPTION_KEYS"]
    profile = make.student(national_id=VALID)
    ring = Fernet.generate_key().decode() + "," + old
    assert privacy.rotate_keys(db_session, keys=ring, actor=A, now=now) >= 1
    new_only = ring.split(",")[0]
    from app.services import national_ids

    assert national_ids.reveal(profile.national_id_encrypted, keys=new_only) == VALID


def _sat_round(db_session, make, now, retention_days=30):
    fx.load_bank(db_session, now)
    exam = fx.make_exam(db_session, now, round="2026 测试轮次")
    selection_round = exam.round
    selection_round.retention_days = retention_days
    student = make.student(subject="physics", national_id=VALID, name="王小明")
    attempts.accept_pledge(db_session, exam=exam, user=student.user, now=now, client=attempts.Client())
    attempt = attempts.start(db_session, exam=exam, user=student.user, now=now, client=attempts.Client())
    attempts.submit(db_session, attempt, token=None, now=now + timedelta(minutes=10), client=attempts.Client())
    return selection_round, exam, student, attempt


def test_purge_respects_retention_keeps_scores_and_is_idempotent(db_session, make, now):
    selection_round, exam, student, attempt = _sat_round(db_session, make, now)
    with pytest.raises(privacy.PrivacyError):
        privacy.purge_round(db_session, selection_round, actor=A, now=now + timedelta(days=1))
    later = exam.closes_at + timedelta(days=31)
    assert privacy.purge_round(db_session, selection_round, actor=A, now=later) == 1
    assert privacy.purge_round(db_session, selection_round, actor=A, now=later) == 0
    db_session.refresh(student)
    assert student.name == privacy.ANONYMIZED_NAME and student.national_id_encrypted is None
    assert student.exam_number and student.league_code and attempt.score_total is not None
    assert not student.user.is_active


def test_purge_cli(runner, db_session, make, now):
    selection_round, *_ = _sat_round(db_session, make, now, retention_days=None)
    result = runner.invoke(args=["privacy", "purge", selection_round.name])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    assert runner.invoke(args=["privacy", "purge", "no-such-round"]).exit_code != 0


def test_student_downloads_own_data_without_unpublished_scores(app, make, db_session, now):
    from tests.conftest import login

    selection_round, exam, student, attempt = _sat_round(db_session, make, now)
    client = app.test_client()
    login(client, student.exam_number)
    response = client.get("/exam/my-data")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = response.json
    assert data["profile"]["exam_number"] == student.exam_number
    assert data["profile"]["national_id"] == "110105********002X"
    assert data["attempts"][0]["score"] is None  # selection results not published yet
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.own_data_export"))


def test_purge_after_publication_leaves_the_published_ranking_verifiable(db_session, make, now):
    """Issue 12: purging a round anonymizes its students and `flask rankings verify` still passes."""
    from app.models import StudentProfile
    from app.services import publication, selection_service
    from tests import results_fixtures as rf
    from tests.results_fixtures import Spec, seeded_exam

    exam, created = seeded_exam(db_session, now, make, [
        Spec(90, league="150100", name="张三"), Spec(85, league="150200", name="李四"), Spec(70, league="150200")])
    from app.services.exam_authoring import ensure_round

    exam.round = ensure_round(db_session, "2026 清除测试轮次", now=now)
    db_session.flush()
    selection_service.fix(db_session, exam, selection_service.parse_rules({"cutoff": 80, "quota": 2}),
                          user_id=None, now=now, actor=A)
    publication.publish(db_session, rf.closed(exam, now), user_id=None, now=now, actor=A)
    assert publication.verify(db_session, exam).ok
    purged = privacy.purge_round(db_session, exam.round, actor=A, now=now, force=True)
    assert purged == 3
    names = {db_session.get(StudentProfile, a.student_id).name for a in created}
    assert names == {privacy.ANONYMIZED_NAME}
    report = publication.verify(db_session, exam)
    assert report.ok, report.differences
    assert privacy.purge_round(db_session, exam.round, actor=A, now=now, force=True) == 0  # idempotent
