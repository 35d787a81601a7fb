"""Jobs that are never lost: a transactional outbox in PostgreSQL, relayed to arq.

A service calls `record_job(session, "name", *ids)` inside the request's transaction: the intent commits
or rolls back with the business change. A trigger on the table NOTIFYs the relay at commit; the relay
(`OutboxRelay`, run by each API process) moves pending intents to arq with `_job_id` = the intent id and
keeps retrying while Redis is down. Workers run `@job` functions, which take ids, re-read state and are
idempotent; the wrapper marks the intent done. An intent enqueued long ago and never finished (Redis
lost it, say on a restart) is enqueued again: arq refuses the duplicate while it still knows the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from arq.connections import ArqRedis
from sqlalchemy import Index, String, Table, Text, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from marketplace.lib.clock import Clock
from marketplace.lib.columns import value_enum

log = logging.getLogger("marketplace.jobs")

NOTIFY_CHANNEL = "marketplace_outbox"


class IntentStatus(enum.StrEnum):
    PENDING = "pending"
    ENQUEUED = "enqueued"
    DONE = "done"
    FAILED = "failed"


class JobIntent(UUIDv7AuditBase):
    __tablename__ = "job_intent"
    __table_args__ = (
        Index("ix_job_intent_due", "available_at", postgresql_where=text("status IN ('pending', 'enqueued')")),
    )

    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    status: Mapped[IntentStatus] = mapped_column(
        value_enum(IntentStatus, "job_intent_status"),
        default=IntentStatus.PENDING,
    )
    available_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    done_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    relay_attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


_INSERT_INTENT = insert(cast(Table, JobIntent.__table__))


async def record_job(session: AsyncSession, clock: Clock, name: str, *args: Any,
                     delay: timedelta | None = None) -> None:
    """Record a job in the caller's transaction; it runs only if that transaction commits."""
    values = intent_values(clock, name, *args, delay=delay)
    # What the caller changed goes first, as it did when the intent was added to the session and flushed.
    await session.flush()
    # A built statement, not the ORM's flush of one new object, which cost more than the insert (bench/RESULTS.md,
    # issue 19).
    await session.execute(_INSERT_INTENT, values)


def intent_values(clock: Clock, name: str, *args: Any, delay: timedelta | None = None) -> dict[str, Any]:
    """A pending intent's row, by column, for a statement that inserts it with other writes (`record_job`'s)."""
    for arg in args:
        if not isinstance(arg, (str, int, bool)) and arg is not None:
            raise TypeError(f"job arguments are ids (str/int), got {type(arg).__name__}")
    now = clock.now()
    return {"id": uuid7(), "name": name, "args": list(args), "status": IntentStatus.PENDING,
            "available_at": now + (delay or timedelta(0)), "relay_attempts": 0, "created_at": now,
            "updated_at": now}


def intents_cte(source: str, *, name: str = "intents") -> str:
    """SQL for a set-based statement: `<name> AS (...)`, one pending intent per row of the CTE `source`, whose
    `id` is the job's one argument and `:job_name` the job. What `record_job` does row by row, for a statement
    that writes thousands of rows at once (one round trip); the relay enqueues these like any other intent.
    The statement binds `:job_name` and `:now`."""
    return f"""{name} AS (
    INSERT INTO job_intent (id, name, args, status, available_at, relay_attempts, created_at, updated_at)
    SELECT gen_random_uuid(), CAST(:job_name AS varchar), jsonb_build_array({source}.id::text), 'pending',
           CAST(:now AS timestamptz), 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM {source}
    RETURNING id
)"""  # noqa: S608  # nosec B608  # names from code; values are bound


