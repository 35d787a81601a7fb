"""A holder's published need in a real browser (Chromium through Playwright) against a live server on real services:
its procedure, its contract and its grant's tranches, with the keyboard alone.

The procedure is brought through the API in process, as tests/funding/test_seeds_procedure.py does it, in
intermediation (HC2): the ARS selects the project, the need is published, two vendors bid, the holder opens,
evaluates and awards, and creates the contract, which nobody has signed yet. In the browser the holder's admin,
with Tab, Shift+Tab, typing, Enter and Space only (the file chooser opened by a key):

- signs in, goes from "Mes besoins" to its need, to its procedure (the funding decision, the contract's states,
  the award, the buying side's screens) and to its contract, and signs it for the holder (a PAdES PDF, G16);
- once the awardee has signed (through the API), goes to the grant, gives the first tranche's evidence and requests
  it; then gives the third's and requests it with its usage indicators before the second: refused, FU5 named.

Each act is read back through the API; axe-core finds no serious or critical violation on any page. Screenshots
(.artefacts/screens/): holder-procedure.png, holder-contract.png, holder-contract-signed.png, holder-tranches.png,
holder-tranche-requested.png, holder-tranche-refused.png.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.web import format_euros
from tests.awards.test_contract import sign
from tests.esign_pki import pki, sign_pdf
from tests.funding.test_seeds_procedure import GRANT_CENTS, WINNER, _evaluate_and_award, _funded_and_published, _offers
from tests.tenders.test_offers import DEADLINE, open_offers
from tests.vendors.api import expect, minimal_pdf
from tests.web.browser import (
    BrowserThread,
    choose_file,
    screenshot,
    serious_violations,
)
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
VENDOR = "Logiciels Médico-Sociaux SAS"  # the awardee (tests/world.py's `vendor`)
QUESTION = "La reprise des données de l'ancien logiciel est-elle incluse ?"
ANSWER = "Oui, pour les cinq dernières années."


async def _awarded_with_a_contract(client: Client, world: World, clock: FrozenClock,
                                   settings: Settings) -> tuple[str, str, str]:
    """(need, specific contract, contract): in intermediation, awarded by the holder, its contract made, unsigned."""
    mode = "intermediation"
    nid, cid = await _funded_and_published(client, world, clock, mode)
    # A vendor's question, answered by the holder, the buyer here (HC2): published to every invitee.
    url = f"/specific-contracts/{cid}/questions"
    asked = expect(await client.post(url, headers=world["vendor_admin"].headers, json={"question": QUESTION}), 201)
    expect(await client.post(f"{url}/{asked['id']}/answer", headers=world["holder_admin"].headers,
                             json={"answer": ANSWER}), 200)
    offers = await _offers(client, world, clock, cid)
    clock.set(DEADLINE + timedelta(hours=1))
    expect(await open_offers(client, world, cid, "holder_opener", person="holder_opener"), 200)
    await _evaluate_and_award(client, world, settings, mode, cid, offers)
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["holder_admin"].headers,
                                        json={"amountCents": 9_600_000,
                                              "paymentTerms": "30 % à la commande, 70 % à la recette."}), 201)
    return nid, cid, contract["id"]


def _tab_to(page: Any, selector: str, *, limit: int = 120, back: bool = False) -> None:
    """Tab (or Shift+Tab) until the element `selector` names has the focus: the keyboard alone, as a person."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} never took the focus by {'Shift+Tab' if back else 'Tab'}")


def _follow(page: Any, selector: str, url: str) -> None:
    """Tab to a link and follow it with Enter."""
    _tab_to(page, selector)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{url}")


