"""The vendors' offer workspace in a real browser: an invited vendor prepares, deposits, withdraws and replaces its
offer on a contract open for offers, with the page's own JavaScript upload path.

The contract is built through the API on an app whose frozen clock sits a few weeks before the real one, with a
deadline weeks after it: the live server, on the real clock, sees it open. Then, in Chromium:

1. the vendor creates a draft, fills its price schedule and answers, and uploads a 50 MiB PDF through
   static/js/offers.js (SHA-256 in the browser, a presigned PUT straight to the object store with its progress
   bar, then the completion call); the attachment is listed (name, size) and read back through the API;
2. deposits it and downloads the receipt PDF, whose embedded receipt verifies against the platform's public key;
3. withdraws it and deposits a second version, its file sent by the form without JavaScript (multipart).

axe-core runs on the workspace before and after the deposit (0 serious or critical violations); screenshots
.artefacts/screens/offer-workspace.png and offer-receipt.png.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pypdf import PdfReader

from marketplace.lib.clock import FrozenClock
from marketplace.lib.sealing import verify
from marketplace.web.contracts import paris_iso
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import categories_by_pair, expect, minimal_pdf, open_dps
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
BIG = 50 * 1024 * 1024
BIG_NAME = "Mémoire technique complet.pdf"
SMALL_NAME = "Mémoire technique v2.pdf"


@pytest.fixture
def clock() -> FrozenClock:
    """Forty days before the real clock: the DPS's initial window (31 days) passes on it, and the contract it
    publishes is open on the live server's real clock."""
    return FrozenClock(datetime.now(UTC) - timedelta(days=40))


