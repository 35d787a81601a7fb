"""The evaluation and award pages in a real browser (Chromium through Playwright) against a live server.

The contract is brought to its opened state through the API in process, on the frozen clock of tests/web/conftest
(its tender deadline, 17 February 2026, is in the real past, so the live server on the real clock finds the offers
opened and the deadline passed without any wait). An evaluator signs in, declares no conflict and scores both
admissible offers through the forms; the buying organisation's admin awards through the award form. axe-core
finds no serious or critical violation on either page; screenshots `evaluation-grid` and `award`.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.awards.test_award import VENDORS, opened_contract, scores
from tests.vendors.api import expect
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]


def _sign_in(browser: Any, base: str, person: str, target: str) -> tuple[Any, Any]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}{target}")  # sent to the login form, and back here after it
    page.get_by_label("Adresse électronique").fill(email_of(person))
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**{target}")
    return context, page


async def test_an_evaluator_declares_and_scores_then_the_admin_awards(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    cid, offers = await opened_contract(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    # The third offer leaves the ranking; the admin declares and scores through the API, the evaluator in the page.
    expect(await client.post(f"/offers/{c}/rejection", headers=admin,
                             json={"grounds": "irregular", "reasons": "Acte d'engagement non signé."}), 200)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    expect(await client.put(f"/offers/{a}/scores", headers=admin, json=scores(80, 60)), 200)
    expect(await client.put(f"/offers/{b}/scores", headers=admin, json=scores(90, 55)), 200)
    evaluation, attribution = f"/app/marches/{cid}/evaluation", f"/app/marches/{cid}/attribution"

    def walk(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "buyer_evaluator", evaluation)
        seen["before_axe"] = serious_violations(page)
        page.get_by_label("Non, aucun conflit d'intérêts").check()
        page.get_by_label("Déclaration (liens avec les soumissionnaires, ou leur absence)").fill(
            "Aucun lien avec les soumissionnaires.")
        page.get_by_role("button", name="Déposer ma déclaration").click()
        page.wait_for_load_state()
        seen["declared"] = page.locator(".notice").inner_text()
        for offer, (prix, technique) in ((a, (70, 65)), (b, (85, 50))):
            form = page.locator(f"#offre-{offer} form.scores")
            form.get_by_label("Prix : note sur 100 (pondération 40 %)").fill(str(prix))
            form.get_by_label("Prix : commentaire").fill(f"Prix noté {prix}.")
            form.get_by_label("Valeur technique : note sur 100 (pondération 60 %)").fill(str(technique))
            form.get_by_label("Valeur technique : commentaire").fill("Mémoire lu.")
            form.get_by_role("button", name="Enregistrer mes notes").click()
            page.wait_for_load_state()
        seen["scored"] = page.locator(".notice").inner_text()
        seen["ranking"] = page.locator("#titre-classement + p").inner_text()
        seen["grid_axe"] = serious_violations(page)
        screenshot(page, "evaluation-grid")
        context.close()

        context, page = _sign_in(browser, live_server, "buyer_admin", attribution)
        seen["award_axe"] = serious_violations(page)
        page.get_by_label("Motifs du choix (communiqués aux soumissionnaires)").fill(
            "Meilleure valeur technique pondérée.")
        page.get_by_role("button", name="Attribuer le marché").click()
        page.wait_for_load_state()
        seen["awarded"] = page.locator("main").inner_text()
        seen["awarded_axe"] = serious_violations(page)
        screenshot(page, "award")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert "vous pouvez noter les offres" in seen["declared"]
    assert seen["scored"] == "Notes enregistrées." and "complet" in seen["ranking"]
    assert seen["grid_axe"] == [], "\n".join(seen["grid_axe"])
    assert seen["award_axe"] == [], "\n".join(seen["award_axe"])
    assert seen["awarded_axe"] == [], "\n".join(seen["awarded_axe"])
    assert "Marché attribué à" in seen["awarded"] and "Meilleure valeur technique pondérée." in seen["awarded"]
    # Read back through the API: the evaluator's scores, and the award to the first of the ranking.
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking", headers=admin), 200)
    assert ranking["complete"] is True and len(ranking["evaluators"]) == 2
    assert [(o["offerId"], o["total"]) for o in ranking["offers"]] == [(a, "67.50"), (b, "66.50")]
    award = expect(await client.get(f"/specific-contracts/{cid}/award", headers=admin), 200)
    assert award["offerId"] == a and award["reasons"] == "Meilleure valeur technique pondérée."
