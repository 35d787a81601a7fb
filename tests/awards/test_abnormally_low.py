"""Abnormally low offers through the API (D15; machine (d): UNDER_EVALUATION --suspect_ALT-->
JUSTIFICATION_REQUESTED --ok--> UNDER_EVALUATION | --insufficient--> REJECTED_ALT): an evaluator suspects an
offer and asks in writing, its vendor is told (inbox and mail) and justifies before the due date, the buyer
rejects only once the justification was received or the due date passed; while pending, neither another
rejection nor any award; a rejected offer leaves the ranking with the `abnormally_low` ground (D16 notice,
D17: its vendor is owed the winning offer's characteristics too), and the outcomes written back."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.settings import Settings
from tests.awards.test_award import AWARDEE_NAME, VENDORS, opened_contract, scores
from tests.vendors.api import Client, deliver_notifications, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
REASONS = "Prix 60 % sous la moyenne des offres et sous le coût salarial déclaré du déploiement."


async def evaluation(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str]]:
    """Three opened offers, the evaluation started, the admin and the evaluator declared without conflict."""
    cid, offers = await opened_contract(client, world, clock)
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=world["buyer_admin"].headers), 200)
    for person in ("buyer_admin", "buyer_evaluator"):
        expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=world[person].headers,
                                 json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    return cid, offers


async def score_all(client: Client, world: World, offers: dict[str, str]) -> None:
    for person, mark in zip(VENDORS, (90, 70, 60), strict=True):
        for evaluator in ("buyer_admin", "buyer_evaluator"):
            expect(await client.put(f"/offers/{offers[person]}/scores", headers=world[evaluator].headers,
                                    json=scores(mark, mark)), 200)


async def notifications(settings: Settings, kind: str) -> dict[str, str]:
    rows = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE kind = $1", kind)
    return {r["recipient_email"]: r["body"] for r in rows}


async def test_suspected_justified_then_rejected_leaves_the_ranking(
        client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink) -> None:
    cid, offers = await evaluation(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin, evaluator = world["buyer_admin"].headers, world["buyer_evaluator"].headers
    path = f"/offers/{b}/abnormally-low"
    # 18:00 Paris time in winter is 17:00 UTC; the vendor reads it in Paris time with its offset.
    due_paris = "2026-02-27T18:00:00"
    due = datetime(2026, 2, 27, 17, 0, tzinfo=UTC)
    body = {"reasons": REASONS, "justificationDueAt": due_paris}

    # Who may suspect: an evaluator of the buying organisation, never a vendor or another buyer.
    expect(await client.post(path, headers=world["other_vendor_admin"].headers, json=body), 403)
    expect(await client.post(path, headers=world["other_buyer_admin"].headers, json=body), 404)
    past = expect(await client.post(path, headers=evaluator,
                                    json={**body, "justificationDueAt": "2026-02-01T10:00:00"}), 422)
    assert (past["field"], past["rule"]) == ("justificationDueAt", "D15")

    requested = expect(await client.post(path, headers=evaluator, json=body), 201)
    assert (requested["status"], requested["reasons"], requested["justification"]) == (
        "justification_requested", REASONS, None)
    assert datetime.fromisoformat(requested["justificationDueAt"]) == due
    assert requested["justificationDueAtParis"] == format_paris(due) == "27/02/2026 18:00 (heure de Paris, UTC+1)"
    # One procedure per offer: suspecting it again is refused.
    assert expect(await client.post(path, headers=admin, json=body), 409)["rule"] == "D15"

    # The vendor is told, in its inbox and by mail, the reasons and the due date in Paris time.
    told = await notifications(settings, "award.abnormally_low_justification_requested")
    assert set(told) == {email_of("other_vendor_admin")}
    assert REASONS in told[email_of("other_vendor_admin")] and format_paris(due) in told[email_of("other_vendor_admin")]
    await deliver_notifications(settings)
    mails = [m for m in mail_sink.to(email_of("other_vendor_admin")) if "anormalement basse" in m["Subject"]]
    assert len(mails) == 1 and REASONS in mails[0].get_content() and format_paris(due) in mails[0].get_content()

    # The procedure is read by the buying organisation and the offer's vendor; anyone else gets 404.
    for person in ("buyer_evaluator", "other_vendor_member"):
        assert expect(await client.get(path, headers=world[person].headers), 200)["id"] == requested["id"]
    for person in ("vendor_admin", "other_buyer_admin"):
        expect(await client.get(path, headers=world[person].headers), 404)

    # While pending: no other rejection of that offer, and no award at all, even complete and to another offer.
    await score_all(client, world, offers)
    pending = expect(await client.post(f"/offers/{b}/rejection", headers=admin,
                                       json={"grounds": "irregular", "reasons": "?"}), 409)
    assert pending["rule"] == "D15"
    blocked = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                                       json={"offerId": a, "reasons": "Meilleure offre."}), 409)
    assert blocked["rule"] == "D15" and b in blocked["detail"] and blocked["offers"] == [b]
    assert blocked["status"] == 409 and blocked["type"].endswith("/problems/abnormally-low")

    # No rejection before the justification is received or due; only the admin decides; reasons required.
    decision = f"{path}/decision"
    early = expect(await client.post(decision, headers=admin, json={"accepted": False, "reasons": "Insuffisant."}),
                   409)
    assert early["rule"] == "D15" and format_paris(due) in early["detail"]
    expect(await client.post(decision, headers=evaluator, json={"accepted": False, "reasons": "Insuffisant."}), 403)

    # The justification: by the vendor's admin or bid manager only; a PDF first, then the text, each once.
    text = "Le prix s'explique par une licence mutualisée avec un autre marché et un déploiement à distance."
    expect(await client.post(f"{path}/justification", headers=world["other_vendor_member"].headers,
                             json={"text": text}), 403)
    expect(await client.post(f"{path}/justification", headers=world["third_vendor_admin"].headers,
                             json={"text": text}), 404)
    pdf = minimal_pdf("justification du prix")
    upload = {**world["other_vendor_admin"].headers, "content-type": "application/pdf"}
    expect(await client.put(f"{path}/justification/document", content=b"not a pdf",
                            headers={**upload, "content-type": "text/plain"}), 415)
    # The name travels percent-encoded in a header (never the URL, which access logs keep).
    attached = expect(await client.put(f"{path}/justification/document", content=pdf, headers={
        **upload, "x-filename": quote("Décomposition du prix.pdf")}), 200)
    assert attached["document"]["filename"] == "Décomposition du prix.pdf"
    assert attached["document"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert attached["document"]["size"] == len(pdf) and attached["justification"] is None
    expect(await client.put(f"{path}/justification/document", content=minimal_pdf("encore"), headers=upload), 409)
    justified = expect(await client.post(f"{path}/justification", headers=world["other_vendor_admin"].headers,
                                         json={"text": text}), 200)
    assert justified["justification"] == text and justified["status"] == "justification_requested"
    assert expect(await client.post(f"{path}/justification", headers=world["other_vendor_admin"].headers,
                                    json={"text": "Encore."}), 409)["rule"] == "D15"
    buyer_told = await notifications(settings, "award.abnormally_low_justified")
    assert set(buyer_told) == {email_of("buyer_admin")} and text in buyer_told[email_of("buyer_admin")]
    # The document: the buyer and the vendor download it, nobody else.
    download = await client.get(f"{path}/justification/document", headers=admin, follow_redirects=False)
    assert download.status_code == 307 and "X-Amz-Signature" in download.headers["location"]
    expect(await client.get(f"{path}/justification/document", headers=world["vendor_admin"].headers), 404)

    # Received: the admin may now reject, with reasons.
    no_reasons = expect(await client.post(decision, headers=admin, json={"accepted": False}), 422)
    assert (no_reasons["field"], no_reasons["rule"]) == ("reasons", "D15")
    rejected = expect(await client.post(decision, headers=admin,
                                        json={"accepted": False, "reasons": "Justification insuffisante : le coût "
                                              "salarial du déploiement n'est pas couvert."}), 200)
    assert (rejected["status"], rejected["decisionReasons"][:27]) == ("rejected", "Justification insuffisante ")
    assert expect(await client.post(decision, headers=admin, json={"accepted": True}), 409)["rule"] == "D15"
    # The offer left the ranking like any rejected offer, on its own ground.
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    assert [o["offerId"] for o in ranking["offers"]] == [a, c]
    assert [(r["offerId"], r["grounds"]) for r in ranking["rejected"]] == [(b, "abnormally_low")]
    expect(await client.put(f"/offers/{b}/scores", headers=admin, json=scores(99, 99)), 409)

    # Nothing pending: the award goes through; the D16 notice names the ground.
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json={"offerId": a, "reasons": "Meilleur rapport qualité-prix."}), 201)
    notice = (await notifications(settings, "award.rejection_notice"))[email_of("other_vendor_admin")]
    assert "écartée comme anormalement basse : Justification insuffisante" in notice

    # The outcomes written back (machine (d)'s last states): each vendor reads its own, the buyer all.
    outcomes = {person: expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                                headers=world[person].headers), 200) for person in VENDORS}
    assert {p: (o["outcome"], o["rejectionGrounds"]) for p, o in outcomes.items()} == {
        "vendor_admin": ("winning", None), "other_vendor_admin": ("rejected", "abnormally_low"),
        "third_vendor_admin": ("not_retained", None)}
    assert outcomes["other_vendor_admin"]["awardeeName"] == AWARDEE_NAME
    ranked = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    assert [(o["offerId"], o["outcome"]) for o in ranked["offers"]] == [(a, "winning"), (c, "not_retained")]

    # D17: an offer rejected as abnormally low was not irregular: its vendor is owed the winning offer's
    # characteristics and advantages too, and the buyer is told so.
    expect(await client.post(f"/specific-contracts/{cid}/reasons-requests", headers=world["other_vendor_admin"].headers,
                             json={"request": "Merci de nous communiquer les motifs."}), 201)
    asked = next(iter((await notifications(settings, "award.reasons_requested")).values()))
    assert "anormalement basse" in asked and "caractéristiques et avantages de l'offre retenue" in asked

    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE target_id = $1 ORDER BY id", b)]
    assert [a for a in actions if "abnormally_low" in a] == [
        "offer.abnormally_low_justification_requested", "offer.abnormally_low_document_received",
        "offer.abnormally_low_justified", "offer.abnormally_low_rejected"]
    stored = await fetch(settings, "SELECT grounds FROM offer_rejection WHERE offer_id = $1", uuid.UUID(b))
    assert [r["grounds"] for r in stored] == ["abnormally_low"]


async def test_accepted_or_unanswered_by_the_due_date(client: Client, world: World, clock: FrozenClock,
                                                      settings: Settings) -> None:
    cid, offers = await evaluation(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin, evaluator = world["buyer_admin"].headers, world["buyer_evaluator"].headers

    # An opener of the buying organisation is no evaluator.
    expect(await client.post(f"/offers/{a}/abnormally-low", headers=world["buyer_opener"].headers,
                             json={"reasons": "?", "justificationDueAt": "2026-03-01T12:00:00"}), 403)

    # Accepted without waiting for the justification: the suspicion is dropped, the offer stays ranked.
    due_a = clock.now() + timedelta(days=2)
    expect(await client.post(f"/offers/{a}/abnormally-low", headers=evaluator,
                             json={"reasons": REASONS, "justificationDueAt": due_a.isoformat()}), 201)
    accepted = expect(await client.post(f"/offers/{a}/abnormally-low/decision", headers=admin,
                                        json={"accepted": True, "reasons": "Prix cohérent avec le marché."}), 200)
    assert accepted["status"] == "accepted"
    again = await client.post(f"/offers/{a}/abnormally-low", headers=evaluator,
                              json={"reasons": REASONS, "justificationDueAt": due_a.isoformat()})
    assert expect(again, 409)["rule"] == "D15"
    expect(await client.post(f"/offers/{a}/abnormally-low/justification", headers=world["vendor_admin"].headers,
                             json={"text": "Trop tard, c'est accepté."}), 409)
    assert "Prix cohérent" in (await notifications(settings, "award.abnormally_low_accepted"))[
        email_of("vendor_admin")]

    # Unanswered: past the due date (to the second, as for offers) the justification is refused, naming D15 and
    # the date, and the rejection becomes possible.
    due_c = clock.now() + timedelta(days=1)
    expect(await client.post(f"/offers/{c}/abnormally-low", headers=evaluator,
                             json={"reasons": REASONS, "justificationDueAt": due_c.isoformat()}), 201)
    clock.set(due_c - timedelta(seconds=1))
    expect(await client.post(f"/offers/{c}/abnormally-low/decision", headers=admin,
                             json={"accepted": False, "reasons": "Pas de réponse."}), 409)
    clock.set(due_c)
    late = expect(await client.post(f"/offers/{c}/abnormally-low/justification",
                                    headers=world["third_vendor_admin"].headers,
                                    json={"text": "Nous justifions."}), 409)
    assert late["rule"] == "D15" and format_paris(due_c) in late["detail"]
    expect(await client.put(f"/offers/{c}/abnormally-low/justification/document", content=minimal_pdf("tard"),
                            headers={**world["third_vendor_admin"].headers, "content-type": "application/pdf"}), 409)
    expect(await client.post(f"/offers/{c}/abnormally-low/decision", headers=admin,
                             json={"accepted": False, "reasons": "Aucune justification reçue dans le délai."}), 200)

    # An irregular offer's vendor is owed the reasons only (D17), unlike the abnormally low one above.
    expect(await client.post(f"/offers/{b}/rejection", headers=admin,
                             json={"grounds": "irregular", "reasons": "Acte d'engagement non signé."}), 200)
    for evaluator_name in ("buyer_admin", "buyer_evaluator"):
        expect(await client.put(f"/offers/{a}/scores", headers=world[evaluator_name].headers,
                                json=scores(80, 80)), 200)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json={"offerId": a, "reasons": "Seule offre restante."}), 201)
    expect(await client.post(f"/specific-contracts/{cid}/reasons-requests", headers=world["other_vendor_admin"].headers,
                             json={"request": "Pourquoi ?"}), 201)
    asked = next(iter((await notifications(settings, "award.reasons_requested")).values()))
    assert "irrégulière" in asked and "caractéristiques" not in asked
    third = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                    headers=world["third_vendor_admin"].headers), 200)
    assert (third["outcome"], third["rejectionGrounds"]) == ("rejected", "abnormally_low")
    # After the award nothing of the procedure moves.
    expect(await client.post(f"/offers/{b}/abnormally-low", headers=evaluator,
                             json={"reasons": REASONS, "justificationDueAt": (clock.now() + timedelta(days=3))
                                   .isoformat()}), 409)

