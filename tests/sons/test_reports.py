"""Reports on SONS orders (issue 16): per dispositif, wave, region, vendor, status and ASP status, with counts,
HT/TTC, paid and at risk, as JSON and CSV, asserted on a known set of orders; each caller reads its own orders."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock, system_clock
from marketplace.settings import Settings
from marketplace.sons.dispositifs import import_ceilings
from tests.sons.api import Client, asp, calendar, dispositif, ok, order_body, request_of, sign, solution
from tests.sons.test_imports import siret
from tests.world import World

MS1, MS2 = "MS1-DUI-PA-PH-DOM", "MS2-DUI-PDE"


async def second_dispositif(client: Client, world: World, settings: Settings, clock: FrozenClock,
                            tmp_path: Path) -> dict[str, Any]:
    """MS2 of wave 2, whose deployment deadline is 20 days away (its orders are at risk), with a ceiling table of
    its own (test data)."""
    at = clock.now()
    days = {"orderDeadline": 5, "advanceDeadline": 10, "deploymentDeadline": 20, "balanceDeadline": 25}
    created = ok(await client.post("/sons/dispositifs", headers=world["platform_admin"].headers, json={
        "code": MS2, "wave": 2, "label": "DUI protection de l'enfance", "legalBasis": "Arrêté du 7 septembre 2022",
        "acceptanceKind": "VA", "calendar": calendar(at, **{k: (at + timedelta(days=d)).isoformat()
                                                           for k, d in days.items()})}), 201)
    table = tmp_path / "ms2.json"
    table.write_text(json.dumps({"dispositif": MS2, "wave": 2, "tranches": [
        {"tranche": "T1", "label": "Test data, not the AF's", "ceilingHtCents": 2_000_000, "vatRateBp": 2000}]}))
    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_ceilings(session, system_clock, table, table.read_bytes(), "test")
            await session.commit()
    finally:
        await engine.dispose()
    return dict(created)


async def known_orders(client: Client, world: World, settings: Settings, clock: FrozenClock,
                       tmp_path: Path) -> None:
    """A1 (vendor, MS1, the holder's FINESS site in Paris, its advance paid), A2 (vendor, MS1, a SIRET site, T2),
    A3 (the other vendor, MS1, the other holder's FINESS site in Guadeloupe), B1 (vendor, MS2, a SIRET site)."""
    at = clock.now()
    ms1 = await dispositif(client, world, settings, at)
    ms2 = await second_dispositif(client, world, settings, clock, tmp_path)
    sol = await solution(client, world, ms1["id"], at)
    other = await solution(client, world, ms1["id"], at, person="other_vendor_admin")
    sol2 = await solution(client, world, ms2["id"], at, name="Portail Enfance")
    vendor = world["vendor_admin"].headers
    a1 = ok(await client.post("/sons/orders", headers=vendor, json=order_body(world, sol["id"], orderRef="A1")), 201)
    ok(await client.post("/sons/orders", headers=vendor, json=order_body(
        world, sol["id"], orderRef="A2", tranche="T2", amountHtCents=2_000_000, amountTtcCents=2_400_000,
        sites=[{"siret": siret(1)}])), 201)
    ok(await client.post("/sons/orders", headers=world["other_vendor_admin"].headers, json=order_body(
        world, other["id"], orderRef="A3", holderOrganisationId=str(world.organisations["other_holder"]),
        amountHtCents=1_000_000, amountTtcCents=1_200_000, sites=[{"finessEt": "970100418"}])), 201)
    ok(await client.post("/sons/orders", headers=vendor, json=order_body(
        world, sol2["id"], orderRef="B1", amountHtCents=1_000_000, amountTtcCents=1_200_000,
        sites=[{"siret": siret(2)}])), 201)
    ok(await sign(client, world, a1["id"]), 200)
    advance = request_of(ok(await client.post(f"/sons/orders/{a1['id']}/advance", headers=vendor), 201), "advance")
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)  # 30 % of 1,440,000


def numbers(row: dict[str, Any]) -> tuple[int, ...]:
    return (row["orders"], row["amountHtCents"], row["amountTtcCents"], row["paidCents"], row["atRisk"],
            row["atRiskTtcCents"])


A1 = (1, 1_200_000, 1_440_000, 432_000, 0, 0)
A2 = (1, 2_000_000, 2_400_000, 0, 0, 0)
A3 = (1, 1_000_000, 1_200_000, 0, 0, 0)
B1 = (1, 1_000_000, 1_200_000, 0, 1, 1_200_000)


def plus(*rows: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sum(column) for column in zip(*rows, strict=True))


async def report(client: Client, world: World, by: str, person: str = "platform_admin") -> dict[str, Any]:
    return dict(ok(await client.get("/sons/reports/orders", params={"by": by}, headers=world[person].headers), 200))


def table(found: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {row["key"]: numbers(row) for row in found["rows"]}


async def test_the_reports_of_a_known_set_of_orders(client: Client, world: World, settings: Settings,
                                                    clock: FrozenClock, tmp_path: Path) -> None:
    await known_orders(client, world, settings, clock, tmp_path)
    vendor, other_vendor = str(world.organisations["vendor"]), str(world.organisations["other_vendor"])

    by_dispositif = await report(client, world, "dispositif")
    assert table(by_dispositif) == {MS1: plus(A1, A2, A3), MS2: B1}
    assert numbers(by_dispositif["total"]) == plus(A1, A2, A3, B1) == (4, 5_200_000, 6_240_000, 432_000, 1,
                                                                      1_200_000)
    assert table(await report(client, world, "wave")) == {"1": plus(A1, A2, A3), "2": B1}
    # Regions from the sites' FINESS ET (Paris: 11, Guadeloupe: 01); SIRET sites are in no known region.
    by_region = await report(client, world, "region")
    assert table(by_region) == {"01": A3, "11": A1, "unknown": plus(A2, B1)}
    assert [r["label"] for r in by_region["rows"]][:2] == ["Guadeloupe", "Île-de-France"]
    by_vendor = await report(client, world, "vendor")
    assert table(by_vendor) == {vendor: plus(A1, A2, B1), other_vendor: A3}
    assert {r["label"] for r in by_vendor["rows"]} == {"Logiciels Médico-Sociaux SAS", "Éditions Santé Numérique"}
    assert table(await report(client, world, "status")) == {"advance_paid": A1, "draft": plus(A2, A3, B1)}
    assert table(await report(client, world, "aspStatus")) == {"DECIDED_PAID": A1, "NONE": plus(A2, A3, B1)}

    # Each reads its own orders: the vendor its three, the holder its three, the other holder its one.
    mine = await report(client, world, "dispositif", "vendor_admin")
    assert (table(mine), numbers(mine["total"])) == ({MS1: plus(A1, A2), MS2: B1}, plus(A1, A2, B1))
    assert numbers((await report(client, world, "vendor", "holder_member"))["total"]) == plus(A1, A2, B1)
    assert table(await report(client, world, "vendor", "other_holder_admin")) == {other_vendor: A3}
    assert (await client.get("/sons/reports/orders", headers=world["buyer_admin"].headers)).status_code == 403

    # CSV: by ?format=csv or by Accept, the same numbers, the total last.
    as_csv = await client.get("/sons/reports/orders", params={"by": "region", "format": "csv"},
                              headers=world["platform_admin"].headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["key"], int(r["orders"]), int(r["amountTtcCents"]), int(r["paidCents"]), int(r["atRisk"]))
            for r in lines] == [("01", 1, 1_200_000, 0, 0), ("11", 1, 1_440_000, 432_000, 0),
                                ("unknown", 2, 3_600_000, 0, 1), ("total", 4, 6_240_000, 432_000, 1)]
    negotiated = await client.get("/sons/reports/orders", params={"by": "region"},
                                  headers={**world["platform_admin"].headers, "accept": "text/csv"})
    assert negotiated.headers["content-type"].startswith("text/csv") and negotiated.text == as_csv.text

    # 21 days on, B1's deployment deadline has passed: it is to expire, no longer "at risk".
    clock.advance(timedelta(days=21))
    assert numbers((await report(client, world, "dispositif"))["total"])[4] == 0
