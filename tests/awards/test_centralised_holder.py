"""A specific contract conducted centrally (domain.md §11.1, HC3): the central purchasing body buys on the holder's
behalf, as before, and the holder reads its own specific contract from its publication (the notice of its own
need), the opening record, the ranking and the award once the offers are opened (404 before), never the askers of
the vendors' questions, and sits on the evaluation committee only when invited (declaration, the opened offers,
scores), nothing more: no opening, no award. Another holder doesn't learn the contract exists."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_award import scores
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import OPENER_PASSPHRASE, admit, ensure_opener, publish, submitted_need
from tests.vendors.api import Client, audit_actions, categories_by_pair, expect, fetch, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
VENDORS = ("vendor_admin", "other_vendor_admin")
DECLARATION = {"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."}


def refused_hc3(response: Any) -> None:
    body = expect(response, 403)
    assert body["rule"] == "HC3" and "HC3" in body["detail"], body


async def centralised_contract(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str]]:
    """A contract the central purchasing body runs, with a submitted offer of each vendor; (id, offers)."""
    dps = await open_dps(client, world, clock)
    assert dps["conductMode"] == "centralised"
    for vendor in VENDORS:
        await admit(client, world, world[vendor], categories_by_pair(dps)["grand_age", "saas"])
    need = await submitted_need(client, world)
    # The holder doesn't publish a contract the central purchasing body runs (HC3).
    await ensure_opener(client, world, "holder_admin")
    refused_hc3(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00", person="holder_admin"))
    contract = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)
    assert contract["buyerOrganisationId"] == str(world.organisations["buyer"]) == contract["dpsOrganisationId"]
    assert contract["holderOrganisationId"] == str(world.organisations["holder"])
    assert (contract["conductMode"], contract["holderOnCommittee"]) == ("centralised", False)
    offers = {}
    for vendor in VENDORS:
        offers[vendor] = (await prepared_offer(client, world, contract["id"], vendor))["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offers[vendor], vendor), 200)
    return contract["id"], offers


async def test_the_holder_reads_its_contract_then_the_opening_record_and_the_ranking_after_the_opening(
        client: Client, world: World, clock: FrozenClock) -> None:
    cid, offers = await centralised_contract(client, world, clock)
    url = f"/specific-contracts/{cid}"
    member, buyer = world["holder_member"].headers, world["buyer_admin"].headers

    # From its publication, the holder's people read their own need's contract; another holder gets 404.
    for person in ("holder_member", "holder_admin", "holder_evaluator"):
        seen = expect(await client.get(url, headers=world[person].headers), 200)
        assert seen["status"] == "open" and seen["invitationCount"] == 2
    for person in ("other_holder_admin", "other_holder_member"):
        expect(await client.get(url, headers=world[person].headers), 404)
        expect(await client.get(f"{url}/questions", headers=world[person].headers), 404)

    # The questions: the holder reads the published ones, never who asked; the buyer sees the asker.
    question = expect(await client.post(f"{url}/questions", headers=world["vendor_admin"].headers,
                                        json={"question": "Le paramétrage est-il inclus ?"}), 201)
    assert expect(await client.get(f"{url}/questions", headers=member), 200) == []
    expect(await client.post(f"{url}/questions/{question['id']}/answer", headers=buyer,
                             json={"answer": "Oui."}), 200)
    published = expect(await client.get(f"{url}/questions", headers=member), 200)
    assert [(q["question"], q["answer"], q.get("vendorOrganisationId")) for q in published] == [
        ("Le paramétrage est-il inclus ?", "Oui.", None)]
    # The holder answers nothing and sets nothing of a procedure it doesn't run.
    refused_hc3(await client.post(f"{url}/questions-deadline", headers=world["holder_admin"].headers,
                                  json={"closesAt": "2026-02-10T12:00:00"}))
    refused_hc3(await client.post(f"{url}/deadline", headers=world["holder_admin"].headers,
                                  json={"tenderDeadline": "2026-02-20T09:00:00", "reason": "Report"}))

    # Before the opening: no opening record, no ranking, no award for the holder (404), nor offers.
    for path in ("opening", "ranking", "award"):
        expect(await client.get(f"{url}/{path}", headers=member), 404)
    refused_hc3(await client.get(f"{url}/offers", headers=world["holder_admin"].headers))

    # The deadline passes; the holder never opens (403 naming HC3, on record), the buyer does.
    clock.set(DEADLINE + timedelta(hours=1))
    body = {"openers": [{"openerKeyId": world.opener_keys["holder_admin"], "passphrase": OPENER_PASSPHRASE}]}
    assert expect(await client.post(f"{url}/opening", headers=world["holder_admin"].headers, json=body),
                  403)["rule"] == "HC3"
    expect(await client.get(f"{url}/opening", headers=member), 404)  # still nothing: not opened
    record = expect(await open_offers(client, world, cid), 200)
    assert expect(await client.get(f"{url}/opening", headers=member), 200)["document"] == record["document"]

    # After the opening, the ranking once the evaluation runs, and the award once decided.
    expect(await client.post(f"{url}/evaluation", headers=buyer), 200)
    for person in ("buyer_admin", "buyer_evaluator"):
        expect(await client.post(f"{url}/conflict-declarations", headers=world[person].headers, json=DECLARATION),
               201)
        for vendor, marks in zip(VENDORS, ((80, 70), (60, 50)), strict=True):
            expect(await client.put(f"/offers/{offers[vendor]}/scores", headers=world[person].headers,
                                    json=scores(*marks)), 200)
    ranking = expect(await client.get(f"{url}/ranking", headers=member), 200)
    assert ranking["complete"] and [o["offerId"] for o in ranking["offers"]] == [offers[v] for v in VENDORS]
    expect(await client.get(f"{url}/award", headers=member), 404)  # none yet
    # Not invited, the holder neither declares nor scores, nor reads the offers; nor does it award.
    refused_hc3(await client.post(f"{url}/conflict-declarations", headers=world["holder_evaluator"].headers,
                                  json=DECLARATION))
    refused_hc3(await client.put(f"/offers/{offers['vendor_admin']}/scores",
                                 headers=world["holder_evaluator"].headers, json=scores(10, 10)))
    refused_hc3(await client.get(f"/offers/{offers['vendor_admin']}/unsealed-parts",
                                 headers=world["holder_evaluator"].headers))
    award_body = {"offerId": offers["vendor_admin"], "reasons": "Meilleure offre."}
    refused_hc3(await client.post(f"{url}/award", headers=world["holder_admin"].headers, json=award_body))
    expect(await client.post(f"{url}/award", headers=buyer, json=award_body), 201)
    assert expect(await client.get(f"{url}/award", headers=member), 200)["offerId"] == offers["vendor_admin"]
    expect(await client.get(f"{url}/award", headers=world["other_holder_admin"].headers), 404)
    expect(await client.get(f"{url}/ranking", headers=world["other_holder_member"].headers), 404)


async def test_invited_onto_the_committee_the_holders_evaluators_declare_and_score_nothing_more(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await centralised_contract(client, world, clock)
    url = f"/specific-contracts/{cid}"
    buyer, holder_admin = world["buyer_admin"].headers, world["holder_admin"].headers

    # Only the buyer's admin sets up the committee: not its evaluator, not the holder, not another buyer.
    expect(await client.post(f"{url}/committee", headers=world["buyer_evaluator"].headers,
                             json={"holderInvited": True}), 403)
    refused_hc3(await client.post(f"{url}/committee", headers=holder_admin, json={"holderInvited": True}))
    expect(await client.post(f"{url}/committee", headers=world["other_buyer_admin"].headers,
                             json={"holderInvited": True}), 404)
    invited = expect(await client.post(f"{url}/committee", headers=buyer, json={"holderInvited": True}), 200)
    assert invited["holderOnCommittee"] is True and invited["id"] == cid
    expect(await client.post(f"{url}/committee", headers=buyer, json={"holderInvited": True}), 409)
    assert "specific_contract.committee_holder_invited" in await audit_actions(settings, cid)
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE about_id = $1 "
                                 "AND kind = 'evaluation.committee_invitation'", uuid.UUID(cid))
    assert {r["recipient_email"] for r in told} == {email_of("holder_admin"), email_of("holder_evaluator")}

    # Invited, still nothing of the offers before the opening (D13).
    assert expect(await client.get(f"{url}/offers", headers=world["holder_evaluator"].headers),
                  403)["rule"] == "D13"
    assert expect(await client.get(f"/offers/{offers['vendor_admin']}/unsealed-parts",
                                   headers=world["holder_evaluator"].headers), 403)["rule"] == "D13"
    clock.set(DEADLINE + timedelta(hours=1))
    refused_hc3(await client.post(f"{url}/opening", headers=holder_admin, json={"openers": [
        {"openerKeyId": str(uuid.uuid4()), "passphrase": OPENER_PASSPHRASE}]}))
    expect(await open_offers(client, world, cid), 200)
    refused_hc3(await client.post(f"{url}/evaluation", headers=holder_admin))
    expect(await client.post(f"{url}/evaluation", headers=buyer), 200)

    # The holder's evaluator and admin declare, read the opened offers and score, like the buyer's evaluators.
    evaluators = ("buyer_admin", "holder_evaluator", "holder_admin")
    for person in evaluators:
        expect(await client.post(f"{url}/conflict-declarations", headers=world[person].headers, json=DECLARATION),
               201)
    listed = expect(await client.get(f"{url}/offers", headers=world["holder_evaluator"].headers), 200)
    assert listed["opened"] and {o["id"] for o in listed["offers"]} == set(offers.values())
    parts = expect(await client.get(f"/offers/{offers['vendor_admin']}/unsealed-parts",
                                    headers=world["holder_evaluator"].headers), 200)
    assert parts["priceSchedule"][0]["unitPriceCents"] == 4_800_000
    # Once one of its people declared, the holder stays on the committee.
    expect(await client.post(f"{url}/committee", headers=buyer, json={"holderInvited": False}), 409)
    for person, marks in zip(evaluators, ((80, 70), (90, 60), (70, 80)), strict=True):
        for vendor in offers.values():
            expect(await client.put(f"/offers/{vendor}/scores", headers=world[person].headers,
                                    json=scores(*marks)), 200)
    ranking = expect(await client.get(f"{url}/ranking", headers=buyer), 200)
    assert ranking["complete"] and set(ranking["evaluators"]) == {str(world[p].user_id) for p in evaluators}

    # Nothing more: no rejection, no clarification, no award by the holder; the buyer awards.
    refused_hc3(await client.post(f"/offers/{offers['other_vendor_admin']}/rejection", headers=holder_admin,
                                  json={"grounds": "irregular", "reasons": "Pièce manquante."}))
    refused_hc3(await client.post(f"/offers/{offers['other_vendor_admin']}/clarifications",
                                  headers=world["holder_evaluator"].headers,
                                  json={"subject": "Précisions", "body": "Une question ?",
                                        "answerDueAt": "2026-02-20T12:00:00"}))
    award_body = {"offerId": ranking["firstOfferIds"][0], "reasons": "Première du classement."}
    refused_hc3(await client.post(f"{url}/award", headers=holder_admin, json=award_body))
    expect(await client.post(f"{url}/award", headers=buyer, json=award_body), 201)


async def test_a_holder_is_invited_only_onto_a_centralised_committee_before_the_award(
        client: Client, world: World, clock: FrozenClock) -> None:
    # In intermediation the holder is the buying side already (HC2): no committee to invite it onto.
    dps = await open_dps(client, world, clock, conduct_mode="intermediation")
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await submitted_need(client, world)
    # The DPS's buying organisation publishes on the holder's behalf; the contract is the holder's all the same.
    contract = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00",
                                    openers=("holder_opener",)), 201)
    assert contract["buyerOrganisationId"] == str(world.organisations["holder"])
    committee = f"/specific-contracts/{contract['id']}/committee"
    refused = expect(await client.post(committee, headers=world["buyer_admin"].headers,
                                       json={"holderInvited": True}), 403)
    assert refused["rule"] == "HC2"  # the central purchasing body only follows this one
    conflict = expect(await client.post(committee, headers=world["holder_admin"].headers,
                                        json={"holderInvited": True}), 409)
    assert (conflict["rule"], conflict["field"]) == ("HC3", "holderInvited")
