"""The organisations and API keys screens in a real browser (Chromium through Playwright) against a live server.

An organisation's admin opens Organisations from the navigation, then its organisation, creates an API key (its
secret shown once, and accepted by the API), then revokes it (refused by the API from then on); axe-core finds no
serious or critical violation on either screen. Screenshots: .artefacts/screens/organisations.png and
organisation.png (ignored by git).
"""

from __future__ import annotations

from typing import Any

import httpx
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


async def test_an_admin_creates_and_revokes_an_api_key(chromium: BrowserThread, live_server: str,
                                                       world: World) -> None:
    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/")
        page.get_by_label("Adresse électronique").fill(email_of("holder_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: "/connexion" not in url)
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Organisations").click()
        page.wait_for_url("**/app/organisations")
        seen["rows"] = page.locator("table.data tbody th").all_inner_texts()
        seen["axe_list"] = serious_violations(page)
        screenshot(page, "organisations")

        page.get_by_role("link", name="Association Les Tilleuls").click()
        page.wait_for_url("**/app/organisations/*")
        seen["heading"] = page.locator("h1").inner_text()
        page.get_by_label("Nom de la clé").fill("Connecteur du dossier usager")
        page.get_by_role("group", name="Rôles de la clé").get_by_label("membre (holder:member)").check()
        page.get_by_role("button", name="Créer la clé").click()
        page.wait_for_load_state()
        secret = page.get_by_label("Clé secrète").input_value()
        seen["secret"] = secret
        seen["works"] = httpx.get(f"{live_server}/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code
        seen["axe_file"] = serious_violations(page)
        screenshot(page, "organisation")

        page.get_by_role("button", name="Révoquer la clé Connecteur du dossier usager").click()
        page.wait_for_url("**/app/organisations/*")
        seen["notice"] = page.locator(".notice").inner_text()
        seen["after"] = page.content()
        seen["revoked"] = httpx.get(f"{live_server}/auth/me",
                                    headers={"Authorization": f"Bearer {secret}"}).status_code
        page.goto(f"{live_server}/app/compte")
        seen["account"] = page.locator("main").inner_text()
        seen["axe_account"] = serious_violations(page)
        screenshot(page, "account")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["rows"] == ["Association Les Tilleuls"]
    assert seen["heading"] == "Association Les Tilleuls"
    assert seen["secret"].startswith("mpk_") and seen["works"] == 200
    assert "révoquée" in seen["notice"] and seen["revoked"] == 401
    assert seen["secret"] not in seen["after"]
    assert seen["axe_list"] == [], "\n".join(seen["axe_list"])
    assert seen["axe_file"] == [], "\n".join(seen["axe_file"])
    assert "Association Les Tilleuls" in seen["account"]
    assert seen["axe_account"] == [], "\n".join(seen["axe_account"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
