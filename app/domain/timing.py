"""The exam clock: deadlines, remaining time, late writes and start windows.

The server is the clock: every function takes ``now`` as an argument and never reads the time
itself, so tests never sleep and a client's clock is never trusted. All datetimes must be
timezone-aware (stored and compared in UTC); a naive datetime raises ValueError, because guessing
its zone would move a deadline by eight hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = [
    "CLOSED", "DEFAULT_GRACE", "NOT_OPEN", "OK", "START_CLOSED",
    "accepts_writes", "can_start", "compute_deadline", "is_overdue", "remaining_seconds",
]

DEFAULT_GRACE = timedelta(seconds=60)  # network delay allowed after the deadline

NOT_OPEN, START_CLOSED, CLOSED, OK = "not_open", "start_closed", "closed", "ok"


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _length(value: timedelta, name: str) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValueError(f"{name} must be a timedelta ≥ 0, got {value!r}")
    return value


def compute_deadline(started_at: datetime, duration: timedelta, closes_at: datetime | None,
                     extra_time: timedelta = timedelta(0)) -> datetime:
    """Return an attempt's deadline, fixed when it starts.

    Rule: ``deadline = min(started_at + duration, closes_at) + extra_time`` (no ``closes_at``: no
    cap). A late starter loses the minutes after the exam closes, but extra time is added after
    the cap, so it extends past the close: an accommodation (延时) or an outage credit granted to
    one student or one room must never be cancelled by the exam's close time. Returned in UTC.
    """
    end = _aware(started_at, "started_at") + _length(duration, "duration")
    if closes_at is not None:
        end = min(end, _aware(closes_at, "closes_at"))
    return end + _length(extra_time, "extra_time")


def remaining_seconds(deadline: datetime, now: datetime) -> int:
    """Return the whole seconds left before the deadline, rounded down, and 0 once it has passed.

    The page's countdown starts from this figure (corrected for the measured network offset);
    rounding down means the page never shows more time than the server will accept.
    """
    left = _aware(deadline, "deadline") - _aware(now, "now")
    return max(0, left // timedelta(seconds=1))


def accepts_writes(deadline: datetime, grace: timedelta, now: datetime) -> bool:
    """Tell whether a save or a submit arriving at ``now`` still counts.

    Rule: writes are accepted while ``now ≤ deadline + grace`` (both ends inclusive); the grace
    (DEFAULT_GRACE, 60 s) covers network delay, not extra working time. Later writes get a clear
    "time is over" answer; answers saved before stay and are scored.
    """
    return _aware(now, "now") <= _aware(deadline, "deadline") + _length(grace, "grace")


def is_overdue(deadline: datetime, grace: timedelta, now: datetime) -> bool:
    """Tell whether an attempt must be finalized by the server: ``now > deadline + grace``.

    Exactly the complement of accepts_writes, so no instant both accepts a write and finalizes.
    """
    return not accepts_writes(deadline, grace, now)


def can_start(opens_at: datetime, latest_start: datetime | None, closes_at: datetime,
              now: datetime) -> str:
    """Tell whether a student may start an exam now, as a reason code.

    Rule, checked in this order: before ``opens_at`` → ``not_open``; at or after ``closes_at`` →
    ``closed``; after ``latest_start`` (the last moment to begin, if the exam sets one) →
    ``start_closed``; otherwise ``ok``. ``opens_at`` and ``latest_start`` are inclusive,
    ``closes_at`` is exclusive.
    """
    now = _aware(now, "now")
    opens_at, closes_at = _aware(opens_at, "opens_at"), _aware(closes_at, "closes_at")
    if closes_at <= opens_at:
        raise ValueError(f"closes_at {closes_at.isoformat()} must be after opens_at {opens_at.isoformat()}")
    if now < opens_at:
        return NOT_OPEN
    if now >= closes_at:
        return CLOSED
    if latest_start is not None and now > _aware(latest_start, "latest_start"):
        return START_CLOSED
    return OK
