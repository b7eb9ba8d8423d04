"""The one place the application reads the wall clock; services take ``now`` as an argument."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
