"""A sandbox procedure run from the back-office in a real browser, in both conduct modes (HC1–HC3).

The central purchasing body creates a sandbox DPS through the API and skips its initial window (the sandbox's
fast-forward, stored with the DPS, so the live server's clock and the test's agree); two vendors apply. Then,
in Chromium against the live server:

1. the central purchasing body's buyer admits both vendors from the Admissions screen;
2. (the holder's need, funded by a rehearsal call of the ARS, is published through the API, both vendors
   deposit sealed offers, and the sandbox skips past the deadline)
3. the buying side's opener opens the offers in the opening ceremony: the CPB's buyer when centralised, the
   holder's opener in intermediation (HC2);
4. the buying side's evaluator declares no conflict and scores both offers on the evaluation grid (its admin's
   scores go through the API);
5. the buying side's admin awards from the award page;
6. (the contract is signed by both sides through the API after the standstill, and the holder asks for the
   first grant tranche with its evidence)
7. the ARS validates the first tranche and records its payment from the Funding screens.

Each act is read back through the API. axe-core runs on every screen of the walk (0 serious or critical
violations) and each screen is photographed to .artefacts/screens/walk-<mode>-*.png.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import to_paris
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.awards.test_award import scores
from tests.awards.test_contract import sign
from tests.funding_api import file_need, give_evidence, open_call, request_tranche, select_need
from tests.tenders.test_needs import create as create_need
from tests.tenders.test_needs import finess
from tests.tenders.test_offers import prepared_offer, submit
from tests.tenders.test_publication import WEIGHTS, ensure_opener
from tests.vendors.api import apply, categories_by_pair, dps_body, expect, initial_window_end, minimal_pdf, upload_all
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
VENDORS = ("vendor_admin", "other_vendor_admin")
GRANT_CENTS = 5_000_000
# Who acts for the buying side, by conduct mode: its admin, its opener, its evaluator (HC2, HC3).
SIDES = {"centralised": ("buyer_admin", "buyer_admin", "buyer_evaluator"),
         "intermediation": ("holder_admin", "holder_opener", "holder_evaluator")}
_FACILITIES = itertools.count(51)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock: the objects the test makes through the API do too."""
    return shared_app(settings)


FACTOR = 86_400  # a sandbox day per real second: D9's days for offers and D18's standstill pass in seconds
MARGIN = timedelta(hours=12)  # half a real second


class Sandbox:
    """The sandbox DPS's clock as both processes read it off the real clock: epoch + (now − epoch) × FACTOR, plus
    the days skipped."""

    def __init__(self, client: Client, world: World, dps: dict[str, Any]) -> None:
        self.client, self.world, self.dps_id, self.skipped = client, world, dps["id"], timedelta(0)
        self.epoch = datetime.fromisoformat(dps["sandboxClock"]["epoch"])

    def now(self) -> datetime:
        return self.epoch + (datetime.now(UTC) - self.epoch) * FACTOR + self.skipped

    def wait_until(self, instant: datetime) -> None:
        """Sleep until the sandbox's clock is past `instant` by MARGIN (periods vendors keep can't be skipped)."""
        left = (instant + MARGIN - self.now()) / FACTOR
        if left > timedelta(0):
            time.sleep(left.total_seconds())

    async def skip(self, days: int) -> None:
        expect(await self.client.post(f"/dps/{self.dps_id}/sandbox/fast-forward",
                                      headers=self.world["buyer_admin"].headers, json={"days": days}), 200)
        self.skipped += timedelta(days=days)


async def _active_sandbox(client: Client, world: World, mode: str) -> tuple[dict[str, Any], Sandbox]:
    buyer = world["buyer_admin"].headers
    now = datetime.now(UTC)
    dps = expect(await client.post("/dps", headers=buyer, json={
        **dps_body(now, conduct_mode=mode), "sandbox": {"factor": FACTOR}}), 201)
    sandbox = Sandbox(client, world, dps)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(sandbox.now(), MARGIN).isoformat()}), 200)
    await sandbox.skip(32)  # D4's 30 days, skipped
    return expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200), sandbox


async def _applications(client: Client, world: World, category: str) -> list[str]:
    requests = []
    for person in VENDORS:
        request = await apply(client, world[person], category)
        await upload_all(client, world[person], request["id"], f"parcours {person}")
        expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world[person].headers), 200)
        requests.append(str(request["id"]))
    return requests


