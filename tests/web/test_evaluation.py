"""The evaluation and award pages over HTTP (no browser): refused before the opening; after it, the evaluation
opened, declarations and scores given through the forms and read back through the API; a score refused without
a declaration, naming its rule; the award and the contract through the forms; another organisation and a vendor
refused as the API refuses them."""

from __future__ import annotations

import re
from html import unescape

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.awards.test_award import VENDORS, opened_contract, submitted_offers
from tests.tenders.test_offers import DEADLINE
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    answer = await login(web, email_of(person))
    assert answer.status_code == 303, answer.text
    return web


async def act(web: Browser, page: str, action: str, fields: dict[str, str | list[str]]) -> str:
    """Post a form of `page` (its CSRF token read from it); return the page shown after the redirect."""
    form = await web.get(page)
    assert form.status_code == 200, form.text
    answer = await web.post(action, data={**fields, "_csrf_token": csrf_token(form.text)})
    assert answer.status_code == 303, answer.text
    shown = await web.get(answer.headers["location"])
    assert shown.status_code == 200, shown.text
    return unescape(shown.text)


def score_form(prix: int, technique: int) -> dict[str, str | list[str]]:
    return {"critere": ["Prix", "Valeur technique"], "note": [str(prix), str(technique)],
            "commentaire": [f"Prix noté {prix}.", "Mémoire lu."]}


async def test_the_evaluation_page_waits_for_the_opening(client: Client, world: World, clock: FrozenClock) -> None:
    cid, _ = await submitted_offers(client, world, clock)
    clock.set(DEADLINE)
    admin = await signed_in(client, "buyer_admin")
    # Before the opening the service refuses the opening record (404): nothing of the offers is shown.
    before = await admin.get(f"/app/marches/{cid}/evaluation")
    assert before.status_code == 404 and "Page introuvable" in before.text
    assert "Offres ouvertes" not in before.text


async def test_declare_score_and_award_through_the_pages(client: Client, world: World, clock: FrozenClock) -> None:
    cid, offers = await opened_contract(client, world, clock)
    a, b, c = (offers[p] for p in VENDORS)
    page = f"/app/marches/{cid}/evaluation"
    admin, evaluator = await signed_in(client, "buyer_admin"), await signed_in(client, "buyer_evaluator")

    # Opened, not yet under evaluation: the admin opens it; the evaluator has no such button.
    first = await evaluator.get(page)
    assert first.status_code == 200 and "Ouvrir l'évaluation" not in unescape(first.text)
    assert first.text.count('class="offer"') == 3
    shown = await act(admin, page, f"{page}/demarrer", {})
    assert "L'évaluation des offres est ouverte." in shown and "en évaluation" in shown
    assert expect(await client.get(f"/specific-contracts/{cid}/ranking",
                                   headers=world["buyer_admin"].headers), 200)["status"] == "evaluation"

    # No score form before the declaration; a score posted anyway is refused, naming the rule.
    undeclared = await evaluator.get(page)
    assert 'name="conflit"' in undeclared.text and f"/offres/{a}/notes" not in undeclared.text
    refused = await evaluator.post(f"{page}/offres/{a}/notes",
                                   data={**score_form(70, 65), "_csrf_token": csrf_token(undeclared.text)})
    assert refused.status_code == 422
    assert "conflict-of-interest-declaration" in refused.text and "declaration" in refused.text

    # Both declare no conflict through the form; then the score forms appear, one fieldset per offer.
    for web in (admin, evaluator):
        shown = await act(web, page, f"{page}/declaration",
                          {"conflit": "non", "declaration": "Aucun lien avec les soumissionnaires."})
        assert "aucun conflit d'intérêts" in shown and 'name="conflit"' not in shown
    assert shown.count("<fieldset>") == 3 and shown.count('name="note"') == 6
    assert 'for="note-' in shown and "Prix : note sur 100" in shown

    for web, marks in ((admin, {a: (80, 60), b: (90, 55), c: (40, 40)}),
                       (evaluator, {a: (70, 65), b: (85, 50), c: (30, 50)})):
        for offer, (prix, technique) in marks.items():
            shown = await act(web, page, f"{page}/offres/{offer}/notes", score_form(prix, technique))
            assert "Notes enregistrées." in shown

    # Read back through the API: A: 75×0.4 + 62.5×0.6 = 67.50; B: 87.5×0.4 + 52.5×0.6 = 66.50.
    ranking = expect(await client.get(f"/specific-contracts/{cid}/ranking",
                                      headers=world["buyer_evaluator"].headers), 200)
    assert ranking["complete"] is True
    assert [(o["offerId"], o["total"]) for o in ranking["offers"]][:2] == [(a, "67.50"), (b, "66.50")]
    # The page shows the matrix (each evaluator's score with its comment) and the ranking.
    grid = (await admin.get(page)).text
    assert "Prix noté 85." in grid and "Prix noté 70." in grid and "67.50" in grid and "complet" in grid
    # The evaluator's own form is filled with their scores.
    assert re.search(rf'/offres/{b}/notes.*?name="note"[^>]*value="85"', grid.replace(
        "\n", " ")) is None  # the admin's page shows the admin's scores, not the evaluator's
    mine = (await evaluator.get(page)).text.replace("\n", " ")
    assert re.search(rf'/offres/{b}/notes.*?name="note"[^>]*value="85"', mine)

    # The award through the form, read back through the API.
    award_page = f"/app/marches/{cid}/attribution"
    form = (await admin.get(award_page)).text
    assert "Attribuer le marché" in form and f'value="{a}" required checked' in form
    # Not the first of the ranking: refused by D10, shown with its rule.
    wrong = await admin.post(award_page, data={"offre": b, "motifs": "Prix.", "suspension": "non",
                                               "_csrf_token": csrf_token(form)})
    assert wrong.status_code == 422 and "D10" in wrong.text
    shown = await act(admin, award_page, award_page,
                      {"offre": a, "motifs": "Meilleure valeur technique.", "suspension": "non"})
    assert "Marché attribué à" in shown and "Meilleure valeur technique." in shown
    award = expect(await client.get(f"/specific-contracts/{cid}/award", headers=world["buyer_admin"].headers), 200)
    assert award["offerId"] == a and award["standstillRequired"] is False and award["notices"] > 0
    assert "offre non retenue" in shown and "Avis aux soumissionnaires" in shown

    # The contract from the award, with its amount in euros, read back through the API.
    shown = await act(admin, award_page, f"/app/marches/{cid}/contrat", {"montant": "48 000,00", "modalites": ""})
    assert "Contrat créé" in shown and "en attente des signatures" in shown and "Déposer la signature" in shown
    reference = re.search(r'id="reference-contrat">([0-9a-f-]{36})<', shown)
    assert reference, "no contract reference on the page"
    signed = expect(await client.get(f"/contracts/{reference.group(1)}", headers=world["buyer_admin"].headers), 200)
    assert (signed["amountCents"], signed["status"], signed["specificContractId"]) == (4_800_000, "pending", cid)
    assert "48\u202f000,00 €" in shown
    # The buyer's signature, uploaded through the multipart form: an unsigned PDF is refused by G16's check.
    form = (await admin.get(award_page)).text
    unsigned = await admin.post(f"/app/marches/{cid}/contrat/signatures", data={"_csrf_token": csrf_token(form)},
                                files={"document": ("contrat.pdf", minimal_pdf("contrat"), "application/pdf")})
    assert unsigned.status_code == 415 and "G16" in unsigned.text
    assert expect(await client.get(f"/contracts/{reference.group(1)}",
                                   headers=world["buyer_admin"].headers), 200)["signatures"] == []


