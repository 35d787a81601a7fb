"""`marketplace publish-open-data`: what the worker's jobs do, at once, in a process of its own; twice is once."""

from __future__ import annotations

import asyncio

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.accounts.test_cli import _cli
from tests.vendors.api import Client, fetch, open_dps
from tests.world import World


@pytest.mark.usefixtures("cpv")
async def test_the_command_publishes_the_releases_due_once(client: Client, world: World, clock: FrozenClock,
                                                          settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    first = await asyncio.to_thread(_cli, settings, "publish-open-data")
    assert first.returncode == 0, first.stderr
    assert "OCDS: 2 release(s) published. DECP: 0 record(s) published" in first.stdout
    rows = await fetch(settings, "SELECT release_id FROM ocds_release ORDER BY release_id")
    assert [r["release_id"] for r in rows] == [f"{settings.ocds_ocid_prefix}-{dps['id']}-tender-notice",
                                               f"{settings.ocds_ocid_prefix}-{dps['id']}-tenderUpdate-active"]
    again = await asyncio.to_thread(_cli, settings, "publish-open-data")
    assert "OCDS: 0 release(s) published" in again.stdout
