"""A need is filed to one DPS (D2): published there only, listed to that DPS's buyers, and run by another buying
organisation only on a DPS usable by other buyers. And D9's délai franc holds for an extended deadline too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_needs import cpv, create, need_body  # noqa: F401  (cpv: a fixture)
from tests.tenders.test_publication import OPENER_PASSPHRASE, publish, submitted_need
from tests.vendors.api import Client, dps_body, expect, fetch, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


async def other_buyers_dps(client: Client, world: World, clock: FrozenClock, *, usable: bool) -> dict[str, Any]:
    """An active DPS of `other_buyer` (created after the world buyer's, so now the newest)."""
    headers = world["other_buyer_admin"].headers
    created = expect(await client.post("/dps", headers=headers,
                                       json=dps_body(clock.now()) | {"usableByOtherBuyers": usable}), 201)
    expect(await client.post(f"/dps/{created['id']}/publish", headers=headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    return created


async def file(client: Client, world: World, dps_id: str, **overrides: Any) -> dict[str, Any]:
    need = await create(client, world, dpsId=dps_id, **overrides)
    return dict(expect(await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers), 200))


async def test_a_need_is_published_on_the_dps_it_is_filed_to_only(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    ours = await open_dps(client, world, clock)
    need = await submitted_need(client, world)
    assert need["dpsId"] == ours["id"]
    theirs = await other_buyers_dps(client, world, clock, usable=False)
    clock.advance(timedelta(days=31))
    expect(await client.post(f"/dps/{theirs['id']}/activate", headers=world["other_buyer_admin"].headers), 200)
    # Nor can it publish it on ours: the holder didn't name it (and it doesn't see the need).
    assert (await publish(client, world, need["id"], ours["id"], "2030-01-01T00:00:00Z",
                          person="other_buyer_admin")).status_code == 404
    expect(await client.post("/my/opener-keys", headers=world["other_buyer_admin"].headers, json={
        "organisationId": str(world.organisations["other_buyer"]), "passphrase": OPENER_PASSPHRASE}), 201)

    # Another buying organisation can't take the need onto its own DPS (D2).
    deadline = (clock.now() + timedelta(days=12)).isoformat()
    taken = expect(await publish(client, world, need["id"], theirs["id"], deadline, person="other_buyer_admin"), 409)
    assert (taken["field"], taken["rule"]) == ("dpsId", "D2") and taken["filedTo"] == ours["id"]
    # A need filed nowhere isn't submitted: D2 is among its violations.
    unfiled = await client.post("/needs", headers=world["holder_admin"].headers, json=need_body())
    refused = expect(await client.post(f"/needs/{unfiled.json()['id']}/submit", headers=world["holder_admin"].headers),
                     422)
    assert ("D2", "dpsId") in [(v["rule"], v["field"]) for v in refused["violations"]]
    # Filed to a DPS not usable by other buyers, a need can't name another buying organisation.
    named = await client.post("/needs", headers=world["holder_admin"].headers, json=need_body(
        dpsId=theirs["id"], buyerOrganisationId=str(world.organisations["buyer"])))
    assert named.status_code == 422 and (named.json()["field"], named.json()["rule"]) == ("buyerOrganisationId", "D2")

    # The DPS's buyers list the needs filed to it; another buying organisation sees none of ours (none names it),
    # and nothing of a DPS not usable by other buyers.
    listed = expect(await client.get(f"/dps/{ours['id']}/needs", headers=world["buyer_evaluator"].headers), 200)
    assert [n["id"] for n in listed] == [need["id"]]
    assert expect(await client.get(f"/dps/{ours['id']}/needs", headers=world["other_buyer_admin"].headers), 200) == []
    assert (await client.get(f"/dps/{theirs['id']}/needs", headers=world["buyer_admin"].headers)).status_code == 404
    assert (await client.get(f"/dps/{ours['id']}/needs", headers=world["holder_admin"].headers)).status_code == 403

    contract = expect(await publish(client, world, need["id"], ours["id"], deadline), 201)
    assert contract["buyerOrganisationId"] == str(world.organisations["buyer"])
    listed = expect(await client.get(f"/dps/{ours['id']}/needs", headers=world["buyer_admin"].headers), 200)
    assert [(n["id"], n["status"]) for n in listed] == [(need["id"], "published")]


async def test_on_a_dps_usable_by_other_buyers_the_buyer_the_holder_names_runs_the_contract(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    ours = await open_dps(client, world, clock)
    assert ours["usableByOtherBuyers"] is True
    other = str(world.organisations["other_buyer"])
    need = await file(client, world, ours["id"], buyerOrganisationId=other)
    deadline = (clock.now() + timedelta(days=12)).isoformat()
    expect(await client.post("/my/opener-keys", headers=world["other_buyer_admin"].headers, json={
        "organisationId": other, "passphrase": OPENER_PASSPHRASE}), 201)

    # The named organisation sees it on the DPS's list; the DPS's own buyers too (they follow their DPS).
    for person in ("other_buyer_admin", "buyer_evaluator"):
        listed = expect(await client.get(f"/dps/{ours['id']}/needs", headers=world[person].headers), 200)
        assert [n["id"] for n in listed] == [need["id"]]
    # Only the named organisation publishes it, as the buyer of its specific contract.
    mine = expect(await publish(client, world, need["id"], ours["id"], deadline), 409)
    assert (mine["field"], mine["rule"]) == ("buyerOrganisationId", "D2")
    contract = expect(await publish(client, world, need["id"], ours["id"], deadline, person="other_buyer_admin"), 201)
    assert contract["buyerOrganisationId"] == other and contract["dpsId"] == ours["id"]

    # Had the DPS not been usable by other buyers, the named organisation couldn't have (checked again at publication).
    second = await file(client, world, ours["id"], buyerOrganisationId=other, campaign=2023)
    await fetch(settings, "UPDATE dps SET usable_by_other_buyers = false WHERE id = $1", uuid.UUID(ours["id"]))
    refused = expect(await publish(client, world, second["id"], ours["id"], deadline, person="other_buyer_admin"), 409)
    assert (refused["field"], refused["rule"]) == ("buyerOrganisationId", "D2")


async def test_an_extended_deadline_still_respects_d9s_delai_franc(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)  # Thursday 5 February 2026, 08:00 UTC
    need = await submitted_need(client, world)
    contract = expect(await publish(client, world, need["id"], dps["id"], "2026-02-20T12:00:00Z"), 201)
    # A contract published under the old count (10 × 24 h): its deadline was short of the délai franc.
    await fetch(settings, "UPDATE specific_contract SET tender_deadline = $1 WHERE id = $2",
                datetime(2026, 2, 15, 8, 0, tzinfo=UTC), uuid.UUID(contract["id"]))
    url = f"/specific-contracts/{contract['id']}/deadline"
    limit = datetime(2026, 2, 15, 23, 0, tzinfo=UTC)  # Mon 16 Feb 00:00 Paris
    refused = expect(await client.post(url, headers=world["buyer_admin"].headers, json={
        "tenderDeadline": (limit - timedelta(microseconds=1)).isoformat(), "reason": "Report d'une heure."}), 422)
    assert refused["rule"] == "D9"
    extended = expect(await client.post(url, headers=world["buyer_admin"].headers, json={
        "tenderDeadline": limit.isoformat(), "reason": "Report au délai franc."}), 200)
    assert datetime.fromisoformat(extended["tenderDeadline"]) == limit
