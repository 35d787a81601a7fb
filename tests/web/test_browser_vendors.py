"""The Vendors screens in a real browser (Chromium through Playwright) against a live server on real services: a
buyer signs in, opens the vendors list from the navigation, then one vendor's file; axe-core finds no serious or
critical violation on either screen. Screenshots: .artefacts/screens/vendors-list.png, vendor-file.png.
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
VENDOR = "Logiciels Médico-Sociaux SAS"


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def _admitted(client: Client, world: World) -> dict[str, Any]:
    """A sandbox DPS of the buyer, its initial window skipped and active, with the vendor admitted."""
    buyer = world["buyer_admin"].headers
    now = datetime.now(UTC)
    dps = expect(await client.post("/dps", headers=buyer, json={**dps_body(now), "sandbox": {"factor": 2}}), 201)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(now).isoformat()}), 200)
    expect(await client.post(f"/dps/{dps['id']}/sandbox/fast-forward", headers=buyer, json={"days": 32}), 200)
    expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200)
    request = await apply(client, world["vendor_admin"], dps["categories"][0]["id"])
    await upload_all(client, world["vendor_admin"], request["id"], "navigateur éditeurs")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world["vendor_admin"].headers),
           200)
    expect(await client.post(f"/admission-requests/{request['id']}/admit", headers=buyer), 200)
    return request


async def test_a_buyer_opens_the_vendors_list_and_a_vendor_file(
        chromium: BrowserThread, live_server: str, client: Client, world: World) -> None:
    await _admitted(client, world)
    vendor_id = str(world.organisations["vendor"])

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
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Éditeurs").click()
        page.wait_for_url("**/app/editeurs")
        seen["list"] = page.locator("main").inner_text()
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "vendors-list")
        page.get_by_role("link", name=VENDOR).click()
        page.wait_for_url(f"**/app/editeurs/{vendor_id}")
        seen["file"] = page.locator("main").inner_text()
        seen["file_axe"] = serious_violations(page)
        screenshot(page, "vendor-file")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert VENDOR in seen["list"] and "44306184100047" in seen["list"] and "admis" in seen["list"]
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    assert "Admissions par catégorie" in seen["file"] and "non enrôlé" in seen["file"]
    assert "Suspendre" in seen["file"] and "Exclure" in seen["file"]
    assert seen["file_axe"] == [], "\n".join(seen["file_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
