"""The app's queries through PgBouncer in transaction pooling mode (`MARKETPLACE_DATABASE_PGBOUNCER`,
lib/database.py).

A real PgBouncer (Debian's package, devstack/pgbouncer.py) with two server connections in front of the test's own
primary. In transaction mode each transaction of a client connection may run on another server connection: a
statement asyncpg prepared and cached on one is missing on the next. The engine's default options fail on it; with
the setting they don't, and the app's routes work through it under concurrent load.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from marketplace.app import create_app, make_principal_engine
from marketplace.devstack.pgbouncer import EmbeddedPgBouncer, PgBouncerUnavailable
from marketplace.devstack.postgres import APP_ROLE, EmbeddedPostgres
from marketplace.lib.clock import FrozenClock
from marketplace.lib.database import StatementPool, make_engine
from marketplace.settings import Settings
from tests.conftest import _reset
from tests.test_replica import _directory, primary  # noqa: F401 - the primary fixture
from tests.vendors.api import create_dps, expect, publish
from tests.vendors.conftest import START
from tests.world import build_world

Client = AsyncTestClient[Litestar]


@pytest.fixture(scope="module")
def bouncer(primary: EmbeddedPostgres) -> Iterator[EmbeddedPgBouncer]:
    """Where pgbouncer can't be had the test is skipped on a developer's machine, but fails under CI=true: CI runs
    as root where apt can fetch it, and a skip there would hide a broken pooling path."""
    for path in _directory("pgbouncer"):
        pooler = EmbeddedPgBouncer(path, upstream_port=primary.port, database=primary.database,
                                   roles=("postgres", APP_ROLE), pool_mode="transaction", pool_size=2)
        try:
            pooler.start()
        except PgBouncerUnavailable as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true and no pgbouncer: {exc}")
            pytest.skip(f"no pgbouncer: {exc}")
        try:
            yield pooler
        finally:
            pooler.stop()


async def _two_transactions_on_two_servers(settings: Settings) -> list[int]:
    """One client connection runs the same statement in three transactions; in between, another client holds the
    server connection the first one ran on, so PgBouncer hands the second transaction the other one."""
    engine = make_engine(settings)
    answers = []
    try:
        async with engine.connect() as one, engine.connect() as other:
            statement = text("SELECT CAST(:x AS int) + 1")
            answers.append((await one.execute(statement, {"x": 1})).scalar_one())
            await one.commit()
            await other.execute(text("SELECT 1"))  # an open transaction: its server connection is taken
            answers.append((await one.execute(statement, {"x": 2})).scalar_one())
            await one.commit()
            await other.commit()
            answers.append((await one.execute(statement, {"x": 3})).scalar_one())
            await one.commit()
    finally:
        await engine.dispose()
    return answers


async def test_without_the_setting_a_cached_prepared_statement_is_missing_on_the_next_server(
        bouncer: EmbeddedPgBouncer) -> None:
    settings = Settings(database_url=bouncer.url("postgres"))
    with pytest.raises(DBAPIError, match=r"prepared statement .* does not exist"):
        await _two_transactions_on_two_servers(settings)


async def test_with_the_setting_the_same_transactions_pass(bouncer: EmbeddedPgBouncer) -> None:
    settings = Settings(database_url=bouncer.url("postgres"), database_pgbouncer=True)
    assert await _two_transactions_on_two_servers(settings) == [2, 3, 4]


async def _principal_reads(engine: AsyncEngine) -> int:
    """Statements as the principal read runs them (one per connection checkout, accounts/auth.py), 16 at a time
    through 8 client connections onto PgBouncer's 2 server connections; the number that answered."""
    async def read(n: int) -> int:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT CAST(:x AS int) + 1"), {"x": n})).scalar_one())

    answered = 0
    try:
        for round_ in range(10):
            answers = await asyncio.gather(*(read(round_ * 16 + n) for n in range(16)))
            answered += sum(1 for n, a in enumerate(answers) if a == round_ * 16 + n + 1)
    finally:
        await engine.dispose()
    return answered


