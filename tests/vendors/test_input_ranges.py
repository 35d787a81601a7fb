"""Dates a vendor gives beside a document: out of the years the platform handles, refused naming the
parameter before anything is stored (G10)."""

from __future__ import annotations

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import Client, apply, bucket_keys, categories_by_pair, minimal_pdf, open_dps, upload
from tests.world import World


@pytest.mark.parametrize("valid_until", ["9999-12-31", "0001-01-01"])
async def test_a_document_valid_until_out_of_range_names_the_parameter(
        client: Client, world: World, clock: FrozenClock, settings: Settings, valid_until: str) -> None:
    dps = await open_dps(client, world, clock)
    request = await apply(client, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    before = await bucket_keys(settings)
    response = await upload(client, world["vendor_admin"], request["id"], "insurance", minimal_pdf("assurance"),
                            valid_until=valid_until)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "validUntil"
    assert await bucket_keys(settings) == before  # refused before the file was stored
