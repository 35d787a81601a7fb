"""A refusal read in a real browser (Chromium through Playwright, live server, real services): a holder's need that
N2 refuses shows its checklist with the rule's French statement, and submitting it anyway gives the error page in
French first (the rule's statement, the field's French name), the service's English detail marked as English;
axe-core finds no serious or critical violation. Screenshots: .artefacts/screens/refusal-checklist.png,
refusal-n2.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from marketplace.web.rule_labels import RULE_LABELS
from tests.apps import shared_app
from tests.tenders.test_needs import filing_dps, finess, need_body
from tests.vendors.api import expect
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def test_a_holder_reads_an_n2_refusal_in_french(
        chromium: BrowserThread, live_server: str, client: Client, world: World) -> None:
    dps_id = await filing_dps(client, world)
    # A facility of its own for this test (N18: an ESMS is in one active project of a campaign).
    et = finess("75329001")
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities",
                             headers=world["holder_admin"].headers, json={"name": f"EHPAD {et}", "finessEt": et}), 201)
    # Type 1 (acquisition) by one OG of one ESMS: N2 wants a grappe of at least 3 OGs and 15 ESMS.
    need = expect(await client.post("/needs", headers=world["holder_admin"].headers, json=need_body(
        projectType=1, dpsId=dps_id, facilities=[{"finessEt": et, "equipmentBudgetCents": 0}])), 201)

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {}
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("holder_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        page.goto(f"{live_server}/app/mes-besoins/{need['id']}/modifier?etape=5")
        seen["checklist"] = page.locator("#verification").inner_text()
        seen["checklist_axe"] = serious_violations(page)
        screenshot(page, "refusal-checklist")
        with page.expect_response(lambda r: r.url.endswith("/soumettre")) as answer:
            page.get_by_role("button", name="Soumettre le besoin").click()
        seen["status"] = answer.value.status
        page.wait_for_load_state()
        seen["alert"] = page.get_by_role("alert").inner_text()
        seen["english"] = page.locator('[role="alert"] [lang="en"]').inner_text()
        seen["axe"] = serious_violations(page)
        screenshot(page, "refusal-n2")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["checklist_axe"] == [], "\n".join(seen["checklist_axe"])
    assert seen["axe"] == [], "\n".join(seen["axe"])
    assert re.search(r"N2 — Un projet de type 1 [^—]*Détail :\s+N2: ", seen["checklist"]), seen["checklist"]
    assert seen["status"] == 422
    lines = [line.strip() for line in seen["alert"].splitlines() if line.strip()]
    assert lines[0] == f"Règle N2 : {RULE_LABELS['N2']}", lines
    assert lines[1].startswith("Champ concerné : porteur en grappe (champ holder.isGrappe)"), lines
    assert lines[2].startswith("Détail : N2: ") and seen["english"].startswith("N2: "), lines
    assert expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers),
                  200)["status"] == "draft"
