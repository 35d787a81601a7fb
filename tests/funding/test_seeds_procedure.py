"""The seeds' procedure end to end through the API (domain.md §11): the ARS opens a call, the holder files its
project, the ARS selects it with a funding decision, and only then is the need published on the SAD (N16); the
admitted vendors are invited and deposit sealed offers. In intermediation (HC2) the holder opens with its own
opener keys, holds the clarification dialogue, scores through its evaluators, awards (D16 notices), and signs the
contract with the vendor (HC4); the grant's first tranche is requested with its evidence and paid, the third is
refused before the second and without usage indicators (FU5, N15). The same path conducted centrally (HC3): the
central purchasing body buys, the holder reads its procedure after the opening, signs nothing, and is funded the
same way."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_award import scores
from tests.awards.test_contract import sign
from tests.funding_api import (
    file_need,
    give_evidence,
    open_call,
    paris_day,
    pay_tranche,
    request_tranche,
    select_need,
    validate_tranche,
)
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import WEIGHTS, admit, ensure_opener, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, minimal_pdf, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
WINNER, LOSER = "vendor_admin", "other_vendor_admin"
GRANT_CENTS = 6_000_001  # 60 000,01 €: the last tranche takes the rounding remainder
USAGE = {"activeDuiUsers": 148, "esmsUsing": 1, "measuredOn": "2026-09-30"}
# Who does what, by conduct mode: the buying side's admin, its openers, its evaluators (HC2, HC3).
SIDES = {
    "intermediation": ("holder_admin", ("holder_opener",), ("holder_admin", "holder_evaluator")),
    "centralised": ("buyer_admin", ("buyer_admin",), ("buyer_admin", "buyer_evaluator")),
}


async def _funded_and_published(client: Client, world: World, clock: FrozenClock, mode: str) -> tuple[str, str]:
    """ARS call → the holder files → publication refused (N16) → the ARS selects → published; (need, contract)."""
    admin, openers, _ = SIDES[mode]
    dps = await open_dps(client, world, clock, conduct_mode=mode)
    category = categories_by_pair(dps)["grand_age", "saas"]
    for vendor in (WINNER, LOSER):
        await admit(client, world, world[vendor], category)
    call = await open_call(client, world, envelope_cents=50_000_000)  # the ARS Île-de-France's call
    need = await submitted_need(client, world)
    nid = need["id"]
    filed = expect(await file_need(client, world, nid, call["id"]), 201)
    assert filed["fundingStatus"] == "filed"

    # N16 (FU4): filed but not selected yet, the need is not published, whoever asks.
    for opener in openers:
        await ensure_opener(client, world, opener)
    body = {"dpsId": dps["id"], "tenderDeadline": "2026-02-17T09:00:00", "awardCriteria": WEIGHTS}
    refused = expect(await client.post(f"/needs/{nid}/publish", headers=world[admin].headers, json=body), 422)
    assert (refused["rule"], refused["field"]) == ("N16", "fundingDecision"), refused

    selected = expect(await select_need(client, world, call["id"], nid, amount_cents=GRANT_CENTS,
                                        decided_on=paris_day(filed["filedAt"])), 201)
    assert selected["fundingStatus"] == "selected"
    contract = expect(await publish(client, world, nid, dps["id"], "2026-02-17T09:00:00", person=admin,
                                    openers=openers), 201)
    assert contract["conductMode"] == mode and contract["invitationCount"] == 2
    expected_buyer = world.organisations["holder" if mode == "intermediation" else "buyer"]
    assert contract["buyerOrganisationId"] == str(expected_buyer)
    return nid, contract["id"]


async def _tranches(client: Client, world: World, clock: FrozenClock, nid: str) -> None:
    """FU5: the first tranche requested with its evidence, validated and paid; the third refused before the
    second (FU5) and, once the second is paid, without the usage indicators (N15)."""
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["holder_admin"].headers), 200)
    amounts = [t["amountCents"] for t in funding["tranches"]]
    assert amounts == [2_400_000, 2_400_000, 1_200_001] and sum(amounts) == GRANT_CENTS
    today = paris_day(clock.now().isoformat())
    expect(await give_evidence(client, world, nid, 1, minimal_pdf("Contrat signé et compte rendu de lancement")),
           200)
    expect(await request_tranche(client, world, nid, 1), 200)
    expect(await validate_tranche(client, world, nid, 1), 200)
    paid = expect(await pay_tranche(client, world, nid, 1, 2_400_000, paid_on=today), 200)
    assert (paid["tranches"][0]["status"], paid["paidCents"]) == ("paid", 2_400_000)

    expect(await give_evidence(client, world, nid, 3, minimal_pdf("Indicateurs d'usage")), 200)
    early = expect(await request_tranche(client, world, nid, 3, usage=USAGE), 409)
    assert (early["rule"], early["waitingFor"]) == ("FU5", 2), early
    expect(await give_evidence(client, world, nid, 2, minimal_pdf("PV de recette signé")), 200)
    expect(await request_tranche(client, world, nid, 2), 200)
    expect(await validate_tranche(client, world, nid, 2), 200)
    expect(await pay_tranche(client, world, nid, 2, 2_400_000, paid_on=today), 200)
    no_usage = expect(await request_tranche(client, world, nid, 3), 422)
    assert (no_usage["rule"], no_usage["field"]) == ("N15", "usageIndicators"), no_usage
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    assert [t["status"] for t in funding["tranches"]][:2] == ["paid", "paid"]
    assert funding["paidCents"] == 4_800_000 <= GRANT_CENTS


async def _offers(client: Client, world: World, clock: FrozenClock, cid: str) -> dict[str, str]:
    offers: dict[str, str] = {}
    for vendor in (WINNER, LOSER):
        offers[vendor] = (await prepared_offer(client, world, cid, vendor))["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offers[vendor], vendor), 200)
    return offers


async def _evaluate_and_award(client: Client, world: World, settings: Settings, mode: str, cid: str,
                              offers: dict[str, str]) -> None:
    admin, _, evaluators = SIDES[mode]
    url = f"/specific-contracts/{cid}"
    expect(await client.post(f"{url}/evaluation", headers=world[admin].headers), 200)
    declaration = {"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."}
    for person, (won, lost) in zip(evaluators, (((80, 70), (60, 50)), ((90, 70), (70, 40))), strict=True):
        expect(await client.post(f"{url}/conflict-declarations", headers=world[person].headers, json=declaration),
               201)
        expect(await client.put(f"/offers/{offers[WINNER]}/scores", headers=world[person].headers,
                                json=scores(*won)), 200)
        expect(await client.put(f"/offers/{offers[LOSER]}/scores", headers=world[person].headers,
                                json=scores(*lost)), 200)
    ranking = expect(await client.get(f"{url}/ranking", headers=world[admin].headers), 200)
    assert ranking["complete"] and [o["offerId"] for o in ranking["offers"]] == [offers[WINNER], offers[LOSER]]
    expect(await client.post(f"{url}/award", headers=world[admin].headers,
                             json={"offerId": offers[WINNER], "reasons": "Meilleure offre pondérée."}), 201)
    # D16: the losing vendor is told at once, with the awardee's name.
    notices = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE about_id = $1 "
                                    "AND kind = 'award.rejection_notice'", uuid.UUID(cid))
    assert [r["recipient_email"] for r in notices] == [email_of(LOSER)]
    assert "Logiciels Médico-Sociaux SAS" in notices[0]["body"]


async def _contract(client: Client, world: World, mode: str, cid: str) -> dict[str, Any]:
    admin = SIDES[mode][0]
    created = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world[admin].headers, json={
        "amountCents": 9_600_000, "paymentTerms": "30 % à la commande, 70 % à la recette."}), 201)
    expect(await sign(client, world, created["id"], admin, minimal_pdf("signé par l'acheteur")), 201)
    active = expect(await sign(client, world, created["id"], WINNER, minimal_pdf("signé par le titulaire")), 201)
    assert active["status"] == "active"
    return dict(active)


async def test_intermediation_the_ars_funds_and_the_holder_chooses_and_contracts(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    mode = "intermediation"
    nid, cid = await _funded_and_published(client, world, clock, mode)
    url = f"/specific-contracts/{cid}"
    offers = await _offers(client, world, clock, cid)

    # The holder opens with its own opener key, after the deadline.
    clock.set(DEADLINE + timedelta(hours=1))
    expect(await open_offers(client, world, cid, "holder_opener", person="holder_opener"), 200)
    assert expect(await client.get(f"/needs/{nid}", headers=world["holder_member"].headers), 200)["status"] == \
        "in_dialogue"

    # The holder's clarification with one vendor (the seeds' dialogue), answered by that vendor only.
    thread = expect(await client.post(f"/offers/{offers[LOSER]}/clarifications",
                                      headers=world["holder_evaluator"].headers, json={
                                          "subject": "Déploiement", "body": "Le déploiement se fait-il sur site ?",
                                          "answerDueAt": "2026-02-20T12:00:00"}), 201)
    expect(await client.post(f"/clarifications/{thread['id']}/messages", headers=world[LOSER].headers,
                             json={"body": "Oui, sur site."}), 201)
    expect(await client.get(f"/clarifications/{thread['id']}", headers=world[WINNER].headers), 404)

    await _evaluate_and_award(client, world, settings, mode, cid, offers)
    assert expect(await client.get(f"/needs/{nid}", headers=world["holder_member"].headers), 200)["status"] == \
        "chosen"

    contract = await _contract(client, world, mode, cid)
    assert [(p["side"], p["organisationId"]) for p in contract["parties"]] == [
        ("buyer", str(world.organisations["holder"])), ("vendor", str(world.organisations["vendor"]))]
    assert expect(await client.get(f"/needs/{nid}", headers=world["holder_member"].headers), 200)["status"] == \
        "contracted"
    assert expect(await client.get(url, headers=world["buyer_admin"].headers), 200)["status"] == "contracted"
    await _tranches(client, world, clock, nid)


async def test_centralised_the_ars_funds_and_the_central_purchasing_body_buys_for_the_holder(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    mode = "centralised"
    nid, cid = await _funded_and_published(client, world, clock, mode)
    url = f"/specific-contracts/{cid}"
    holder = world["holder_member"].headers
    # HC3: the holder reads its own specific contract, not the opening record nor the ranking before the opening.
    assert expect(await client.get(url, headers=holder), 200)["buyerOrganisationId"] == \
        str(world.organisations["buyer"])
    offers = await _offers(client, world, clock, cid)
    for path in ("opening", "ranking", "award"):
        expect(await client.get(f"{url}/{path}", headers=holder), 404)

    clock.set(DEADLINE + timedelta(hours=1))
    record = expect(await open_offers(client, world, cid), 200)
    # After the opening the holder reads the record and, once scored, the ranking; never the offers' content.
    assert expect(await client.get(f"{url}/opening", headers=holder), 200)["document"] == record["document"]
    expect(await client.get(f"/offers/{offers[WINNER]}/unsealed-parts", headers=world["holder_admin"].headers), 403)
    await _evaluate_and_award(client, world, settings, mode, cid, offers)
    ranking = expect(await client.get(f"{url}/ranking", headers=holder), 200)
    assert [o["offerId"] for o in ranking["offers"]] == [offers[WINNER], offers[LOSER]]
    # The holder is no party here: the central purchasing body signs for the buying side (HC3, HC4).
    expect(await client.post(f"{url}/contract", headers=world["holder_admin"].headers,
                             json={"amountCents": 9_600_000}), 403)
    contract = await _contract(client, world, mode, cid)
    assert contract["parties"][0]["organisationId"] == str(world.organisations["buyer"])
    assert expect(await client.get(f"/needs/{nid}", headers=holder), 200)["status"] == "contracted"
    await _tranches(client, world, clock, nid)
