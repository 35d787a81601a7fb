"""The vendors' SONS pages in a real browser (Chromium through Playwright) against the live server (real clock), with
the keyboard alone: Tab and Shift+Tab to move, typing, Enter to follow a link or submit a form, Space to open the
file chooser (page.expect_file_chooser) — no click.

The operator's dispositif (MS1, its calendar around now, the sample ceiling table) is made through the API. The
vendor's admin signs in, opens "Solutions Ségur" from the navigation, adds a referenced solution, enrols with the ASP
(the page then shows the IBAN by its last four characters only), opens the orders page, then the import page, and
imports a CSV file of three orders whose third names a facility of another OG: the report names that row's line,
column (finessEt) and rule (domain.md §2.3), and the two good orders are created (read back through the API). One
of them is then signed by its OG and its advance filed (through the API); the vendor opens the payment requests and
downloads their JSON export, which is the API's. axe-core finds no serious or critical violation on any page.
Screenshots (.artefacts/screens/): vendor-sons-solutions.png, vendor-sons-enrolled.png, vendor-sons-orders.png,
vendor-sons-import.png, vendor-sons-import-report.png, vendor-sons-payments.png.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from marketplace.lib.clock import to_paris
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.sons.api import IBAN, Client, dispositif, ok, sign
from tests.web.browser import (
    BrowserThread,
    choose_file,
    screenshot,
    serious_violations,
)
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow

NUMBER = "ANS-SEG-CLAVIER-1"


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the dispositif's calendar is set around it."""
    return shared_app(settings)


def orders_file(path: Path) -> Path:
    """Two good orders (the `holder`'s, its site by SIRET; the `other_holder`'s, its facility) and, line 4, an order
    of the `holder` naming the other OG's facility."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["orderRef", "ogFinessEj", "solution", "installationScenario", "tranche", "amountHtCents",
                     "vatRateBp", "amountTtcCents", "finessEt", "siret"])
    writer.writerow(["BDC-KB-1", "750712184", NUMBER, "on-premise", "T1", "1200000", "2000", "1440000", "",
                     "77567227200017"])
    writer.writerow(["BDC-KB-2", "970100400", NUMBER, "on-premise", "T1", "1000000", "2000", "1200000", "970100418",
                     ""])
    writer.writerow(["BDC-KB-3", "750712184", NUMBER, "on-premise", "T1", "1000000", "2000", "1200000", "970100418",
                     ""])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _tab_to(page: Any, selector: str, *, limit: int = 80, back: bool = False) -> None:
    """Tab (or Shift+Tab) until the element `selector` names has the focus: the keyboard alone, as a person."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} never took the focus by {'Shift+Tab' if back else 'Tab'}")


def _sign_in(page: Any, live_server: str) -> None:
    """The login form from the top of the page: Tab to each field, type, Enter submits."""
    page.goto(f"{live_server}/app/connexion")
    _tab_to(page, "#email")
    page.keyboard.type(email_of("vendor_admin"))
    _tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/app/connexion" not in url)
    page.wait_for_load_state()


def _follow(page: Any, selector: str, url: str) -> None:
    _tab_to(page, selector)
    page.keyboard.press("Enter")
    page.wait_for_url(url)


