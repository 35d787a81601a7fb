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


def format_paris(at: datetime) -> str:
    """"25/10/2026 02:30 (heure de Paris, UTC+1)": the zone and its offset are always stated (P12)."""
    local = to_paris(at)
    offset = local.utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return f"{local:%d/%m/%Y %H:%M} (heure de Paris, UTC{hours:+d})"


system_clock = SystemClock()
