"""Encryption at rest and keyed hashing of national IDs.

Keys come from configuration: ``ID_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys,
newest first (MultiFernet decrypts with any and encrypts with the first, which is how keys are
rotated), and ``ID_HASH_KEY`` keys the HMAC used for uniqueness and look-up.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.fernet import Fernet, MultiFernet

from app.domain import national_id


class IdKeysMissing(RuntimeError):
    """National IDs cannot be stored without configured keys."""


@dataclass(frozen=True)
class StoredId:
    """What the database keeps of one national ID."""

    encrypted: bytes
    keyed_hash: str
    masked: str


def _fernet(keys: str) -> MultiFernet:
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise IdKeysMissing("未配置身份证号加密密钥 / ID_ENCRYPTION_KEYS is not configured")
    return MultiFernet([Fernet(k.encode()) for k in parts])


def keyed_hash(value: str, hash_key: str) -> str:
    """HMAC-SHA256 of the normalized ID: equal IDs collide, the hash reveals nothing without the key."""
    if not hash_key:
        raise IdKeysMissing("未配置身份证号散列密钥 / ID_HASH_KEY is not configured")
    return hmac.new(hash_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def protect(raw: str, *, keys: str, hash_key: str) -> StoredId:
    """Validate, encrypt, hash and mask an ID (raises ``NationalIdError`` when invalid)."""
    value = national_id.validate(raw)
    return StoredId(_fernet(keys).encrypt(value.encode()), keyed_hash(value, hash_key), national_id.mask(value))


def reveal(encrypted: bytes, *, keys: str) -> str:
    """Decrypt a stored ID (callers check permission and audit the reveal)."""
    return _fernet(keys).decrypt(encrypted).decode()


def rotate(encrypted: bytes, *, keys: str) -> bytes:
    """Re-encrypt with the newest key."""
    return _fernet(keys).rotate(encrypted)