async def test_a_vendor_adds_a_solution_enrols_imports_and_exports_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, settings: Settings,
        tmp_path: Path) -> None:
    now = datetime.now(UTC)
    await dispositif(client, world, settings, now)
    referenced_on = to_paris(now).date() - timedelta(days=10)
    upload = orders_file(tmp_path / "commandes-sons.csv")

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": [], "axe": {}}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        _sign_in(page, live_server)
        _follow(page, 'nav[aria-label="Navigation principale"] a[href="/app/solutions"]', "**/app/solutions")
        seen["axe"]["solutions"] = serious_violations(page)
        screenshot(page, "vendor-sons-solutions")

        # Add a solution: the dispositif chosen by typing its code on the select, each field typed, Enter submits.
        _tab_to(page, "#f-dispositif")
        page.keyboard.type("MS1")
        _tab_to(page, "#f-nom")
        page.keyboard.type("DUI au clavier")
        _tab_to(page, "#f-version")
        page.keyboard.type("7.1")
        _tab_to(page, "#f-scenarios")
        page.keyboard.type("on-premise, hébergé")
        _tab_to(page, "#f-numero_ans")
        page.keyboard.type(NUMBER)
        _tab_to(page, "#f-reference_le")
        page.keyboard.type(referenced_on.strftime("%d/%m/%Y"))
        # Past the date to the next field, then back to the number (Shift+Tab), and Enter submits from there.
        _tab_to(page, "#f-dossier_le")
        _tab_to(page, "#f-numero_ans", back=True)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "editeur=" in page.url, page.locator("main").inner_text()
        seen["added"] = page.locator("main").inner_text()

        # Enrol with the ASP: IBAN and BIC typed, the VAT status chosen by typing, Enter submits.
        _tab_to(page, "#f-iban")
        page.keyboard.type("FR76 3000 6000 0112 3456 7890 189")
        _tab_to(page, "#f-bic")
        page.keyboard.type("AGRIFRPP")
        _tab_to(page, "#f-tva")
        page.keyboard.type("Assujetti")
        _tab_to(page, "#f-reference_asp")
        page.keyboard.type("ASP-CLAVIER-1")
        # The page comes back to the same address: wait for the navigation itself, not for a URL it already has.
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_url("**/app/solutions?editeur=*")
        seen["enrolled"] = page.locator("main").inner_text()
        seen["axe"]["enrolled"] = serious_violations(page)
        screenshot(page, "vendor-sons-enrolled")

        _follow(page, 'nav.tabs a[href^="/app/solutions/commandes"]', "**/app/solutions/commandes?editeur=*")
        seen["axe"]["orders"] = serious_violations(page)
        screenshot(page, "vendor-sons-orders")

        _follow(page, 'nav.tabs a[href^="/app/solutions/import"]', "**/app/solutions/import?editeur=*")
        seen["axe"]["import"] = serious_violations(page)
        screenshot(page, "vendor-sons-import")
        # The file chooser opened by Space on the focused field, the form submitted by Enter on its button.
        choose_file(page, "#f-fichier", upload)
        _tab_to(page, 'form[action="/app/solutions/import"] button[type=submit]')
        page.keyboard.press("Enter")
        page.wait_for_selector("#rapport-import")
        seen["errors"] = [[cell.strip() for cell in row.locator("th, td").all_inner_texts()]
                          for row in page.locator("#erreurs tbody tr").all()]
        seen["accepted"] = page.locator("#acceptees").inner_text()
        seen["report"] = page.locator("#rapport-import").inner_text()
        seen["axe"]["import-report"] = serious_violations(page)
        screenshot(page, "vendor-sons-import-report")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert "Solution ajoutée : DUI au clavier 7.1" in seen["added"], seen["added"]
    assert "Inscription ASP enregistrée" in seen["enrolled"]
    assert "•••• •••• •••• 0189" in seen["enrolled"] and "3000 6000" not in seen["enrolled"]
    assert "ASP-CLAVIER-1" in seen["enrolled"]
    # The bad row by its line, its order, its column and its rule; the good ones accepted.
    assert seen["errors"][0][:4] == ["4", "BDC-KB-3", "finessEt", "domain.md §2.3"], seen["errors"]
    assert "970100418" in seen["errors"][0][4]
    assert "BDC-KB-1" in seen["accepted"] and "BDC-KB-2" in seen["accepted"] and "BDC-KB-3" not in seen["accepted"]
    assert "2 créée(s)" in seen["report"] and "1 ligne(s) refusée(s)" in seen["report"]
    # Read back through the API.
    vendor = world["vendor_admin"].headers
    solutions = ok(await client.get("/sons/solutions", params={
        "vendorOrganisationId": str(world.organisations["vendor"])}, headers=vendor), 200)
    added = next(s for s in solutions if s["referencingNumber"] == NUMBER)
    assert added["name"] == "DUI au clavier" and added["version"] == "7.1"
    assert added["referencedOn"] == referenced_on.isoformat()
    assert added["installationScenarios"] == ["on-premise", "hébergé"]
    enrolment = ok(await client.get("/sons/enrolment", headers=vendor), 200)
    assert (enrolment["iban"], enrolment["vatStatus"], enrolment["enrolmentReference"], enrolment["referencingNumber"]
            ) == (IBAN, "liable", "ASP-CLAVIER-1", NUMBER)
    orders = {o["orderRef"]: o for o in ok(await client.get("/sons/orders", headers=vendor), 200)}
    assert {"BDC-KB-1", "BDC-KB-2"} <= orders.keys() and "BDC-KB-3" not in orders
    assert orders["BDC-KB-1"]["sites"][0]["siret"] == "77567227200017"

    # The OG signs BDC-KB-1 and the vendor files its advance (through the API): a payment request to export.
    ok(await sign(client, world, orders["BDC-KB-1"]["id"]), 200)
    ok(await client.post(f"/sons/orders/{orders['BDC-KB-1']['id']}/advance", headers=vendor), 201)
    api = ok(await client.get("/sons/payment-requests", headers=vendor), 200)

    def export(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        seen: dict[str, Any] = {}
        _sign_in(page, live_server)
        _follow(page, 'nav[aria-label="Navigation principale"] a[href="/app/solutions"]', "**/app/solutions")
        _follow(page, 'nav.tabs a[href^="/app/solutions/paiements"]', "**/app/solutions/paiements?editeur=*")
        seen["payments"] = page.locator("#demandes-asp").inner_text()
        seen["axe"] = serious_violations(page)
        screenshot(page, "vendor-sons-payments")
        _tab_to(page, 'a[href^="/app/solutions/paiements/demandes.json"]')
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        seen["filename"] = download.value.suggested_filename
        seen["json"] = Path(download.value.path()).read_text(encoding="utf-8")
        context.close()
        return seen

    exported = chromium.run(export)
    assert "BDC-KB-1" in exported["payments"] and "Avance" in exported["payments"]
    assert exported["filename"] == "demandes-de-paiement-asp.json"
    assert json.loads(exported["json"]) == api and api[0]["kind"] == "advance"
    for name, violations in {**seen["axe"], "payments": exported["axe"]}.items():
        assert violations == [], f"{name}: " + "\n".join(violations)
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
