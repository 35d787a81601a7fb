"""The DPS's documents: published by its buyer, public and downloadable for the whole validity (D3)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import httpx

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import Client, audit_actions, bucket_keys, create_dps, expect, minimal_pdf, publish
from tests.world import World


async def test_documents_are_public_versioned_and_archived_after_validity(client: Client, world: World,
                                                                          clock: FrozenClock,
                                                                          settings: Settings) -> None:
    dps = await create_dps(client, world, clock)
    buyer = {**world["buyer_admin"].headers, "content-type": "application/pdf"}
    path = f"/dps/{dps['id']}/documents"
    rc = minimal_pdf("Règlement de consultation v1")
    first = expect(await client.put(path, params={"title": "Règlement de consultation", "filename": "RC v1.pdf"},
                                    content=rc, headers=buyer), 201)
    assert first["sha256"] == hashlib.sha256(rc).hexdigest()
    assert (await client.get(path)).status_code == 404  # a draft's documents are not public yet
    expect(await publish(client, world, clock, dps["id"]), 200)

    rc2 = minimal_pdf("Règlement de consultation v2")
    expect(await client.put(path, params={"title": "Règlement de consultation", "filename": "RC v2.pdf"},
                            content=rc2, headers=buyer), 201)
    listed = expect(await client.get(path), 200)  # anonymous
    assert [d["filename"] for d in listed] == ["RC v1.pdf", "RC v2.pdf"]  # the old version stays

    redirect = await client.get(listed[0]["downloadPath"], follow_redirects=False)
    assert redirect.status_code == 307
    async with httpx.AsyncClient() as s3:
        downloaded = await s3.get(redirect.headers["location"])
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == first["sha256"]
    assert "attachment" in downloaded.headers["content-disposition"]

    # Refusals leave nothing behind.
    before = await bucket_keys(settings, "dps/")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    refused = await client.put(path, params={"title": "Image", "filename": "x.pdf"}, content=png, headers=buyer)
    assert refused.status_code == 415
    assert (await client.put(path, params={"title": "Vendor", "filename": "x.pdf"}, content=rc,
                             headers={**world["vendor_admin"].headers, "content-type": "application/pdf"})
            ).status_code == 403
    assert await bucket_keys(settings, "dps/") == before

    clock.set(datetime.fromisoformat(dps["validityEnd"]) + timedelta(seconds=1))
    assert (await client.get(listed[0]["downloadPath"], follow_redirects=False)).status_code == 410
    assert (await client.get(listed[0]["downloadPath"], headers=world["buyer_admin"].headers,
                             follow_redirects=False)).status_code == 307
    assert (await audit_actions(settings, dps["id"])).count("dps.document_published") == 2
