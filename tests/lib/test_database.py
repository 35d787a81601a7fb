"""lib/database.py on its own: the PgBouncer connection options, and a replica that doesn't answer being skipped for
a while rather than dialled on every request (the replica itself: tests/test_replica.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.devstack._proc import free_port
from marketplace.lib.database import ReadReplica, StatementPool, connect_args, make_engine
from marketplace.settings import Settings


def test_without_pgbouncer_the_driver_keeps_its_defaults() -> None:
    assert connect_args(Settings()) == {}


def test_with_pgbouncer_no_statement_is_cached_and_each_prepared_one_has_a_name_of_its_own() -> None:
    options = connect_args(Settings(database_pgbouncer=True))
    assert options["statement_cache_size"] == 0 and options["prepared_statement_cache_size"] == 0
    names = {options["prepared_statement_name_func"]() for _ in range(100)}
    assert len(names) == 100 and all(re.fullmatch(r"__asyncpg_[0-9a-f-]{36}__", name) for name in names)


def _no_primary(*_: Any) -> AsyncSession:
    raise AssertionError("not called here")


async def test_a_replica_that_refuses_connections_is_skipped_until_its_retry_time() -> None:
    # Nothing listens on a free port: the connection is refused, as by a stopped server.
    url = f"postgresql+asyncpg://marketplace_app@127.0.0.1:{free_port()}/marketplace"
    engine = make_engine(Settings(database_url=url), pool_pre_ping=True)
    attempts = []
    event.listen(engine.sync_engine, "do_connect", lambda *_: attempts.append(1))
    replica = ReadReplica(async_sessionmaker(engine), _no_primary, retry_after=0.3)
    try:
        assert replica.configured
        assert await replica.open() is None
        assert len(attempts) == 1
        # Within the retry time: not dialled again.
        assert await replica.open() is None and await replica.open() is None
        assert len(attempts) == 1
        await asyncio.sleep(0.35)
        assert await replica.open() is None
        assert len(attempts) == 2
    finally:
        await replica.dispose()


async def test_without_a_replica_url_there_is_no_replica() -> None:
    replica = ReadReplica.from_settings(Settings(), _no_primary)
    assert not replica.configured and replica.engine is None
    assert await replica.open() is None


async def test_a_busy_statement_pool_gives_up_at_its_bound_as_an_outage(settings: Settings,
                                                                       monkeypatch: Any) -> None:
    """G12: with every connection of the pool of one-statement reads taken (a hung or saturated server), a read
    waits ACQUIRE_TIMEOUT at most, then fails as an outage (a 503, errors.py), never holding its request."""
    from marketplace import errors
    from marketplace.lib import database

    monkeypatch.setattr(database, "ACQUIRE_TIMEOUT", 0.3)
    pool = StatementPool(settings, size=1)
    try:
        holder = asyncio.create_task(pool.fetchrow("SELECT pg_sleep(2)"))
        await asyncio.sleep(0.3)  # the one connection is taken
        started = asyncio.get_running_loop().time()
        try:
            await pool.fetchrow("SELECT 1")
        except Exception as exc:  # any type: whether it counts as an outage is what is checked
            refused = exc
        else:
            raise AssertionError("the read waited for the busy connection instead of giving up")
        assert asyncio.get_running_loop().time() - started < 1.0
        assert errors._is_connection_failure(refused), repr(refused)
        await holder
    finally:
        await pool.close()