class OutboxRelay:
    """Moves due intents from PostgreSQL to arq. Several relays may run: rows are claimed with SKIP LOCKED."""

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], redis: ArqRedis, clock: Clock, *,
                 database_dsn: str | None = None, poll_interval: float = 1.0, batch_size: int = 200,
                 redeliver_after: timedelta = timedelta(minutes=2), gather: float = 0.05) -> None:
        self.session_maker = session_maker
        self.redis = redis
        self.clock = clock
        self.database_dsn = database_dsn
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.redeliver_after = redeliver_after
        self.gather = gather
        self._wake = asyncio.Event()
        self._stopping = False

    async def run_once(self) -> int:
        """Relay one batch; returns how many intents were handed to arq. Raises if Redis is unreachable."""
        now = self.clock.now()
        relayed = 0
        async with self.session_maker() as session, session.begin():
            due = (
                (JobIntent.status == IntentStatus.PENDING)
                | ((JobIntent.status == IntentStatus.ENQUEUED)
                   & (JobIntent.enqueued_at < now - self.redeliver_after))
            )
            rows = (await session.scalars(
                select(JobIntent).where(due, JobIntent.available_at <= now)
                .order_by(JobIntent.available_at).limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            failure: Exception | None = None
            try:
                for intent in rows:
                    await self.redis.enqueue_job(intent.name, *intent.args, _job_id=str(intent.id))
                    intent.status = IntentStatus.ENQUEUED
                    intent.enqueued_at = now
                    relayed += 1
            except Exception as exc:
                # Those already handed over stay marked; the rest wait for the next round. The
                # transaction still commits, so the attempt is on record.
                failure = exc
                for intent in rows[relayed:]:
                    intent.relay_attempts += 1
                    intent.last_error = repr(exc)[:2000]
        if failure is not None:
            raise failure
        return relayed

    def stop(self) -> None:
        """Finish the batch in hand, then return: cancelling mid-transaction would strand a connection."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        listener = asyncio.create_task(self._listen())
        backoff = self.poll_interval
        try:
            while not self._stopping:
                try:
                    relayed = await self.run_once()
                    backoff = self.poll_interval
                    if relayed >= self.batch_size and not self._stopping:
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis or PostgreSQL down: wait and try again, never give up.
                    log.warning("outbox.relay_failed", extra={"error": repr(exc)})
                    backoff = min(backoff * 2, 30.0)
                if self._stopping:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                if self._wake.is_set() and not self._stopping:
                    # Woken by a commit: the intents of the commits that follow within `gather` go in the same
                    # batch. Under load (80 submissions/s, each with its time-stamp job) a relay woken once per
                    # intent spent a fifth of the API worker's CPU on one-row batches (bench/RESULTS.md).
                    await asyncio.sleep(self.gather)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        """LISTEN for commits of new intents so they are relayed at once rather than at the next poll."""
        if not self.database_dsn:
            return
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.database_dsn, timeout=5)
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                # asyncpg has no "connection lost" awaitable; a cheap periodic check notices it.
                while not conn.is_closed():  # noqa: ASYNC110
                    await asyncio.sleep(5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("outbox.listen_failed", extra={"error": repr(exc)})
                await asyncio.sleep(5)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))


JobFunction = Callable[..., Awaitable[Any]]


def job(fn: JobFunction) -> JobFunction:
    """Wrap an arq job so its outbox intent is marked done (or failed) by the worker.

    `ctx` must hold "session_maker" and "clock" (see `marketplace.worker`).
    """

    @functools.wraps(fn)
    async def wrapper(ctx: dict[str, Any], *args: Any) -> Any:
        from arq import Retry

        try:
            result = await fn(ctx, *args)
        except Retry:
            raise
        except Exception as exc:
            await _finish(ctx, IntentStatus.FAILED, repr(exc)[:2000])
            raise
        await _finish(ctx, IntentStatus.DONE, None)
        return result

    return wrapper


async def _finish(ctx: dict[str, Any], status: IntentStatus, error: str | None) -> None:
    try:
        intent_id = uuid.UUID(str(ctx.get("job_id")))
    except ValueError:
        return  # enqueued by hand, not through the outbox
    async with ctx["session_maker"]() as session, session.begin():
        await session.execute(
            update(JobIntent).where(JobIntent.id == intent_id, JobIntent.status != IntentStatus.DONE)
            .values(status=status, done_at=ctx["clock"].now(), last_error=error)
        )
