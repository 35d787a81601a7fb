"""Rules of the evaluation and award that could be bypassed, through the API: no abnormally-low rejection without
the D15 procedure; the award to the first of the weighted ranking only (D10, R2162-51), ties included; machine
(c)'s UNSUCCESSFUL (no offer at the opening, or every offer rejected); machine (e)'s standstill ending in an
active award; an evaluator who declared a conflict of interest reads nothing of the offers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_abnormally_low import evaluation, score_all
from tests.awards.test_award import VENDORS, opened_contract, scores
from tests.awards.test_dialogue import ask
from tests.tenders.test_needs import cpv  # noqa: F401  (a fixture)
from tests.tenders.test_offers import DEADLINE, open_offers
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
REJECTED = {"grounds": "irregular", "reasons": "Acte d'engagement non signé."}


async def status_of(settings: Settings, cid: str) -> str:
    [row] = await fetch(settings, "SELECT status::text AS status FROM specific_contract WHERE id = $1", uuid.UUID(cid))
    return str(row["status"])


def award_body(offer_id: str, **extra: Any) -> dict[str, Any]:
    return {"offerId": offer_id, "reasons": "Meilleure offre au regard des critères pondérés.", **extra}


async def test_the_plain_rejection_route_refuses_the_abnormally_low_ground(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    # D15: rejected as abnormally low only after a written justification was asked for and found insufficient.
    _, offers = await evaluation(client, world, clock)
    offer = offers["other_vendor_admin"]
    refused = expect(await client.post(f"/offers/{offer}/rejection", headers=world["buyer_admin"].headers,
                                       json={"grounds": "abnormally_low", "reasons": "Prix trop bas."}), 422)
    assert (refused["rule"], refused["field"]) == ("D15", "grounds")
    assert f"/offers/{offer}/abnormally-low" in refused["detail"]
    assert await fetch(settings, "SELECT id FROM offer_rejection WHERE offer_id = $1", uuid.UUID(offer)) == []


async def test_the_award_goes_to_the_first_of_the_weighted_ranking(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await evaluation(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin = world["buyer_admin"].headers
    await score_all(client, world, offers)  # a 90, b 70, c 60
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    assert ranking["firstOfferIds"] == [a]
    # D10, R2162-51: not the second, whatever the reason given; the answer names the first-ranked offer.
    to_b = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json=award_body(b)), 422)
    assert (to_b["rule"], to_b["field"], to_b["firstOfferIds"]) == ("D10", "offerId", [a])
    assert a in to_b["detail"] and "ranks 2" in to_b["detail"]
    # The free-text departure is gone from the contract: an unknown field.
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json=award_body(b, departureReason="Délai de déploiement plus court.")), 400)
    # A better-ranked offer leaves the ranking only by a reasoned rejection; then the next one is first.
    expect(await client.post(f"/offers/{a}/rejection", headers=admin, json=REJECTED), 200)
    assert expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)["firstOfferIds"] == [b]
    to_c = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json=award_body(c)), 422)
    assert to_c["firstOfferIds"] == [b]
    award = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json=award_body(b)), 201)
    assert award["offerId"] == b and award["status"] == "active"


async def test_offers_tied_on_the_exact_total_are_all_first(
        client: Client, world: World, clock: FrozenClock) -> None:
    # The receipt order breaks ties in the display only: it is no award criterion, so either tied offer may win.
    cid, offers = await evaluation(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin = world["buyer_admin"].headers
    for offer, (prix, technique) in ((a, (70, 80)), (b, (100, 60)), (c, (50, 50))):
        for evaluator in ("buyer_admin", "buyer_evaluator"):
            expect(await client.put(f"/offers/{offer}/scores", headers=world[evaluator].headers,
                                    json=scores(prix, technique)), 200)
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    # a: 28 + 48 = 76; b: 40 + 36 = 76; c: 50. Same total, a received first.
    assert [(o["offerId"], o["rank"], o["total"]) for o in ranking["offers"]] == [
        (a, 1, "76.00"), (b, 2, "76.00"), (c, 3, "50.00")]
    assert ranking["firstOfferIds"] == [a, b]
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json=award_body(c)), 422)
    award = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                     json=award_body(b, reasons="À égalité : délai de déploiement plus court.")), 201)
    assert award["offerId"] == b


async def test_every_offer_rejected_makes_the_contract_unsuccessful(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await evaluation(client, world, clock)
    admin = world["buyer_admin"].headers
    for person in VENDORS[:2]:
        expect(await client.post(f"/offers/{offers[person]}/rejection", headers=admin, json=REJECTED), 200)
        assert await status_of(settings, cid) == "evaluation"  # an offer is left
    last = offers[VENDORS[2]]
    expect(await client.post(f"/offers/{last}/rejection", headers=admin, json=REJECTED), 200)
    # Machine (c) EVALUATION --no_valid_offer--> UNSUCCESSFUL, at the last rejection.
    assert await status_of(settings, cid) == "unsuccessful"
    # Every invitee, every rejected vendor (with its grounds) and the holder are told.
    told = await fetch(settings, "SELECT recipient_email, kind, body FROM notification WHERE about_id = $1 "
                                 "AND kind IN ('tender.unsuccessful', 'award.rejection_notice')", uuid.UUID(cid))
    by_kind = {(r["recipient_email"], r["kind"]) for r in told}
    for person in VENDORS:
        assert (email_of(person), "tender.unsuccessful") in by_kind
        assert (email_of(person), "award.rejection_notice") in by_kind
    assert (email_of("holder_admin"), "tender.unsuccessful") in by_kind
    assert all("infructueux" in r["body"] for r in told)
    # Final: nothing moves any more.
    refused = [
        await client.post(f"/specific-contracts/{cid}/award", headers=admin, json=award_body(last)),
        await client.post(f"/specific-contracts/{cid}/cancellation", headers=admin, json={"reasons": "Sans suite."}),
        await client.post(f"/offers/{last}/clarifications", headers=admin, json=ask(DEADLINE + timedelta(days=9))),
        await client.put(f"/offers/{last}/scores", headers=admin, json=scores(50, 50)),
        await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin),
    ]
    assert [r.status_code for r in refused] == [409] * 5, [r.text for r in refused]
    mine = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                   headers=world["vendor_admin"].headers), 409)
    assert "unsuccessful" in mine["detail"]
    actions = [r["action"] for r in await fetch(settings, "SELECT action FROM audit_event WHERE target_id = $1",
                                                  cid)]
    assert actions.count("specific_contract.unsuccessful") == 1


async def test_an_opening_that_finds_no_offer_makes_the_contract_unsuccessful(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await submitted_need(client, world)
    cid = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)["id"]
    clock.set(DEADLINE)
    record = expect(await open_offers(client, world, cid), 200)
    assert record["document"]["offers"] == []
    # Machine (c) OPEN --no_valid_offer--> UNSUCCESSFUL: nothing to evaluate, ever.
    assert await status_of(settings, cid) == "unsuccessful"
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=world["buyer_admin"].headers), 409)
    expect(await open_offers(client, world, cid), 409)
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE about_id = $1 "
                                 "AND kind = 'tender.unsuccessful'", uuid.UUID(cid))
    assert {r["recipient_email"] for r in told} == {email_of("vendor_admin"), email_of("holder_admin")}


async def test_an_award_with_a_standstill_becomes_active_when_it_ends(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await evaluation(client, world, clock)
    admin = world["buyer_admin"].headers
    await score_all(client, world, offers)
    a = offers["vendor_admin"]
    awarded = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                       json=award_body(a, standstillRequired=True)), 201)
    assert awarded["status"] == "standstill"
    end = clock.now() + timedelta(days=11)
    path = f"/specific-contracts/{cid}/award"
    assert expect(await client.get(path, headers=admin), 200)["status"] == "standstill"
    clock.set(end - timedelta(microseconds=1))
    assert expect(await client.get(path, headers=admin), 200)["status"] == "standstill"
    # Machine (e): (STANDSTILL) --> ACTIVE at the end of the standstill, read on the contract's clock.
    clock.set(end)
    shown = expect(await client.get(path, headers=admin), 200)
    assert (shown["status"], shown["offerId"], shown["notices"]) == ("active", a, 3)
    expect(await client.get(path, headers=world["other_buyer_admin"].headers), 404)
    # The row catches up at the next write of the award (the contract's creation).
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json={"amountCents": 100_000}), 201)
    [row] = await fetch(settings, "SELECT status::text AS status FROM award WHERE specific_contract_id = $1",
                        uuid.UUID(cid))
    assert row["status"] == "active"


async def test_an_evaluator_with_a_conflict_of_interest_reads_nothing_of_the_offers(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await opened_contract(client, world, clock)
    admin, evaluator = world["buyer_admin"].headers, world["buyer_evaluator"].headers
    a = offers["vendor_admin"]
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    listed = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=evaluator), 200)
    download = next(o for o in listed["offers"] if o["id"] == a)["attachments"][0]["downloadPath"]
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    thread = expect(await client.post(f"/offers/{a}/clarifications", headers=admin,
                                      json=ask(DEADLINE + timedelta(days=3))), 201)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=evaluator,
                             json={"hasConflict": True, "statement": "Ancien salarié d'un soumissionnaire."}), 201)
    refused = {
        "offers": await client.get(f"/specific-contracts/{cid}/offers", headers=evaluator),
        "parts": await client.get(f"/offers/{a}/unsealed-parts", headers=evaluator),
        "file": await client.get(download, headers=evaluator),
        "ranking": await client.get(f"/specific-contracts/{cid}/ranking", headers=evaluator),
        "ask": await client.post(f"/offers/{a}/clarifications", headers=evaluator,
                                 json=ask(DEADLINE + timedelta(days=3))),
        "threads": await client.get(f"/offers/{a}/clarifications", headers=evaluator),
        "thread": await client.get(f"/clarifications/{thread['id']}", headers=evaluator),
        "follow-up": await client.post(f"/clarifications/{thread['id']}/messages", headers=evaluator,
                                       json={"body": "Précisez."}),
        "close": await client.post(f"/clarifications/{thread['id']}/close", headers=evaluator),
    }
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 403), {
        k: r.text for k, r in refused.items()}
    assert {r.json()["rule"] for r in refused.values()} == {"conflict-of-interest-declaration"}
    # The admin, who declared none, still reads them; each refusal is on record.
    expect(await client.get(f"/offers/{a}/unsealed-parts", headers=admin), 200)
    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE details->>'specific_contract' = $1", cid)]
    assert actions.count("evaluation.refused_conflict_of_interest") == len(refused)
