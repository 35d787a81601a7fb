"""The one clock: aware UTC inside, Europe/Paris with its offset for display (P12, G15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.lib.clock import (
    PARIS,
    AcceleratedClock,
    ClockExhausted,
    FrozenClock,
    InstantOutOfRange,
    InvalidLocalTime,
    SystemClock,
    format_paris,
    paris_instant,
    reading_at,
    real_span,
    to_paris,
)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(microseconds=1)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    clock.set(datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Paris")))
    assert clock.now().tzinfo == UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        FrozenClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        format_paris(datetime(2026, 1, 1))


@pytest.mark.parametrize(("instant", "shown"), [
    (datetime(2026, 1, 15, 11, 0, tzinfo=UTC), "15/01/2026 12:00 (heure de Paris, UTC+1)"),
    (datetime(2026, 7, 14, 8, 30, tzinfo=UTC), "14/07/2026 10:30 (heure de Paris, UTC+2)"),
    # Both sides of the autumn change: 02:30 happens twice in Paris that night.
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "25/10/2026 02:30 (heure de Paris, UTC+2)"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "25/10/2026 02:30 (heure de Paris, UTC+1)"),
    # The spring change: 01:59 UTC+1 is followed by 03:00 UTC+2.
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29/03/2026 03:00 (heure de Paris, UTC+2)"),
])
def test_display_states_zone_and_offset(instant: datetime, shown: str) -> None:
    assert format_paris(instant) == shown


@pytest.mark.parametrize("first_fold", [0, 1])
def test_the_repeated_autumn_hour_read_in_paris_states_each_offset_whatever_came_first(first_fold: int) -> None:
    """The two 02:30 of 25/10/2026 in Paris compare equal in Python (same zone: wall-clock time, fold ignored),
    and `format_paris` keeps its answers: each must still state its own offset (P12)."""
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=first_fold)
    second = first.replace(fold=1 - first_fold)
    offsets = {0: "UTC+2", 1: "UTC+1"}
    assert format_paris(first).endswith(f"(heure de Paris, {offsets[first_fold]})")
    assert format_paris(second).endswith(f"(heure de Paris, {offsets[1 - first_fold]})")


def test_receipts_show_seconds_truncated_not_rounded() -> None:
    just_before = datetime(2026, 10, 25, 0, 59, 59, 999_999, tzinfo=UTC)
    assert format_paris(just_before, seconds=True) == "25/10/2026 02:59:59 (heure de Paris, UTC+2)"
    assert format_paris(just_before + timedelta(microseconds=1), seconds=True) == \
        "25/10/2026 02:00:00 (heure de Paris, UTC+1)"


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31),
                    timezones=st.just(UTC)))
def test_utc_paris_round_trip_is_exact(instant: datetime) -> None:
    local = to_paris(instant)
    assert local.tzinfo == PARIS
    assert local.astimezone(UTC) == instant


@pytest.mark.parametrize(("given", "instant"), [
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    (datetime(2026, 3, 29, 3, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # first minute after the gap
    (datetime(2026, 3, 29, 1, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
    (datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    (datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    (datetime(2026, 7, 1, 12, 0), datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
])
def test_paris_instants(given: datetime, instant: datetime) -> None:
    assert paris_instant(given) == instant


@pytest.mark.parametrize(("given", "reason"), [
    (datetime(2026, 3, 29, 2, 30), "does not exist"),                     # the spring gap
    (datetime(2026, 10, 25, 2, 30), "happens twice"),                     # the autumn overlap, no offset
    (datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=1))), "not a Europe/Paris time"),
    (datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=1))), "not a Europe/Paris time"),
])
def test_paris_traps_are_refused(given: datetime, reason: str) -> None:
    with pytest.raises(InvalidLocalTime, match=reason):
        paris_instant(given)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31),
                    timezones=st.just(UTC)))
def test_every_paris_reading_with_its_offset_names_its_instant(instant: datetime) -> None:
    assert paris_instant(to_paris(instant)) == instant


def test_an_accelerated_clock_starts_at_its_base_then_runs_factor_times_faster() -> None:
    epoch = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    base = FrozenClock(epoch)
    sandbox = AcceleratedClock(base, epoch, 1440)  # a day a minute
    assert sandbox.now() == epoch
    base.advance(timedelta(minutes=10))
    assert sandbox.now() == epoch + timedelta(days=10)
    base.advance(timedelta(microseconds=1))
    assert sandbox.now() == epoch + timedelta(days=10, microseconds=1440)
    # What it read at a real instant, and how long one of its spans lasts in real time.
    assert reading_at(sandbox, epoch + timedelta(seconds=1)) == epoch + timedelta(minutes=24)
    assert real_span(sandbox, timedelta(days=30)) == timedelta(minutes=30)
    # The real clock reads itself.
    assert reading_at(base, epoch) == epoch and real_span(base, timedelta(days=30)) == timedelta(days=30)
    with pytest.raises(ValueError, match="naive"):
        AcceleratedClock(base, datetime(2026, 1, 5), 2)
    with pytest.raises(ValueError, match="at least as fast"):
        AcceleratedClock(base, epoch, 0)
    # Time skipped at once (a fast-forward) adds to it, and never takes away.
    ahead = AcceleratedClock(base, epoch, 1440, timedelta(days=30))
    assert ahead.now() == sandbox.now() + timedelta(days=30)
    with pytest.raises(ValueError, match="never goes back"):
        AcceleratedClock(base, epoch, 1440, timedelta(seconds=-1))


def test_an_accelerated_clock_stops_serving_well_before_the_year_9999() -> None:
    epoch = datetime(2026, 1, 5, tzinfo=UTC)
    base = FrozenClock(epoch + timedelta(days=33))
    sandbox = AcceleratedClock(base, epoch, 86_400)
    assert sandbox.now().year == 9832  # 33 real days at a day a second: 2.85 million days
    base.advance(timedelta(days=1))  # past the year 9900: deadlines set from it could not be held
    with pytest.raises(ClockExhausted, match="year 9900"):
        sandbox.now()
    base.advance(timedelta(days=1000))  # and past what a datetime can hold at all
    with pytest.raises(ClockExhausted, match="year 9900"):
        sandbox.now()


@pytest.mark.parametrize("value", [
    datetime(1, 1, 1),  # naive: Paris time, before UTC's year 1 begins
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),  # past UTC's year 9999
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(1899, 12, 31, 23, 0),
    datetime(9900, 1, 1, tzinfo=UTC),
])
def test_an_instant_out_of_range_is_refused_not_an_overflow(value: datetime) -> None:
    with pytest.raises(InstantOutOfRange, match="out of range"):
        paris_instant(value)


def test_the_first_and_last_years_are_accepted() -> None:
    assert paris_instant(datetime(1900, 6, 1, 12, 0)).tzinfo is UTC
    assert paris_instant(datetime(9899, 12, 31, 23, 59, 59)).year == 9899
