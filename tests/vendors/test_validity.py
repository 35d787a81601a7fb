"""Document validity and the initial window's effect on the evaluation clock (D4, D6, §1.4)."""

from __future__ import annotations

from datetime import datetime, timedelta

from marketplace.lib.clock import FrozenClock
from marketplace.lib.working_days import evaluation_due_at
from tests.vendors.api import (
    Client,
    admission_body,
    categories_by_pair,
    create_dps,
    expect,
    minimal_pdf,
    open_dps,
    publish,
    upload,
    upload_all,
)
from tests.world import World


async def test_an_expired_document_is_refused_and_blocks_admission(client: Client, world: World,
                                                                   clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    category = next(iter(categories_by_pair(dps).values()))
    request = expect(await client.post("/admission-requests", headers=world["vendor_admin"].headers,
                                       json=admission_body(category)), 201)
    yesterday = (clock.now() - timedelta(days=1)).date().isoformat()
    stale = await upload(client, world["vendor_admin"], request["id"], "insurance", minimal_pdf("old"),
                         valid_until=yesterday)
    assert stale.status_code == 422 and stale.json()["field"] == "validUntil", stale.text

    # Valid when uploaded, expired by the time of the decision.
    soon = (clock.now() + timedelta(days=3)).date().isoformat()
    expect(await upload(client, world["vendor_admin"], request["id"], "insurance", minimal_pdf("ins"),
                        valid_until=soon), 201)
    expect(await upload(client, world["vendor_admin"], request["id"], "kbis", minimal_pdf("kbis")), 201)
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world["vendor_admin"].headers),
           200)
    clock.advance(timedelta(days=5))
    admit = await client.post(f"/admission-requests/{request['id']}/admit", headers=world["buyer_admin"].headers)
    assert admit.status_code == 422, admit.text
    assert admit.json()["expired"] == ["insurance"]


async def test_a_request_received_during_the_initial_window_is_due_from_its_end(client: Client, world: World,
                                                                               clock: FrozenClock) -> None:
    dps = await create_dps(client, world, clock)
    window = timedelta(days=31)
    window_end = clock.now() + window
    expect(await publish(client, world, clock, dps["id"], window=window), 200)
    category = next(iter(categories_by_pair(dps).values()))
    request = expect(await client.post("/admission-requests", headers=world["vendor_admin"].headers,
                                       json=admission_body(category)), 201)
    await upload_all(client, world["vendor_admin"], request["id"], "early")
    receipt = expect(await client.post(f"/admission-requests/{request['id']}/submit",
                                       headers=world["vendor_admin"].headers), 200)
    assert datetime.fromisoformat(receipt["receivedAt"]) == clock.now()
    # Ten working days from the end of the initial window, not from receipt.
    assert datetime.fromisoformat(receipt["dueAt"]) == evaluation_due_at(window_end)
    assert datetime.fromisoformat(receipt["dueAt"]) > evaluation_due_at(clock.now()) + timedelta(days=25)
