"""A need filed to its funder's call and decided (FU3–FU6) through the API: N5 routes it (another region's ARS
and the national call are refused), within the call's window (N17), for its campaign; publication on the SAD
waits for the selection (N16, FU4); the funder selects with a signed decision within the envelope, or rejects
with reasons; another funder sees nothing of it, and no funder reads an offer."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from marketplace.funding.filing import routing_error
from marketplace.funding.models import FundingCall
from marketplace.funding.states import CallScope
from marketplace.lib.clock import FrozenClock
from marketplace.lib.sandbox import NOTICE, SUBJECT_PREFIX
from marketplace.settings import Settings
from marketplace.tenders.models import Need
from tests.funding_api import file_need, funder_headers, open_call, paris_day, select_need
from tests.tenders.test_needs import finess
from tests.tenders.test_publication import WEIGHTS, admit, ensure_opener, submitted_need
from tests.vendors.api import Client, audit_actions, categories_by_pair, expect, fetch, minimal_pdf, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")


async def publish_unfunded(client: Client, world: World, need_id: str, dps_id: str, clock: FrozenClock) -> Any:
    """POST /needs/{id}/publish as the buyer's admin, without funding the need first (tests/tenders' `publish`
    funds it)."""
    await ensure_opener(client, world)
    return await client.post(f"/needs/{need_id}/publish", headers=world["buyer_admin"].headers, json={
        "dpsId": dps_id, "awardCriteria": WEIGHTS, "tenderDeadline": (clock.now() + timedelta(days=12)).isoformat()})


async def test_a_need_filed_to_its_call_is_published_once_its_funder_selected_it(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await submitted_need(client, world)  # campaign 2025, one ESSMS in Paris (région 11)
    nid = need["id"]

    # N16: not published before its funder selected it — not filed yet, then filed but undecided.
    refused = expect(await publish_unfunded(client, world, nid, dps["id"], clock), 422)
    assert (refused["rule"], refused["field"], refused["fundingStatus"]) == ("N16", "fundingDecision", None)

    # N5: the ARS of its region, not another region's nor the national call.
    idf = await open_call(client, world, envelope_cents=10_000_000)
    bretagne = await open_call(client, world, person="other_funder_admin")
    national = await open_call(client, world, headers=await funder_headers(client, world, None))
    for call, region in ((bretagne, "53"), (national, None)):
        wrong = expect(await file_need(client, world, nid, call["id"]), 422)
        assert (wrong["rule"], wrong["field"], wrong["region"]) == ("N5", "callId", region), wrong
    assert "11 Île-de-France" in expect(await file_need(client, world, nid, bretagne["id"]), 422)["detail"]
    # The call's campaign is the need's rule set (FU2); N17: within the call's window, from the call's data.
    other_year = await open_call(client, world, campaign=2024)
    assert expect(await file_need(client, world, nid, other_year["id"]), 422)["rule"] == "FU2"
    closed = await open_call(client, world, opens_at="2025-01-06T09:00:00",
                             closes_at=(clock.now() - timedelta(microseconds=1)).isoformat())
    late = expect(await file_need(client, world, nid, closed["id"]), 409)
    assert (late["rule"], late["field"]) == ("N17", "callId") and "closed on" in late["detail"]
    future = await open_call(client, world, opens_at=(clock.now() + timedelta(seconds=1)).isoformat())
    early = expect(await file_need(client, world, nid, future["id"]), 409)
    assert early["rule"] == "N17" and "opens on" in early["detail"]
    assert expect(await file_need(client, world, nid, str(uuid.uuid4())), 422)["field"] == "callId"
    # Only the holder's admin or project lead files it; other holders don't see it.
    expect(await file_need(client, world, nid, idf["id"], headers=world["holder_member"].headers), 403)
    expect(await file_need(client, world, nid, idf["id"], headers=world["other_holder_admin"].headers), 404)
    expect(await file_need(client, world, nid, idf["id"], headers=world["funder_admin"].headers), 403)

    filed = expect(await file_need(client, world, nid, idf["id"]), 201)
    assert (filed["fundingStatus"], filed["call"]["id"], filed["decision"], filed["tranches"]) == (
        "filed", idf["id"], None, [])
    assert (filed["esmsCount"], filed["regions"]) == (1, ["11"])
    again = expect(await file_need(client, world, nid, idf["id"]), 409)
    assert (again["rule"], again["field"]) == ("FU3", "callId")
    read = expect(await client.get(f"/needs/{nid}", headers=world["holder_member"].headers), 200)
    assert (read["callId"], read["fundingStatus"]) == (idf["id"], "filed")
    assert expect(await publish_unfunded(client, world, nid, dps["id"], clock), 422)["fundingStatus"] == "filed"

    # FU6: its funder sees the project (never an offer); another funder learns nothing of it.
    funder = world["funder_admin"].headers
    projects = expect(await client.get(f"/funding-calls/{idf['id']}/projects", headers=funder), 200)
    assert [p["needId"] for p in projects] == [nid] and projects[0]["holderName"] == "Association Les Tilleuls"
    other = world["other_funder_admin"].headers
    for path in (f"/funding-calls/{idf['id']}/projects", f"/funding-calls/{idf['id']}/projects/{nid}",
                 f"/needs/{nid}/funding", f"/funding-calls/{bretagne['id']}/projects/{nid}"):
        expect(await client.get(path, headers=other), 404)
    expect(await client.get(f"/needs/{nid}", headers=funder), 403)  # the need's own view is the holder's

    # The selection: within what is left of the envelope, dated at the latest today, by its funder.
    day = paris_day(filed["filedAt"])
    over = expect(await select_need(client, world, idf["id"], nid, amount_cents=10_000_001, decided_on=day), 422)
    assert (over["rule"], over["field"], over["envelopeLeftCents"]) == ("FU3", "amountCents", 10_000_000)
    tomorrow = (clock.now() + timedelta(days=2)).date().isoformat()
    assert expect(await select_need(client, world, idf["id"], nid, decided_on=tomorrow), 422)["field"] == "decidedOn"
    expect(await select_need(client, world, idf["id"], nid, decided_on=day, person="other_funder_admin"), 404)
    expect(await select_need(client, world, idf["id"], nid, decided_on=day, person="holder_admin"), 403)
    not_pdf = await client.post(f"/funding-calls/{idf['id']}/projects/{nid}/selection",
                                params={"amountCents": 1, "decidedOn": day, "reference": "X"},
                                content=b"<html>", headers={**funder, "content-type": "text/html"})
    assert not_pdf.status_code == 415, not_pdf.text
    document = minimal_pdf("Arrêté de financement ARS IDF n° 2026-117, signé")
    selected = expect(await select_need(client, world, idf["id"], nid, amount_cents=1_000_001, decided_on=day,
                                        reference="ARS-IDF-2026-117", person="funder_instructor",
                                        document=document), 201)
    decision = selected["decision"]
    assert (selected["fundingStatus"], decision["outcome"], decision["amountCents"], decision["reference"]) == (
        "selected", "selected", 1_000_001, "ARS-IDF-2026-117")
    assert (decision["document"]["sha256"], decision["document"]["size"]) == (
        hashlib.sha256(document).hexdigest(), len(document))
    # N14: the grant in three tranches of its amount, the remainder on the last, adding up to the cent.
    assert [(t["position"], t["kind"], t["percent"], t["amountCents"], t["status"]) for t in selected["tranches"]] == [
        (1, "start", 40, 400_000, "pending"), (2, "acceptance_testing", 40, 400_000, "pending"),
        (3, "usage_verified", 20, 200_001, "pending")]
    # One decision per need.
    assert expect(await select_need(client, world, idf["id"], nid, decided_on=day), 409)["rule"] == "FU3"
    assert expect(await client.post(f"/funding-calls/{idf['id']}/projects/{nid}/rejection", headers=funder,
                                    json={"reasons": "Trop tard."}), 409)["rule"] == "FU3"
    call = expect(await client.get(f"/funding-calls/{idf['id']}", headers=funder), 200)
    assert (call["grantedCents"], call["envelopeLeftCents"]) == (1_000_001, 8_999_999)
    # The envelope never goes below what was granted (FU2).
    low = expect(await client.post(f"/funding-calls/{idf['id']}/versions", headers=funder, json={
        "opensAt": idf["opensAt"], "closesAt": idf["closesAt"], "envelopeCents": 1_000_000, "reason": "Baisse"}), 422)
    assert (low["rule"], low["field"], low["grantedCents"]) == ("FU2", "envelopeCents", 1_000_001)

    # The holder is told, reads the decision and downloads the signed document; so does the funder; not others.
    told = await fetch(settings, "SELECT body FROM notification WHERE kind = 'funding.selected' AND "
                                 "recipient_email = $1", email_of("holder_admin"))
    assert "ARS-IDF-2026-117" in told[0]["body"]
    mine = expect(await client.get(f"/needs/{nid}/funding", headers=world["holder_member"].headers), 200)
    assert mine["decision"] == decision and mine["call"]["grantedCents"] is None
    for person in ("holder_member", "funder_admin"):
        redirect = await client.get(decision["document"]["downloadPath"], headers=world[person].headers,
                                    follow_redirects=False)
        assert redirect.status_code == 307, redirect.text
        async with httpx.AsyncClient() as raw:
            fetched = await raw.get(redirect.headers["location"])
        assert fetched.status_code == 200 and fetched.content == document
    for person in ("other_holder_admin", "other_funder_admin"):
        expect(await client.get(decision["document"]["downloadPath"], headers=world[person].headers), 404)

    # N16 met: published; the funder still reads no specific contract, nor any offer (FU6).
    contract = expect(await publish_unfunded(client, world, nid, dps["id"], clock), 201)
    for path in (f"/specific-contracts/{contract['id']}", f"/specific-contracts/{contract['id']}/offers"):
        expect(await client.get(path, headers=funder), 403)
    assert await audit_actions(settings, nid) == ["need.created", "need.submitted", "need.filed_for_funding"]
    decided = await fetch(settings, "SELECT action, details FROM audit_event WHERE action LIKE 'funding_decision.%' "
                                    "ORDER BY id")
    assert [r["action"] for r in decided] == ["funding_decision.selected", "funding_decision.downloaded",
                                              "funding_decision.downloaded"]
    assert hashlib.sha256(document).hexdigest() in decided[0]["details"]


async def test_a_rejected_need_is_never_published(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    need = await submitted_need(client, world)
    call = await open_call(client, world)
    expect(await file_need(client, world, need["id"], call["id"]), 201)
    path = f"/funding-calls/{call['id']}/projects/{need['id']}/rejection"
    expect(await client.post(path, headers=world["funder_admin"].headers, json={}), 400)
    reasons = "Le projet ne couvre pas les services socles prioritaires de la région."
    expect(await client.post(path, headers=world["other_funder_admin"].headers, json={"reasons": reasons}), 404)
    rejected = expect(await client.post(path, headers=world["funder_admin"].headers, json={"reasons": reasons}), 201)
    assert (rejected["fundingStatus"], rejected["decision"]["outcome"], rejected["decision"]["reasons"],
            rejected["decision"]["amountCents"], rejected["decision"]["document"], rejected["tranches"]) == (
        "rejected", "rejected", reasons, None, None, [])
    told = await fetch(settings, "SELECT body FROM notification WHERE kind = 'funding.rejected' AND "
                                 "recipient_email = $1", email_of("holder_admin"))
    assert reasons in told[0]["body"]
    # Decided once: no selection after it, no second filing, and never published (N16).
    assert expect(await select_need(client, world, call["id"], need["id"],
                                    decided_on=paris_day(rejected["filedAt"])), 409)["rule"] == "FU3"
    expect(await file_need(client, world, need["id"], call["id"]), 409)
    refused = expect(await publish_unfunded(client, world, need["id"], dps["id"], clock), 422)
    assert (refused["rule"], refused["fundingStatus"]) == ("N16", "rejected") and "rejected" in refused["detail"]
    expect(await client.get(f"/needs/{need['id']}/funding/decision-document",
                            headers=world["holder_admin"].headers), 404)


async def test_a_rehearsal_is_funded_by_a_rehearsal_call_only(client: Client, world: World, clock: FrozenClock,
                                                               settings: Settings) -> None:
    """A sandbox need may rehearse the funding: filed to a rehearsal call (hidden from the listing), never to a
    real one, nor a real need to a rehearsal call; once filed it waits for the decision like a real need (N16),
    and what the funder and the holder are told says it is a rehearsal. The database backs it (migration 0026)."""
    from tests.vendors.test_sandbox import active_sandbox, sandbox_need, sandbox_now

    sandbox = await active_sandbox(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(sandbox)["grand_age", "saas"])
    rehearsal = await sandbox_need(client, world, sandbox["id"])
    real_need = await submitted_need(client, world)
    real_call = await open_call(client, world)
    rehearsal_call = await open_call(client, world, sandbox=True)
    assert (real_call["sandbox"], rehearsal_call["sandbox"]) == (False, True)

    listed = {c["id"] for c in expect(await client.get("/funding-calls", headers=world["holder_admin"].headers), 200)}
    assert real_call["id"] in listed and rehearsal_call["id"] not in listed
    listed = {c["id"] for c in expect(await client.get("/funding-calls", params={"sandbox": "true"},
                                                       headers=world["holder_admin"].headers), 200)}
    assert rehearsal_call["id"] in listed and real_call["id"] not in listed
    assert expect(await client.get(f"/funding-calls/{rehearsal_call['id']}",
                                   headers=world["holder_admin"].headers), 200)["sandbox"] is True

    for need, call in ((rehearsal, real_call), (real_need, rehearsal_call)):
        crossed = expect(await file_need(client, world, need["id"], call["id"]), 422)
        assert (crossed["rule"], crossed["field"]) == ("sandbox", "callId"), crossed
    filed = expect(await file_need(client, world, rehearsal["id"], rehearsal_call["id"]), 201)
    assert filed["fundingStatus"] == "filed"

    # Filed, it is published once selected, on its sandbox DPS's clock, like a real need.
    deadline = (await sandbox_now(client, sandbox["id"]) + timedelta(days=12)).isoformat()
    body = {"dpsId": sandbox["id"], "awardCriteria": WEIGHTS, "tenderDeadline": deadline}
    await ensure_opener(client, world)
    refused = expect(await client.post(f"/needs/{rehearsal['id']}/publish", headers=world["buyer_admin"].headers,
                                       json=body), 422)
    assert (refused["rule"], refused["fundingStatus"]) == ("N16", "filed")
    expect(await select_need(client, world, rehearsal_call["id"], rehearsal["id"],
                             decided_on=paris_day(filed["filedAt"])), 201)
    expect(await client.post(f"/needs/{rehearsal['id']}/publish", headers=world["buyer_admin"].headers,
                             json=body), 201)
    told = await fetch(settings, "SELECT kind, subject, body FROM notification WHERE about_id = $1 AND kind LIKE "
                                 "'funding.%' ORDER BY created_at", uuid.UUID(rehearsal["id"]))
    assert {row["kind"] for row in told} == {"funding.filed", "funding.selected"}  # to each member concerned
    assert all(row["subject"].startswith(SUBJECT_PREFIX) and NOTICE in row["body"] for row in told), told

    # Whatever writes them, the database keeps a need filed to a call of its world, and a call what it was.
    for statement, *args in (
            ("UPDATE need SET call_id = $1 WHERE id = $2", uuid.UUID(real_call["id"]), uuid.UUID(rehearsal["id"])),
            ("UPDATE need SET call_id = $1 WHERE id = $2", uuid.UUID(rehearsal_call["id"]),
             uuid.UUID(real_need["id"])),
            ("UPDATE funding_call SET sandbox = false WHERE id = $1", uuid.UUID(rehearsal_call["id"]))):
        with pytest.raises(asyncpg.CheckViolationError):
            await fetch(settings, statement, *args)


def _need(*finess_ets: str, campaign: int = 2025) -> Need:
    return Need(campaign=campaign, facilities=[{"finessEt": et} for et in finess_ets])


def _call(region: str | None) -> FundingCall:
    return FundingCall(scope=CallScope.REGIONAL if region else CallScope.NATIONAL, region=region, campaign=2025)


def test_n5_routes_a_need_by_its_size_and_its_facilities_regions() -> None:
    paris = [finess(f"750{i:05d}") for i in range(50)]
    rennes = [finess(f"350{i:05d}") for i in range(5)]
    # 50 ESSMS or more: the national call, whatever their region.
    assert routing_error(_need(*paris), _call(None)) is None
    assert "national call" in str(routing_error(_need(*paris), _call("11")))
    # Fewer: the ARS of one of its regions, a multiregional need included (N6: below 50 it goes to an ARS).
    multiregional = _need(*paris[:10], *rennes)
    assert routing_error(multiregional, _call("11")) is None
    assert routing_error(multiregional, _call("53")) is None
    assert "11 Île-de-France, 53 Bretagne" in str(routing_error(multiregional, _call("84")))
    assert "national one" in str(routing_error(multiregional, _call(None)))
    # Overseas: Guadeloupe's FINESS 9701… is région 01; a collectivity (975) has no ARS at all.
    assert routing_error(_need(finess("97010041")), _call("01")) is None
    assert "none (overseas collectivities only)" in str(routing_error(_need(finess("97500001")), _call("01")))