async def _published(client: Client, world: World, mode: str, dps: dict[str, Any], sandbox: Sandbox
                     ) -> tuple[str, str, str, datetime]:
    """The holder's sandbox need, filed to a rehearsal call of the ARS and selected (N16, FU4), then published by
    the buying side's admin; (need, contract, call, deadline)."""
    admin, opener, _ = SIDES[mode]
    holder = world["holder_admin"].headers
    et = finess(f"7519{next(_FACILITIES):04d}")
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities", headers=holder,
                             json={"name": f"EHPAD {et}", "finessEt": et}), 201)
    need = await create_need(client, world, facilities=[{"finessEt": et}], dpsId=dps["id"], sandbox=True)
    expect(await client.post(f"/needs/{need['id']}/submit", headers=holder), 200)
    call = await open_call(client, world, sandbox=True, envelope_cents=50_000_000)
    expect(await file_need(client, world, need["id"], call["id"]), 201)
    today = to_paris(datetime.now(UTC)).date().isoformat()
    expect(await select_need(client, world, call["id"], need["id"], amount_cents=GRANT_CENTS, decided_on=today), 201)
    await ensure_opener(client, world, opener)
    deadline = sandbox.now() + timedelta(days=12)  # D9's minimum, and a day to deposit in
    contract = expect(await client.post(f"/needs/{need['id']}/publish", headers=world[admin].headers, json={
        "dpsId": dps["id"], "tenderDeadline": deadline.isoformat(), "awardCriteria": WEIGHTS}), 201)
    assert contract["conductMode"] == mode and contract["invitationCount"] == 2, contract
    return need["id"], contract["id"], call["id"], deadline


def _sign_in(browser: Any, base: str, person: str, target: str) -> tuple[Any, Any]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}{target}")  # the login form first, then back to the target
    page.get_by_label("Adresse électronique").fill(email_of(person))
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**{target}")
    return context, page


AXE: dict[str, list[str]] = {}  # screen → its serious and critical violations, for the whole walk


def _look(page: Any, seen: dict[str, Any], name: str) -> str:
    """The screen's text, its axe verdict, and its screenshot."""
    AXE[name] = serious_violations(page)
    screenshot(page, name)
    return str(page.locator("main").inner_text())


