"""The DPS's own form, checked at its creation: its validity (D2) and its categories, each pair once (D20)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import Client, dps_body, expect, fetch
from tests.world import World


async def _create(client: Client, world: World, body: dict[str, Any]) -> Any:
    return await client.post("/dps", headers=world["buyer_admin"].headers, json=body)


@pytest.mark.parametrize("end", [timedelta(days=-1), timedelta(0)], ids=["before-start", "at-start"])
async def test_a_validity_that_ends_before_it_starts_is_refused_d2(client: Client, world: World, clock: FrozenClock,
                                                                  settings: Settings, end: timedelta) -> None:
    body = dps_body(clock.now())
    body["validityEnd"] = (clock.now() + end).isoformat()
    problem = expect(await _create(client, world, body), 422)
    assert (problem["field"], problem["rule"]) == ("validityEnd", "D2")
    assert await fetch(settings, "SELECT id FROM dps") == []


@pytest.mark.parametrize("missing", ["validityStart", "validityEnd"])
async def test_a_validity_without_one_of_its_ends_is_refused_d2(client: Client, world: World, clock: FrozenClock,
                                                               settings: Settings, missing: str) -> None:
    body = dps_body(clock.now())
    del body[missing]
    response = await _create(client, world, body)
    # A body that doesn't decode into the schema: 400 or 422 depending on where it is caught, naming the field.
    assert response.status_code in (400, 422), response.text
    assert missing in response.text
    assert await fetch(settings, "SELECT id FROM dps") == []


async def test_a_sector_and_delivery_mode_pair_appears_once_d20(client: Client, world: World, clock: FrozenClock,
                                                                settings: Settings) -> None:
    body = dps_body(clock.now(), sectors=("grand_age",), modes=("saas", "hosted"))
    body["categories"].append({**body["categories"][0], "title": "La même catégorie, sous un autre titre"})
    problem = expect(await _create(client, world, body), 422)
    assert (problem["field"], problem["rule"]) == ("categories[2]", "D20")
    assert "grand_age × saas appears twice" in problem["detail"]
    assert await fetch(settings, "SELECT id FROM dps_category") == []
