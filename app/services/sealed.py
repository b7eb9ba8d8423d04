"""Sealing short-lived secrets (initial passwords, an uploaded file waiting for its job) at rest.

A Fernet key is derived from SECRET_KEY with HKDF (a fixed context label), so a copy of the database
alone does not reveal them; Fernet's timestamp with ``ttl`` makes an old token unreadable even if a
row was not purged in time. Rotating SECRET_KEY makes everything sealed before it unreadable, which
for these short-lived values is the wanted outcome.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealExpired(ValueError):
    """The sealed value is past its time to live, or was sealed under another key."""


def _fernet(secret_key: str, label: str) -> Fernet:
    if not secret_key:
        raise SealExpired("no SECRET_KEY to seal with")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"yingcai:{label}".encode()).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: Any, *, secret_key: str, label: str) -> bytes:
    """Encrypt a JSON-able value."""
    return _fernet(secret_key, label).encrypt(json.dumps(value, ensure_ascii=False).encode())


def unseal(token: bytes, *, secret_key: str, label: str, ttl_seconds: int | None = None) -> Any:
    """Decrypt a sealed value; raises SealExpired when too old or not ours."""
    try:
        return json.loads(_fernet(secret_key, label).decrypt(token, ttl=ttl_seconds))
    except InvalidToken:
        raise SealExpired("sealed value expired or unreadable") from None
