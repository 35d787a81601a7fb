"""The Admissions screens in a real browser (Chromium through Playwright) against a live server on real services:
a buyer signs in, opens the list from the navigation, opens the request and admits it; axe-core finds no serious
or critical violation on either screen. Screenshots: .artefacts/screens/admissions-list.png, admissions-detail.png.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.vendors.api import apply, dps_body, expect, initial_window_end, upload_all
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def _decidable_request(client: Client, world: World) -> dict[str, Any]:
    """A sandbox DPS of the buyer whose initial window is skipped (D4, D6: no decision before it closes), active,
    with one submitted request: the real clock needn't wait 30 days."""
    buyer = world["buyer_admin"].headers
    now = datetime.now(UTC)
    dps = expect(await client.post("/dps", headers=buyer, json={**dps_body(now), "sandbox": {"factor": 2}}), 201)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(now).isoformat()}), 200)
    expect(await client.post(f"/dps/{dps['id']}/sandbox/fast-forward", headers=buyer, json={"days": 32}), 200)
    expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200)
    request = await apply(client, world["vendor_admin"], dps["categories"][0]["id"])
    await upload_all(client, world["vendor_admin"], request["id"], "navigateur admissions")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world["vendor_admin"].headers),
           200)
    return request


async def test_a_buyer_opens_the_admissions_list_and_admits_a_request(
        chromium: BrowserThread, live_server: str, client: Client, world: World) -> None:
    request = await _decidable_request(client, world)

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("buyer_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Admissions").click()
        page.wait_for_url("**/app/admissions")
        seen["list"] = page.locator("main").inner_text()
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "admissions-list")
        page.get_by_role("link", name="Logiciels Médico-Sociaux SAS").click()
        page.wait_for_url(f"**/app/admissions/{request['id']}")
        seen["detail"] = page.locator("main").inner_text()
        seen["detail_axe"] = serious_violations(page)
        screenshot(page, "admissions-detail")
        page.get_by_role("button", name="Admettre").click()
        page.wait_for_url(f"**/app/admissions/{request['id']}")
        seen["after"] = page.locator("main").inner_text()
        screenshot(page, "admissions-detail-admis")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert "Logiciels Médico-Sociaux SAS" in seen["list"] and "44306184100047" in seen["list"]
    assert "en cours d'évaluation" in seen["list"]
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    assert "Déclaration sur l'honneur" in seen["detail"] and "kbis.pdf" in seen["detail"]
    assert seen["detail_axe"] == [], "\n".join(seen["detail_axe"])
    assert "L'éditeur est admis" in seen["after"]
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    api = expect(await client.get(f"/admission-requests/{request['id']}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "admitted"
