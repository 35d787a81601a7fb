"""The specific contract screens in a real browser (Chromium through Playwright) against a live server on real services.

The objects are made through the API in process on the FrozenClock of tests/web/conftest.py (February 2026): a
contract whose deadline (17/02/2026) the live server, on the real clock, reads as passed, with two sealed offers
submitted before it, sealed to the buyer's pure opener (`buyer_opener`, whose passphrase the test knows); and a
second contract whose deadline is still ahead of the real clock. In the browser:

- the pure opener signs in and opens the offers with the keyboard alone (Tab, typing, Enter: no click), from the
  skip link and the navigation to the list's "Ouverture des plis" link, then the passphrase and the form's
  submission; the page shows the signed record, both offers and each file's hash verified;
- the buying side's admin reads the list, the cockpit, and the opening page of the contract still open.

axe-core finds no serious or critical violation on any of them. Screenshots (.artefacts/screens/):
contracts-list.png, contract-cockpit.png, opening-before.png, opening-ceremony.png, opening-record.png.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.tenders.test_offers import open_contract, prepared_offer, submit
from tests.tenders.test_publication import OPENER_PASSPHRASE, publish, submitted_need
from tests.vendors.api import expect
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
VENDORS = ("Logiciels Médico-Sociaux SAS", "Éditions Santé Numérique")  # the two invited (and bidding) vendors


async def _contracts(client: Client, world: World, clock: FrozenClock) -> tuple[dict[str, Any], list[str],
                                                                                  dict[str, Any]]:
    """The contract past its deadline (for the real clock) with two submitted offers, its offers' ids, and one
    published on the same DPS with a deadline still ahead."""
    contract = await open_contract(client, world, clock, openers=("buyer_opener",))
    offers = []
    for person in ("vendor_admin", "other_vendor_admin"):
        offer = await prepared_offer(client, world, contract["id"], person)
        expect(await submit(client, world, offer["id"], person), 200)
        offers.append(offer["id"])
    need = await submitted_need(client, world)
    ahead = expect(await publish(client, world, need["id"], contract["dpsId"], "2027-06-15T12:00:00",
                                 openers=("buyer_opener",)), 201)
    return contract, offers, ahead


def _tab_to(page: Any, selector: str, *, limit: int = 60, back: bool = False) -> None:
    """Tab (or Shift+Tab) until the element `selector` names has the focus: the keyboard alone, as a person."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} never took the focus by {'Shift+Tab' if back else 'Tab'}")


async def test_a_pure_opener_opens_the_offers_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    contract, offers, _ = await _contracts(client, world, clock)
    cid = contract["id"]
    key = world.opener_keys["buyer_opener"]

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        # Sign in: from the top of the page, Tab to each field, type, Enter submits the form.
        page.goto(f"{live_server}/app/connexion")
        page.keyboard.press("Tab")
        seen["skip_first"] = page.evaluate("document.activeElement.className")
        _tab_to(page, "#email")
        page.keyboard.type(email_of("buyer_opener"))
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/")
        # The navigation: the skip link first, then "Marchés spécifiques".
        page.keyboard.press("Tab")
        seen["skip_first_app"] = page.evaluate("document.activeElement.textContent.trim()")
        _tab_to(page, 'nav[aria-label="Navigation principale"] a[href="/app/marches"]')
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/marches")
        _tab_to(page, f'a[href="/app/marches/{cid}/ouverture"]')
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/app/marches/{cid}/ouverture")
        seen["ceremony"] = page.locator("main").inner_text()
        seen["ceremony_axe"] = serious_violations(page)
        screenshot(page, "opening-ceremony")
        # Past the passphrase field to the button, then back to the field (Shift+Tab), typed, Enter submits.
        _tab_to(page, "#ceremonie button[type=submit]")
        _tab_to(page, f'input[name="passphrase-{key}"]', back=True)
        page.keyboard.type(OPENER_PASSPHRASE)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/app/marches/{cid}/ouverture")
        page.wait_for_selector("#proces-verbal")
        seen["record"] = page.locator("main").inner_text()
        seen["record_html"] = page.locator("main").inner_html()
        seen["record_axe"] = serious_violations(page)
        screenshot(page, "opening-record")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["skip_first"] == "skip-link" and seen["skip_first_app"] == "Aller au contenu"
    assert "Ouvrir les plis" in seen["ceremony"] and "(votre clé)" in seen["ceremony"]
    assert seen["ceremony_axe"] == [], "\n".join(seen["ceremony_axe"])
    assert "Plis ouverts le" in seen["record"] and "2 offre(s) ouverte(s)" in seen["record"]
    assert "vérifiée" in seen["record"] and "(vous)" in seen["record"]
    assert "05/02/2026 09:01:00 (heure de Paris, UTC+1)" in seen["record"]  # each receipt time, to the second
    assert not any(name in seen["record"] for name in VENDORS)  # the record names offers, not their vendors
    assert seen["record_axe"] == [], "\n".join(seen["record_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    # Read back through the API: opened by the opener alone, both offers, each file's hash on the page, verified.
    record = expect(await client.get(f"/specific-contracts/{cid}/opening", headers=world["buyer_admin"].headers), 200)
    assert record["document"]["openedBy"] == [str(world["buyer_opener"].user_id)]
    assert sorted(o["offer"] for o in record["document"]["offers"]) == sorted(offers)
    for offer in record["document"]["offers"]:
        assert offer["offer"] in seen["record_html"]
        for f in offer["files"]:
            assert f["integrity"] == "verified" and f["sha256"] in seen["record_html"]
    assert seen["record"].count("intègre : empreinte identique") == 2


async def test_the_buying_sides_admin_reads_the_list_and_the_cockpit(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    contract, _, ahead = await _contracts(client, world, clock)
    cid = contract["id"]

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
        page.get_by_role("navigation", name="Navigation principale").get_by_role(
            "link", name="Marchés spécifiques").click()
        page.wait_for_url("**/app/marches")
        seen["list"] = page.locator("main").inner_text()
        seen["list_axe"] = serious_violations(page)
        screenshot(page, "contracts-list")
        page.locator(f'a[href="/app/marches/{cid}"]').click()
        page.wait_for_url(f"**/app/marches/{cid}")
        seen["cockpit"] = page.locator("main").inner_text()
        seen["cockpit_axe"] = serious_violations(page)
        screenshot(page, "contract-cockpit")
        page.goto(f"{live_server}/app/marches/{ahead['id']}/ouverture")
        seen["before"] = page.locator("main").inner_text()
        seen["before_axe"] = serious_violations(page)
        screenshot(page, "opening-before")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert contract["title"] in seen["list"] and "remise des offres close" in seen["list"]
    assert "ouvert aux offres" in seen["list"]
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    assert "Offres reçues" in seen["cockpit"] and "2 offre(s) scellée(s) reçue(s)" in seen["cockpit"]
    # The invitees by name (the public register of the category, D8), not by organisation id.
    assert all(name in seen["cockpit"] for name in VENDORS)
    assert str(world.organisations["vendor"]) not in seen["cockpit"]
    assert seen["cockpit_axe"] == [], "\n".join(seen["cockpit_axe"])
    assert "Pas encore possible" in seen["before"]
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
