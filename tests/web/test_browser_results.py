"""A vendor's pages after the opening ("Suite de la procédure", web/results.py) in a real browser (Chromium through
Playwright) against a live server on real services.

The contract is brought to its evaluation through the API in process, on the frozen clock of tests/web/conftest
(February 2026; its offers opened at the deadline, the third one rejected as irregular). The buying side asks the
vendor `vendor_admin` (offer A) a clarification and a D15 justification due in 2030, and the vendor
`other_vendor_admin` (offer B) the same due on 20 February 2026: for the live server, on the real clock, A's are
still open and B's are past. In the browser:

- A's admin signs in, reaches the page from the navigation and answers the clarification with the keyboard alone
  (Tab, Shift+Tab, typing, Enter, Space: no click), then sends the D15 justification: its PDF, then its text;
- B's admin is refused both, each on an error page naming its rule (clarification-due-date, D15);
- the buying side accepts both justifications, scores and awards A, and makes the contract (API);
- B's admin reads its result (not retained, its scores, the awardee, the award notice's text) and files a D17
  request; the buyer answers it (API) and B reads the answer on the page;
- A's admin reads that its offer won, is refused an unsigned PDF (error page naming G16), then uploads its signed
  contract (PAdES, the test PKI's qualified certificate) and reads the G16 report.

Each act is read back through the API. axe-core finds no serious or critical violation on any page. Screenshots
(.artefacts/screens/): results-clarification, results-justified, results-not-retained, results-reasons-answered,
results-signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.awards.test_award import AWARDEE_NAME, VENDORS, opened_contract, scores
from tests.esign_pki import signed_contract_pdf
from tests.vendors.api import expect, minimal_pdf
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.web.test_browser_contracts import _tab_to
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
OPEN_UNTIL = "2030-06-01T12:00:00"   # ahead of the live server's real clock
PAST = "2026-02-20T12:00:00"         # ahead of the frozen clock, behind the real one
ANSWER = "Le prix comprend la reprise des données et trois jours de formation."
JUSTIFICATION = "Nos coûts sont mutualisés : l'hébergement est déjà payé par nos autres clients."
REASONS_REQUEST = "Merci de nous communiquer les motifs du rejet de notre offre."
REASONS_ANSWER = "Votre valeur technique est inférieure : mémoire moins détaillé sur la reprise des données."


def _context(browser: Any) -> tuple[Any, Any]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    return context, context.new_page()


def _sign_in(browser: Any, base: str, person: str, target: str) -> tuple[Any, Any]:
    context, page = _context(browser)
    page.goto(f"{base}{target}")  # sent to the login form, and back here after it
    page.get_by_label("Adresse électronique").fill(email_of(person))
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**{target}")
    return context, page


async def _evaluation(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str], dict[str, str]]:
    """The contract in evaluation: C rejected, A and B each asked a clarification and a D15 justification (A's due
    in 2030, B's on 20/02/2026). Returns the contract, the offers and the threads by vendor person."""
    cid, offers = await opened_contract(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    expect(await client.post(f"/offers/{c}/rejection", headers=admin,
                             json={"grounds": "irregular", "reasons": "Acte d'engagement non signé."}), 200)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    threads = {}
    for person, offer, due in (("vendor_admin", a, OPEN_UNTIL), ("other_vendor_admin", b, PAST)):
        thread = expect(await client.post(f"/offers/{offer}/clarifications", headers=admin, json={
            "subject": "Reprise des données", "body": "Votre prix comprend-il la reprise des données ?",
            "answerDueAt": due}), 201)
        threads[person] = thread["id"]
        expect(await client.post(f"/offers/{offer}/abnormally-low", headers=admin, json={
            "reasons": "Prix inférieur de 40 % à la moyenne des offres.", "justificationDueAt": due}), 201)
    return cid, offers, threads


async def test_a_vendor_answers_justifies_reads_its_result_asks_reasons_and_signs(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock,
        tmp_path: Path) -> None:
    cid, offers, threads = await _evaluation(client, world, clock)
    a, b = offers["vendor_admin"], offers["other_vendor_admin"]
    admin = world["buyer_admin"].headers
    suite = f"/app/offres/{cid}/suite"
    justification_pdf = tmp_path / "justification-prix.pdf"
    justification_pdf.write_bytes(minimal_pdf("décomposition du prix"))

    # 1. A's admin: the clarification with the keyboard alone, then the D15 justification.
    def answer_and_justify(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {"console": []}
        context, page = _context(browser)
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        _tab_to(page, "#email")
        page.keyboard.type(email_of("vendor_admin"))
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/")
        # From the navigation to the invitations, the contract's workspace, then its "Suite de la procédure".
        _tab_to(page, 'nav[aria-label="Navigation principale"] a[href="/app/invitations"]')
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/invitations")
        _tab_to(page, f'main a[href="/app/offres/{cid}"]')
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/app/offres/{cid}")
        _tab_to(page, f'main a[href="{suite}"]')
        page.keyboard.press("Enter")
        page.wait_for_url(f"**{suite}")
        seen["before"] = page.locator("main").inner_text()
        seen["before_axe"] = serious_violations(page)
        thread = threads["vendor_admin"]
        button = f'#fil-{thread} button[type=submit]'
        _tab_to(page, button)
        _tab_to(page, f"#f-reponse-{thread}", back=True)
        page.keyboard.type(ANSWER)
        _tab_to(page, button)
        page.keyboard.press("Space")
        page.wait_for_url(f"**{suite}**")
        page.wait_for_load_state()
        seen["answered"] = page.locator(".notice").inner_text()
        seen["thread"] = page.locator(f"#fil-{thread}").inner_text()
        screenshot(page, "results-clarification")
        page.get_by_label("1. Document de justification (PDF, facultatif)").set_input_files(str(justification_pdf))
        page.get_by_role("button", name="Joindre le document").click()
        page.wait_for_load_state()
        seen["document"] = page.locator(".notice").inner_text()
        page.get_by_label("Votre justification écrite").fill(JUSTIFICATION)
        page.get_by_role("button", name="Envoyer la justification").click()
        page.wait_for_load_state()
        seen["justified"] = page.locator(".notice").inner_text()
        seen["justification"] = page.locator("#justification").inner_text()
        seen["justified_axe"] = serious_violations(page)
        screenshot(page, "results-justified")
        context.close()
        return seen

    seen = chromium.run(answer_and_justify)
    assert "Reprise des données" in seen["before"] and "justification demandée" in seen["before"]
    assert "01/06/2030" in seen["before"]  # each due date shown, with its countdown
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert seen["answered"] == "Envoyé à l'acheteur : réponse." and ANSWER in seen["thread"]
    assert "Document de justification reçu" in seen["document"]
    assert "Justification envoyée" in seen["justified"] and JUSTIFICATION in seen["justification"]
    assert "justification-prix.pdf" in seen["justification"]
    assert seen["justified_axe"] == [], "\n".join(seen["justified_axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
    # Read back through the API: the buyer reads the answer, the justification and its document.
    thread = expect(await client.get(f"/clarifications/{threads['vendor_admin']}", headers=admin), 200)
    assert [(m["side"], m["body"]) for m in thread["messages"]][-1] == ("vendor", ANSWER)
    procedure = expect(await client.get(f"/offers/{a}/abnormally-low", headers=admin), 200)
    assert procedure["justification"] == JUSTIFICATION and procedure["justifiedAt"] is not None
    assert procedure["document"]["filename"] == "justification-prix.pdf"

    # 2. B's admin, past both due dates: each refusal is the error page naming the rule.
    def refused(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "other_vendor_admin", suite)
        seen["page"] = page.locator("main").inner_text()
        thread = threads["other_vendor_admin"]
        page.locator(f"#f-reponse-{thread}").fill("Oui, la reprise est comprise.")
        page.locator(f"#fil-{thread} button[type=submit]").click()
        page.wait_for_load_state()
        seen["late_answer"] = page.locator("main").inner_text()
        seen["late_answer_axe"] = serious_violations(page)
        page.goto(f"{live_server}{suite}")
        page.get_by_label("Votre justification écrite").fill("Trop tard.")
        page.get_by_role("button", name="Envoyer la justification").click()
        page.wait_for_load_state()
        seen["late_justification"] = page.locator("main").inner_text()
        context.close()
        return seen

    seen = chromium.run(refused)
    assert "délai dépassé" in seen["page"]
    assert "Règle clarification-due-date" in seen["late_answer"] and "erreur 409" in seen["late_answer"]
    assert seen["late_answer_axe"] == [], "\n".join(seen["late_answer_axe"])
    assert "Règle D15" in seen["late_justification"] and "justificationDueAt" in seen["late_justification"]
    late = expect(await client.get(f"/offers/{b}/abnormally-low", headers=admin), 200)
    assert late["justification"] is None
    assert [m["side"] for m in expect(await client.get(f"/clarifications/{threads['other_vendor_admin']}",
                                                       headers=admin), 200)["messages"]] == ["buyer"]

    # 3. The buying side accepts both justifications, scores, awards A and makes the contract.
    for offer in (a, b):
        expect(await client.post(f"/offers/{offer}/abnormally-low/decision", headers=admin,
                                 json={"accepted": True}), 200)
    expect(await client.put(f"/offers/{a}/scores", headers=admin, json=scores(80, 60)), 200)
    expect(await client.put(f"/offers/{b}/scores", headers=admin, json=scores(90, 50)), 200)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json={"offerId": a, "reasons": "Meilleure valeur technique pondérée."}), 201)
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                        json={"amountCents": 4_800_000}), 201)

    # 4. B's admin reads its result and asks for the reasons (D17).
    def not_retained(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "other_vendor_admin", suite)
        seen["result"] = page.locator("#resultat").inner_text()
        seen["contract"] = page.locator("#contrat").inner_text()
        page.get_by_label("Votre demande écrite des motifs du rejet").fill(REASONS_REQUEST)
        page.get_by_role("button", name="Demander les motifs").click()
        page.wait_for_load_state()
        seen["asked"] = page.locator(".notice").inner_text()
        seen["reasons"] = page.locator("#motifs").inner_text()
        seen["axe"] = serious_violations(page)
        screenshot(page, "results-not-retained")
        context.close()
        return seen

    seen = chromium.run(not_retained)
    assert "offre non retenue" in seen["result"] and AWARDEE_NAME in seen["result"]
    assert "66.00 / 100" in seen["result"] and "Meilleure valeur technique pondérée." in seen["result"]
    assert "Marché spécifique : votre offre n'est pas retenue" in seen["result"]  # the notice, as received
    assert "Note globale : 66.00 / 100" in seen["result"]
    assert contract["id"] not in seen["contract"]  # the loser learns nothing of the contract
    assert "sous 15 jours (D17)" in seen["asked"] and REASONS_REQUEST in seen["reasons"]
    assert "réponse attendue" in seen["reasons"]
    assert seen["axe"] == [], "\n".join(seen["axe"])
    mine = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                   headers=world["other_vendor_admin"].headers), 200)
    assert mine["total"] == "66.00" and [r["request"] for r in mine["reasonsRequests"]] == [REASONS_REQUEST]
    expect(await client.post(f"/reasons-requests/{mine['reasonsRequests'][0]['id']}/answer", headers=admin,
                             json={"answer": REASONS_ANSWER}), 200)

    def answered(browser: Any) -> dict[str, Any]:
        context, page = _sign_in(browser, live_server, "other_vendor_admin", suite)
        seen = {"reasons": page.locator("#motifs").inner_text(), "axe": serious_violations(page)}
        screenshot(page, "results-reasons-answered")
        context.close()
        return seen

    seen = chromium.run(answered)
    assert "répondue" in seen["reasons"] and REASONS_ANSWER in seen["reasons"]
    assert seen["axe"] == [], "\n".join(seen["axe"])

    # 5. A's admin: its offer won; an unsigned PDF is refused (G16), the signed contract accepted with its report.
    unsigned, signed = tmp_path / "contrat-non-signe.pdf", tmp_path / "contrat-signe.pdf"
    unsigned.write_bytes(minimal_pdf("contrat sans signature"))
    signed.write_bytes(signed_contract_pdf("vendor_admin", "contrat signé par le titulaire"))

    def sign(browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context, page = _sign_in(browser, live_server, "vendor_admin", suite)
        seen["result"] = page.locator("#resultat").inner_text()
        seen["reasons"] = page.locator("#motifs").inner_text()
        seen["before_axe"] = serious_violations(page)
        label = "Contrat signé pour le titulaire (PDF PAdES, .p7s/.p7m CAdES ou XML XAdES)"
        page.get_by_label(label).set_input_files(str(unsigned))
        page.get_by_role("button", name="Déposer le contrat signé").click()
        page.wait_for_load_state()
        seen["refused"] = page.locator("main").inner_text()
        page.goto(f"{live_server}{suite}")
        page.get_by_label(label).set_input_files(str(signed))
        page.get_by_role("button", name="Déposer le contrat signé").click()
        page.wait_for_load_state()
        seen["signed"] = page.locator(".notice").inner_text()
        seen["contract"] = page.locator("#contrat").inner_text()
        seen["axe"] = serious_violations(page)
        screenshot(page, "results-signed")
        context.close()
        return seen

    seen = chromium.run(sign)
    assert "offre retenue : vous êtes attributaire" in seen["result"]
    assert "pas de rejet à motiver" in seen["reasons"]
    assert seen["before_axe"] == [], "\n".join(seen["before_axe"])
    assert "Règle G16" in seen["refused"]
    assert "Signature enregistrée et vérifiée (G16)" in seen["signed"]
    assert "Signature de la partie titulaire (vous)" in seen["contract"] and "valide" in seen["contract"]
    assert "Intégrité du document" in seen["contract"] and "certificat qualifié" in seen["contract"]
    assert seen["axe"] == [], "\n".join(seen["axe"])
    read = expect(await client.get(f"/contracts/{contract['id']}", headers=admin), 200)
    vendor_side = [s for s in read["signatures"] if s["side"] == "vendor"]
    assert len(vendor_side) == 1 and vendor_side[0]["verification"]["verdict"] == "valid"
    assert vendor_side[0]["sha256"] in seen["contract"] and read["status"] == "pending"  # the buyer signs next
