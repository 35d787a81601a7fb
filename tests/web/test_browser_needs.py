"""The needs review screens in a real browser (Chromium through Playwright) against a live server on real services:
a buyer opens the list from the navigation, opens a sandbox need filed to its DPS, reads its checklist and publishes
it through the form; axe-core finds no serious or critical violation on either screen. Screenshots:
.artefacts/screens/needs-list.png, need-review.png.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import to_paris
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.tenders.test_needs import create as create_need
from tests.tenders.test_needs import finess
from tests.tenders.test_publication import admit, ensure_opener
from tests.vendors.api import categories_by_pair, dps_body, expect, initial_window_end
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
_FACILITIES = itertools.count(1)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def _filed_sandbox_need(client: Client, world: World) -> dict[str, Any]:
    """A sandbox DPS of the buyer (centralised), active with a vendor admitted, and the holder's sandbox need
    submitted to it: a rehearsal never filed to a call is published without a funding decision (N16's exception),
    once the buyer holds an opener key (D13)."""
    buyer, holder = world["buyer_admin"].headers, world["holder_admin"].headers
    now = datetime.now(UTC)
    dps = expect(await client.post("/dps", headers=buyer, json={**dps_body(now), "sandbox": {"factor": 2}}), 201)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(now).isoformat()}), 200)
    expect(await client.post(f"/dps/{dps['id']}/sandbox/fast-forward", headers=buyer, json={"days": 32}), 200)
    dps = expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    et = finess(f"7529{next(_FACILITIES):04d}")
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities", headers=holder,
                             json={"name": f"EHPAD {et}", "finessEt": et}), 201)
    need = await create_need(client, world, facilities=[{"finessEt": et}], dpsId=dps["id"], sandbox=True,
                             title="Dossier usager informatisé — répétition")
    expect(await client.post(f"/needs/{need['id']}/submit", headers=holder), 200)
    await ensure_opener(client, world)
    return need


async def test_a_buyer_reviews_the_checklist_and_publishes_a_need(
        chromium: BrowserThread, live_server: str, client: Client, world: World) -> None:
    need = await _filed_sandbox_need(client, world)
    # Paris wall-clock time, well past D9's 10 days on the sandbox's clock (32 days ahead, running twice as fast).
    deadline = to_paris(datetime.now(UTC) + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")

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
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Besoins").click()
        page.wait_for_url("**/app/besoins")
        seen["list"] = page.locator("main").inner_text()
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "needs-list")
        page.get_by_role("link", name="Dossier usager informatisé — répétition").click()
        page.wait_for_url(f"**/app/besoins/{need['id']}")
        seen["checklist"] = page.locator("#checklist").inner_text()
        seen["detail_axe"] = serious_violations(page)
        screenshot(page, "need-review")
        page.get_by_label("Date limite de remise des offres (heure de Paris)").fill(deadline)
        page.get_by_label("Prix (entre 20 et 50)").fill("40")
        page.get_by_label("Valeur technique", exact=False).fill("60")
        page.get_by_role("button", name="Publier le besoin").click()
        page.wait_for_url(f"**/app/besoins/{need['id']}")
        seen["after"] = page.locator("main").inner_text()
        screenshot(page, "need-review-published")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert "Dossier usager informatisé — répétition" in seen["list"] and "à publier" in seen["list"]
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    for rule in ("N1", "N8", "N16", "N18", "N19"):
        assert rule in seen["checklist"], rule
    assert "non respectée" not in seen["checklist"]
    assert seen["detail_axe"] == [], "\n".join(seen["detail_axe"])
    assert "Le besoin est publié : 1 éditeur(s) invité(s)" in seen["after"], seen["after"][:1500]
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    api = expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers), 200)
    assert api["status"] == "published"
