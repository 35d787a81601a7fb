"""The vendors' self-service pages (marketplace/web/applications.py) over HTTP, in process: a vendor applies through
the form, sends the required documents as multipart files and submits; the receipt shows, and the API reads the
request back as submitted with those documents. Refusals carry their rule; another vendor's request is a 404; a
buyer is refused these pages (403). The invitations list reads each contract's status and deadline on its clock."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock, format_paris
from tests.tenders.test_offers import DEADLINE, open_contract
from tests.tenders.test_publication import admit
from tests.vendors.api import (
    DOCUMENT_RULES,
    SECRET_REPRESENTATIVE,
    categories_by_pair,
    expect,
    minimal_pdf,
    open_dps,
    sha256,
)
from tests.web.pages import Browser, csrf_token, login, without_help
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def act(web: Browser, page: str, action: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """Post a form of `page` (its CSRF token read from the page, as a browser sends it)."""
    shown = await web.get(page)
    assert shown.status_code == 200, shown.text[:500]
    return await web.post(action, data={"_csrf_token": csrf_token(shown.text), **(data or {})}, **kwargs)


def refusal(answer: Any, status: int, field: str, *words: str) -> str:
    """The error page: its status, the field it names and what the rule says."""
    assert answer.status_code == status, answer.text[:800]
    text = html.unescape(answer.text)
    assert f"champ <code>{field}</code>" in text, text[:2000]
    for word in words:
        assert word in text, text[:2000]
    return text


FORM = {"aucune_exclusion": "oui", "obligations_a_jour": "oui", "representant": SECRET_REPRESENTATIVE,
        "chiffre_affaires": "1 234 567", "effectif": "37", "references": "EHPAD Les Jardins (2024)\nSSIAD du Val",
        "logiciel": "Dossier Usager Plus", "version": "4.2", "referencement": "SEGUR-DOS-4.2",
        "dispositif": "DUI-ESMS"}


async def applied(client: Client, web: Browser, category: str) -> str:
    answer = await act(web, "/app/candidatures", "/app/candidatures/", {**FORM, "categorie": category})
    assert answer.status_code == 303, answer.text[:800]
    match = re.fullmatch(r"/app/candidatures/([0-9a-f-]{36})", answer.headers["location"])
    assert match, answer.headers["location"]
    return match.group(1)


def upload_files(kind: str, content: bytes) -> dict[str, Any]:
    return {"fichier": (f"{kind}-scan.pdf", content, "application/pdf")}


async def test_a_vendor_applies_uploads_the_documents_and_submits(client: Client, world: World,
                                                                  clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    web = await signed_in(client, "vendor_admin")

    listing = await web.get("/app/candidatures")
    assert listing.status_code == 200, listing.text
    text = html.unescape(listing.text)
    # The DPS and its categories are chosen from lists, never typed ids.
    assert f'<optgroup label="{dps["title"]}">' in text and f'<option value="{category}">DUI grand_age en saas' in text
    assert 'aria-current="page">Candidatures' in text.replace("\n", "")

    request_id = await applied(client, web, category)
    page = html.unescape((await web.get(f"/app/candidatures/{request_id}")).text)
    assert "brouillon" in page and "Dossier Usager Plus 4.2" in page
    # The limits are shown before anything is sent.
    assert "Au plus 65536 octets (64 Kio)" in page and "types acceptés : application/pdf" in page
    assert page.count("badge-alert\">manquante") == 2 and "manquante(s) : kbis, insurance" in page

    # A required document with an end of validity, sent without it: refused by its rule, nothing kept.
    sent = {r["kind"]: minimal_pdf(f"web {r['kind']}") for r in DOCUMENT_RULES}
    base = f"/app/candidatures/{request_id}"
    refusal(await act(web, base, f"{base}/pieces/insurance", files=upload_files("insurance", sent["insurance"])),
            422, "validUntil", "Attestation d'assurance responsabilité civile professionnelle")
    # No file chosen: refused by the document's rule (its accepted types).
    refusal(await act(web, base, f"{base}/pieces/kbis", {"valide_jusqu_au": ""},
                      files={"fichier": ("", b"", "application/octet-stream")}),
            415, "Content-Type", "Extrait Kbis de moins de trois mois", "application/pdf")
    # A file of another type: refused by the same rule as the API's upload.
    refusal(await act(web, base, f"{base}/pieces/kbis", files={"fichier": ("kbis.png", b"\x89PNG\r\n", "image/png")}),
            415, "Content-Type", "application/pdf")
    assert expect(await client.get(f"/admission-requests/{request_id}", headers=world["vendor_admin"].headers),
                  200)["documents"] == []

    for kind, content in sent.items():
        answer = await act(web, base, f"{base}/pieces/{kind}", {"valide_jusqu_au": "2027-06-30"},
                           files=upload_files(kind, content))
        assert answer.status_code == 303, answer.text[:800]
    page = html.unescape((await web.get(base)).text)
    for kind, content in sent.items():
        assert f"{kind}-scan.pdf" in page and sha256(content) in page and f"{len(content)} octets" in page
    assert "manquante" not in page and "30/06/2027" in page

    submitted_at = clock.now()
    answer = await act(web, base, f"{base}/soumettre")
    assert answer.status_code == 303 and answer.headers["location"] == f"{base}#accuse"
    page = html.unescape((await web.get(base)).text)
    request = expect(await client.get(f"/admission-requests/{request_id}", headers=world["vendor_admin"].headers), 200)
    assert request["status"] == "under_evaluation"
    assert {d["kind"]: d["sha256"] for d in request["documents"]} == {k: sha256(c) for k, c in sent.items()}
    assert request["selfDeclaration"]["annualTurnoverEur"] == 1_234_567
    assert request["selfDeclaration"]["references"] == ["EHPAD Les Jardins (2024)", "SSIAD du Val"]
    assert request["referencedSoftware"]["referencingId"] == "SEGUR-DOS-4.2"
    # The receipt: received at the server's instant, to the second, in Paris time, with its hash.
    assert datetime.fromisoformat(request["receivedAt"]) == submitted_at
    receipt = page.split('id="accuse"', 1)[1]
    assert format_paris(submitted_at, seconds=True) in receipt
    assert re.search(r'<code class="hash" id="empreinte">[0-9a-f]{64}</code>', receipt)
    assert "Candidature transmise" in page and "en cours d'évaluation" in page
    acts = without_help(page)
    assert "Transmettre la candidature" not in acts and "Déposer la pièce" not in acts  # frozen under evaluation

    # The list: the status in French, received at, the D6 due date as a countdown.
    listing = html.unescape((await web.get("/app/candidatures")).text)
    assert "en cours d'évaluation" in listing and format_paris(submitted_at) in listing
    assert f'<time datetime="{datetime.fromisoformat(request["dueAt"]).isoformat()}">' in listing

    # Another vendor: the request doesn't exist for it, on every page and act.
    other = await signed_in(client, "other_vendor_admin")
    assert (await other.get(base)).status_code == 404
    assert request_id not in (await other.get("/app/candidatures")).text
    token = csrf_token((await other.get("/app/candidatures")).text)
    assert (await other.post(f"{base}/soumettre", data={"_csrf_token": token})).status_code == 404
    assert (await other.post(f"{base}/pieces/kbis", data={"_csrf_token": token},
                             files=upload_files("kbis", sent["kbis"]))).status_code == 404


async def test_a_buyer_is_refused_the_vendors_pages(client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    web = await signed_in(client, "buyer_admin")
    for path in ("/app/candidatures", "/app/invitations"):
        assert (await web.get(path)).status_code == 403
    vendor = await signed_in(client, "vendor_admin")
    request_id = await applied(client, vendor, categories_by_pair(dps)["grand_age", "saas"])
    # The DPS's buyer reads the request in its own file (/app/admissions), not on the vendor's page.
    assert (await web.get(f"/app/candidatures/{request_id}")).status_code == 403


async def test_a_blank_form_is_refused_by_the_field_it_misses(client: Client, world: World,
                                                              clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    web = await signed_in(client, "vendor_admin")
    form = {**FORM, "categorie": categories_by_pair(dps)["grand_age", "saas"], "version": ""}
    refusal(await act(web, "/app/candidatures", "/app/candidatures/", form), 422, "referencedSoftware.version")
    assert "Aucune demande" in (await web.get("/app/candidatures")).text


async def test_answering_a_request_for_an_updated_declaration(client: Client, world: World,
                                                               clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    request_id = await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    expect(await client.post(f"/admission-requests/{request_id}/declaration-request",
                             headers=world["buyer_admin"].headers, json={"message": "Merci de mettre à jour."}), 200)
    web = await signed_in(client, "vendor_admin")
    base = f"/app/candidatures/{request_id}"
    page = html.unescape((await web.get(base)).text)
    assert "demande une déclaration sur l'honneur (DUME) mise à jour" in page
    answer = await act(web, base, f"{base}/dume", {**FORM, "representant": "Nouveau Représentant"})
    assert answer.status_code == 303, answer.text[:800]
    shown = expect(await client.get(f"/admission-requests/{request_id}", headers=world["vendor_admin"].headers), 200)
    assert shown["selfDeclaration"]["legalRepresentative"] == "Nouveau Représentant"
    assert shown["declarationDueAt"] is None
    assert "Mettre à jour la déclaration" not in without_help((await web.get(base)).text)  # nothing asked any more


@pytest.mark.usefixtures("cpv")
async def test_the_invitations_read_status_and_deadline_on_the_contracts_clock(
        client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    web = await signed_in(client, "vendor_member")
    page = html.unescape((await web.get("/app/invitations")).text)
    assert f'<a href="/app/offres/{contract["id"]}">' in page and "ouvert aux offres" in page
    assert f'<time datetime="{DEADLINE.isoformat()}">' in page and "dans " in page
    # HC5/HC6: from the deadline's instant on, closed, without anything stored.
    clock.set(DEADLINE)
    web = await signed_in(client, "vendor_member")  # a new session: the first one timed out meanwhile
    page = html.unescape((await web.get("/app/invitations")).text)
    assert "remise des offres close" in page and "dépassée" in page
    third = html.unescape((await (await signed_in(client, "third_vendor_admin")).get("/app/invitations")).text)
    assert contract["id"] not in third and "Aucune invitation" in third
