"""A specific contract conducted in intermediation (domain.md §11.1, HC1, HC2, HC4), end to end through the API: the
holder is the buyer of its own specific contract. Its openers register their keys and open (k of n); its people
hold the dialogue with a vendor, declare their interests, score, award, answer a request for reasons and sign the
contract with the awardee. The central purchasing body that runs the DPS follows every step read-only: it reads
the contract, its questions, the opening record, the ranking, the award and the contract once they exist, answers
a vendor's question on the holder's behalf, and every act of the buying side it tries is refused with a 403
naming HC2. Nobody, the holder included, reads an offer's content before the opening (D13)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_award import scores
from tests.awards.test_contract import sign
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, minimal_pdf, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
WINNER, LOSER = "vendor_admin", "other_vendor_admin"
HOLDER_OPENERS = ("holder_opener", "holder_admin")
HOLDER_EVALUATORS = ("holder_admin", "holder_evaluator")
CPB = ("buyer_admin", "buyer_evaluator")  # the central purchasing body that runs the DPS


def refused_hc2(response: Any) -> None:
    """The central purchasing body's write on a procedure it follows: 403, the problem naming HC2."""
    body = expect(response, 403)
    assert body["rule"] == "HC2" and body["type"].endswith("/not-the-buying-side"), body
    assert "HC2" in body["detail"], body


async def intermediated_contract(client: Client, world: World, clock: FrozenClock, *,
                                 person: str = "holder_admin") -> dict[str, Any]:
    """An active DPS conducted in intermediation, two vendors admitted to its grand âge × SaaS category, the
    holder's need published by `person`, sealed to the holder's two openers (2 of 2): the contract."""
    dps = await open_dps(client, world, clock, conduct_mode="intermediation")
    assert dps["conductMode"] == "intermediation"
    category = categories_by_pair(dps)["grand_age", "saas"]
    for vendor in (WINNER, LOSER):
        await admit(client, world, world[vendor], category)
    need = await submitted_need(client, world)
    return dict(expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00", person=person,
                                     openers=HOLDER_OPENERS, openingThreshold=2), 201))


