"""Password hashing with argon2id at the OWASP minimum parameters."""
from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Letters and digits that cannot be confused on a printed slip (no 0/O, 1/l/I).
SLIP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@lru_cache(maxsize=4)
def hasher(time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1) -> PasswordHasher:
    """A shared hasher: argon2id, m=19456 KiB, t=2, p=1 by default (~18 ms a check)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str, params: tuple[int, int, int] = (2, 19456, 1)) -> str:
    """Hash a password for storage."""
    return hasher(*params).hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Check a password against its stored hash; any malformed hash is a failure, not an error."""
    try:
        return hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A precomputed hash to verify against when the account does not exist, so the response time
# does not tell an attacker which exam numbers are real.
_DUMMY: dict[str, str] = {}


def burn_time(params: tuple[int, int, int]) -> None:
    """Spend one verification's worth of time for an unknown account."""
    if "h" not in _DUMMY:
        _DUMMY["h"] = hash_password(secrets.token_hex(8), params)
    verify_password(_DUMMY["h"], "not-the-password")


def generate_password(length: int = 8) -> str:
    """A random initial password for a login slip."""
    return "".join(secrets.choice(SLIP_ALPHABET) for _ in range(length))
