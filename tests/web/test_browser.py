"""The back-office in a real browser (Chromium through Playwright) against a live server on real services.

A buyer logs in, reads its work queue, logs out; the same with the keyboard alone; axe-core finds no serious or
critical violation on the login page and the work queue. Screenshots go to .artefacts/screens/ (ignored by git).
See tests/web/browser.py for where the browser comes from and why it runs in a thread of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import system_clock
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.vendors.api import apply, categories_by_pair, create_dps, expect, publish, upload_all
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def _one_request_awaiting(client: Client, world: World) -> dict[str, Any]:
    """A published DPS of the buyer with one submitted admission request: the work queue counts 1."""
    dps = await create_dps(client, world, system_clock)  # type: ignore[arg-type]
    expect(await publish(client, world, system_clock, dps["id"]), 200)  # type: ignore[arg-type]
    category = next(iter(categories_by_pair(dps).values()))
    request = await apply(client, world["vendor_admin"], category)
    await upload_all(client, world["vendor_admin"], request["id"], "navigateur")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world["vendor_admin"].headers),
           200)
    return dps


def _context(browser: Any) -> Any:
    return browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})


async def test_a_buyer_logs_in_reads_the_work_queue_and_logs_out(chromium: BrowserThread, live_server: str,
                                                                  client: Client, world: World) -> None:
    dps = await _one_request_awaiting(client, world)

    def walk(browser: Any) -> dict[str, Any]:
        context = _context(browser)
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/")
        seen["redirected_to"] = page.url
        seen["login_axe"] = serious_violations(page)
        screenshot(page, "01-connexion")
        page.get_by_label("Adresse électronique").fill(email_of("buyer_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        seen["after_login"] = (page.url, page.locator("main").inner_text())
        seen["queue_url"] = page.url
        seen["count"] = page.locator("#compte-admissions").inner_text()
        seen["queue_text"] = page.locator("main").inner_text()
        seen["header"] = page.locator("header").inner_text()
        seen["cookies"] = context.cookies()
        seen["htmx"] = page.evaluate("typeof window.htmx === 'object' && window.htmx.version")
        seen["queue_axe"] = serious_violations(page)
        screenshot(page, "02-file-de-travail")
        screenshot(page, "work-queue")
        seen["trend"] = page.locator("#tendance-donnees tbody tr").all_inner_texts()
        seen["svg"] = page.locator("svg[role=img]").bounding_box()
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url("**/app/connexion?fin=deconnexion")
        seen["logged_out"] = page.locator("main").inner_text()
        screenshot(page, "03-deconnecte")
        page.goto(f"{live_server}/app/")
        seen["after_logout"] = page.url
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["redirected_to"].startswith(f"{live_server}/app/connexion")
    assert seen["login_axe"] == [], "\n".join(seen["login_axe"])
    assert "/connexion" not in seen["after_login"][0], seen["after_login"]
    assert seen["count"] == "1" and dps["title"] in seen["queue_text"]
    assert "Centrale d'achat du numérique médico-social" in seen["header"]
    session = next(c for c in seen["cookies"] if c["name"] == "marketplace_session")
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert seen["htmx"] == "2.0.11"  # loaded from the app, its integrity checked by the browser, under the CSP
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    assert seen["queue_axe"] == [], "\n".join(seen["queue_axe"])
    # The weekly trend: drawn (under the CSP, no inline style), its hidden table holding the request received now.
    assert seen["svg"] and seen["svg"]["width"] > 100
    assert len(seen["trend"]) == 8 and seen["trend"][-1].split("\t")[1:] == ["1", "0"], seen["trend"]
    assert "Vous êtes déconnecté" in seen["logged_out"]
    assert seen["after_logout"].startswith(f"{live_server}/app/connexion")


async def test_the_login_works_with_the_keyboard_alone(chromium: BrowserThread, live_server: str,
                                                       client: Client, world: World) -> None:
    def walk(browser: Any) -> dict[str, Any]:
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{live_server}/app/connexion")
        focus: list[str] = []

        def focused() -> str:
            return str(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))

        page.keyboard.press("Tab")
        focus.append(focused())  # the skip link comes first
        page.keyboard.press("Enter")
        focus.append(focused())  # the main content
        page.keyboard.press("Tab")
        focus.append(focused())
        page.keyboard.type(email_of("buyer_admin"))
        page.keyboard.press("Tab")
        focus.append(focused())
        page.keyboard.type(PASSWORD)
        screenshot(page, "04-connexion-clavier")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/connexion" not in url)
        heading = page.locator("h1").inner_text()
        context.close()
        return {"focus": focus, "heading": heading}

    seen = chromium.run(walk)
    assert seen["focus"] == ["Aller au contenu", "contenu", "email", "password"], seen["focus"]
    assert seen["heading"] == "File de travail"
