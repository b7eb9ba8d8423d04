"""Passwords held for a limited time so login slips can be printed, and the generated slip files.

Plaintext passwords are never stored permanently. A ``CredentialBatch`` keeps the initial (or
reset) passwords of one import or reset batch sealed (Fernet, key derived from SECRET_KEY) with an
expiry; past it, or when an admin purges the batch, the sealed blob is erased and slips can only be
made by resetting passwords again. A ``SlipFile`` (a PDF with passwords in it) expires with its batch.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class CredentialBatch(Base):
    """The passwords of one import or reset batch, sealed, until ``expires_at``."""

    __tablename__ = "credential_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # import | reset
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    league_code: Mapped[str | None] = mapped_column(String(6), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(default=0)
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once purged
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SlipFile(Base):
    """A generated login-slip PDF; it holds passwords, so it expires with its batch."""

    __tablename__ = "slip_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("credential_batches.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    league_code: Mapped[str | None] = mapped_column(String(6), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(default=0)
    size: Mapped[int] = mapped_column(default=0)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once purged
