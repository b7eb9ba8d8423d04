"""Initial and reset passwords, held sealed for a limited time so login slips can be printed.

Design (why slips can show passwords although only hashes are stored):
- A password is known in plaintext only when it is made: at import, or at a reset. At that moment
  the batch's passwords are sealed together into one ``CredentialBatch`` row (Fernet under a key
  derived from SECRET_KEY, see ``sealed``) with an expiry (``DEFAULT_TTL_HOURS``, 72 h by default).
- Slips (PDF or the print view) are made from a live batch. Past its expiry, or once an admin purges
  it after printing, the sealed blob is erased for good (``purge_expired`` runs on every use), the
  PDFs made from it too, and new slips need a password reset of the group (a new batch).
- The passwords are shown on screen once (``reveal_once``), in the import's result page; slips and
  the print view are the only other way to see them, and both are audited.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from os import cpu_count

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import CredentialBatch, SlipFile, User
from app.services import audit
from app.services.accounts import HashParams, new_session_token
from app.services.passwords import generate_password, hash_password
from app.services.sealed import SealExpired, seal, unseal

DEFAULT_TTL_HOURS = 72
LABEL = "credentials"


class BatchUnavailable(ValueError):
    """The batch has expired or was purged: reset the passwords to print slips again."""

    def __init__(self) -> None:
        super().__init__("初始密码已过期或已清除，请重置该批考生的密码后再打印 / the passwords have expired or were "
                         "purged; reset the group's passwords to print slips again")
        self.zh = "初始密码已过期或已清除，请重置该批考生的密码后再打印准考证"
        self.en = "the passwords have expired or were purged; reset the group's passwords to print slips again"


def new_passwords(count: int) -> list[str]:
    """``count`` random slip passwords (unambiguous letters and digits)."""
    return [generate_password() for _ in range(count)]


def hash_many(passwords: list[str], params: HashParams, progress=None, every: int = 50) -> list[str]:
    """Hash passwords on all cores (argon2 releases the GIL); ``progress(done)`` every ``every`` hashes."""
    out: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, min(8, cpu_count() or 1))) as pool:
        for i, hashed in enumerate(pool.map(lambda p: hash_password(p, params.as_tuple()), passwords), start=1):
            out.append(hashed)
            if progress is not None and (i % every == 0 or i == len(passwords)):
                progress(i)
    return out


def create_batch(session: Session, passwords: dict[int, str], *, kind: str, created_by_id: int | None,
                 league_code: str | None, now: datetime, secret_key: str,
                 ttl_hours: int = DEFAULT_TTL_HOURS) -> CredentialBatch:
    """Seal a batch of {user id: password} until now + ttl."""
    batch = CredentialBatch(kind=kind, created_by_id=created_by_id, league_code=league_code, created_at=now,
                            expires_at=now + timedelta(hours=ttl_hours), count=len(passwords),
                            sealed=seal({str(k): v for k, v in passwords.items()}, secret_key=secret_key, label=LABEL))
    session.add(batch)
    session.flush()
    return batch


def read_batch(session: Session, batch: CredentialBatch | None, *, now: datetime, secret_key: str) -> dict[int, str]:
    """The batch's {user id: password}; raises BatchUnavailable when expired or purged."""
    purge_expired(session, now=now)
    if batch is None or batch.sealed is None or batch.expires_at <= now:
        raise BatchUnavailable()
    ttl = int((batch.expires_at - batch.created_at).total_seconds()) + 60
    try:
        data = unseal(batch.sealed, secret_key=secret_key, label=LABEL, ttl_seconds=ttl)
    except SealExpired:
        raise BatchUnavailable() from None
    return {int(k): v for k, v in data.items()}


def reveal_once(session: Session, batch: CredentialBatch, *, now: datetime, secret_key: str) -> dict[int, str] | None:
    """The passwords the first time they are asked for on screen; None afterwards (slips still work)."""
    if batch.revealed_at is not None:
        return None
    passwords = read_batch(session, batch, now=now, secret_key=secret_key)
    claimed = session.execute(update(CredentialBatch).where(CredentialBatch.id == batch.id,
                                                            CredentialBatch.revealed_at.is_(None))
                              .values(revealed_at=now)).rowcount
    return passwords if claimed else None


def purge(session: Session, batch: CredentialBatch, *, now: datetime, actor: audit.Actor) -> None:
    """Erase a batch's passwords and the slips made from it now (after printing); audited."""
    batch.sealed, batch.purged_at = None, now
    session.execute(update(SlipFile).where(SlipFile.batch_id == batch.id).values(content=None))
    audit.record(session, actor=actor, action="credentials.purge", object_type="credential_batch",
                 object_id=batch.id, now=now, league_code=batch.league_code)


def purge_expired(session: Session, *, now: datetime) -> int:
    """Erase every expired batch's passwords and expired slip PDFs; returns how many batches."""
    count = session.execute(update(CredentialBatch).where(CredentialBatch.expires_at <= now,
                                                          CredentialBatch.sealed.is_not(None))
                            .values(sealed=None, purged_at=now)).rowcount
    session.execute(update(SlipFile).where(SlipFile.expires_at <= now, SlipFile.content.is_not(None))
                    .values(content=None))
    return count


def reset_passwords(session: Session, users: list[User], *, actor: audit.Actor, now: datetime, secret_key: str,
                    hash_params: HashParams, reason: str, league_code: str | None,
                    ttl_hours: int = DEFAULT_TTL_HOURS, progress=None) -> CredentialBatch:
    """New random passwords for a group (their sessions end); one audit entry per account; a new batch."""
    passwords = new_passwords(len(users))
    hashes = hash_many(passwords, hash_params, progress)
    for user, hashed in zip(users, hashes):
        user.password_hash = hashed
        user.session_token = new_session_token()
        audit.record(session, actor=actor, action="user.password_reset", object_type="user", object_id=user.id,
                     now=now, reason=reason, league_code=user.student.league_code if user.student else user.league_code)
    return create_batch(session, {u.id: p for u, p in zip(users, passwords)}, kind="reset",
                        created_by_id=actor.user_id, league_code=league_code, now=now, secret_key=secret_key,
                        ttl_hours=ttl_hours)


def batch_users(session: Session, batch: CredentialBatch, *, now: datetime, secret_key: str) -> list[int]:
    """The user ids in a live batch."""
    return sorted(read_batch(session, batch, now=now, secret_key=secret_key))


def one_time_password(session: Session, user: User, *, actor: audit.Actor, now: datetime,
                      hash_params: HashParams) -> str:
    """Reset one account's password; the new password is returned to be shown once and never stored."""
    password = generate_password(10)
    user.password_hash = hash_password(password, hash_params.as_tuple())
    user.session_token = new_session_token()
    audit.record(session, actor=actor, action="user.password_reset", object_type="user", object_id=user.id, now=now,
                 league_code=user.student.league_code if user.student else user.league_code)
    return password


