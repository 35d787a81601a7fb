"""The audit journal in a real browser (Chromium through Playwright) against a live server on real services.

A platform admin logs in, opens the journal, filters it by action, verifies the chain; axe-core finds no serious
or critical violation on the journal. The screenshot goes to .artefacts/screens/audit-log.png (ignored by git).
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock."""
    return shared_app(settings)


async def test_a_platform_admin_filters_the_journal_and_verifies_the_chain(chromium: BrowserThread,
                                                                          live_server: str, world: World) -> None:
    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/journal")
        page.get_by_label("Adresse électronique").fill(email_of("platform_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/app/journal")
        seen["heading"] = page.locator("h1").inner_text()
        page.get_by_label("Action (début)").fill("organisation.")
        page.get_by_role("button", name="Filtrer").click()
        page.wait_for_url("**/app/journal?*action=organisation.*")
        seen["actions"] = page.locator("table.journal tbody td:nth-child(4)").all_inner_texts()
        page.get_by_role("button", name="Vérifier la chaîne").click()
        page.wait_for_url("**/app/journal")
        seen["notice"] = page.locator(".notice").inner_text()
        seen["axe"] = serious_violations(page)
        screenshot(page, "audit-log")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["heading"] == "Journal d'audit"
    assert seen["actions"] == ["organisation.created"] * len(world.organisations)
    assert "Chaîne d'audit intègre" in seen["notice"] and "aucun maillon rompu" in seen["notice"]
    assert seen["axe"] == [], "\n".join(seen["axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
