"""The vendors' self-service in a real browser (Chromium through Playwright) against a live server on real services:
a vendor opens Candidatures from the navigation, applies to a published DPS's category, sends both required
documents through the page's file choosers and submits; the receipt shows. axe-core finds no serious or critical
violation on any screen. Screenshots: .artefacts/screens/vendor-applications.png, vendor-application.png,
vendor-invitations.png.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.vendors.api import dps_body, expect, initial_window_end, minimal_pdf, sha256
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the DPS the test publishes through the API does too."""
    return shared_app(settings)


async def test_a_vendor_applies_with_its_documents_and_submits(
        chromium: BrowserThread, live_server: str, client: Client, world: World, tmp_path: Path) -> None:
    buyer = world["buyer_admin"].headers
    now = datetime.now(UTC)
    dps = expect(await client.post("/dps", headers=buyer, json=dps_body(now, title="SAD du navigateur")), 201)
    # Published: in its initial window, it receives requests (D4, D5).
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(now).isoformat()}), 200)
    category = dps["categories"][0]
    files = {}
    for kind in ("kbis", "insurance"):
        files[kind] = tmp_path / f"{kind}-navigateur.pdf"
        files[kind].write_bytes(minimal_pdf(f"navigateur {kind}"))

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("vendor_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        nav = page.get_by_role("navigation", name="Navigation principale")
        nav.get_by_role("link", name="Candidatures").click()
        page.wait_for_url("**/app/candidatures")
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "vendor-applications")
        page.get_by_label("SAD et catégorie").select_option(category["id"])
        page.get_by_label("Je déclare que l'entreprise ne relève d'aucun motif d'exclusion").check()
        page.get_by_label("Je déclare que l'entreprise est à jour de ses obligations fiscales et sociales").check()
        page.get_by_label("Représentant légal").fill("Claire Navigateur")
        page.get_by_label("Effectif (facultatif)").fill("12")
        page.get_by_label("Nom du logiciel").fill("Dossier Navigateur")
        page.fill("#f-version", "1.0")
        page.get_by_label("Identifiant de référencement").fill("SEGUR-NAV-1.0")
        page.get_by_label("Dispositif").fill("DUI-ESMS")
        page.get_by_role("button", name="Enregistrer le brouillon").click()
        page.wait_for_url("**/app/candidatures/*")
        seen["url"] = page.url
        page.set_input_files("#f-fichier-kbis", str(files["kbis"]))
        page.locator("form:has(#f-fichier-kbis)").get_by_role("button", name="Déposer la pièce").click()
        page.wait_for_load_state()
        page.set_input_files("#f-fichier-insurance", str(files["insurance"]))
        page.fill("#f-validite-insurance", "2030-06-30")
        page.locator("form:has(#f-fichier-insurance)").get_by_role("button", name="Déposer la pièce").click()
        page.wait_for_load_state()
        seen["uploaded"] = page.locator("main").inner_text()
        page.get_by_role("button", name="Transmettre la candidature").click()
        page.wait_for_load_state()
        seen["detail"] = page.locator("main").inner_text()
        seen["detail_axe"] = serious_violations(page)
        screenshot(page, "vendor-application")
        nav.get_by_role("link", name="Consultations et offres").click()
        page.wait_for_url("**/app/invitations")
        seen["invitations"] = page.locator("main").inner_text()
        seen["invitations_axe"] = serious_violations(page)
        screenshot(page, "vendor-invitations")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    for path in files.values():
        assert path.name in seen["uploaded"] and sha256(path.read_bytes()) in seen["uploaded"]
    assert "Accusé de réception" in seen["detail"] and "heure de Paris" in seen["detail"]
    assert "en cours d'évaluation" in seen["detail"]
    assert seen["detail_axe"] == [], "\n".join(seen["detail_axe"])
    assert "Aucune invitation" in seen["invitations"]
    assert seen["invitations_axe"] == [], "\n".join(seen["invitations_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    request_id = seen["url"].rsplit("/", 1)[1]
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["vendor_admin"].headers), 200)
    assert api["status"] == "under_evaluation" and api["missingDocuments"] == []
    assert api["selfDeclaration"]["legalRepresentative"] == "Claire Navigateur"
    assert sorted(d["filename"] for d in api["documents"]) == sorted(p.name for p in files.values())
