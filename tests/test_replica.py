"""Reads that tolerate lag go to a streaming replica; everything else stays on the primary (lib/database.py).

A primary of its own in the test's temporary directory, and a hot standby made from it with `pg_basebackup -R`
(devstack/postgres.py), both real PostgreSQL. Pausing the standby's replay freezes what it shows: a DPS published on
the primary meanwhile is missing from the anonymous public reads (they come from the replica) and present in the
buyer's own reads (they come from the primary); once replay resumes, the public sees it. A standby that is down
sends the public reads to the primary, and the signed-in routes never notice.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, create_app
from marketplace.devstack.postgres import EmbeddedPostgres
from marketplace.lib.clock import FrozenClock, system_clock
from marketplace.lib.database import provide_lagging_session
from marketplace.lib.migrate import upgrade
from marketplace.reference.cpv import import_cpv
from marketplace.settings import Settings
from tests.conftest import CPV_SAMPLE, _reset
from tests.tenders.test_search import publish_need
from tests.vendors.api import create_dps, expect, open_dps, publish
from tests.vendors.conftest import START
from tests.world import build_world

Client = AsyncTestClient[Litestar]

# The routes whose `db_session` is the lagging one: public GETs showing published notices, nothing else.
LAGGING_ROUTES = {
    ("GET", "/dps"), ("GET", "/dps/{dps_id:uuid}"), ("GET", "/dps/{dps_id:uuid}/documents"), ("GET", "/register"),
    ("GET", "/discovery/needs"),
    ("GET", "/app/sad"), ("GET", "/app/sad/{dps_id:uuid}"), ("GET", "/app/registre"),
    ("GET", "/app/registre/export.csv"), ("GET", "/app/consultations"),
    ("GET", "/app/consultations/{contract_id:uuid}"),
}


def _directory(name: str) -> Iterator[Path]:
    """Not under pytest's temporary directory: as root the clusters run as an unprivileged user, and every pytest
    process sets its base directory back to 0700 (so a parallel session would lock the cluster out of its own)."""
    path = Path(tempfile.mkdtemp(prefix=f"marketplace-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def primary() -> Iterator[EmbeddedPostgres]:
    for path in _directory("primary"):
        cluster = EmbeddedPostgres(path, durable=False)
        cluster.start()
        try:
            upgrade(cluster.url)
            yield cluster
        finally:
            cluster.stop()


async def _import_cpv(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_cpv(session, system_clock, CPV_SAMPLE, "cpv-2008-sample")
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture
def replica(primary: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """A fresh hot standby of the primary for each test (a test may stop it)."""
    for path in _directory("replica"):
        standby = EmbeddedPostgres(path, durable=False)
        standby.start_replica_of(primary)
        try:
            yield standby
        finally:
            standby.stop()


@pytest.fixture
def replicated(settings: Settings, primary: EmbeddedPostgres, replica: EmbeddedPostgres) -> Settings:
    """The session's Redis, S3 and mail, on the test's own primary and replica; tables emptied (on the primary,
    hence on the replica)."""
    # No response cache: it would answer the public lists from Redis, and the replica is what is looked at here.
    ours = settings.with_(database_url=primary.app_url, migration_database_url=primary.url,
                          database_replica_url=replica.app_url, public_cache_seconds=0)
    asyncio.run(_reset(ours))
    asyncio.run(_import_cpv(primary.url))
    return ours


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def client(replicated: Settings, clock: FrozenClock) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(replicated, clock=clock)) as client:
        yield client


async def _owner(cluster: EmbeddedPostgres) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(cluster.url))


async def caught_up(primary: EmbeddedPostgres, replica: EmbeddedPostgres) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    source, standby = await _owner(primary), await _owner(replica)
    try:
        # The insert position, not the write one: the clusters commit asynchronously (durable=False), so the last
        # commit record may still be in the primary's WAL buffers, not yet written nor sent.
        target = await source.fetchval("SELECT pg_current_wal_insert_lsn()")
        for _ in range(200):
            if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the replica did not catch up within 10 s")
    finally:
        await source.close()
        await standby.close()


async def pause_replay(replica: EmbeddedPostgres) -> None:
    standby = await _owner(replica)
    try:
        await standby.execute("SELECT pg_wal_replay_pause()")
        for _ in range(200):
            if await standby.fetchval("SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("replay did not pause")
    finally:
        await standby.close()


async def resume_replay(replica: EmbeddedPostgres) -> None:
    standby = await _owner(replica)
    try:
        await standby.execute("SELECT pg_wal_replay_resume()")
    finally:
        await standby.close()


def _ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


async def test_the_public_reads_a_dps_from_the_replica_and_its_buyer_from_the_primary(
        client: Client, replicated: Settings, primary: EmbeddedPostgres, replica: EmbeddedPostgres,
        clock: FrozenClock) -> None:
    world = await build_world(replicated)
    buyer = world["buyer_admin"].headers
    health = expect(await client.get("/health"), 200)
    assert health["checks"]["replica"]["status"] == "ok"
    dps = await create_dps(client, world, clock, title="SAD répliqué")
    await caught_up(primary, replica)
    await pause_replay(replica)
    try:
        sent = expect(await publish(client, world, clock, dps["id"]), 200)
        assert sent["status"] != dps["status"]

        # Anonymous: the replica's snapshot, where the DPS is still a draft, so no notice anywhere.
        assert dps["id"] not in _ids(expect(await client.get("/dps"), 200))
        assert (await client.get(f"/dps/{dps['id']}")).status_code == 404
        assert (await client.get(f"/dps/{dps['id']}/documents")).status_code == 404
        assert "SAD répliqué" not in expect_text(await client.get("/app/sad"))
        # Signed in: the primary, which has it published (read-your-writes), through the same public routes.
        assert expect(await client.get(f"/dps/{dps['id']}", headers=buyer), 200)["status"] == sent["status"]
        assert dps["id"] in _ids(expect(await client.get("/dps", headers=buyer), 200))
        # A route that is not a lagging read reads the primary for anyone: the buyer's admission queue.
        expect(await client.get(f"/dps/{dps['id']}/admission-queue", headers=buyer), 200)
    finally:
        await resume_replay(replica)
    await caught_up(primary, replica)

    assert dps["id"] in _ids(expect(await client.get("/dps"), 200))
    assert expect(await client.get(f"/dps/{dps['id']}"), 200)["status"] == sent["status"]
    assert "SAD répliqué" in expect_text(await client.get("/app/sad"))


async def test_the_discovery_of_needs_and_the_register_read_the_replica(
        client: Client, replicated: Settings, primary: EmbeddedPostgres, replica: EmbeddedPostgres,
        clock: FrozenClock) -> None:
    world = await build_world(replicated)
    dps = await open_dps(client, world, clock)
    await caught_up(primary, replica)
    await pause_replay(replica)
    try:
        contract = await publish_need(client, world, clock, dps["id"], title="Logiciel de télégestion répliqué",
                                      dpsId=dps["id"], description="Télégestion des interventions.")
        found = expect(await client.get("/discovery/needs", params={"q": "télégestion"}), 200)
        assert found["items"] == []
        assert (await client.get(f"/app/consultations/{contract['id']}")).status_code == 404
        # The holder that filed it reads its need, published, from the primary.
        need = expect(await client.get(f"/needs/{contract['needId']}", headers=world["holder_admin"].headers), 200)
        assert need["status"] == "published"
        # The DPS itself, active before the pause, is on the replica.
        assert expect(await client.get(f"/dps/{dps['id']}"), 200)["status"] == "active"
        expect(await client.get("/register", params={"dpsId": dps["id"]}), 200)
    finally:
        await resume_replay(replica)
    await caught_up(primary, replica)

    found = expect(await client.get("/discovery/needs", params={"q": "télégestion"}), 200)
    assert [item["title"] for item in found["items"]] == ["Logiciel de télégestion répliqué"]
    assert (await client.get(f"/app/consultations/{contract['id']}")).status_code == 200


async def test_a_replica_that_is_down_sends_public_reads_to_the_primary_and_sealed_routes_never_notice(
        client: Client, replicated: Settings, replica: EmbeddedPostgres, clock: FrozenClock) -> None:
    world = await build_world(replicated)
    buyer = world["buyer_admin"].headers
    replica.stop()

    dps = await create_dps(client, world, clock, title="SAD sans réplique")
    sent = expect(await publish(client, world, clock, dps["id"]), 200)
    assert expect(await client.get(f"/dps/{dps['id']}", headers=buyer), 200)["status"] == sent["status"]
    # The public reads fall back to the primary: the notice is there at once.
    assert dps["id"] in _ids(expect(await client.get("/dps"), 200))
    assert expect(await client.get(f"/dps/{dps['id']}"), 200)["status"] == sent["status"]
    assert "SAD sans réplique" in expect_text(await client.get("/app/sad"))
    expect(await client.get("/discovery/needs"), 200)
    expect(await client.get("/register"), 200)
    # /health names the replica as down, and stays 200: nothing needs it.
    health = expect(await client.get("/health"), 200)
    assert health["status"] == "ok" and health["checks"]["replica"]["status"] == "error"
    # And the app goes on writing.
    expect(await client.post(f"/dps/{dps['id']}/cancel", headers=buyer,
                             json={"reasons": "Besoin reformulé par la centrale d'achat."}), 200)


def test_only_public_reads_of_published_notices_use_the_replica(app: Litestar) -> None:
    """Which routes read the lagging session, checked on the app as built: every one a public GET, and no
    other route (a sealed read or a write on a replica would be a bug no other test would see)."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.http_methods - {"OPTIONS", "HEAD"}:
                continue  # the framework's own, added beside each path
            provider = handler.resolve_dependencies().get("db_session")
            if provider is not None and provider.dependency is provide_lagging_session:
                access = handler.opt.get("access")
                assert access is not None and access.audience == "public", route.path
                found |= {(method, route.path) for method in handler.http_methods - {"HEAD"}}
    assert found == LAGGING_ROUTES


def expect_text(response: Any) -> str:
    assert response.status_code == 200, response.text
    return str(response.text)
