"""The public lists tolerate a little lag: their answers are kept in Redis `public_cache_seconds`, shared by every
API process, while every other read, and every write, goes to the database as it happens (marketplace/app.py).

The rest of the suite runs with the cache off (tests/conftest.py), so that a test reads its own writes at once.
"""

from __future__ import annotations

import asyncio
import time

from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import create_dps, expect, initial_window, open_dps, publish
from tests.vendors.conftest import clock  # noqa: F401  (fixture)
from tests.world import World

LAG = 2


def _ids(page: dict) -> set[str]:  # type: ignore[type-arg]
    return {item["id"] for item in page["items"]}


async def test_a_public_list_lags_at_most_its_setting_and_every_process_shares_it(
        settings: Settings, world: World, clock: FrozenClock) -> None:
    cached = settings.with_(public_cache_seconds=LAG)
    async with AsyncTestClient(create_app(cached, clock=clock)) as client, \
            AsyncTestClient(create_app(cached, clock=clock)) as other_process:
        first = await open_dps(client, world, clock)
        listed = await client.get("/dps")
        assert listed.status_code == 200 and first["id"] in _ids(listed.json())
        listed_at = time.monotonic()

        second = await open_dps(client, world, clock)
        # Its own page, a transactional read, shows the new DPS at once; the public list keeps its answer...
        assert (await client.get(f"/dps/{second['id']}")).status_code == 200
        stale = await client.get("/dps")
        assert _ids(stale.json()) == _ids(listed.json()), "the list was read again within its lag"
        # ...which another app instance on the same Redis serves too: the cache is not the process's.
        assert _ids((await other_process.get("/dps")).json()) == _ids(listed.json())

        await asyncio.sleep(max(0.0, LAG + 0.3 - (time.monotonic() - listed_at)))
        fresh = await other_process.get("/dps")
        assert {first["id"], second["id"]} <= _ids(fresh.json())


async def test_a_buyers_read_of_its_dps_is_never_served_from_the_cache(
        settings: Settings, world: World, clock: FrozenClock) -> None:
    cached = settings.with_(public_cache_seconds=60)
    async with AsyncTestClient(create_app(cached, clock=clock)) as client:
        draft = await create_dps(client, world, clock)
        buyer = world["buyer_admin"].headers
        # A draft is read by its buyer through a route that is never cached: each read sees the last write.
        shown = await client.get(f"/dps/{draft['id']}", headers=buyer)
        assert shown.status_code == 200
        assert draft["id"] not in _ids((await client.get("/dps")).json())  # drafts are never listed
        expect(await publish(client, world, clock, draft["id"], initial_window(clock)), 200)
        after = await client.get(f"/dps/{draft['id']}", headers=buyer)
        assert after.json()["status"] != shown.json()["status"] == "draft"


async def test_with_the_setting_at_zero_a_public_list_is_read_fresh_each_time(
        settings: Settings, world: World, clock: FrozenClock) -> None:
    assert settings.public_cache_seconds == 0
    async with AsyncTestClient(create_app(settings, clock=clock)) as client:
        assert (await client.get("/dps")).json()["items"] == []
        opened = await open_dps(client, world, clock)
        assert opened["id"] in _ids((await client.get("/dps")).json())