def _submit(page: Any, key: str = "Enter") -> None:
    """Press `key` on the focused control and wait for the page its form leads to (Post/Redirect/Get)."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _read(page: Any, seen: dict[str, Any], name: str) -> None:
    seen[name] = page.locator("main").inner_text()
    seen[f"{name}_axe"] = serious_violations(page)
    screenshot(page, f"holder-{name.replace('_', '-')}")


async def test_a_holder_follows_its_need_to_its_contract_signs_and_requests_its_first_tranche_with_the_keyboard(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock,
        settings: Settings, tmp_path: Path) -> None:
    nid, cid, contract_id = await _awarded_with_a_contract(client, world, clock, settings)
    need_title = expect(await client.get(f"/needs/{nid}", headers=world["holder_admin"].headers), 200)["title"]
    signed_pdf = tmp_path / "contrat-signe-porteur.pdf"
    signed_pdf.write_bytes(sign_pdf(pki(), pki().signer("holder_admin"), minimal_pdf("Contrat signé par le porteur")))
    start_pdf = tmp_path / "lancement.pdf"
    start_pdf.write_bytes(minimal_pdf("Contrat signé et compte rendu de lancement"))
    usage_pdf = tmp_path / "usages.pdf"
    usage_pdf.write_bytes(minimal_pdf("Indicateurs d'usage"))
    base = f"/app/mes-besoins/{nid}"
    state: dict[str, Any] = {}

    def sign_in_and_sign(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        state["context"], state["page"] = context, page
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        _tab_to(page, "#email")
        page.keyboard.type(email_of("holder_admin"))
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/")
        _follow(page, 'nav[aria-label="Navigation principale"] a[href="/app/mes-besoins"]', "/app/mes-besoins")
        _follow(page, f'main a[href="{base}"]', base)
        _follow(page, f'a[href="{base}/procedure"]', f"{base}/procedure")
        _read(page, seen, "procedure")
        seen["procedure_links"] = page.eval_on_selector_all("#ecrans-acheteur a", "as => as.map(a => a.pathname)")
        _follow(page, f'nav.actions a[href="{base}/contrat"]', f"{base}/contrat")
        _read(page, seen, "contract")
        # The holder's turn: the signed PDF chosen from the keyboard, then Tab to the form's button, Enter.
        choose_file(page, "#f-document", signed_pdf)
        _tab_to(page, "#signer button[type=submit]")
        _submit(page)
        page.wait_for_selector("#t-sig-buyer")
        _read(page, seen, "contract_signed")
        return seen

    seen = chromium.run(sign_in_and_sign)
    assert need_title in seen["procedure"] and "retenu" in seen["procedure"]
    assert format_euros(GRANT_CENTS) in seen["procedure"]  # the decision's amount, in euros
    assert "attribution décidée" in seen["procedure"] and VENDOR in seen["procedure"]
    assert "Intermédiation : vous êtes l'acheteur de ce marché (HC2)" in seen["procedure"]
    assert QUESTION in seen["procedure"] and ANSWER in seen["procedure"]
    assert email_of("vendor_admin") not in seen["procedure"]  # the asker stays anonymous
    assert seen["procedure_links"] == [f"/app/marches/{cid}", f"/app/marches/{cid}/ouverture",
                                       f"/app/marches/{cid}/evaluation", f"/app/marches/{cid}/attribution"]
    assert seen["procedure_axe"] == [], "\n".join(seen["procedure_axe"])
    assert "en attente des signatures" in seen["contract"] and format_euros(9_600_000) in seen["contract"]
    assert "Déposer la signature du porteur" in seen["contract"]
    assert seen["contract_axe"] == [], "\n".join(seen["contract_axe"])
    assert "Signature du porteur enregistrée et vérifiée (G16)" in seen["contract_signed"]
    assert "intégrité" in seen["contract_signed"] and "certificat qualifié" in seen["contract_signed"]
    assert "Signature de l'acheteur (Association Les Tilleuls)" in seen["contract_signed"]
    assert "Déposer la signature du porteur" not in seen["contract_signed"]  # its turn is over
    assert seen["contract_signed_axe"] == [], "\n".join(seen["contract_signed_axe"])
    # Read back: the buyer's side (the holder, HC2, HC4) signed, verified; the awardee then signs through the API.
    contract = expect(await client.get(f"/contracts/{contract_id}", headers=world["holder_admin"].headers), 200)
    assert [(s["side"], s["sha256"]) for s in contract["signatures"]] == [
        ("buyer", hashlib.sha256(signed_pdf.read_bytes()).hexdigest())]
    assert contract["signatures"][0]["verification"]["verdict"] == "valid"
    assert expect(await sign(client, world, contract_id, WINNER, minimal_pdf("signé par le titulaire")),
                  201)["status"] == "active"

    def tranches(browser: Any) -> dict[str, Any]:
        page = state["page"]
        seen: dict[str, Any] = {}
        page.reload()
        _follow(page, f'nav.actions a[href="{base}/financement"]', f"{base}/financement")
        _read(page, seen, "tranches")
        # Tranche 1: its evidence chosen and sent, then requested.
        choose_file(page, "#preuve-1-fichier", start_pdf)
        _tab_to(page, "#preuve-1 button[type=submit]")
        _submit(page)
        seen["evidence"] = page.locator("main").inner_text()
        _tab_to(page, "#demande-1 button[type=submit]")
        _submit(page, "Space")
        _read(page, seen, "tranche_requested")
        # Tranche 3 before tranche 2: its evidence, its indicators typed, Enter in the field submits: refused.
        choose_file(page, "#preuve-3-fichier", usage_pdf)
        _tab_to(page, "#preuve-3 button[type=submit]")
        _submit(page)
        _tab_to(page, "#demande-3-actifs")
        page.keyboard.type("148")
        _tab_to(page, "#demande-3-essms")
        page.keyboard.type("1")
        _tab_to(page, "#demande-3-actifs", back=True)
        _submit(page)
        _read(page, seen, "tranche_refused")
        seen["rule"] = page.locator(".rule-id").inner_text()
        state["context"].close()
        return seen

    seen = chromium.run(tranches)
    assert format_euros(2_400_000) in seen["tranches"]
    assert format_euros(1_200_001) in seen["tranches"]  # the last tranche takes the rounding remainder
    assert seen["tranches_axe"] == [], "\n".join(seen["tranches_axe"])
    assert "Justificatif de la tranche 1 enregistré" in seen["evidence"]
    assert "Tranche 1 demandée" in seen["tranche_requested"]
    assert "demandée, à valider ou refuser" in seen["tranche_requested"]
    assert seen["tranche_requested_axe"] == [], "\n".join(seen["tranche_requested_axe"])
    assert seen["rule"] == "FU5" and "in order" in seen["tranche_refused"]
    assert "erreur 409" in seen["tranche_refused"]
    assert seen["tranche_refused_axe"] == [], "\n".join(seen["tranche_refused_axe"])
    # Read back: the first tranche requested with the evidence sent from the page; the third not requested, its
    # evidence kept as a draft for when its turn comes.
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    first, _, third = funding["tranches"]
    assert first["status"] == "requested" and first["requests"][0]["status"] == "requested"
    assert first["requests"][0]["evidence"]["sha256"] == hashlib.sha256(start_pdf.read_bytes()).hexdigest()
    assert first["requests"][0]["contractId"] == contract_id  # FU5: requested on the signed contract
    assert third["status"] == "pending" and third["requests"] == []  # the funder reads no draft
    own = expect(await client.get(f"/needs/{nid}/funding", headers=world["holder_admin"].headers), 200)
    draft = own["tranches"][2]["requests"]
    assert [(r["status"], r["evidence"]["sha256"]) for r in draft] == [
        ("draft", hashlib.sha256(usage_pdf.read_bytes()).hexdigest())]
