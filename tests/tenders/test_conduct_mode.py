"""HC1: each DPS says how its specific contracts are conducted, intermediation by default (ESMS numérique), set at
creation and while the DPS is a draft, fixed once published; each contract keeps the mode it was published under.
Who publishes follows from it (HC2, HC3), the holder's people register opener keys and may hold the holder's new
roles, and a need on a DPS conducted in intermediation names no other buying organisation (HC2)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.funding_api import fund
from tests.tenders.test_needs import create, need_body
from tests.tenders.test_publication import OPENER_PASSPHRASE, admit, ensure_opener, submitted_need
from tests.vendors.api import (
    Client,
    audit_actions,
    categories_by_pair,
    dps_body,
    expect,
    fetch,
    initial_window,
    open_dps,
)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
WEIGHTS = [{"name": "Prix", "weight": 40}, {"name": "Valeur technique", "weight": 60}]


def _body(clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    body = dps_body(clock.now())
    del body["conductMode"]
    return body | changes


async def test_intermediation_by_default_changed_while_a_draft_then_fixed_once_published(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    buyer = world["buyer_admin"].headers
    # Unsaid: intermediation, ESMS numérique's way; said: as said; anything else: 400 naming the field.
    default = expect(await client.post("/dps", headers=buyer, json=_body(clock)), 201)
    assert default["conductMode"] == "intermediation"
    central = expect(await client.post("/dps", headers=buyer, json=_body(clock, conductMode="centralised")), 201)
    assert central["conductMode"] == "centralised"
    wrong = expect(await client.post("/dps", headers=buyer, json=_body(clock, conductMode="delegated")), 400)
    assert "conductMode" in wrong["detail"]

    # While a draft, its buying organisation's admin changes it; not its evaluator, not another buyer.
    url = f"/dps/{default['id']}/conduct-mode"
    expect(await client.put(url, headers=world["buyer_evaluator"].headers, json={"conductMode": "centralised"}), 403)
    expect(await client.put(url, headers=world["other_buyer_admin"].headers, json={"conductMode": "centralised"}),
           404)
    expect(await client.put(url, headers=world["holder_admin"].headers, json={"conductMode": "centralised"}), 403)
    changed = expect(await client.put(url, headers=buyer, json={"conductMode": "centralised"}), 200)
    assert changed["conductMode"] == "centralised"
    assert await audit_actions(settings, default["id"]) == ["dps.created", "dps.conduct_mode_set"]

    # Published, the notice says it: fixed (409 naming HC1), and shown to anyone reading the notice.
    expect(await client.post(f"/dps/{default['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": (clock.now() + initial_window(clock)).isoformat()}), 200)
    fixed = expect(await client.put(url, headers=buyer, json={"conductMode": "intermediation"}), 409)
    assert (fixed["rule"], fixed["field"]) == ("HC1", "conductMode")
    assert expect(await client.get(f"/dps/{default['id']}"), 200)["conductMode"] == "centralised"
    listed = expect(await client.get("/dps"), 200)["items"]
    assert [d["conductMode"] for d in listed if d["id"] == default["id"]] == ["centralised"]


async def test_in_intermediation_the_holder_publishes_its_need_or_the_dps_buyer_does_on_its_behalf(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock, conduct_mode="intermediation")
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    first, second = await submitted_need(client, world), await submitted_need(client, world)
    for need in (first, second):
        await fund(client, world, need["id"])  # N16: the holder's funder selected both

    async def publish(need: dict[str, Any], person: str) -> Any:
        return await client.post(f"/needs/{need['id']}/publish", headers=world[person].headers, json={
            "dpsId": dps["id"], "tenderDeadline": "2026-02-17T09:00:00", "awardCriteria": WEIGHTS})

    # The holder has no opener yet: the offers couldn't be opened, so nothing is published (D13), even though
    # the DPS's buying organisation has openers of its own: the contract is sealed to its buyer's, the holder's.
    await ensure_opener(client, world, "buyer_admin")
    unsealable = expect(await publish(first, "buyer_admin"), 422)
    assert (unsealable["rule"], unsealable["field"]) == ("D13", "openingThreshold")

    # The holder's people register opener keys for the holder: its openers and its admin, no one else.
    holder = str(world.organisations["holder"])
    for person in ("holder_member", "holder_evaluator"):
        expect(await client.post("/my/opener-keys", headers=world[person].headers,
                                 json={"organisationId": holder, "passphrase": OPENER_PASSPHRASE}), 403)
    expect(await client.post("/my/opener-keys", headers=world["holder_opener"].headers, json={
        "organisationId": str(world.organisations["other_holder"]), "passphrase": OPENER_PASSPHRASE}), 403)
    key = await ensure_opener(client, world, "holder_opener")
    listed = expect(await client.get(f"/organisations/{holder}/opener-keys", headers=world["holder_admin"].headers),
                    200)
    assert [k["id"] for k in listed] == [key]

    # Who publishes: the holder's admin, or the DPS's buying organisation's admin on its behalf; either way the
    # holder is the buyer. Not the holder's evaluators or members, nor the CPB's evaluator (by role), nor another
    # holder or buying organisation (which don't learn of it).
    for person, status in (("holder_evaluator", 403), ("holder_member", 403), ("buyer_evaluator", 403),
                           ("other_holder_admin", 404), ("other_buyer_admin", 404)):
        expect(await publish(first, person), status)
    by_holder = expect(await publish(first, "holder_admin"), 201)
    on_behalf = expect(await publish(second, "buyer_admin"), 201)
    for contract in (by_holder, on_behalf):
        assert contract["buyerOrganisationId"] == holder and contract["conductMode"] == "intermediation"
        assert contract["dpsOrganisationId"] == str(world.organisations["buyer"])
        rows = await fetch(settings, "SELECT protected FROM contract_key WHERE specific_contract_id = $1",
                           uuid.UUID(contract["id"]))
        assert key in rows[0]["protected"] and world.opener_keys["buyer_admin"] not in rows[0]["protected"]

    # HC1: the contract keeps the mode it was published under, whatever becomes of the DPS's row afterwards.
    await fetch(settings, "UPDATE dps SET conduct_mode = 'centralised' WHERE id = $1", uuid.UUID(dps["id"]))
    kept = expect(await client.get(f"/specific-contracts/{by_holder['id']}", headers=world["holder_admin"].headers),
                  200)
    assert (kept["conductMode"], kept["buyerOrganisationId"]) == ("intermediation", holder)
    refused = expect(await client.post(f"/specific-contracts/{by_holder['id']}/deadline",
                                       headers=world["buyer_admin"].headers,
                                       json={"tenderDeadline": "2026-02-18T09:00:00", "reason": "Report"}), 403)
    assert refused["rule"] == "HC2"


async def test_a_need_on_a_dps_in_intermediation_names_no_other_buyer(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock, conduct_mode="intermediation")
    for buyer in ("buyer", "other_buyer"):
        refused = await client.post("/needs", headers=world["holder_admin"].headers, json=need_body(
            dpsId=dps["id"], buyerOrganisationId=str(world.organisations[buyer])))
        body = expect(refused, 422)
        assert (body["rule"], body["field"]) == ("HC2", "buyerOrganisationId")


async def test_the_holders_new_roles_are_held_in_a_holder_only(client: Client, world: World) -> None:
    holder, buyer = world.organisations["holder"], world.organisations["buyer"]
    for number, roles in enumerate((["holder:opener"], ["holder:evaluator"], ["holder:opener", "holder:evaluator"])):
        expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                 json={"email": f"nouvelle.recrue.{number}@example.fr", "roles": roles}), 201)
    key = expect(await client.post(f"/organisations/{holder}/api-keys", headers=world["holder_admin"].headers,
                                   json={"name": "Connecteur d'évaluation", "roles": ["holder:evaluator"]}), 201)
    assert key["roles"] == ["holder:evaluator"]
    for roles in (["holder:opener"], ["holder:evaluator"]):
        wrong = expect(await client.post(f"/organisations/{buyer}/invitations", headers=world["buyer_admin"].headers,
                                         json={"email": "erreur@example.fr", "roles": roles}), 422)
        assert wrong["field"] == "roles"
    member = world["holder_member"].user_id
    changed = expect(await client.patch(f"/organisations/{holder}/members/{member}",
                                        headers=world["holder_admin"].headers,
                                        json={"roles": ["holder:member", "holder:opener"]}), 200)
    assert sorted(changed["roles"]) == ["holder:member", "holder:opener"]


async def test_created_needs_still_file_to_a_centralised_dps_naming_another_buyer(
        client: Client, world: World, clock: FrozenClock) -> None:
    """D2 is unchanged when the central purchasing body buys: the holder may name another buyer there."""
    dps = await open_dps(client, world, clock)
    need = await create(client, world, dpsId=dps["id"], buyerOrganisationId=str(world.organisations["other_buyer"]))
    assert need["buyerOrganisationId"] == str(world.organisations["other_buyer"])
