"""No back-office page shows a sealed offer before its opening (D13, G1), whoever asks and whoever buys (HC2);
and no page shows an offer's file contents, not even to its author.

Two vendors submit offers whose parts and file names carry canaries. Then every person who is not their
author signs in and renders every page of the back-office that reads (each GET route under /app, its path
parameters filled with the procedure's own objects), first while the offers are sealed before the deadline,
then after the deadline before the opening: no canary in any page. A new page route with a path parameter this
test can't fill fails `test_every_reading_page_is_rendered`, so no page escapes the check.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_offers import CANARY_ASKERS, DEADLINE, PARTS, _canary_contract, prepared_offer, submit
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]

# Pages whose path parameters name an object this procedure doesn't have, and why no offer can show there.
NOT_OF_THIS_PROCEDURE = {
    # A funder's call and its projects: no call funds this procedure's need; they show needs and tranches,
    # never offers (the funder is among the askers on every other page).
    "/app/financements/{call_id}",
    "/app/financements/{call_id}/projets/{need_id}",
    "/app/financements/{call_id}/projets/{need_id}/decision",
    "/app/financements/{call_id}/projets/{need_id}/tranches/{position}/preuve",
    # A SONS order (purchase for account): no offer of a specific contract is ever part of it.
    "/app/sons/commandes/{order_id}",
    "/app/sons/commandes/{order_id}/demandes-de-paiement.json",
}


def reading_pages(app: Litestar) -> list[str]:
    """Every GET route of the back-office but its static files, as path templates without converters."""
    paths = set()
    for route in app.routes:
        if not route.path.startswith("/app") or route.path.startswith("/app/static"):
            continue
        if any("GET" in handler.http_methods for handler in route.route_handlers):  # type: ignore[union-attr]
            paths.add(re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
    return sorted(paths)


async def _values(settings: Settings, contract: dict[str, Any]) -> dict[str, str]:
    """The procedure's own objects, for the pages' path parameters."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        request = await conn.fetchrow("SELECT id, vendor_organisation_id FROM admission_request ORDER BY created_at "
                                      "LIMIT 1")
        document = await conn.fetchrow("SELECT id FROM admission_document WHERE request_id = $1 LIMIT 1",
                                       request["id"])
        question = await conn.fetchrow("SELECT id FROM contract_question WHERE specific_contract_id = $1 LIMIT 1",
                                       uuid.UUID(contract["id"]))
        # An offer of the procedure (a canary's author's): its receipt page, asked by everyone else.
        offer = await conn.fetchrow("SELECT id FROM offer WHERE specific_contract_id = $1 LIMIT 1",
                                    uuid.UUID(contract["id"]))
    finally:
        await conn.close()
    # `organisation_id`: the first invited vendor's (its vendor file, its organisation's page).
    # `position`: the first tranche of the need's grant (the holder's evidence of it, none yet: 404).
    values = {"contract_id": contract["id"], "need_id": contract["needId"], "dps_id": contract["dpsId"],
              "position": "1",
              "request_id": str(request["id"]),
              "document_id": str(document["id"]), "organisation_id": str(request["vendor_organisation_id"])}
    if question:
        values["question_id"] = str(question["id"])
    if offer:
        values["offer_id"] = str(offer["id"])
    return values


def _fill(template: str, values: dict[str, str]) -> str | None:
    names = re.findall(r"\{(\w+)\}", template)
    if any(name not in values for name in names):
        return None
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def test_every_reading_page_is_rendered(app: Litestar) -> None:
    """The pages the canary test can't fill are exactly those listed, with their reason."""
    values = dict.fromkeys(("contract_id", "need_id", "dps_id", "request_id", "document_id", "question_id",
                            "organisation_id", "offer_id", "position"), "x")
    unfilled = {p for p in reading_pages(app) if _fill(p, values) is None}
    assert unfilled == NOT_OF_THIS_PROCEDURE


@pytest.mark.parametrize("mode", ["centralised", "intermediation"])
async def test_no_page_shows_a_canary_before_the_opening(client: Client, world: World, clock: FrozenClock,
                                                         settings: Settings, app: Litestar, mode: str) -> None:
    contract = await _canary_contract(client, world, clock, mode)
    canaries = {person: secrets.token_hex(16) for person in ("vendor_admin", "other_vendor_admin")}
    # What the files hold, apart from their names: not even their author's pages show it.
    contents = {person: secrets.token_hex(16) for person in canaries}
    for person, canary in canaries.items():
        parts = {**PARTS, "answers": [{"criterion": "Prix", "answer": f"Prix {canary}"},
                                      {"criterion": "Valeur technique", "answer": canary}]}
        offer = await prepared_offer(client, world, contract["id"], person, parts=parts,
                                     files={f"offre-{canary}.pdf": minimal_pdf(f"contenu {canary} {contents[person]}")})
        expect(await submit(client, world, offer["id"], person), 200)
    # A question asked by a vendor, so the cockpit's Q&A is rendered with something in it.
    expect(await client.post(f"/specific-contracts/{contract['id']}/questions", headers=world["vendor_admin"].headers,
                             json={"question": "Le prix inclut-il la formation ?"}), 201)
    values = await _values(settings, contract)
    pages = [p for p in (_fill(t, values) for t in reading_pages(app)) if p]
    assert f"/app/marches/{contract['id']}" in pages and f"/app/marches/{contract['id']}/ouverture" in pages

    async def render_all(moment: str) -> int:
        rendered = 0
        for person in CANARY_ASKERS[mode]:
            web = Browser(client)
            assert (await login(web, email_of(person))).status_code == 303, person
            for page in pages:
                response = await web.get(page)
                assert response.status_code < 500, (moment, person, page, response.text[:500])
                rendered += response.status_code == 200
                leaked = [c for c in canaries.values() if c in response.text or c in response.headers.get(
                    "location", "")]
                assert not leaked, f"{moment}: {person} read a canary on {page}"
        return rendered

    before = await render_all("before the deadline")
    # The author reads its own offer's pages (its file listed by name), never the file's contents.
    author = Browser(client)
    assert (await login(author, email_of("vendor_admin"))).status_code == 303
    own_file_listed = False
    for page in pages:
        response = await author.get(page)
        assert response.status_code < 500, ("author", page, response.text[:500])
        assert not [c for c in contents.values() if c in response.text], f"the author read file contents on {page}"
        own_file_listed |= f"offre-{canaries['vendor_admin']}.pdf" in response.text
    assert own_file_listed
    clock.set(DEADLINE)
    after = await render_all("after the deadline, before the opening")
    # The askers really read pages (not only refusals): the buying side's cockpit among them.
    assert before > len(CANARY_ASKERS[mode]) and after > len(CANARY_ASKERS[mode])
