"""The vendors' offer workspace over HTTP (no browser): the invited vendor sees the deposit limits before uploading
(D14a), creates a draft, gives its parts through the criteria's form, uploads a PDF (multipart), submits and reads
its receipt, downloads the PDF whose embedded receipt verifies; withdraws and makes a new version; a refused upload
is journaled and shown with the limit it hit (D14b); another vendor and a buyer are refused as by the API."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader

from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.lib.sealing import verify
from marketplace.settings import Settings
from tests.awards.test_award import opened_contract
from tests.tenders.test_offers import DEADLINE, open_contract
from tests.tenders.test_timestamps import stamp_pending
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    answer = await login(web, email_of(person))
    assert answer.status_code == 303, answer.text
    return web


async def act(web: Browser, page: str, action: str, **kwargs: object) -> str:
    """Post a form of `page` (its CSRF token read from it); return the page shown after the redirect."""
    form = await web.get(page)
    assert form.status_code == 200, form.text
    data = {**dict(kwargs.pop("data", {}) or {}), "_csrf_token": csrf_token(form.text)}  # type: ignore[call-overload]
    answer = await web.post(action, data=data, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 303, answer.text
    shown = await web.get(answer.headers["location"])
    assert shown.status_code == 200, shown.text
    return unescape(shown.text)


def draft_id(html: str) -> str:
    match = re.search(r'action="/app/offres/offre/([0-9a-f-]{36})/parties"', html)
    assert match, "no draft on the page"
    return match.group(1)


async def test_deposit_submit_receipt_withdraw_and_a_new_version(client: Client, world: World,
                                                                 clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    page = f"/app/offres/{contract['id']}"
    web = await signed_in(client, "vendor_admin")
    first = unescape((await web.get(page)).text)
    # D14a before any upload: sizes in Mo, the count, the accepted types.
    limits = contract["depositLimits"]
    assert "Limites du dépôt" in first and "application/pdf" in first
    assert f"<dd>{limits['attachmentMaxCount']}</dd>" in first and " Mo</dd>" in first
    assert "Date limite de remise des offres" in first and "heure de Paris" in first

    shown = await act(web, page, f"{page}/offre")
    offer_id = draft_id(shown)
    assert "Version 1 de votre offre créée" in shown
    # The parts form carries one answer per award criterion of the contract.
    criteria = [c["name"] for c in contract["awardCriteria"]]
    assert all(f'value="{name}"' in shown for name in criteria)
    fields = {"ligne-0-item": "Licence DUI, 40 postes", "ligne-0-quantite": "1", "ligne-0-prix": "48 000,00",
              **{f"critere-{i}": name for i, name in enumerate(criteria)},
              **{f"reponse-{i}": f"Réponse sur {name}." for i, name in enumerate(criteria)}}
    shown = await act(web, page, f"/app/offres/offre/{offer_id}/parties", data=fields)
    assert "Bordereau de prix et réponses aux critères enregistrés" in shown
    assert expect(await client.get(f"/offers/{offer_id}", headers=world["vendor_admin"].headers), 200)["hasParts"]

    pdf = minimal_pdf("offre web")
    shown = await act(web, page, f"/app/offres/offre/{offer_id}/pieces",
                      files={"file": ("Mémoire technique.pdf", pdf, "application/pdf")})
    assert "« Mémoire technique.pdf » reçue et scellée" in shown
    api = expect(await client.get(f"/offers/{offer_id}", headers=world["vendor_admin"].headers), 200)
    assert [(a["filename"], a["size"]) for a in api["attachments"]] == [("Mémoire technique.pdf", len(pdf))]
    assert api["attachments"][0]["sha256"] in shown and "offre web" not in shown  # names, sizes, hashes only

    shown = await act(web, page, f"/app/offres/offre/{offer_id}/depot")
    assert "Offre déposée" in shown and "Accusé de réception de la version 1" in shown
    receipt = expect(await client.get(f"/offers/{offer_id}/receipt", headers=world["vendor_admin"].headers), 200)
    assert receipt["receipt"]["manifestSha256"] in shown and receipt["signature"] in shown
    # G4: the receipt is given at once; its RFC 3161 token follows, fetched by the worker.
    assert "Horodatage (RFC 3161)" in shown and "en attente" in shown
    await stamp_pending(settings, clock)
    stamped = expect(await client.get(f"/offers/{offer_id}/receipt", headers=world["vendor_admin"].headers), 200)
    shown = unescape((await web.get(page)).text)
    assert format_paris(datetime.fromisoformat(stamped["timestamp"]["genTime"]), seconds=True) in shown
    pdf_answer = await web.get(f"/app/offres/offre/{offer_id}/accuse.pdf")
    assert pdf_answer.status_code == 200 and pdf_answer.headers["content-type"].startswith("application/pdf")
    embedded = json.loads(PdfReader(io.BytesIO(pdf_answer.content)).attachments["receipt.json"][0])
    jwk = expect(await client.get("/receipts/public-key"), 200)
    assert embedded == receipt["receipt"] and verify(embedded, receipt["signature"], jwk)

    shown = await act(web, page, f"/app/offres/offre/{offer_id}/retrait")
    assert "Version 1 retirée" in shown and "retirée" in shown
    assert expect(await client.get(f"/offers/{offer_id}", headers=world["vendor_admin"].headers),
                  200)["status"] == "withdrawn"
    shown = await act(web, page, f"{page}/offre")
    assert "Version 2 de votre offre créée" in shown and draft_id(shown) != offer_id


async def test_a_refused_upload_is_journaled_with_its_limit(client: Client, world: World,
                                                           clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    page = f"/app/offres/{contract['id']}"
    web = await signed_in(client, "vendor_admin")
    offer_id = draft_id(await act(web, page, f"{page}/offre"))
    token = csrf_token((await web.get(page)).text)
    refused = await web.post(f"/app/offres/offre/{offer_id}/pieces", data={"_csrf_token": token},
                             files={"file": ("notes.txt", b"just some text, not a PDF" * 10, "text/plain")})
    assert refused.status_code == 415, refused.text
    assert "text/plain" in unescape(refused.text)
    journal = expect(await client.get(f"/specific-contracts/{contract['id']}/my-deposit-attempts",
                                      headers=world["vendor_admin"].headers), 200)
    assert [(a["action"], a["status"], a["limitName"]) for a in journal] == [
        ("attachment.stream", 415, "attachmentTypes")]
    shown = unescape((await web.get(page)).text)
    section = shown.split('id="tentatives"', 1)[1].split("</section>", 1)[0]
    assert "attachment.stream" in section and "415" in section and "attachmentTypes" in section


async def test_another_vendor_and_a_buyer_are_refused(client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    page = f"/app/offres/{contract['id']}"
    web = await signed_in(client, "vendor_admin")
    offer_id = draft_id(await act(web, page, f"{page}/offre"))
    # Not invited: the contract is the service's 404; invited but not the author: the offer is a 404 too.
    third = await signed_in(client, "third_vendor_admin")
    assert (await third.get(page)).status_code == 404
    other = await signed_in(client, "other_vendor_admin")
    other_page = unescape((await other.get(page)).text)
    assert offer_id not in other_page
    token = csrf_token(other_page)
    assert (await other.post(f"/app/offres/offre/{offer_id}/depot", data={"_csrf_token": token})).status_code == 404
    assert (await other.get(f"/app/offres/offre/{offer_id}/accuse.pdf")).status_code == 404
    buyer = await signed_in(client, "buyer_admin")
    assert (await buyer.get(page)).status_code in (403, 404)


async def test_each_open_clarification_has_its_own_answer_field(client: Client, world: World,
                                                                clock: FrozenClock) -> None:
    cid, offers = await opened_contract(client, world, clock)
    offer = offers["vendor_admin"]
    threads = [expect(await client.post(f"/offers/{offer}/clarifications", headers=world["buyer_evaluator"].headers,
                                        json={"subject": subject, "body": "Précisez.",
                                              "answerDueAt": (DEADLINE + timedelta(days=3)).isoformat()}), 201)
               for subject in ("Reprise des données", "Calendrier")]
    web = await signed_in(client, "vendor_admin")
    shown = unescape((await web.get(f"/app/offres/{cid}")).text)
    ids = re.findall(r'<textarea id="([^"]+)" name="body"', shown)
    assert sorted(ids) == sorted(f"f-body-{t['id']}" for t in threads)
    assert all(f'<label for="{i}">' in shown for i in ids)
    assert "Votre réponse<span class=\"visually-hidden\"> à « Calendrier »</span>" in shown
    # Each form answers its own thread.
    token = csrf_token(shown)
    answer = await web.post(f"/app/offres/eclaircissements/{threads[1]['id']}/reponse",
                            data={"_csrf_token": token, "body": "Livraison en mars."})
    assert answer.status_code == 303, answer.text
    read = expect(await client.get(f"/offers/{offer}/clarifications", headers=world["buyer_evaluator"].headers), 200)
    bodies = {t["id"]: [m["body"] for m in t["messages"]] for t in read}
    assert bodies[threads[1]["id"]] == ["Précisez.", "Livraison en mars."]
    assert bodies[threads[0]["id"]] == ["Précisez."]
