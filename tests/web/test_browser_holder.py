"""The holders' self-service in a real browser (Chromium through Playwright) against a live server on real services:
a holder writes a need step by step (an acquisition by one OG, which N2 refuses), sees N2 named in the checklist
before submitting, corrects the project type with the keyboard alone, submits, and files it to its funder's open
call; axe-core finds no serious or critical violation on any step. Screenshots: .artefacts/screens/
holder-need-step-1.png … holder-need-step-5.png, holder-need.png.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.funding_api import open_call
from tests.tenders.test_needs import filing_dps, finess
from tests.vendors.api import expect
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
_FACILITIES = itertools.count(1)
TITLE = "DUI des Tilleuls — en ligne"


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


def _tab_to(page: Any, text: str, limit: int = 60) -> None:
    """Move the focus with the Tab key until it reaches the control whose text or label contains `text`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => { const e = document.activeElement; return (e.innerText || '') + ' ' +"
                                " (e.labels && e.labels[0] ? e.labels[0].innerText : '') }")
        if text in focused:
            return
    raise AssertionError(f"the keyboard never reached {text!r}")


async def test_a_holder_writes_a_need_sees_n2_fixes_it_with_the_keyboard_submits_and_files(
        chromium: BrowserThread, live_server: str, client: Client, world: World) -> None:
    dps_id = await filing_dps(client, world)
    call = await open_call(client, world)
    # A facility of its own for this test (N18: an ESMS is in one active project of a campaign).
    et = finess(f"7531{next(_FACILITIES):04d}")
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities",
                             headers=world["holder_admin"].headers, json={"name": f"EHPAD {et}", "finessEt": et}), 201)

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": [], "axe": {}}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("holder_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Mes besoins").click()
        page.wait_for_url("**/app/mes-besoins")
        page.get_by_role("link", name="Nouveau besoin").click()
        page.wait_for_url("**/app/mes-besoins/nouveau")

        def step(n: int) -> None:
            seen["axe"][n] = serious_violations(page)
            screenshot(page, f"holder-need-step-{n}")

        step(1)
        page.get_by_label("Intitulé du projet").fill(TITLE)
        page.get_by_label("Description").fill("Un dossier usager informatisé pour l'EHPAD.")
        page.get_by_label("Campagne (année du jeu de règles)").fill("2025")
        page.get_by_label("Type de projet").select_option("1")
        page.get_by_label("Appel demandé (N5)").select_option("regional")
        page.get_by_label("Date de candidature").fill("2025-03-01")
        page.get_by_label("SAD où le besoin est déposé (D2)").select_option(dps_id)
        page.get_by_label("Secteur (N19)").select_option("grand_age")
        page.get_by_label("Mode de fourniture (N19)").select_option("saas")
        page.get_by_role("button", name="Enregistrer et continuer").click()
        page.wait_for_url("**/modifier?etape=2")
        seen["need_id"] = re.search(r"/mes-besoins/([0-9a-f-]{36})/", page.url).group(1)  # type: ignore[union-attr]
        step(2)
        page.get_by_label(f"FINESS ET {et}", exact=False).check()
        page.get_by_role("button", name="Enregistrer et continuer").click()
        page.wait_for_url("**/modifier?etape=3")
        step(3)
        for label in ("INS (obligatoire)", "MSSanté", "DMP", "e-prescription", "Éditeur et version référencés Ségur",
                      "Conformité RGPD déclarée (N9)", "Convergence avec la carte cible (N10)",
                      "Plan de continuité d'activité du DUI (N11)"):
            page.get_by_label(label).check()
        page.get_by_label("Couloir Ségur").select_option("MS1")
        page.get_by_role("button", name="Enregistrer et continuer").click()
        page.wait_for_url("**/modifier?etape=4")
        step(4)
        for index, value in enumerate(("40", "40", "20"), start=1):
            page.locator(f"#f-echeancier-{index}").fill(value)
        page.get_by_label("Cibles d'usage déclarées (N15)").check()
        page.get_by_label("Codes CPV (séparés par des virgules)").fill("48000000-8")
        page.get_by_role("button", name="Enregistrer et continuer").click()
        page.wait_for_url("**/modifier?etape=5")
        step(5)
        seen["before"] = page.locator("#verification").inner_text()

        # The correction with the keyboard alone: to step 1, the project type changed by arrow keys, saved by Enter.
        page.locator("body").focus()
        _tab_to(page, "1. Projet")
        page.keyboard.press("Enter")
        page.wait_for_url("**/modifier?etape=1")
        _tab_to(page, "Type de projet")
        page.keyboard.press("ArrowDown")  # 1 — acquisition → 2 — mise en conformité
        seen["type"] = page.get_by_label("Type de projet").input_value()
        _tab_to(page, "Enregistrer et continuer")
        page.keyboard.press("Enter")
        page.wait_for_url("**/modifier?etape=2")
        page.goto(f"{live_server}/app/mes-besoins/{seen['need_id']}/modifier?etape=5")
        seen["after"] = page.locator("#verification").inner_text()
        _tab_to(page, "Soumettre le besoin")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/app/mes-besoins/{seen['need_id']}")
        seen["submitted"] = page.locator("main").inner_text()
        page.get_by_label("Appel à projets ouvert (campagne 2025)").select_option(call["id"])
        page.get_by_role("button", name="Déposer à l'appel à projets").click()
        page.wait_for_url(f"**/app/mes-besoins/{seen['need_id']}")
        seen["filed"] = page.locator("main").inner_text()
        seen["need_axe"] = serious_violations(page)
        screenshot(page, "holder-need")
        context.close()
        return seen

    seen = chromium.run(walk)
    for n, violations in seen["axe"].items():
        assert violations == [], f"step {n}: " + "\n".join(violations)
    assert seen["need_axe"] == [], "\n".join(seen["need_axe"])
    assert re.search(r"N2 — Un projet de type 1 [^—]*Détail :\s+N2: ", seen["before"]), seen["before"]
    assert seen["type"] == "2"
    assert "N2 —" not in seen["after"], seen["after"]
    assert "Le besoin est soumis" in seen["submitted"], seen["submitted"][:1500]
    assert "Le besoin est déposé à l'appel à projets" in seen["filed"], seen["filed"][:1500]
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    api = expect(await client.get(f"/needs/{seen['need_id']}", headers=world["holder_admin"].headers), 200)
    assert (api["status"], api["projectType"], api["fundingStatus"], api["callId"]) == \
        ("submitted", 2, "filed", call["id"])
