"""The funder's screens in a real browser (Chromium through Playwright) against the live server (real clock).

The ARS's administrator logs in, opens its call, the project, validates the requested first tranche and records its
payment; axe-core finds no serious or critical violation on the three screens; screenshots `funding-calls`,
`funding-call`, `funding-project` go to .artefacts/screens/.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import PARIS
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.funding_api import file_need, give_evidence, open_call, select_need
from tests.tenders.test_publication import submitted_need
from tests.vendors.api import expect, minimal_pdf
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


async def requested_first_tranche(client: Client, world: World, settings: Settings) -> tuple[dict[str, Any], str]:
    """A call of the ARS Île-de-France with a project filed and selected through the API, its first tranche's
    evidence given through the API, then marked requested directly in the database: requesting it through the API
    takes the need's contract signed by both parties (FU5), a whole procedure run on a frozen clock
    (tests/funding/test_tranches.py), which the live server's real clock can't replay. (call, need id)"""
    call = await open_call(client, world, envelope_cents=20_000_000, reference="AAP-IDF-NAVIGATEUR")
    need = await submitted_need(client, world)
    filed = expect(await file_need(client, world, need["id"], call["id"]), 201)
    decided_on = datetime.fromisoformat(filed["filedAt"]).astimezone(PARIS).date().isoformat()
    expect(await select_need(client, world, call["id"], need["id"], amount_cents=5_000_000, decided_on=decided_on,
                             reference="DEC-NAV-1"), 201)
    expect(await give_evidence(client, world, need["id"], 1, minimal_pdf("Compte rendu de lancement")), 200)
    db = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        tranche = await db.fetchval("SELECT id FROM grant_tranche WHERE need_id = $1 AND position = 1",
                                    uuid.UUID(need["id"]))
        await db.execute("UPDATE tranche_request SET status = 'requested', requested_by = 'navigateur', "
                         "requested_at = now() WHERE tranche_id = $1", tranche)
        await db.execute("UPDATE grant_tranche SET status = 'requested' WHERE id = $1", tranche)
    finally:
        await db.close()
    return call, need["id"]


async def test_a_funder_validates_and_pays_the_first_tranche_in_the_browser(
        chromium: BrowserThread, live_server: str, client: Client, world: World, settings: Settings) -> None:
    call, nid = await requested_first_tranche(client, world, settings)

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion?suivant=/app/financements")
        page.get_by_label("Adresse électronique").fill(email_of("funder_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/app/financements")
        seen["calls"] = page.locator("main").inner_text()
        seen["calls_axe"] = serious_violations(page)
        screenshot(page, "funding-calls")

        page.get_by_role("link", name=call["title"]).first.click()
        page.wait_for_url(f"**/app/financements/{call['id']}")
        seen["call"] = page.locator("main").inner_text()
        seen["call_axe"] = serious_violations(page)
        screenshot(page, "funding-call")

        page.locator(f'a[href$="/projets/{nid}"]').first.click()
        page.wait_for_url(f"**/projets/{nid}")
        seen["before"] = page.locator("#tranche-1").inner_text()
        page.get_by_role("button", name="Valider la tranche 1").click()
        page.wait_for_load_state()
        seen["validated"] = page.locator("main").inner_text()
        page.locator("#vers-1-ref").fill("VIR-NAV-0001")
        page.locator('form[action$="/tranches/1/versement"] button').click()
        page.wait_for_load_state()
        seen["paid"] = page.locator("main").inner_text()
        seen["project_axe"] = serious_violations(page)
        screenshot(page, "funding-project")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert "AAP-IDF-NAVIGATEUR" in seen["calls"], seen["calls"]
    assert seen["calls_axe"] == [], "\n".join(seen["calls_axe"])
    assert "retenu" in seen["call"] and "DEC-NAV-1" not in seen["call"]
    assert seen["call_axe"] == [], "\n".join(seen["call_axe"])
    assert "demandée, à valider ou refuser" in seen["before"]
    assert "Tranche 1 validée." in seen["validated"]
    assert "Versement de la tranche 1 enregistré." in seen["paid"] and "VIR-NAV-0001" in seen["paid"]
    assert seen["project_axe"] == [], "\n".join(seen["project_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]

    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    first = funding["tranches"][0]
    assert (first["status"], first["paidAmountCents"], first["paymentReference"]) == (
        "paid", 2_000_000, "VIR-NAV-0001")