async def test_another_organisation_and_a_vendor_are_refused_as_the_api_refuses_them(
        client: Client, world: World, clock: FrozenClock) -> None:
    cid, offers = await opened_contract(client, world, clock)
    a = offers["vendor_admin"]
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=world["buyer_admin"].headers), 200)
    other, vendor = await signed_in(client, "other_buyer_admin"), await signed_in(client, "vendor_admin")
    for page in (f"/app/marches/{cid}/evaluation", f"/app/marches/{cid}/attribution"):
        assert (await other.get(page)).status_code == 404
        assert (await vendor.get(page)).status_code == 403
    # The API's own answers, for comparison.
    assert (await client.get(f"/specific-contracts/{cid}/ranking",
                             headers=world["other_buyer_admin"].headers)).status_code == 404
    assert (await client.get(f"/specific-contracts/{cid}/ranking",
                             headers=world["vendor_admin"].headers)).status_code == 403
    # A clarification and a D15 request through the forms, read back through the API.
    admin = await signed_in(client, "buyer_admin")
    page = f"/app/marches/{cid}/evaluation"
    shown = await act(admin, page, f"{page}/offres/{a}/eclaircissements",
                      {"sujet": "Délais", "question": "Quel délai de reprise des données ?",
                       "echeance": "2026-02-24T12:00"})
    assert "Demande d'éclaircissements envoyée" in shown and "Délais — 1 message(s), ouverte" in shown
    threads = expect(await client.get(f"/offers/{a}/clarifications", headers=world["buyer_admin"].headers), 200)
    assert [(t["subject"], t["messages"][0]["body"]) for t in threads] == [
        ("Délais", "Quel délai de reprise des données ?")]
    assert threads[0]["answerDueAtParis"].startswith("24/02/2026 12:00")  # a Paris time, as typed
    # The D15 request is an evaluator's judgment: the declaration comes first (here through the API).
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=world["buyer_admin"].headers,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    shown = await act(admin, page, f"{page}/offres/{a}/offre-anormalement-basse",
                      {"motifs": "Prix très inférieur aux autres offres.", "echeance": "2026-02-27T12:00"})
    assert "Justification demandée par écrit" in shown and "D15 : justification demandée" in shown
    procedure = expect(await client.get(f"/offers/{a}/abnormally-low", headers=world["buyer_admin"].headers), 200)
    assert (procedure["status"], procedure["reasons"]) == ("justification_requested",
                                                           "Prix très inférieur aux autres offres.")

    # An act too: another organisation's admin can't start, declare or award on it.
    page = (await other.get("/app/")).text
    refused = await other.post(f"/app/marches/{cid}/evaluation/declaration",
                               data={"conflit": "non", "declaration": "x", "_csrf_token": csrf_token(page)})
    assert refused.status_code == 404