async def test_the_principal_read_outside_a_transaction_loses_its_statement_between_servers(
        bouncer: EmbeddedPgBouncer) -> None:
    """Why the principal engine is not AUTOCOMMIT behind PgBouncer: the statement is prepared in one round trip
    and executed in the next, each its own "transaction" to PgBouncer, which may hand them to two servers."""
    settings = Settings(database_url=bouncer.url("postgres"), database_pgbouncer=True)
    autocommit = make_engine(settings, isolation_level="AUTOCOMMIT", pool_size=8, max_overflow=0)
    with pytest.raises(DBAPIError, match=r"prepared statement .* does not exist"):
        await _principal_reads(autocommit)


async def test_the_principal_engine_reads_through_pgbouncer(bouncer: EmbeddedPgBouncer) -> None:
    settings = Settings(database_url=bouncer.url("postgres"), database_pgbouncer=True)
    assert await _principal_reads(make_principal_engine(settings)) == 160



async def _statement_pool_reads(pool: StatementPool) -> int:
    """The one-statement reads of every request (who calls, a contract's notice: lib/database.py), 16 at a time
    through the pool's 8 client connections onto PgBouncer's 2 server connections; the number that answered."""
    answered = 0
    try:
        for round_ in range(10):
            rows = await asyncio.gather(*(pool.fetchrow("SELECT $1::int + 1 AS n", round_ * 16 + n)
                                          for n in range(16)))
            answered += sum(1 for n, row in enumerate(rows) if row is not None and row["n"] == round_ * 16 + n + 1)
    finally:
        await pool.close()
    return answered


async def test_the_statement_pool_reads_through_pgbouncer(bouncer: EmbeddedPgBouncer) -> None:
    """With the setting no statement is cached: one prepared in a transaction would be missing on the server
    connection of the next (the test fails with asyncpg's cache on). Each read also runs in a read-only
    transaction, so that its prepare and its execute reach one server connection."""
    settings = Settings(database_url=bouncer.url("postgres"), database_pgbouncer=True)
    assert await _statement_pool_reads(StatementPool(settings)) == 160

@pytest.fixture
async def client(settings: Settings, primary: EmbeddedPostgres,
                 bouncer: EmbeddedPgBouncer) -> AsyncIterator[tuple[Client, Settings]]:
    """The app with every engine (requests, authentication, the outbox relay) through PgBouncer; the session's
    Redis, S3 and mail."""
    direct = settings.with_(database_url=primary.app_url, migration_database_url=primary.url)
    await _reset(direct)
    # No response cache: every public list goes to the database.
    pooled = direct.with_(database_url=bouncer.url(APP_ROLE), database_pgbouncer=True, public_cache_seconds=0)
    async with AsyncTestClient(app=create_app(pooled, clock=FrozenClock(START))) as client:
        yield client, direct


async def test_the_app_works_through_pgbouncer_in_transaction_mode(client: tuple[Client, Settings]) -> None:
    http, direct = client
    clock = FrozenClock(START)
    world = await build_world(direct)
    buyer = world["buyer_admin"].headers
    drafts = [await create_dps(http, world, clock, title=f"SAD {n}") for n in range(3)]
    for dps in drafts:
        expect(await publish(http, world, clock, dps["id"]), 200)
    # Many requests at once, signed in and anonymous: the app's pool holds more client connections than PgBouncer
    # has server connections (2), so consecutive transactions of one land on different servers.
    for _ in range(3):
        answers = await asyncio.gather(
            *(http.get(f"/dps/{dps['id']}", headers=buyer) for dps in drafts),
            *(http.get("/dps") for _ in range(6)),
            *(http.get(f"/dps/{dps['id']}") for dps in drafts),
            http.get("/auth/me", headers=buyer))
        assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers
                                                                          if a.status_code != 200]
        assert {item["id"] for item in answers[3].json()["items"]} == {d["id"] for d in drafts}
