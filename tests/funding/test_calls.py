"""Funders (FU1) and their calls for projects (FU2) through the API: one ARS per region and one national funder,
registered by the platform; calls of a campaign with a window of instants (Europe/Paris wall time refused where
the clocks skip or repeat) and an envelope, listed open to anyone signed in, changed by appending a version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.funding_api import funder_headers, open_call
from tests.vendors.api import Client, expect, fetch

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


def funder(name: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "funder", "name": name} | fields


async def test_funders_are_organisations_one_ars_per_region_and_one_national(
        client: Client, world: World, settings: Settings) -> None:
    admin = world["platform_admin"].headers
    # The world's two ARS, as the platform registered them.
    ars = expect(await client.get(f"/organisations/{world.organisations['funder']}",
                                  headers=world["funder_admin"].headers), 200)
    assert (ars["kind"], ars["region"], ars["national"]) == ("funder", "11", False)

    # Another region's ARS; a second one for it is refused, naming FU1.
    paca = expect(await client.post("/organisations", headers=admin, json=funder("ARS PACA", region="93")), 201)
    assert (paca["region"], paca["national"]) == ("93", False)
    twice = expect(await client.post("/organisations", headers=admin, json=funder("ARS bis", region="93")), 409)
    assert (twice["rule"], twice["field"]) == ("FU1", "region")
    assert expect(await client.post("/organisations", headers=admin, json=funder("ARS IDF bis", region="11")),
                  409)["rule"] == "FU1"
    # The national funder (CNSA/DNS) has no region; there is one.
    national = expect(await client.post("/organisations", headers=admin, json=funder("CNSA", national=True)), 201)
    assert (national["region"], national["national"]) == (None, True)
    assert expect(await client.post("/organisations", headers=admin, json=funder("DNS", national=True)),
                  409)["rule"] == "FU1"
    # A funder is one of the two; a region is an INSEE region code; only a funder has one.
    for body in (funder("Ni l'un ni l'autre"), funder("Les deux", region="24", national=True),
                 funder("Région inconnue", region="99"),
                 {"kind": "buyer", "name": "Acheteur régional", "siret": "51234567900017", "region": "11"}):
        refused = expect(await client.post("/organisations", headers=admin, json=body), 422)
        assert (refused["rule"], refused["field"]) == ("FU1", "region"), refused
    expect(await client.post("/organisations", headers=admin, json=funder("Mal formé", region="1")), 400)
    # Only the platform registers organisations.
    expect(await client.post("/organisations", headers=world["funder_admin"].headers,
                             json=funder("ARS Corse", region="94")), 403)
    # The database holds the rule against a race: one funder per region, one national.
    rows = await fetch(settings, "SELECT region FROM organisation WHERE kind = 'funder' ORDER BY region NULLS FIRST")
    assert [r["region"] for r in rows] == [None, "11", "53", "93"]
    created = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'organisation.created' AND "
                                    "target_id = $1", str(national["id"]))
    assert '"national": true' in created[0]["details"]

    # Funder roles are a funder's only; a funder's admin invites its instructors.
    invited = await client.post(f"/organisations/{world.organisations['holder']}/invitations",
                                headers=world["holder_admin"].headers,
                                json={"email": "instructrice@example.fr", "roles": ["funder:instructor"]})
    assert invited.status_code == 422, invited.text
    expect(await client.post(f"/organisations/{world.organisations['funder']}/invitations",
                             headers=world["funder_admin"].headers,
                             json={"email": "instructrice@example.fr", "roles": ["funder:instructor"]}), 201)
    expect(await client.post(f"/organisations/{world.organisations['funder']}/invitations",
                             headers=world["other_funder_admin"].headers,
                             json={"email": "intrus@example.fr", "roles": ["funder:member"]}), 404)


async def test_a_funder_opens_calls_that_anyone_signed_in_lists_while_open(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    admin = world["funder_admin"].headers
    body = {"title": "Appel à projets ESMS numérique 2025 — Île-de-France", "reference": "AAP-IDF-2025",
            "campaign": 2025, "opensAt": "2026-01-05T10:00:00", "closesAt": "2026-03-31T23:59:59",
            "envelopeCents": 7_150_000_000}
    # Only a funder's admin opens a call, for its own funder.
    expect(await client.post("/funding-calls", headers=world["funder_instructor"].headers, json=body), 403)
    expect(await client.post("/funding-calls", headers=world["holder_admin"].headers, json=body), 403)
    other = expect(await client.post("/funding-calls", headers=admin, json=body | {
        "funderOrganisationId": str(world.organisations["other_funder"])}), 422)
    assert (other["rule"], other["field"]) == ("FU2", "funderOrganisationId")

    # The window: naive times are Paris wall time (10:00 in January is 09:00 UTC); the campaign is a known rule set.
    call = expect(await client.post("/funding-calls", headers=admin, json=body), 201)
    assert (call["scope"], call["region"], call["campaign"], call["version"]) == ("regional", "11", 2025, 1)
    assert call["opensAt"] == "2026-01-05T09:00:00Z" and call["closesAt"] == "2026-03-31T21:59:59Z"
    assert call["closesAtParis"] == "31/03/2026 23:59 (heure de Paris, UTC+2)"
    assert (call["isOpen"], call["grantedCents"], call["envelopeLeftCents"]) == (False, 0, 7_150_000_000)
    assert call["funderName"] == "ARS Île-de-France"
    expect(await client.post("/funding-calls", headers=admin, json=body), 409)  # its reference, once per funder
    for change, field in (({"campaign": 2019}, "campaign"), ({"closesAt": "2026-01-05T08:59:59"}, "closesAt"),
                          ({"opensAt": "2026-03-29T02:30:00"}, "opensAt"),
                          ({"closesAt": "2026-10-25T02:30:00"}, "closesAt")):
        refused = expect(await client.post("/funding-calls", headers=admin, json=body | change | {
            "reference": f"AAP-{field}"}), 422)
        assert (refused["rule"], refused["field"]) == ("FU2", field), refused
    # The national funder's calls are national.
    national = await open_call(client, world, headers=await funder_headers(client, world, None),
                               reference="AAP-NAT-2025")
    assert (national["scope"], national["region"]) == ("national", None)

    # Open from its first instant to its last excluded (N17); anyone signed in lists the open calls.
    listed = expect(await client.get("/funding-calls", params={"open": "true"},
                                     headers=world["holder_member"].headers), 200)["items"]
    assert [c["id"] for c in listed] == [national["id"]]
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    listed = expect(await client.get("/funding-calls", params={"open": "true", "campaign": 2025, "region": "11"},
                                     headers=world["vendor_member"].headers), 200)["items"]
    assert [(c["id"], c["isOpen"], c["grantedCents"]) for c in listed] == [(call["id"], True, None)]
    assert listed[0].get("envelopeLeftCents") is None  # the funder's own figure
    clock.set(datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC))
    shown = expect(await client.get(f"/funding-calls/{call['id']}", headers=world["holder_admin"].headers), 200)
    assert shown["isOpen"] is False
    closed = expect(await client.get("/funding-calls", params={"open": "false", "scope": "regional"},
                                     headers=admin), 200)
    assert [c["id"] for c in closed["items"]] == [call["id"]] and closed["total"] == 1
    # A page at a time, closing first first: every call once, whatever the page size.
    pages = [expect(await client.get("/funding-calls", params={"limit": 1, "offset": offset}, headers=admin), 200)
             for offset in range(3)]
    assert [p["total"] for p in pages] == [2, 2, 2] and pages[2]["items"] == []
    assert {p["items"][0]["id"] for p in pages[:2]} == {call["id"], national["id"]}
    assert expect(await client.get("/funding-calls", params={"limit": 201}, headers=admin), 400)["field"] == "limit"

    # A change of the window or the envelope is a new version; the previous ones stay on record (FU2).
    amend = {"opensAt": "2026-01-05T10:00:00", "closesAt": "2026-04-30T23:59:59", "envelopeCents": 8_000_000_000,
             "reason": "Report de la clôture décidé par l'ARS."}
    expect(await client.post(f"/funding-calls/{call['id']}/versions", headers=world["other_funder_admin"].headers,
                             json=amend), 404)
    expect(await client.post(f"/funding-calls/{call['id']}/versions", headers=world["funder_instructor"].headers,
                             json=amend), 403)
    amended = expect(await client.post(f"/funding-calls/{call['id']}/versions", headers=admin, json=amend), 201)
    assert (amended["version"], amended["envelopeCents"], amended["isOpen"]) == (2, 8_000_000_000, True)
    assert [(v["version"], v["envelopeCents"], v["reason"]) for v in amended["versions"]] == [
        (1, 7_150_000_000, None), (2, 8_000_000_000, amend["reason"])]
    audited = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'funding_call.amended' AND "
                                    "target_id = $1", call["id"])
    assert '"envelope_cents": 7150000000' in audited[0]["details"] and '"version": 2' in audited[0]["details"]
