"""A SONS order's acts in a real browser (Chromium through Playwright) against the live server (real clock), each
read back through the API (domain.md §5 with §12):

- the OG's admin signs its order with the keyboard alone (Tab, Shift+Tab, typing, Space, arrows, Enter; the file
  chooser opened by a key press): from the sign-in form, the navigation's "SONS", the list's "En attente de votre
  part", to the order file's signature form; the page then shows the signature's verification report (G16);
- the vendor's admin files the advance; the operator records the ASP's decision (API); the vendor declares the
  deployment;
- the OG's admin signs the VA with the keyboard alone, with its "Déploiement MSS" case (SN6).

axe-core finds no serious or critical violation on any page. Screenshots (.artefacts/screens/): sons-holder-list,
sons-holder-sign, sons-holder-signed, sons-vendor-advance, sons-vendor-deployed, sons-holder-va.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.sons.api import SIGNATORY, Client, asp, dispositif, draft, ok, request_of, signed, solution
from tests.web.browser import (
    BrowserThread,
    choose_file,
    screenshot,
    serious_violations,
)
from tests.web.test_browser_contracts import _tab_to
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow
REF = "BDC-CLAVIER-1"


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the order made through the API is made on it too."""
    return shared_app(settings)


def _context(browser: Any) -> tuple[Any, Any, dict[str, Any]]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen: dict[str, Any] = {"console": []}
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    return context, page, seen


def _keyboard_login(page: Any, live_server: str, person: str) -> None:
    page.goto(f"{live_server}/app/connexion")
    _tab_to(page, "#email")
    page.keyboard.type(email_of(person))
    _tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/")


def _keyboard_to_order(page: Any, order_id: str, seen: dict[str, Any], shot: str) -> None:
    """From the home page to the order's file: the navigation's "SONS", the list's "En attente de votre part"."""
    _tab_to(page, 'nav[aria-label="Navigation principale"] a[href="/app/sons"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/sons")
    seen["todo"] = page.locator("#a-faire").inner_text()
    seen["list_axe"] = serious_violations(page)
    screenshot(page, shot)
    _tab_to(page, f'#a-faire a[href="/app/sons/commandes/{order_id}"]')
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/app/sons/commandes/{order_id}")


def _vendor_act(page: Any, live_server: str, order_id: str, button: str, shot: str) -> dict[str, Any]:
    page.goto(f"{live_server}/app/sons/commandes/{order_id}")
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"**/app/sons/commandes/{order_id}")
    return {"text": page.locator("main").inner_text(), "axe": serious_violations(page), "shot": screenshot(page, shot)}


