"""The one clock: every "now" in the product comes from here, always an aware UTC datetime.

Tests inject a `FrozenClock` (or any `Clock`) into the app, the worker and services; the database clock
is never used for business time (PostgreSQL's `now()` is the start of the transaction), so the value is
passed into SQL as a parameter.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


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
    local = to_paris(at)
    offset = local.utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    shown = f"{local:%d/%m/%Y %H:%M:%S}" if seconds else f"{local:%d/%m/%Y %H:%M}"
    return f"{shown} (heure de Paris, UTC{hours:+d})"


system_clock = SystemClock()


class InvalidLocalTime(ValueError):
    """A wall-clock time that names no instant, or two, in Europe/Paris (reliability.md §2.8)."""


def paris_instant(value: datetime) -> datetime:
    """The UTC instant a deadline names, refusing the Europe/Paris traps (reliability.md §2.8, P12).

    - UTC (offset 0) is taken as is.
    - Another explicit offset must be Paris's own offset at that moment: "02:30+01:00" on the night the
      clocks go forward names an instant, but not a Paris time anyone could read off a clock.
    - A naive value is Paris local time, refused when it doesn't exist (spring gap) or exists twice
      (autumn overlap), since the caller didn't say which.
    """
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
