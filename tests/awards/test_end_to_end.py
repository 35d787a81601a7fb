"""One procedure end to end through the API, from a published DPS to an active contract and the funder's grant
paid (issue 7, then domain.md §11.2): the need selected by its funder before it is published (N16), three vendors
admitted, three sealed offers, the opening, a private clarification thread with one vendor, an abnormally-low
procedure with another (D15), scores by two evaluators, the award, the rejection notices with the right content
(D16), the contract with its own payment terms (FU7) and both signatures, then the grant's tranches 40/40/20
requested with their evidence, validated and paid (N14, FU5); every transition on the audit trail, whose chain
still verifies."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.audit import verify_chain
from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.settings import Settings
from tests.awards.test_award import AWARDEE_NAME, VENDORS, scores
from tests.awards.test_contract import sign
from tests.funding_api import give_evidence, pay_tranche, request_tranche, validate_tranche
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, minimal_pdf, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
EVALUATORS = ("buyer_admin", "buyer_evaluator")
QUESTION = "Votre prix inclut-il la reprise des 1 200 dossiers papier du site de Lorient ?"
ANSWER = "Oui, la reprise est incluse dans la ligne « Déploiement », sans surcoût."
ALT_REASONS = "Prix inférieur de 60 % à la moyenne des offres reçues."
ALT_JUSTIFICATION = "Licence mutualisée avec un autre marché ; déploiement entièrement à distance."
ALT_DECISION = "Justification insuffisante : le coût du déploiement sur site n'est pas couvert."
AWARD_REASONS = "Meilleur rapport qualité-prix au regard des critères pondérés."


async def test_from_a_published_dps_to_an_active_contract_and_its_grant_paid(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    admin, evaluator = world["buyer_admin"].headers, world["buyer_evaluator"].headers
    winner, asked, suspected = VENDORS  # the awardee, the vendor asked to clarify, the abnormally low one

    # A published and active DPS; three vendors admitted to its category; a holder's need published as a
    # specific contract, every admitted vendor invited (D8).
    dps = await open_dps(client, world, clock)
    assert dps["status"] == "active"
    category = categories_by_pair(dps)["grand_age", "saas"]
    for person in VENDORS:
        await admit(client, world, world[person], category)
    need = await submitted_need(client, world)
    cid = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)["id"]
    invited = await fetch(settings, "SELECT count(*) AS n FROM contract_invitation WHERE specific_contract_id = $1",
                          uuid.UUID(cid))
    assert invited[0]["n"] == 3

    # Three sealed offers, received before the deadline; until it the buyer learns nothing of them (D13).
    offers: dict[str, str] = {}
    for person in VENDORS:
        offers[person] = (await prepared_offer(client, world, cid, person))["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offers[person], person), 200)
    assert expect(await client.get(f"/specific-contracts/{cid}/offers", headers=admin), 403)["rule"] == "D13"
    expect(await client.post(f"/offers/{offers[asked]}/clarifications", headers=evaluator, json={
        "subject": "Reprise", "body": QUESTION, "answerDueAt": "2026-02-20T12:00:00"}), 409)

    # The deadline passes; the opener opens all three at once.
    clock.set(DEADLINE)
    record = expect(await open_offers(client, world, cid), 200)["document"]
    assert sorted(o["offer"] for o in record["offers"]) == sorted(offers.values())
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    for person in EVALUATORS:
        expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=world[person].headers,
                                 json={"hasConflict": False, "statement": "Aucun lien avec les soumissionnaires."}),
               201)

    # A clarification thread with one vendor: asked, answered in text and with a PDF before its due date,
    # closed; private to the two sides, beside the offer, which it never changes.
    before = await fetch(settings, "SELECT manifest_sha256, sealed_parts FROM offer WHERE id = $1",
                         uuid.UUID(offers[asked]))
    thread = expect(await client.post(f"/offers/{offers[asked]}/clarifications", headers=evaluator, json={
        "subject": "Reprise des données", "body": QUESTION, "answerDueAt": "2026-02-20T12:00:00"}), 201)
    tid = thread["id"]
    expect(await client.post(f"/clarifications/{tid}/messages", headers=world[asked].headers,
                             json={"body": ANSWER}), 201)
    expect(await client.put(f"/clarifications/{tid}/attachments", content=minimal_pdf("plan de reprise"), headers={
        **world[asked].headers, "content-type": "application/pdf", "x-filename": quote("Plan de reprise.pdf")}), 201)
    expect(await client.get(f"/clarifications/{tid}", headers=world[winner].headers), 404)
    closed = expect(await client.post(f"/clarifications/{tid}/close", headers=evaluator), 200)
    assert closed["status"] == "closed" and len(closed["messages"]) == 3
    assert [m["body"] for m in closed["messages"]][:2] == [QUESTION, ANSWER]
    assert await fetch(settings, "SELECT manifest_sha256, sealed_parts FROM offer WHERE id = $1",
                       uuid.UUID(offers[asked])) == before

    # D15: the third offer is suspected abnormally low; its vendor justifies in writing before the due date;
    # only then may the buyer reject it, with reasons.
    alt = f"/offers/{offers[suspected]}/abnormally-low"
    expect(await client.post(alt, headers=evaluator, json={"reasons": ALT_REASONS,
                                                           "justificationDueAt": "2026-02-27T18:00:00"}), 201)
    early = expect(await client.post(f"{alt}/decision", headers=admin,
                                     json={"accepted": False, "reasons": ALT_DECISION}), 409)
    assert early["rule"] == "D15"
    clock.advance(timedelta(days=2))
    expect(await client.post(f"{alt}/justification", headers=world[suspected].headers,
                             json={"text": ALT_JUSTIFICATION}), 200)
    decided = expect(await client.post(f"{alt}/decision", headers=admin,
                                       json={"accepted": False, "reasons": ALT_DECISION}), 200)
    assert decided["status"] == "rejected"

    # Two evaluators score the two offers left; the ranking is the weighted mean (Prix 40, Valeur technique 60).
    for person, (first, second) in ((winner, ((80, 60), (70, 65))), (asked, ((90, 55), (85, 50)))):
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=admin, json=scores(*first)), 200)
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=evaluator, json=scores(*second)), 200)
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    assert [(o["offerId"], o["total"]) for o in ranking["offers"]] == [
        (offers[winner], "67.50"), (offers[asked], "66.50")]
    assert [(r["offerId"], r["grounds"]) for r in ranking["rejected"]] == [(offers[suspected], "abnormally_low")]

    # The award to the best-ranked offer; no standstill (D18, off for DPS specific contracts).
    award = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                     json={"offerId": offers[winner], "reasons": AWARD_REASONS}), 201)
    assert award["vendorName"] == AWARDEE_NAME
    earliest = clock.now()

    # D16: each other vendor is told the awardee, the reasons, its own scores or its rejection, the date.
    notices = {r["recipient_email"]: r["body"] for r in await fetch(
        settings, "SELECT recipient_email, body FROM notification WHERE about_id = $1 AND kind = "
                  "'award.rejection_notice'", uuid.UUID(cid))}
    assert set(notices) == {email_of(asked), email_of(suspected)}
    for body in notices.values():
        assert f"Attributaire : {AWARDEE_NAME}" in body and AWARD_REASONS in body
        assert format_paris(earliest) in body
        assert "67.50" not in body  # never the awardee's scores
    assert "Note globale : 66.50 / 100" in notices[email_of(asked)]
    assert "Prix (pondération 40 %) : 87.50" in notices[email_of(asked)]
    assert f"écartée comme anormalement basse : {ALT_DECISION}" in notices[email_of(suspected)]
    assert "Note globale" not in notices[email_of(suspected)]
    view = await client.get(f"/specific-contracts/{cid}/my-evaluation", headers=world[asked].headers)
    assert (expect(view, 200)["outcome"], view.json()["awardeeName"]) == ("not_retained", AWARDEE_NAME)
    for secret in (offers[winner], offers[suspected], "67.50", "75.00", ANSWER):
        assert secret not in view.text

    # The contract: created from the award, signed by both sides → ACTIVE, the specific contract CONTRACTED.
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json={
        "amountCents": 12_500_000, "paymentTerms": "Paiement à 30 jours de la réception de chaque facture."}), 201)
    kid = contract["id"]
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé acheteur")), 201)
    active = expect(await sign(client, world, kid, winner, minimal_pdf("signé titulaire")), 201)
    assert active["status"] == "active"
    status = await fetch(settings, "SELECT status FROM specific_contract WHERE id = $1", uuid.UUID(cid))
    assert status[0]["status"] == "contracted"

    # N14, FU5: the funder's grant (selected before publication, tests/funding_api.py), 40 % at the start, 40 %
    # at acceptance testing, 20 % once usage is verified: each requested with its evidence, validated, paid.
    grant = expect(await client.get(f"/needs/{need['id']}/funding", headers=world["holder_member"].headers), 200)
    amounts = [t["amountCents"] for t in grant["tranches"]]
    for position, amount in enumerate(amounts, 1):
        clock.advance(timedelta(days=30))
        expect(await give_evidence(client, world, need["id"], position), 200)
        usage = {"activeDuiUsers": 42} if position == 3 else None
        expect(await request_tranche(client, world, need["id"], position, usage=usage), 200)
        expect(await validate_tranche(client, world, need["id"], position), 200)
        done = expect(await pay_tranche(client, world, need["id"], position, amount,
                                        paid_on=clock.now().date().isoformat()), 200)
    assert [(t["kind"], t["percent"], t["status"]) for t in done["tranches"]] == [
        ("start", 40, "paid"), ("acceptance_testing", 40, "paid"), ("usage_verified", 20, "paid")]
    assert done["paidCents"] == sum(amounts) == done["decision"]["amountCents"]
    assert done["tranches"][0]["requests"][0]["contractId"] == kid

    # Every step on the audit trail, and the chain intact.
    actions = {r["action"] for r in await fetch(settings, "SELECT DISTINCT action FROM audit_event")}
    for step in ("specific_contract.published", "offer.submitted", "specific_contract.opened",
                 "specific_contract.evaluation_started", "evaluation.interests_declared",
                 "clarification.thread_opened", "clarification.message_posted", "clarification.thread_closed",
                 "offer.abnormally_low_justification_requested", "offer.abnormally_low_justified",
                 "offer.abnormally_low_rejected",
                 "evaluation.scored", "specific_contract.awarded", "contract.created", "contract.signed",
                 "contract.active", "need.filed_for_funding", "funding_decision.selected",
                 "grant_tranche.requested", "grant_tranche.validated", "grant_tranche.paid"):
        assert step in actions, (step, sorted(actions))
    engine = create_async_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine)() as session:
            chain = await verify_chain(session)
    finally:
        await engine.dispose()
    assert chain.ok and chain.checked == len(await fetch(settings, "SELECT id FROM audit_event"))
