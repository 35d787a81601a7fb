"""The one clock: every "now" in the product comes from here, always an aware UTC datetime.

Tests inject a `FrozenClock` (or any `Clock`) into the app, the worker and services; the database clock
is never used for business time (PostgreSQL's `now()` is the start of the transaction), so the value is
passed into SQL as a parameter.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)  # nosemgrep: wall-clock-outside-clock  # the one read of the system clock


class FrozenClock:
    """A clock that only moves when told to (thread-safe: the worker may read it from a thread)."""

    def __init__(self, at: datetime) -> None:
        self._at = _require_aware(at).astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = _require_aware(at).astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at += delta
            return self._at


class ClockExhausted(RuntimeError):
    """An accelerated clock ran past the last instant it serves (the year 9900): beyond it, a deadline set
    from its present, or its present shown in Paris time, could pass the year 9999 datetimes can hold."""


_LAST_INSTANT = datetime(9900, 1, 1, tzinfo=UTC)


class AcceleratedClock:
    """Time that runs `factor` times faster than `base` from `epoch` on: a sandbox's clock.

    now = epoch + skipped + (base.now() − epoch) × factor. At `epoch` the two clocks agree; afterwards one
    second of `base` is `factor` seconds here, so a sandbox at 86 400 lives a day per second, plus what was
    `skipped` at once (a fast-forward, never backwards). Computed from the base on every call, never
    stored: every process (API workers, the job worker) reads the same instant from the same base, and a
    test moves it by moving its `FrozenClock`.
    """

    def __init__(self, base: Clock, epoch: datetime, factor: int, skipped: timedelta = timedelta(0)) -> None:
        if factor < 1:
            raise ValueError("an accelerated clock runs at least as fast as its base")
        if skipped < timedelta(0):
            raise ValueError("an accelerated clock never goes back")
        self.base = base
        self.epoch = _require_aware(epoch).astimezone(UTC)
        self.factor = factor
        self.skipped = skipped

    def now(self) -> datetime:
        return self.at(self.base.now())

    def at(self, real: datetime) -> datetime:
        """This clock's reading at the real instant `real` (what it showed, or will show, then)."""
        try:
            reading = self.epoch + self.skipped + (real - self.epoch) * self.factor
        except OverflowError:
            reading = datetime.max.replace(tzinfo=UTC)
        if reading >= _LAST_INSTANT:
            raise ClockExhausted(f"this clock, {self.factor} times faster since {self.epoch.isoformat()}, has run "
                                 f"past the year {_LAST_INSTANT.year}")
        return reading

    def real_span(self, span: timedelta) -> timedelta:
        """How long `span` of this clock's time lasts on its base."""
        return span / self.factor


def reading_at(clock: Clock, real: datetime) -> datetime:
    """What `clock` showed at the real instant `real`: `real` itself, unless the clock is accelerated."""
    return clock.at(real) if isinstance(clock, AcceleratedClock) else real


def real_span(clock: Clock, span: timedelta) -> timedelta:
    """How long `span` of `clock`'s time lasts in real time (the same, unless the clock is accelerated)."""
    return clock.real_span(span) if isinstance(clock, AcceleratedClock) else span


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a naive datetime has no instant: give it a time zone")
    return at


def to_paris(at: datetime) -> datetime:
    return _require_aware(at).astimezone(PARIS)


def format_paris(at: datetime, *, seconds: bool = False) -> str:
    """"25/10/2026 02:30 (heure de Paris, UTC+1)": the zone and its offset are always stated (P12).

    `seconds=True` for receipts, where a second can separate an offer on time from a late one; the
    seconds are truncated, never rounded, so 09:59:59.9 never reads as 10:00:00.
    """
    # Keyed on the instant in UTC: two Paris readings of the repeated autumn hour compare equal (Python compares
    # datetimes of one zone on their wall-clock time, fold ignored) but are an hour apart.
    return _format_paris(_require_aware(at).astimezone(UTC), seconds)


# Kept: a page of search results states each deadline twice (the need's and its deposit limits'), and lists
# show the same few deadlines again and again; the text depends on the instant alone.
@functools.lru_cache(maxsize=4096)
def _format_paris(at: datetime, seconds: bool) -> str:
    local = to_paris(at)
    offset = local.utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    shown = f"{local:%d/%m/%Y %H:%M:%S}" if seconds else f"{local:%d/%m/%Y %H:%M}"
    return f"{shown} (heure de Paris, UTC{hours:+d})"


system_clock = SystemClock()


class InvalidLocalTime(ValueError):
    """A wall-clock time that names no instant, or two, in Europe/Paris (reliability.md §2.8)."""


class InstantOutOfRange(InvalidLocalTime):
    """A date or time outside the years the platform handles: near year 1 or 9999, converting it to UTC or
    to Paris time, or adding a period to it, would overflow what a datetime holds (a 500)."""


# The years the platform accepts from its users: on the wall-clock value, so that no conversion (to UTC, to
# Paris time: at most a day either way) and no period added (D4's 30 days, a DPS's years) can overflow, with
# the same end as an accelerated clock's (`_LAST_INSTANT`).
FIRST_YEAR = 1900
LAST_YEAR = _LAST_INSTANT.year - 1


def check_year(value: date) -> date:
    """`value` (a date or a datetime) itself, or `InstantOutOfRange` if its year is not one the platform
    handles: raised at the door, rather than an OverflowError (a 500) in a later conversion."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        what = "time" if isinstance(value, datetime) else "date"
        raise InstantOutOfRange(f"{value.isoformat()} is out of range: give a {what} between the years "
                                f"{FIRST_YEAR} and {LAST_YEAR}")
    return value


def paris_instant(value: datetime) -> datetime:
    """The UTC instant a deadline names, refusing the Europe/Paris traps (reliability.md §2.8, P12).

    - UTC (offset 0) is taken as is.
    - Another explicit offset must be Paris's own offset at that moment: "02:30+01:00" on the night the
      clocks go forward names an instant, but not a Paris time anyone could read off a clock.
    - A naive value is Paris local time, refused when it doesn't exist (spring gap) or exists twice
      (autumn overlap), since the caller didn't say which.
    - Outside the years the platform handles (`check_year`): `InstantOutOfRange`, never an OverflowError.
    """
    check_year(value)
    offset = value.utcoffset()
    if value.tzinfo is not None and offset is not None:
        if offset == timedelta(0):
            return value.astimezone(UTC)
        expected = value.astimezone(PARIS).utcoffset()
        if offset != expected:
            raise InvalidLocalTime(
                f"{value.isoformat()} is not a Europe/Paris time: at that moment Paris is at "
                f"UTC{_hours(expected)}")
        return value.astimezone(UTC)
    first, second = value.replace(tzinfo=PARIS, fold=0), value.replace(tzinfo=PARIS, fold=1)
    if first.utcoffset() != second.utcoffset():
        # zoneinfo gives the two readings different offsets both in the gap and in the overlap.
        gap = first.astimezone(UTC).astimezone(PARIS).replace(tzinfo=None) != value
        if gap:
            raise InvalidLocalTime(f"{value.isoformat()} does not exist in Europe/Paris (the clocks skip it)")
        raise InvalidLocalTime(f"{value.isoformat()} happens twice in Europe/Paris (the clocks go back): "
                               "give the offset (+02:00 or +01:00) or a UTC time")
    return first.astimezone(UTC)


def _hours(offset: timedelta | None) -> str:
    return f"{int((offset or timedelta(0)).total_seconds() // 3600):+d}"
