"""The SONS orders screens in a real browser (Chromium through Playwright) against the live server (real clock).

The operator logs in, opens the SONS orders from the navigation, filters them by region, opens an order; axe-core
finds no serious or critical violation on either screen; screenshots `sons-orders`, `sons-order` go to
.artefacts/screens/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.sons.api import Client
from tests.sons.test_reports import known_orders
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the orders made through the API are made on it too."""
    return shared_app(settings)


async def test_the_operator_filters_the_orders_and_opens_one_in_the_browser(
        chromium: BrowserThread, live_server: str, client: Client, world: World, settings: Settings,
        tmp_path: Path) -> None:
    # A1 (Paris, its advance paid), A2, A3 (Guadeloupe), B1 (MS2, deployment within 30 days): their calendars are
    # set around now, so the live server reads them as the in-process tests do.
    await known_orders(client, world, settings, FrozenClock(datetime.now(UTC)), tmp_path)

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("platform_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="SONS").click()
        page.wait_for_url("**/app/sons")
        seen["all"] = page.locator("#commandes").inner_text()
        seen["chart"] = page.locator("svg[role=img]").count()
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "sons-orders")

        page.get_by_label("Région").select_option(label="Île-de-France")
        page.get_by_role("button", name="Filtrer").click()
        page.wait_for_url(lambda url: "region=11" in url)
        seen["filtered"] = page.locator("#commandes").inner_text()

        page.get_by_role("link", name="A1", exact=True).click()
        page.wait_for_url("**/app/sons/commandes/*")
        seen["order"] = page.locator("main").inner_text()
        seen["order_axe"] = serious_violations(page)
        screenshot(page, "sons-order")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert all(ref in seen["all"] for ref in ("A1", "A2", "A3", "B1")), seen["all"]
    assert seen["chart"] == 1
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    assert "A1" in seen["filtered"] and not any(ref in seen["filtered"] for ref in ("A2", "A3", "B1"))
    assert "Commande SONS A1" in seen["order"] and "FINESS ET 750000010" in seen["order"]
    assert "décidée et payée" in seen["order"] and "14\u202f400,00 €" in seen["order"]
    assert seen["order_axe"] == [], "\n".join(seen["order_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
