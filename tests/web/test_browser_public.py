"""The public pages in a real browser (Chromium through Playwright) against a live server on real services: an
anonymous visitor opens a DPS notice from the list, the register of admitted vendors, searches the published
consultations and opens one; axe-core finds no serious or critical violation on any of them. Screenshots:
.artefacts/screens/public-dps.png, public-register.png, public-search.png, public-contract.png.

The objects are built in process on the frozen clock of tests/web/conftest.py (early 2026): for the live server, on
the real clock, the contract's deadline is past, which changes its status and nothing else these pages show.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.web.test_public_pages import TITLE, _scene
from tests.world import World

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]


async def test_an_anonymous_visitor_reads_a_notice_the_register_and_a_consultation(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    dps_title = scene["dps"]["title"]

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/sad")
        seen["header"] = page.locator("header").inner_text()
        page.get_by_role("link", name=dps_title).click()
        page.wait_for_url(f"**/app/sad/{scene['dps']['id']}")
        seen["dps"] = page.locator("main").inner_text()
        seen["dps_axe"] = serious_violations(page)
        screenshot(page, "public-dps")
        page.get_by_role("navigation", name="Navigation publique").get_by_role(
            "link", name="Registre des éditeurs admis").click()
        page.wait_for_url("**/app/registre")
        seen["register"] = page.locator("main").inner_text()
        seen["register_axe"] = serious_violations(page)
        screenshot(page, "public-register")
        page.get_by_role("navigation", name="Navigation publique").get_by_role(
            "link", name="Consultations publiées").click()
        page.wait_for_url("**/app/consultations")
        page.get_by_label("Mots recherchés").fill("logiciels ehpad")
        page.get_by_role("button", name="Rechercher").click()
        page.wait_for_url("**/app/consultations?*")
        seen["search"] = page.locator("main").inner_text()
        seen["search_axe"] = serious_violations(page)
        screenshot(page, "public-search")
        page.get_by_role("link", name=TITLE).click()
        page.wait_for_url(f"**/app/consultations/{scene['contract']['id']}")
        seen["contract"] = page.locator("main").inner_text()
        seen["contract_axe"] = serious_violations(page)
        screenshot(page, "public-contract")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert "Se connecter" in seen["header"] and "Se déconnecter" not in seen["header"]
    assert "Règlement de la consultation" in seen["dps"] and "Critères de sélection" in seen["dps"]
    assert "Registre des éditeurs admis" in seen["register"] and "2 admission(s)" in seen["register"]
    assert TITLE in seen["search"] and "Planification des interventions" not in seen["search"]
    assert "Limites d'un dépôt" in seen["contract"] and " Mo au plus" in seen["contract"]
    for screen in ("dps", "register", "search", "contract"):
        assert seen[f"{screen}_axe"] == [], (screen, seen[f"{screen}_axe"])
    assert not [m for m in seen["console"] if m.startswith("error")], seen["console"]