@pytest.mark.parametrize("mode", ["centralised", "intermediation"])
async def test_a_sandbox_procedure_from_admission_to_the_first_tranche_in_the_browser(
        chromium: BrowserThread, live_server: str, client: Client, world: World, mode: str) -> None:
    admin, opener, evaluator = SIDES[mode]
    dps, sandbox = await _active_sandbox(client, world, mode)
    category = categories_by_pair(dps)["grand_age", "saas"]
    requests = await _applications(client, world, category)

    # 1. The central purchasing body admits both vendors.
    def admit(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "buyer_admin", "/app/admissions")
        seen["list"] = _look(page, seen, f"walk-{mode}-admissions")
        for request_id in requests:
            page.locator(f'a[href="/app/admissions/{request_id}"]').first.click()
            page.wait_for_url(f"**/app/admissions/{request_id}")
            page.get_by_role("button", name="Admettre").click()
            page.wait_for_url(f"**/app/admissions/{request_id}")
            seen[request_id] = _look(page, seen, f"walk-{mode}-admission")
            page.goto(f"{live_server}/app/admissions")
        context.close()
        return seen

    seen = chromium.run(admit)
    assert all("L'éditeur est admis" in seen[r] for r in requests), seen
    for request_id in requests:
        assert expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers),
                      200)["status"] == "admitted"

    # 2. Published, offers deposited, the deadline passed on the sandbox's clock.
    nid, cid, call_id, deadline = await _published(client, world, mode, dps, sandbox)
    offers = {}
    for person in VENDORS:
        offers[person] = (await prepared_offer(client, world, cid, person))["id"]
        expect(await submit(client, world, offers[person], person), 200)
    sandbox.wait_until(deadline)

    # 3–5. The buying side opens, scores and awards.
    assert expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=world[admin].headers),
                  409)["rule"] == "G8"  # not before the opening

    def buy(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, opener, f"/app/marches/{cid}/ouverture")
        seen["ceremony"] = _look(page, seen, f"walk-{mode}-opening")
        for field in page.get_by_label("Phrase secrète", exact=False).all():
            field.fill("la clé de l'ouverture des plis 2026")
        page.get_by_role("button", name="Ouvrir les plis").click()
        page.wait_for_load_state()
        seen["record"] = _look(page, seen, f"walk-{mode}-opening-record")
        context.close()
        return seen

    seen = chromium.run(buy)
    assert "La date limite est passée" in seen["ceremony"], seen["ceremony"]
    assert expect(await client.get(f"/specific-contracts/{cid}/opening", headers=world[admin].headers), 200)
    # The admin starts the evaluation and scores through the API; the evaluator in the page.
    url = f"/specific-contracts/{cid}"
    expect(await client.post(f"{url}/evaluation", headers=world[admin].headers), 200)
    expect(await client.post(f"{url}/conflict-declarations", headers=world[admin].headers,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    expect(await client.put(f"/offers/{offers['vendor_admin']}/scores", headers=world[admin].headers,
                            json=scores(80, 70)), 200)
    expect(await client.put(f"/offers/{offers['other_vendor_admin']}/scores", headers=world[admin].headers,
                            json=scores(60, 50)), 200)

    def evaluate(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, evaluator, f"/app/marches/{cid}/evaluation")
        _look(page, seen, f"walk-{mode}-evaluation")
        page.get_by_label("Non, aucun conflit d'intérêts").check()
        page.get_by_label("Déclaration (liens avec les soumissionnaires, ou leur absence)").fill(
            "Aucun lien avec les soumissionnaires.")
        page.get_by_role("button", name="Déposer ma déclaration").click()
        page.wait_for_load_state()
        for offer, (prix, technique) in ((offers["vendor_admin"], (85, 75)), (offers["other_vendor_admin"], (55, 45))):
            form = page.locator(f"#offre-{offer} form.scores")
            form.get_by_label("Prix : note sur 100 (pondération 40 %)").fill(str(prix))
            form.get_by_label("Prix : commentaire").fill(f"Prix noté {prix}.")
            form.get_by_label("Valeur technique : note sur 100 (pondération 60 %)").fill(str(technique))
            form.get_by_label("Valeur technique : commentaire").fill("Mémoire lu.")
            form.get_by_role("button", name="Enregistrer mes notes").click()
            page.wait_for_load_state()
        seen["grid"] = _look(page, seen, f"walk-{mode}-evaluation-scored")
        context.close()

        context, page = _sign_in(browser, live_server, admin, f"/app/marches/{cid}/attribution")
        _look(page, seen, f"walk-{mode}-award")
        page.goto(f"{live_server}/app/marches/{cid}")
        seen["deadline"] = page.locator("#date-limite").inner_text()
        page.goto(f"{live_server}/app/marches/{cid}/attribution")
        page.get_by_label("Motifs du choix (communiqués aux soumissionnaires)").fill("Meilleure offre pondérée.")
        page.get_by_role("button", name="Attribuer le marché").click()
        page.wait_for_load_state()
        seen["awarded"] = _look(page, seen, f"walk-{mode}-awarded")
        context.close()
        return seen

    seen |= chromium.run(evaluate)
    # The deadline's countdown runs on the sandbox's clock (past), not the real one (by which it is weeks ahead).
    assert "dépassée depuis" in seen["deadline"], seen["deadline"]
    assert "Marché attribué à" in seen["awarded"], seen["awarded"]
    ranking = expect(await client.get(f"{url}/ranking", headers=world[admin].headers), 200)
    assert ranking["complete"] and [o["offerId"] for o in ranking["offers"]] == [
        offers["vendor_admin"], offers["other_vendor_admin"]]
    award = expect(await client.get(f"{url}/award", headers=world[admin].headers), 200)
    assert (award["offerId"], award["reasons"]) == (offers["vendor_admin"], "Meilleure offre pondérée.")

    # 6. Signed by both sides once the standstill is over; the holder asks for the first tranche.
    created = expect(await client.post(f"{url}/contract", headers=world[admin].headers,
                                       json={"amountCents": 4_800_000}), 201)
    sandbox.wait_until(datetime.fromisoformat(award["earliestSignatureAt"]))
    expect(await sign(client, world, created["id"], admin, minimal_pdf("signé par l'acheteur")), 201)
    active = expect(await sign(client, world, created["id"], "vendor_admin", minimal_pdf("signé")), 201)
    assert active["status"] == "active"
    expect(await give_evidence(client, world, nid, 1, minimal_pdf("Contrat signé, lancement")), 200)
    expect(await request_tranche(client, world, nid, 1), 200)

    # 7. The ARS validates the first tranche and records its payment.
    def fund(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "funder_admin",
                                 f"/app/financements/{call_id}/projets/{nid}")
        _look(page, seen, f"walk-{mode}-tranche")
        page.get_by_role("button", name="Valider la tranche 1").click()
        page.wait_for_load_state()
        page.locator("#vers-1-ref").fill(f"VIR-PARCOURS-{mode}")
        page.locator('form[action$="/tranches/1/versement"] button').click()
        page.wait_for_load_state()
        seen["paid"] = _look(page, seen, f"walk-{mode}-tranche-paid")
        context.close()
        return seen

    seen |= chromium.run(fund)
    assert "Versement de la tranche 1 enregistré." in seen["paid"], seen["paid"]
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    assert (funding["tranches"][0]["status"], funding["tranches"][0]["paymentReference"]) == (
        "paid", f"VIR-PARCOURS-{mode}")
    assert len([s for s in AXE if s.startswith(f"walk-{mode}-")]) == 10
    violations = {screen: found for screen, found in AXE.items() if found}
    assert not violations, violations
