"""The exam clock; time is an argument, nothing sleeps."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.timing import (
    CLOSED,
    DEFAULT_GRACE,
    NOT_OPEN,
    OK,
    START_CLOSED,
    accepts_writes,
    can_start,
    compute_deadline,
    is_overdue,
    remaining_seconds,
)

T0 = datetime(2026, 5, 16, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


def test_deadline_is_start_plus_duration():
    assert compute_deadline(T0, 120 * MIN, T0 + 180 * MIN) == T0 + 120 * MIN


def test_deadline_is_capped_by_the_close_time():
    late_start = T0 + 90 * MIN
    assert compute_deadline(late_start, 120 * MIN, T0 + 180 * MIN) == T0 + 180 * MIN


def test_extra_time_extends_past_the_close_time():
    late_start = T0 + 90 * MIN
    assert compute_deadline(late_start, 120 * MIN, T0 + 180 * MIN, 30 * MIN) == T0 + 210 * MIN
    assert compute_deadline(T0, 120 * MIN, T0 + 180 * MIN, 15 * MIN) == T0 + 135 * MIN


def test_deadline_without_a_close_time_and_in_utc():
    beijing = timezone(timedelta(hours=8))
    deadline = compute_deadline(T0.astimezone(beijing), 90 * MIN, None)
    assert deadline == T0 + 90 * MIN and deadline.utcoffset() == timedelta(0)


@pytest.mark.parametrize("call", [
    lambda: compute_deadline(datetime(2026, 5, 16, 1, 0), 120 * MIN, None),
    lambda: compute_deadline(T0, 120 * MIN, datetime(2026, 5, 16, 4, 0)),
    lambda: remaining_seconds(datetime(2026, 5, 16, 4, 0), T0),
    lambda: accepts_writes(T0, DEFAULT_GRACE, datetime(2026, 5, 16, 4, 0)),
    lambda: can_start(T0, None, T0 + MIN, datetime(2026, 5, 16, 1, 0)),
])
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_negative_lengths_are_refused():
    with pytest.raises(ValueError, match="duration"):
        compute_deadline(T0, -MIN, None)
    with pytest.raises(ValueError, match="extra_time"):
        compute_deadline(T0, MIN, None, -SEC)


def test_remaining_seconds_rounds_down_and_stops_at_zero():
    deadline = T0 + 10 * MIN
    assert remaining_seconds(deadline, T0) == 600
    assert remaining_seconds(deadline, deadline - timedelta(milliseconds=100)) == 0
    assert remaining_seconds(deadline, deadline - timedelta(seconds=59, milliseconds=900)) == 59
    assert remaining_seconds(deadline, deadline + MIN) == 0


def test_writes_are_accepted_up_to_deadline_plus_grace_inclusive():
    deadline = T0 + 120 * MIN
    assert accepts_writes(deadline, DEFAULT_GRACE, deadline - SEC)
    assert accepts_writes(deadline, DEFAULT_GRACE, deadline)
    assert accepts_writes(deadline, DEFAULT_GRACE, deadline + 60 * SEC)
    assert not accepts_writes(deadline, DEFAULT_GRACE, deadline + 61 * SEC)
    assert not accepts_writes(deadline, DEFAULT_GRACE, deadline + 60 * SEC + timedelta(microseconds=1))
    assert not is_overdue(deadline, DEFAULT_GRACE, deadline + 60 * SEC)
    assert is_overdue(deadline, DEFAULT_GRACE, deadline + 61 * SEC)
    assert not accepts_writes(deadline, timedelta(0), deadline + SEC)


@given(st.integers(-10_000, 10_000), st.integers(0, 300))
def test_overdue_is_exactly_the_complement_of_accepting_writes(offset, grace):
    now = T0 + timedelta(seconds=offset)
    grace_time = timedelta(seconds=grace)
    assert is_overdue(T0, grace_time, now) is not accepts_writes(T0, grace_time, now)
    assert accepts_writes(T0, grace_time, now) == (offset <= grace)


@given(st.integers(-100_000, 100_000), st.integers(0, 100_000))
def test_remaining_seconds_never_negative_and_never_increases(first, later_by):
    deadline = T0
    earlier = remaining_seconds(deadline, T0 + timedelta(milliseconds=first))
    later = remaining_seconds(deadline, T0 + timedelta(milliseconds=first + later_by))
    assert 0 <= later <= earlier


OPENS, LATEST, CLOSES = T0, T0 + 30 * MIN, T0 + 150 * MIN


@pytest.mark.parametrize(("now", "expected"), [
    (OPENS - SEC, NOT_OPEN),
    (OPENS, OK),
    (LATEST, OK),
    (LATEST + SEC, START_CLOSED),
    (CLOSES - SEC, START_CLOSED),
    (CLOSES, CLOSED),
    (CLOSES + 60 * MIN, CLOSED),
])
def test_can_start_reason_codes(now, expected):
    assert can_start(OPENS, LATEST, CLOSES, now) == expected


def test_can_start_without_a_latest_start():
    assert can_start(OPENS, None, CLOSES, CLOSES - SEC) == OK
    assert can_start(OPENS, None, CLOSES, CLOSES) == CLOSED


def test_can_start_refuses_a_window_that_closes_before_it_opens():
    with pytest.raises(ValueError, match="must be after opens_at"):
        can_start(CLOSES, None, OPENS, OPENS)
