"""Sandbox procedures: a DPS, and everything under it, on an accelerated clock (issue 8).

A DPS created with `{"sandbox": {"factor": N}}` keeps every rule of a real one (D4, D6, D9, D11, D14,
D18 …), but its time is `AcceleratedClock(real, epoch, N)`: at its creation (`epoch`) sandbox time is real
time, then it runs N times faster, so at 1 440 a 10-day tender period passes in 10 minutes. Everything
under the DPS (categories, admission requests, specific contracts, invitations, Q&A, offers, the opening,
evaluation, award, contract, signatures) reads its business time from `clock_of(...)` below, never from
the real clock directly; the audit log keeps real time (one chain, in real order, for every act).

Sandbox objects are kept apart: never listed publicly, never indexed for search, never in the register,
and a need is created sandbox or real and can only go onto a DPS of the same kind (the database backs
it, migration 0018). What they produce says so: responses carry `"sandbox": true`, receipts and
notifications carry NOTICE.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import AcceleratedClock, Clock, ClockExhausted, format_paris
from marketplace.lib.sandbox import NOTICE
from marketplace.vendors import schemas
from marketplace.vendors.models import Dps


class SandboxTimed(Protocol):
    """A DPS, or a row read with its sandbox clock's columns."""

    @property
    def sandbox_factor(self) -> int | None: ...
    @property
    def sandbox_epoch(self) -> datetime | None: ...
    @property
    def sandbox_skipped(self) -> timedelta: ...


def dps_clock(base: Clock, dps: SandboxTimed) -> Clock:
    """The business clock of everything under `dps`: `base` itself for a real procedure."""
    if dps.sandbox_factor is None or dps.sandbox_epoch is None:
        return base
    return AcceleratedClock(base, dps.sandbox_epoch, dps.sandbox_factor, dps.sandbox_skipped)


def listing_now(base: Clock, dps: Dps) -> datetime:
    """The present under `dps`, for one row of a listing: a sandbox whose clock ran out reads the end of time
    (every deadline it ever set has passed) instead of failing, so one rehearsal past its time never turns a
    whole listing into a 410. Reading that sandbox's objects one by one still answers 410."""
    try:
        return dps_clock(base, dps).now()
    except ClockExhausted:
        return datetime.max.replace(tzinfo=UTC)


async def dps_of(session: AsyncSession, dps_id: uuid.UUID) -> Dps:
    """The DPS an object belongs to (through the session's identity map: one query per request at most)."""
    dps = await session.get(Dps, dps_id)
    assert dps is not None  # every caller holds a row whose foreign key names it
    return dps


async def clock_of(session: AsyncSession, base: Clock, dps_id: uuid.UUID) -> Clock:
    """The business clock of everything under the DPS with this id."""
    return dps_clock(base, await dps_of(session, dps_id))


def clock_schema(base: Clock, dps: SandboxTimed) -> schemas.SandboxClock | None:
    clock = dps_clock(base, dps)
    if not isinstance(clock, AcceleratedClock):
        return None
    now = clock.now()
    return schemas.SandboxClock(factor=clock.factor, epoch=clock.epoch,
                                skipped_seconds=int(clock.skipped.total_seconds()), now=now,
                                now_paris=format_paris(now), notice=NOTICE)

