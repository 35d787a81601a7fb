"""Evaluation and award of a specific contract through the API: conflict-of-interest declarations, scores
by two evaluators, an irregular offer rejected, the ranking checked by hand, ten concurrent awards of which
exactly one wins (G8), the rejection notices (D16, D18), a losing vendor's view and its request for
reasons (D17), and the transitions refused out of order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.settings import Settings
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
VENDORS = ("vendor_admin", "other_vendor_admin", "third_vendor_admin")
AWARDEE_NAME = "Logiciels Médico-Sociaux SAS"  # tests.world's `vendor`


async def submitted_offers(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str]]:
    """A published contract (Prix 40, Valeur technique 60) with a submitted offer of each of the three vendors,
    before its deadline."""
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    for person in VENDORS:
        await admit(client, world, world[person], category)
    need = await submitted_need(client, world)
    cid = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)["id"]
    offers = {}
    for person in VENDORS:
        offers[person] = (await prepared_offer(client, world, cid, person))["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offers[person], person), 200)
    return cid, offers


async def opened_contract(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str]]:
    """A contract (Prix 40, Valeur technique 60) with an opened offer of each of the three vendors."""
    cid, offers = await submitted_offers(client, world, clock)
    clock.set(DEADLINE)
    # Machine (c): no evaluation before the opening (G8).
    early = expect(await client.post(f"/specific-contracts/{cid}/evaluation",
                                     headers=world["buyer_admin"].headers), 409)
    assert early["rule"] == "G8" and "open" in early["detail"]
    expect(await open_offers(client, world, cid), 200)
    return cid, offers


def scores(prix: int, technique: int) -> dict[str, Any]:
    return {"scores": [{"criterion": "Prix", "score": prix, "comment": f"Prix noté {prix}."},
                       {"criterion": "Valeur technique", "score": technique, "comment": "Mémoire lu."}]}


async def test_evaluation_ranking_award_notices_and_a_losers_view(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await opened_contract(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin, evaluator = world["buyer_admin"].headers, world["buyer_evaluator"].headers

    # Out of order: nothing is declared, scored, ranked or awarded before the evaluation starts.
    refused = [
        await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=evaluator,
                          json={"hasConflict": False, "statement": "Aucun lien."}),
        await client.put(f"/offers/{a}/scores", headers=admin, json=scores(50, 50)),
        await client.get(f"/specific-contracts/{cid}/ranking", headers=admin),
        await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                          json={"offerId": a, "reasons": "Meilleure offre."}),
    ]
    assert [(r.status_code, r.json()["rule"]) for r in refused] == [(409, "G8")] * 4
    # Only the buying organisation's admin starts it; then once.
    assert (await client.post(f"/specific-contracts/{cid}/evaluation", headers=evaluator)).status_code == 403
    assert (await client.post(f"/specific-contracts/{cid}/evaluation",
                              headers=world["other_buyer_admin"].headers)).status_code == 404
    started = expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    assert started["status"] == "evaluation" and started["complete"] is False
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 409)

    # No score without a conflict-of-interest declaration, naming the rule.
    undeclared = expect(await client.put(f"/offers/{a}/scores", headers=evaluator, json=scores(70, 65)), 422)
    assert undeclared["rule"] == "conflict-of-interest-declaration"
    for headers in (admin, evaluator):
        expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=headers,
                                 json={"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."}),
               201)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=evaluator,
                             json={"hasConflict": False, "statement": "Encore."}), 409)
    unknown = expect(await client.put(f"/offers/{a}/scores", headers=evaluator, json={"scores": [
        {"criterion": "Délai", "score": 10, "comment": "?"}]}), 422)
    assert unknown["field"] == "scores[0].criterion"
    expect(await client.put(f"/offers/{a}/scores", headers=evaluator, json={"scores": [
        {"criterion": "Prix", "score": 101, "comment": "trop"}]}), 400)

    # The third vendor's offer is rejected as irregular (by the admin only) and leaves the ranking.
    body = {"grounds": "irregular", "reasons": "Acte d'engagement non signé."}
    expect(await client.post(f"/offers/{c}/rejection", headers=evaluator, json=body), 403)
    expect(await client.post(f"/offers/{c}/rejection", headers=admin, json=body), 200)
    expect(await client.post(f"/offers/{c}/rejection", headers=admin, json=body), 409)
    expect(await client.put(f"/offers/{c}/scores", headers=admin, json=scores(90, 90)), 409)

    # Scores: the admin's first score of A is replaced; the award waits for the evaluator's scores.
    expect(await client.put(f"/offers/{a}/scores", headers=admin, json=scores(10, 10)), 200)
    mine = expect(await client.put(f"/offers/{a}/scores", headers=admin, json=scores(80, 60)), 200)
    assert sorted((s["criterion"], s["score"]) for s in mine) == [("Prix", 80), ("Valeur technique", 60)]
    expect(await client.put(f"/offers/{b}/scores", headers=admin, json=scores(90, 55)), 200)
    incomplete = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                          json={"offerId": a, "reasons": "Meilleure offre."}), 409)
    assert incomplete["field"] == "complete"
    expect(await client.put(f"/offers/{a}/scores", headers=evaluator, json=scores(70, 65)), 200)
    expect(await client.put(f"/offers/{b}/scores", headers=evaluator, json=scores(85, 50)), 200)

    # By hand: A: Prix (80+70)/2 = 75, VT (60+65)/2 = 62.5 → 75×0.4 + 62.5×0.6 = 67.50;
    #          B: Prix (90+85)/2 = 87.5, VT (55+50)/2 = 52.5 → 35 + 31.5 = 66.50.
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=evaluator), 200)
    assert ranking["complete"] is True and len(ranking["evaluators"]) == 2
    assert [(o["rank"], o["offerId"], o["total"]) for o in ranking["offers"]] == [(1, a, "67.50"), (2, b, "66.50")]
    assert [(x["name"], x["weight"], x["mean"], x["scores"]) for x in ranking["offers"][0]["criteria"]] == [
        ("Prix", 40, "75.00", 2), ("Valeur technique", 60, "62.50", 2)]
    assert [(x["offerId"], x["grounds"]) for x in ranking["rejected"]] == [(c, "irregular")]
    assert (await client.get(f"/specific-contracts/{cid}/ranking",
                             headers=world["other_buyer_admin"].headers)).status_code == 404
    assert (await client.get(f"/specific-contracts/{cid}/ranking",
                             headers=world["vendor_admin"].headers)).status_code == 403

    # Award rules: the first of the weighted ranking only (D10, R2162-51); never a rejected one.
    to_b = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                     json={"offerId": b, "reasons": "Prix."}), 422)
    assert (to_b["field"], to_b["rule"], to_b["firstOfferIds"]) == ("offerId", "D10", [a])
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json={"offerId": c, "reasons": "?"}), 422)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=evaluator,
                             json={"offerId": a, "reasons": "?"}), 403)

    # G8: ten concurrent awards, exactly one wins; the others get 409. The buyer observes a standstill (D18).
    clock.advance(timedelta(hours=2))
    award_body = {"offerId": a, "reasons": "Meilleur rapport qualité-prix au regard des critères pondérés.",
                  "standstillRequired": True}
    results = await asyncio.gather(*(client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                                 json=award_body) for _ in range(10)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 9, [r.text for r in results]
    award = next(r.json() for r in results if r.status_code == 201)
    rows = await fetch(settings, "SELECT offer_id, status FROM award WHERE specific_contract_id = $1",
                       uuid.UUID(cid))
    assert [(str(r["offer_id"]), r["status"]) for r in rows] == [(a, "standstill")]
    earliest = clock.now() + timedelta(days=11)
    assert award["earliestSignatureAt"] == earliest.isoformat().replace("+00:00", "Z") or \
        award["earliestSignatureAt"].startswith(earliest.strftime("%Y-%m-%dT%H:%M"))
    assert award["vendorName"] == AWARDEE_NAME and award["notices"] == 3
    contract = await fetch(settings, "SELECT status FROM specific_contract WHERE id = $1", uuid.UUID(cid))
    assert contract[0]["status"] == "standstill"
    # The ranking is frozen.
    expect(await client.put(f"/offers/{a}/scores", headers=admin, json=scores(0, 0)), 409)

    # D16: each losing vendor's admin is told the awardee, the reasons, its own scores and the date.
    notices = {r["recipient_email"]: r for r in await fetch(
        settings, "SELECT recipient_email, kind, body FROM notification WHERE about_id = $1 AND kind LIKE 'award.%'",
        uuid.UUID(cid))}
    assert {e: n["kind"] for e, n in notices.items()} == {
        email_of("vendor_admin"): "award.awarded", email_of("other_vendor_admin"): "award.rejection_notice",
        email_of("third_vendor_admin"): "award.rejection_notice"}
    loser = notices[email_of("other_vendor_admin")]["body"]
    for expected in (f"Attributaire : {AWARDEE_NAME}", award_body["reasons"], "Prix (pondération 40 %) : 87.50",
                     "Valeur technique (pondération 60 %) : 52.50", "Note globale : 66.50 / 100",
                     format_paris(earliest)):
        assert expected in loser, (expected, loser)
    assert "67.50" not in loser and "75.00" not in loser
    irregular = notices[email_of("third_vendor_admin")]["body"]
    assert "écartée comme irrégulière : Acte d'engagement non signé." in irregular and "Note globale" not in irregular
    assert AWARDEE_NAME in irregular

    # A losing vendor sees its own scores and the awardee; nothing of the other offers.
    view = await client.get(f"/specific-contracts/{cid}/my-evaluation", headers=world["other_vendor_member"].headers)
    seen = expect(view, 200)
    assert (seen["outcome"], seen["total"], seen["awardeeName"]) == ("not_retained", "66.50", AWARDEE_NAME)
    assert [(x["name"], x["mean"]) for x in seen["criteria"]] == [("Prix", "87.50"), ("Valeur technique", "52.50")]
    for secret in (a, c, "67.50", "75.00", "62.50", str(world.organisations["vendor"])):
        assert secret not in view.text
    third = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                    headers=world["third_vendor_admin"].headers), 200)
    assert (third["outcome"], third["rejectionGrounds"], third["criteria"], third["total"]) == (
        "rejected", "irregular", [], None)
    assert expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                   headers=world["vendor_member"].headers), 200)["outcome"] == "winning"
    for person in ("holder_admin", "buyer_admin"):
        assert (await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                 headers=world[person].headers)).status_code == 403

    # D17: a written request for reasons, due in 15 days, answered by the buyer.
    request = expect(await client.post(f"/specific-contracts/{cid}/reasons-requests",
                                       headers=world["other_vendor_admin"].headers,
                                       json={"request": "Merci de détailler les motifs du rejet."}), 201)
    assert request["dueAt"].startswith((clock.now() + timedelta(days=15)).date().isoformat())
    expect(await client.post(f"/specific-contracts/{cid}/reasons-requests", headers=world["vendor_admin"].headers,
                             json={"request": "?"}), 409)
    expect(await client.post(f"/reasons-requests/{request['id']}/answer", headers=world["other_buyer_admin"].headers,
                             json={"answer": "Non."}), 404)
    answered = expect(await client.post(f"/reasons-requests/{request['id']}/answer", headers=admin,
                                        json={"answer": "Valeur technique inférieure : 52,5 contre 62,5."}), 200)
    assert answered["answer"].startswith("Valeur technique")
    expect(await client.post(f"/reasons-requests/{request['id']}/answer", headers=admin, json={"answer": "Bis."}),
           409)
    again = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                    headers=world["other_vendor_member"].headers), 200)
    assert [r["answer"] for r in again["reasonsRequests"]] == [answered["answer"]]
    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE details->>'specific_contract' = $1 ORDER BY id", cid)]
    ours = actions[actions.index("specific_contract.evaluation_started"):]
    assert [ours.count(a) for a in ("specific_contract.evaluation_started", "evaluation.interests_declared",
                                    "offer.rejected", "evaluation.scored", "specific_contract.awarded",
                                    "award.reasons_requested", "award.reasons_answered")] == [1, 2, 1, 5, 1, 1, 1]
