"""A funder's read-only view of SONS orders (issue 16): the members of an ARS read the orders with a site in its
region (a FINESS ET of one of its départements), nothing else, and act on none."""

from __future__ import annotations

from pathlib import Path

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import Client, ok
from tests.sons.test_reports import known_orders
from tests.world import World


async def test_an_ars_reads_the_orders_of_its_region_only(client: Client, world: World, settings: Settings,
                                                          clock: FrozenClock, tmp_path: Path) -> None:
    await known_orders(client, world, settings, clock, tmp_path)
    every = {o["orderRef"]: o for o in ok(await client.get("/sons/orders", headers=world["platform_admin"].headers),
                                          200)}
    assert sorted(every) == ["A1", "A2", "A3", "B1"]

    # The ARS Île-de-France: A1 (its site 750000010 is in Paris); not A3 (Guadeloupe) nor A2/B1 (SIRET sites).
    for person in ("funder_admin", "funder_instructor"):
        listed = ok(await client.get("/sons/orders", headers=world[person].headers), 200)
        assert [o["orderRef"] for o in listed] == ["A1"], person
        assert ok(await client.get(f"/sons/orders/{every['A1']['id']}", headers=world[person].headers), 200)[
            "orderRef"] == "A1"
        for other in ("A2", "A3", "B1"):
            assert (await client.get(f"/sons/orders/{every[other]['id']}",
                                     headers=world[person].headers)).status_code == 404
    funder = world["funder_admin"].headers
    report = ok(await client.get("/sons/reports/orders", params={"by": "region"}, headers=funder), 200)
    assert [(r["key"], r["orders"]) for r in report["rows"]] == [("11", 1)] and report["total"]["orders"] == 1
    requests = ok(await client.get("/sons/payment-requests", headers=funder), 200)
    assert [d["order"]["orderRef"] for d in requests] == ["A1"]

    # Read-only: the funder neither files nor signs nor records for the ASP.
    a1 = every["A1"]["id"]
    assert (await client.post(f"/sons/orders/{a1}/amendments", headers=funder,
                              json={"amountCents": 0})).status_code == 403
    assert (await client.post(f"/sons/orders/{a1}/cancellation", headers=funder,
                              json={"swornStatement": "Non."})).status_code == 403

    # The ARS Bretagne: none of these orders is in its region.
    bretagne = world["other_funder_admin"].headers
    assert ok(await client.get("/sons/orders", headers=bretagne), 200) == []
    assert (await client.get(f"/sons/orders/{a1}", headers=bretagne)).status_code == 404
    assert ok(await client.get("/sons/reports/orders", headers=bretagne), 200)["total"]["orders"] == 0
    assert ok(await client.get("/sons/payment-requests", headers=bretagne), 200) == []