async def test_the_og_signs_with_the_keyboard_and_the_vendor_files_deploys_then_the_va(
        chromium: BrowserThread, live_server: str, client: Client, world: World, settings: Settings,
        tmp_path: Path) -> None:
    now = datetime.now(UTC)
    found = await dispositif(client, world, settings, now)
    sol = await solution(client, world, found["id"], now)
    order = ok(await draft(client, world, sol["id"], orderRef=REF), 201)
    oid = order["id"]
    signed_order, signed_va = tmp_path / "bon-de-commande-signe.pdf", tmp_path / "va-signee.pdf"
    signed_order.write_bytes(signed(f"BDC {oid}"))
    signed_va.write_bytes(signed(f"VA {oid}"))

    def holder_signs(browser: Any) -> dict[str, Any]:
        context, page, seen = _context(browser)
        _keyboard_login(page, live_server, "holder_admin")
        _keyboard_to_order(page, oid, seen, "sons-holder-list")
        seen["before"] = page.locator("main").inner_text()
        seen["before_axe"] = serious_violations(page)
        screenshot(page, "sons-holder-sign")
        choose_file(page, "#f-document", signed_order)
        # Past the fields to the button, back to the name (Shift+Tab), then forward through the form.
        _tab_to(page, "#form-signature button[type=submit]")
        _tab_to(page, "#f-signataire", back=True)
        page.keyboard.type(SIGNATORY)
        _tab_to(page, "#f-qualite")
        page.keyboard.type("Directrice")
        _tab_to(page, "#methode-cpx_card")  # the group's first choice: Space picks it, an arrow the next one
        page.keyboard.press("Space")
        page.keyboard.press("ArrowDown")
        seen["method_focused"] = page.evaluate("document.activeElement.id")
        _tab_to(page, "#form-signature button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#rapport-commande")
        seen["after"] = page.locator("main").inner_text()
        seen["after_axe"] = serious_violations(page)
        screenshot(page, "sons-holder-signed")
        context.close()
        return seen

    seen = chromium.run(holder_signs)
    assert REF in seen["todo"] and "signer le bon de commande" in seen["todo"]
    assert seen["list_axe"] == [], "\n".join(seen["list_axe"])
    assert "Attendu de l'OG : la signature du bon de commande" in seen["before"]
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert seen["method_focused"] == "methode-pro_sante_connect"
    read = ok(await client.get(f"/sons/orders/{oid}", headers=world["holder_admin"].headers), 200)
    assert read["status"] == "signed"
    assert (read["signature"]["signatoryName"], read["signature"]["signatoryRole"], read["signature"]["method"]) == (
        SIGNATORY, "Directrice", "pro_sante_connect")
    assert read["signature"]["verification"]["verdict"] == "valid"
    assert "Bon de commande signé : signature valide (G16)" in seen["after"]
    assert "Vérification des signatures (G16)" in seen["after"] and read["signature"]["sha256"] in seen["after"]
    assert "Attendu de l'éditeur : le dépôt de la demande d'avance" in seen["after"]
    assert seen["after_axe"] == [], "\n".join(seen["after_axe"])

    def vendor_advance(browser: Any) -> dict[str, Any]:
        context, page, seen = _context(browser)
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("vendor_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/app/")
        seen |= _vendor_act(page, live_server, oid, "Déposer la demande d'avance", "sons-vendor-advance")
        context.close()
        return seen

    advance_seen = chromium.run(vendor_advance)
    assert "Demande d'avance déposée à l'ASP" in advance_seen["text"], advance_seen["text"][:1500]
    assert advance_seen["axe"] == [], "\n".join(advance_seen["axe"])
    read = ok(await client.get(f"/sons/orders/{oid}", headers=world["vendor_admin"].headers), 200)
    advance = request_of(read, "advance")
    assert (read["status"], advance["status"]) == ("advance_requested", "REQUESTED")
    # The ASP decides and pays, as the operator records it (SN5).
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)

    def vendor_deploys(browser: Any) -> dict[str, Any]:
        context, page, seen = _context(browser)
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("vendor_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/app/")
        seen |= _vendor_act(page, live_server, oid, "Déclarer le déploiement", "sons-vendor-deployed")
        context.close()
        return seen

    deployed_seen = chromium.run(vendor_deploys)
    assert "Déploiement déclaré" in deployed_seen["text"], deployed_seen["text"][:1500]
    assert "Attendu de l'OG : la signature de la vérification d'aptitude" in deployed_seen["text"]
    assert deployed_seen["axe"] == [], "\n".join(deployed_seen["axe"])
    read = ok(await client.get(f"/sons/orders/{oid}", headers=world["vendor_admin"].headers), 200)
    assert read["status"] == "deployed" and read["deployedAt"]

    def holder_signs_the_va(browser: Any) -> dict[str, Any]:
        context, page, seen = _context(browser)
        _keyboard_login(page, live_server, "holder_admin")
        _keyboard_to_order(page, oid, seen, "sons-holder-list-va")
        choose_file(page, "#f-va-document", signed_va)
        _tab_to(page, "#f-va-signataire")
        page.keyboard.type(SIGNATORY)
        _tab_to(page, "#cas-mss-aucun")  # the group's checked choice takes the focus; the arrow picks "Cas 1"
        page.keyboard.press("ArrowDown")
        _tab_to(page, "#form-va button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_selector("#rapport-va")
        seen["after"] = page.locator("main").inner_text()
        seen["after_axe"] = serious_violations(page)
        screenshot(page, "sons-holder-va")
        context.close()
        return seen

    va_seen = chromium.run(holder_signs_the_va)
    assert "signer la vérification d'aptitude" in va_seen["todo"]
    assert va_seen["list_axe"] == [], "\n".join(va_seen["list_axe"])
    read = ok(await client.get(f"/sons/orders/{oid}", headers=world["holder_admin"].headers), 200)
    assert (read["status"], read["acceptance"]["signatoryName"], read["acceptance"]["mssCase"]) == (
        "accepted", SIGNATORY, "CAS_1")
    assert read["acceptance"]["verification"]["verdict"] == "valid"
    assert "Vérification d'aptitude signée (G16)" in va_seen["after"]
    assert "Attendu de l'éditeur : le dépôt de la demande de solde" in va_seen["after"]
    assert va_seen["after_axe"] == [], "\n".join(va_seen["after_axe"])
    for walk in (seen, advance_seen, deployed_seen, va_seen):
        assert not [line for line in walk["console"] if "Content Security Policy" in line or line.startswith("error")]
