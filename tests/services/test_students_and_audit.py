"""Student accounts: exam numbers as text, national IDs encrypted and masked, audit before/after."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditEntry, StudentProfile
from app.services import accounts, national_ids
from app.services.accounts import AccountError
from app.services.audit import Actor, record
from tests.domain.test_national_id import VALID


def test_exam_numbers_keep_leading_zeros(make, db_session):
    profile = make.student(exam_number="000123")
    db_session.expire_all()
    assert db_session.get(StudentProfile, profile.user_id).exam_number == "000123"


def test_national_id_is_encrypted_hashed_and_masked(app, make, db_session):
    profile = make.student(national_id=VALID)
    assert VALID.encode() not in profile.national_id_encrypted
    assert profile.national_id_masked == "110105********002X"
    assert national_ids.reveal(profile.national_id_encrypted, keys=app.config["ID_ENCRYPTION_KEYS"]) == VALID
    audit_row = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "student.create")
                                  .order_by(AuditEntry.id.desc()))
    assert VALID not in str(audit_row.after) and "********" in audit_row.after["national_id"]


def test_the_same_national_id_twice_is_refused(make):
    make.student(national_id=VALID)
    with pytest.raises(AccountError, match="已被"):
        make.student(national_id=VALID)


def test_a_bad_national_id_is_refused_with_the_reason(make):
    with pytest.raises(AccountError, match="校验位"):
        make.student(national_id="110105194912310021")


def test_key_rotation_keeps_ids_readable(app):
    from cryptography.fernet import Fernet

    old = app.config["ID_ENCRYPTION_KEYS"]
    stored = national_ids.protect(VALID, keys=old, hash_key="k")
    new_ring = Fernet.generate_key().decode() + "," + old
    rotated = national_ids.rotate(stored.encrypted, keys=new_ring)
    assert national_ids.reveal(rotated, keys=new_ring) == VALID
    with pytest.raises(Exception):
        national_ids.reveal(rotated, keys=old)


@pytest.mark.parametrize("name", ["张三", "其木格·娜仁", "Erdene Bat", "阿拉坦·巴根那"])
def test_names_of_every_kind_are_accepted(make, name):
    assert make.student(name=name).name == name


@pytest.mark.parametrize("name", ["", "<script>", "x" * 65, "张三123"])
def test_bad_names_are_refused(make, name):
    with pytest.raises(AccountError):
        make.student(name=name)


def test_audit_records_before_and_after(db_session, make, now):
    admin = make.user(role="admin")
    entry = record(db_session, actor=Actor(admin.id, "admin", "10.0.0.1"), action="exam.extend", object_type="attempt",
                   object_id=42, before={"deadline": now}, after={"deadline": now.replace(hour=7)},
                   reason="停电补时", now=now, league_code="150100")
    db_session.flush()
    stored = db_session.get(AuditEntry, entry.id)
    assert stored.before == {"deadline": now.isoformat()}
    assert stored.after["deadline"].startswith("2026-06-14T07:00")
    assert (stored.actor_label, stored.source_ip, stored.reason, stored.object_id) == ("admin", "10.0.0.1",
                                                                                    "停电补时", "42")


def test_creating_a_user_is_audited(make, db_session):
    user = make.user(role="league_admin", league_code="150200")
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create",
                                                       AuditEntry.object_id == str(user.id)))
    assert entry.after["role"] == "league_admin" and entry.league_code == "150200"


@pytest.mark.parametrize("kwargs,fragment", [
    ({"role": "wizard"}, "未知角色"),
    ({"role": "league_admin"}, "盟市"),
    ({"role": "league_admin", "league_code": "999999"}, "未知盟市"),
    ({"role": "teacher", "subjects": ["astrology"]}, "未知学科"),
])
def test_create_user_refusals(db_session, now, kwargs, fragment):
    with pytest.raises(AccountError, match=fragment):
        accounts.create_user(db_session, login_name="someone", password="long-enough-pw", now=now,
                             actor=Actor.system(), hash_params=accounts.HashParams(1, 1024, 1), **kwargs)


def test_production_password_hashes_use_owasp_argon2id(db_session, now):
    user = accounts.create_user(db_session, login_name="prod-hash", role="teacher", password="long-enough-pw",
                                now=now, actor=Actor.system())
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert accounts.authenticate(db_session, "prod-hash", "long-enough-pw", now=now) is user