async def _open_contract(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    for person in ("vendor_admin", "other_vendor_admin"):
        await admit(client, world, world[person], category)
    need = await submitted_need(client, world)
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return dict(expect(await publish(client, world, need["id"], dps["id"], deadline), 201))


def _sign_in(browser: Any, base: str, target: str, *, javascript: bool = True) -> tuple[Any, Any]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{base}{target}")
    page.get_by_label("Adresse électronique").fill(email_of("vendor_admin"))
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**{target}")
    return context, page


def _draft(page: Any) -> str:
    action = page.locator("#brouillon form[action$='/parties']").get_attribute("action")
    match = re.search(r"/offre/([0-9a-f-]{36})/parties", action or "")
    assert match, action
    return match.group(1)


def _fill_parts(page: Any, price: str) -> None:
    page.get_by_label("Désignation, ligne 1").fill("Licence DUI, 40 postes")
    page.get_by_label("Quantité, ligne 1").fill("1")
    page.get_by_label("Prix unitaire en euros, ligne 1").fill(price)
    for n, answer in enumerate(page.locator("#brouillon textarea[name^='reponse-']").all()):
        answer.fill(f"Réponse détaillée au critère {n + 1}.")
    page.get_by_role("button", name="Enregistrer le bordereau et les réponses").click()
    page.wait_for_load_state()


# Every text the upload's live status takes, in order (the status is rewritten, not appended to).
WATCH_STATUS = """() => {
  window.etats = [];
  new MutationObserver(function (records) {
    records.forEach(function (r) { r.addedNodes.forEach(function (n) {
      if (n.nodeType === Node.TEXT_NODE) { window.etats.push(n.data); } }); });
  }).observe(document.getElementById("etat-envoi"), { childList: true });
}"""


async def test_a_vendor_deposits_a_50_mib_offer_withdraws_it_and_deposits_a_new_version(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock,
        tmp_path: Path) -> None:
    contract = await _open_contract(client, world, clock)
    cid, limits = contract["id"], contract["depositLimits"]
    assert "application/pdf" in limits["attachmentTypes"] and limits["attachmentMaxBytes"] >= BIG
    target = f"/app/offres/{cid}"
    big = tmp_path / BIG_NAME
    big.write_bytes(minimal_pdf("mémoire technique, version 1", size=BIG))
    small = tmp_path / SMALL_NAME
    small.write_bytes(minimal_pdf("mémoire technique, version 2"))

    def walk(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, target)
        seen["before_axe"] = serious_violations(page)
        page.get_by_role("button", name="Créer mon offre (brouillon)").click()
        page.wait_for_load_state()
        seen["created"] = page.locator(".notice").inner_text()
        seen["first"] = _draft(page)
        _fill_parts(page, "48 000,00")
        seen["parts"] = page.locator(".notice").inner_text()

        # 1. The 50 MiB file by the page's script: hashed, PUT to the object store with a progress bar, confirmed.
        page.evaluate(WATCH_STATUS)
        page.set_input_files("#f-file", str(big))
        page.get_by_role("button", name="Envoyer la pièce").click()
        status = page.locator("#etat-envoi")
        status.filter(has_text=re.compile("Envoi terminé|Refusé|refusé|interrompu")).wait_for(timeout=60_000)
        seen["status"] = status.inner_text()
        seen["statuses"] = page.evaluate("window.etats")
        seen["bar"] = page.evaluate("[document.getElementById('barre').value, document.getElementById('barre').max]")
        seen["draft_axe"] = serious_violations(page)  # the progress bar and its status shown
        page.get_by_role("link", name="Afficher la liste des pièces").click()
        page.wait_for_load_state()
        seen["pieces"] = page.locator("#pieces tbody").inner_text()
        seen["workspace_axe"] = serious_violations(page)
        screenshot(page, "offer-workspace")

        # 2. Deposit, and the receipt's PDF.
        page.get_by_role("button", name="Déposer la version 1").click()
        page.wait_for_load_state()
        seen["submitted"] = page.locator("main").inner_text()
        seen["receipt_axe"] = serious_violations(page)
        screenshot(page, "offer-receipt")
        with page.expect_download() as download:
            page.get_by_role("link", name="Télécharger l'accusé (PDF) de la version 1").click()
        seen["download_name"] = download.value.suggested_filename
        seen["pdf"] = Path(download.value.path()).read_bytes()

        # 3. Withdraw, then a new version, its file by the form alone (no JavaScript).
        page.get_by_role("button", name="Retirer la version 1").click()
        page.wait_for_load_state()
        seen["withdrawn"] = page.locator(".notice").inner_text()
        context.close()

        context, page = _sign_in(browser, live_server, target, javascript=False)
        page.get_by_role("button", name="Créer une nouvelle version (brouillon)").click()
        page.wait_for_load_state()
        seen["second"] = _draft(page)
        _fill_parts(page, "45 500,00")
        page.set_input_files("#f-file", str(small))
        page.get_by_role("button", name="Envoyer la pièce").click()
        page.wait_for_load_state()
        seen["small"] = page.locator(".notice").inner_text()
        page.get_by_role("button", name="Déposer la version 2").click()
        page.wait_for_load_state()
        seen["second_submitted"] = page.locator("main").inner_text()
        context.close()
        return seen

    seen = chromium.run(walk)
    headers = world["vendor_admin"].headers
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert "Version 1 de votre offre créée" in seen["created"]
    assert "Bordereau de prix et réponses aux critères enregistrés" in seen["parts"]

    # 1. The upload went by the presigned PUT, its progress shown to the end, then confirmed by the server.
    assert seen["status"].startswith(f"Envoi terminé : 100 %. « {BIG_NAME} » reçue et scellée ({BIG} octets)"), seen
    assert seen["bar"] == [100, 100], seen["bar"]
    progress = [s for s in seen["statuses"] if s.startswith("Envoi : ")]
    assert progress and progress[-1] == "Envoi : 100 %", seen["statuses"]
    assert seen["statuses"][0].startswith("Calcul de l'empreinte SHA-256"), seen["statuses"]
    assert seen["draft_axe"] == [], "\n".join(seen["draft_axe"])
    assert BIG_NAME in seen["pieces"] and str(BIG) in seen["pieces"], seen["pieces"]
    assert seen["workspace_axe"] == [], "\n".join(seen["workspace_axe"])
    first = expect(await client.get(f"/offers/{seen['first']}", headers=headers), 200)
    assert [(a["filename"], a["size"]) for a in first["attachments"]] == [(BIG_NAME, BIG)]
    assert first["attachments"][0]["sha256"] in seen["pieces"]

    # 2. Deposited; the downloaded PDF carries the receipt, signed by the platform's key.
    assert "Offre déposée" in seen["submitted"] and "Accusé de réception de la version 1" in seen["submitted"]
    assert seen["receipt_axe"] == [], "\n".join(seen["receipt_axe"])
    receipt = expect(await client.get(f"/offers/{seen['first']}/receipt", headers=headers), 200)
    assert receipt["signature"] in seen["submitted"]
    # Its times as a French reader reads them, to the second (the signed ISO values stay in `<time datetime>`).
    assert f"Offre déposée le {paris_iso(receipt['receipt']['receivedEnd'])}" in seen["submitted"]
    assert "heure de Paris" in paris_iso(receipt["receipt"]["receivedEnd"])
    assert seen["download_name"] == f"accuse-de-reception-{seen['first']}.pdf"
    embedded = json.loads(PdfReader(io.BytesIO(seen["pdf"])).attachments["receipt.json"][0])
    jwk = expect(await client.get("/receipts/public-key"), 200)
    assert embedded == receipt["receipt"] and verify(embedded, receipt["signature"], jwk)
    assert [(f["name"], f["size"]) for f in embedded["files"]] == [(BIG_NAME, BIG)]

    # 3. Withdrawn, and a second version deposited with its file sent by the plain form.
    assert "Version 1 retirée" in seen["withdrawn"]
    assert f"« {SMALL_NAME} » reçue et scellée ({small.stat().st_size} octets)" in seen["small"]
    assert "Offre déposée" in seen["second_submitted"] and "Accusé de réception de la version 2" in seen[
        "second_submitted"]
    mine = expect(await client.get(f"/specific-contracts/{cid}/my-offers", headers=headers), 200)
    assert sorted((o["version"], o["status"], o["id"]) for o in mine) == [
        (1, "withdrawn", seen["first"]), (2, "submitted", seen["second"])]
    second = expect(await client.get(f"/offers/{seen['second']}", headers=headers), 200)
    assert [(a["filename"], a["size"]) for a in second["attachments"]] == [(SMALL_NAME, small.stat().st_size)]
