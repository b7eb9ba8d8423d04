"""The one place the application reads the wall clock; services take ``now`` as an argument."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)