async def test_the_holder_buys_its_contract_and_the_central_purchasing_body_follows_it(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    holder, cpb = world.organisations["holder"], world.organisations["buyer"]
    admin, cpb_admin = world["holder_admin"].headers, world["buyer_admin"].headers
    contract = await intermediated_contract(client, world, clock)
    cid = contract["id"]
    url = f"/specific-contracts/{cid}"

    # HC2: the holder is the buyer of its specific contract; the contract keeps the DPS's mode and its CPB (HC1).
    assert contract["buyerOrganisationId"] == str(holder) == contract["holderOrganisationId"]
    assert (contract["conductMode"], contract["dpsOrganisationId"]) == ("intermediation", str(cpb))
    # The offers are sealed to the holder's openers only, 2 of 2.
    key = (await fetch(settings, "SELECT threshold, protected FROM contract_key WHERE specific_contract_id = $1",
                       uuid.UUID(cid)))[0]
    shares = {s["opener"] for s in json.loads(key["protected"])["shares"]}
    assert key["threshold"] == 2 and shares == {world.opener_keys[p] for p in HOLDER_OPENERS}

    # Who reads the contract: the holder's people (any role), the central purchasing body that follows it, the
    # invited vendors; another holder doesn't learn it exists.
    for person in ("holder_admin", "holder_member", "holder_opener", "buyer_admin", "buyer_evaluator"):
        assert expect(await client.get(url, headers=world[person].headers), 200)["invitationCount"] == 2
    assert len(expect(await client.get(url, headers=world[WINNER].headers), 200)["invitations"]) == 1
    for person in ("other_holder_admin", "other_holder_member", "other_buyer_admin"):
        expect(await client.get(url, headers=world[person].headers), 404)

    # Questions: the vendors ask; the central purchasing body may answer on the holder's behalf (HC2), and so does
    # the holder; both see every question with its asker. The CPB sets nothing of the procedure itself.
    asked = [expect(await client.post(f"{url}/questions", headers=world[vendor].headers,
                                      json={"question": text}), 201)["id"]
             for vendor, text in ((WINNER, "La reprise des données est-elle incluse ?"),
                                  (LOSER, "Combien de postes de travail ?"))]
    answered = expect(await client.post(f"{url}/questions/{asked[0]}/answer", headers=cpb_admin,
                                        json={"answer": "Oui, la reprise est incluse."}), 200)
    assert answered["published"] and answered["vendorOrganisationId"] == str(world.organisations["vendor"])
    expect(await client.post(f"{url}/questions/{asked[1]}/answer", headers=world["holder_evaluator"].headers,
                             json={"answer": "Quarante postes."}), 200)
    for person in ("holder_admin", "buyer_evaluator"):
        listed = expect(await client.get(f"{url}/questions", headers=world[person].headers), 200)
        assert {q["id"]: q["vendorOrganisationId"] for q in listed} == {
            asked[0]: str(world.organisations["vendor"]), asked[1]: str(world.organisations["other_vendor"])}
    refused_hc2(await client.post(f"{url}/questions-deadline", headers=cpb_admin,
                                  json={"closesAt": "2026-02-10T12:00:00"}))
    refused_hc2(await client.post(f"{url}/deadline", headers=cpb_admin,
                                  json={"tenderDeadline": "2026-02-20T09:00:00", "reason": "Report"}))
    expect(await client.post(f"{url}/deadline", headers=admin,
                             json={"tenderDeadline": "2026-02-17T10:00:00", "reason": "Une heure de plus."}), 200)
    amendments = expect(await client.get(f"{url}/amendments", headers=world["buyer_evaluator"].headers), 200)
    assert [a["kind"] for a in amendments] == ["deadline"]

    # Two sealed offers. Before the deadline nobody reads anything of them: not the holder, not the CPB.
    offers: dict[str, str] = {}
    for vendor in (WINNER, LOSER):
        offers[vendor] = (await prepared_offer(client, world, cid, vendor))["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offers[vendor], vendor), 200)
    assert expect(await client.get(f"{url}/offers", headers=admin), 403)["rule"] == "D13"
    refused_hc2(await client.get(f"{url}/offers", headers=cpb_admin))
    for person in ("holder_member", "buyer_admin"):
        expect(await client.get(f"{url}/opening", headers=world[person].headers), 404)
        expect(await client.get(f"{url}/ranking", headers=world[person].headers), 404)

    # The deadline passes. The CPB can't open (403 naming HC2, on record), even with the holder's key ids; a
    # holder's evaluator isn't an opener; before the opening the content stays sealed to the holder's admin too.
    clock.set(DEADLINE + timedelta(hours=2))
    body = {"openers": [{"openerKeyId": world.opener_keys[p], "passphrase": "la clé de l'ouverture des plis 2026"}
                        for p in HOLDER_OPENERS]}
    refused = expect(await client.post(f"{url}/opening", headers=cpb_admin, json=body), 403)
    assert refused["rule"] == "HC2"
    refusals = await fetch(settings, "SELECT details FROM audit_event WHERE target_id = $1 "
                                     "AND action = 'specific_contract.opening_refused'", cid)
    assert [json.loads(r["details"])["reason"] for r in refusals] == ["not-the-buying-side"]
    assert json.loads(refusals[0]["details"])["rule"] == "HC2"
    expect(await client.post(f"{url}/opening", headers=world["holder_evaluator"].headers, json=body), 403)
    assert expect(await client.get(f"/offers/{offers[WINNER]}/unsealed-parts", headers=admin), 403)["rule"] == "D13"
    assert expect(await client.get(f"{url}/offers", headers=admin), 200)["received"] == 2  # the count only
    # One of the holder's two openers is not enough (2 of 2).
    expect(await open_offers(client, world, cid, "holder_opener", person="holder_opener"), 403)
    record = expect(await open_offers(client, world, cid, *HOLDER_OPENERS, person="holder_opener"), 200)
    assert sorted(o["offer"] for o in record["document"]["offers"]) == sorted(offers.values())

    # After the opening: the holder reads the offers; the CPB and the holder's plain members read the record only.
    parts = expect(await client.get(f"/offers/{offers[WINNER]}/unsealed-parts", headers=admin), 200)
    assert parts["answers"][0]["criterion"] == "Prix"
    for person in ("buyer_admin", "holder_member"):
        seen = expect(await client.get(f"{url}/opening", headers=world[person].headers), 200)
        assert seen["document"] == record["document"]
    refused_hc2(await client.get(f"/offers/{offers[WINNER]}/unsealed-parts", headers=cpb_admin))
    refused_hc2(await client.post(f"{url}/evaluation", headers=cpb_admin))
    expect(await client.post(f"{url}/evaluation", headers=admin), 200)

    # The holder's clarification dialogue with one vendor; the CPB takes no part and doesn't see the thread.
    refused_hc2(await client.post(f"/offers/{offers[LOSER]}/clarifications", headers=cpb_admin, json={
        "subject": "Postes", "body": "Combien ?", "answerDueAt": "2026-02-20T12:00:00"}))
    thread = expect(await client.post(f"/offers/{offers[LOSER]}/clarifications",
                                      headers=world["holder_evaluator"].headers, json={
                                          "subject": "Déploiement", "body": "Le déploiement se fait-il sur site ?",
                                          "answerDueAt": "2026-02-20T12:00:00"}), 201)
    expect(await client.post(f"/clarifications/{thread['id']}/messages", headers=world[LOSER].headers,
                             json={"body": "Oui, sur les deux sites."}), 201)
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE about_id = $1 "
                                 "AND kind = 'award.clarification_message'", uuid.UUID(thread["id"]))
    assert {r["recipient_email"] for r in told} >= {email_of("holder_admin"), email_of("holder_evaluator")}
    expect(await client.get(f"/clarifications/{thread['id']}", headers=cpb_admin), 404)
    expect(await client.get(f"/clarifications/{thread['id']}", headers=admin), 200)

    # The holder's evaluators declare their interests and score; the CPB's are refused.
    declaration = {"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."}
    refused_hc2(await client.post(f"{url}/conflict-declarations", headers=world["buyer_evaluator"].headers,
                                  json=declaration))
    for person in HOLDER_EVALUATORS:
        expect(await client.post(f"{url}/conflict-declarations", headers=world[person].headers, json=declaration),
               201)
    refused_hc2(await client.put(f"/offers/{offers[WINNER]}/scores", headers=cpb_admin, json=scores(50, 50)))
    for person, (won, lost) in zip(HOLDER_EVALUATORS, (((80, 70), (60, 50)), ((90, 70), (70, 40))), strict=True):
        expect(await client.put(f"/offers/{offers[WINNER]}/scores", headers=world[person].headers,
                                json=scores(*won)), 200)
        expect(await client.put(f"/offers/{offers[LOSER]}/scores", headers=world[person].headers,
                                json=scores(*lost)), 200)
    for person in ("holder_admin", "holder_member", "buyer_evaluator"):
        ranking = expect(await client.get(f"{url}/ranking", headers=world[person].headers), 200)
        assert ranking["complete"] and [o["offerId"] for o in ranking["offers"]] == [offers[WINNER], offers[LOSER]]

    # The holder awards; the CPB can't. The losing vendor is told at once (D16).
    award_body = {"offerId": offers[WINNER], "reasons": "Meilleure offre au regard des critères pondérés."}
    refused_hc2(await client.post(f"{url}/award", headers=cpb_admin, json=award_body))
    award = expect(await client.post(f"{url}/award", headers=admin, json=award_body), 201)
    assert award["vendorOrganisationId"] == str(world.organisations["vendor"])
    notices = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE about_id = $1 "
                                    "AND kind = 'award.rejection_notice'", uuid.UUID(cid))
    assert [r["recipient_email"] for r in notices] == [email_of(LOSER)]
    assert "Attributaire : Logiciels Médico-Sociaux SAS" in notices[0]["body"]
    assert expect(await client.get(f"{url}/award", headers=cpb_admin), 200)["offerId"] == offers[WINNER]

    # D17: the losing vendor asks for the reasons; the holder's admin is told and answers, not the CPB.
    request = expect(await client.post(f"{url}/reasons-requests", headers=world[LOSER].headers,
                                       json={"request": "Pourquoi mon offre n'est-elle pas retenue ?"}), 201)
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE about_id = $1 "
                                 "AND kind = 'award.reasons_requested'", uuid.UUID(request["id"]))
    assert [r["recipient_email"] for r in told] == [email_of("holder_admin")]
    refused_hc2(await client.post(f"/reasons-requests/{request['id']}/answer", headers=cpb_admin,
                                  json={"answer": "Parce que."}))
    expect(await client.post(f"/reasons-requests/{request['id']}/answer", headers=admin,
                             json={"answer": "Votre valeur technique est moindre (45 contre 70)."}), 200)

    # HC4: the contract is made between the holder and the awardee, each signing for its side (G16 unchanged).
    refused_hc2(await client.post(f"{url}/contract", headers=cpb_admin, json={"amountCents": 9_600_000}))
    created = expect(await client.post(f"{url}/contract", headers=admin, json={"amountCents": 9_600_000}), 201)
    kid = created["id"]
    assert created["buyerOrganisationId"] == str(holder)
    assert [(p["side"], p["organisationId"], p["kind"], p["signedAt"]) for p in created["parties"]] == [
        ("buyer", str(holder), "holder", None), ("vendor", str(world.organisations["vendor"]), "vendor", None)]
    assert created["parties"][0]["name"] == "Association Les Tilleuls"
    refused_hc2(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé par la centrale")))
    expect(await sign(client, world, kid, "holder_evaluator", minimal_pdf("signé par l'évaluatrice")), 403)
    expect(await sign(client, world, kid, "holder_admin", minimal_pdf("signé par le porteur")), 201)
    active = expect(await sign(client, world, kid, WINNER, minimal_pdf("signé par le titulaire")), 201)
    assert active["status"] == "active"
    assert [p["side"] for p in active["parties"] if p["signedAt"]] == ["buyer", "vendor"]
    signatures = await fetch(settings, "SELECT side::text AS side, signed_by FROM contract_signature "
                                       "WHERE contract_id = $1", uuid.UUID(kid))
    assert {(r["side"], r["signed_by"]) for r in signatures} == {
        ("buyer", f"user:{world['holder_admin'].user_id}"), ("vendor", f"user:{world[WINNER].user_id}")}
    # The CPB follows the contract read-only; another holder doesn't learn it exists.
    assert expect(await client.get(f"/contracts/{kid}", headers=cpb_admin), 200)["status"] == "active"
    refused_hc2(await client.post(f"/contracts/{kid}/modifications", headers=cpb_admin,
                                  json={"reason": "Avenant", "amountCents": 9_700_000}))
    expect(await client.get(f"/contracts/{kid}", headers=world["other_holder_admin"].headers), 404)
    assert expect(await client.get(url, headers=world["holder_member"].headers), 200)["status"] == "contracted"

    # The acts are the holder's on the audit trail: its people opened, awarded and signed.
    actors = {r["action"]: r["actor"] for r in await fetch(
        settings, "SELECT action, actor FROM audit_event WHERE (target_id = $1 OR details->>'specific_contract' = $1) "
                  "AND action IN ('specific_contract.opened', 'specific_contract.awarded', 'contract.created')", cid)}
    assert actors == {"specific_contract.opened": f"user:{world['holder_opener'].user_id}",
                      "specific_contract.awarded": f"user:{world['holder_admin'].user_id}",
                      "contract.created": f"user:{world['holder_admin'].user_id}"}
