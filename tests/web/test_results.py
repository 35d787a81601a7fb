"""The vendor's "Suite de la procédure" page (web/results.py) in process: what each vendor reads at each stage, the
refusals its forms meet (each the service's, on the error page naming its rule), and the signed document's
download. The browser walk of the same page is tests/web/test_browser_results.py."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.awards.test_award import submitted_offers
from tests.awards.test_contract import awarded_contract, sign
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]


async def _signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def test_before_the_opening_the_page_waits_and_a_request_for_reasons_is_refused(
        client: Client, world: World, clock: FrozenClock) -> None:
    cid, _ = await submitted_offers(client, world, clock)
    web = await _signed_in(client, "other_vendor_admin")
    page = await web.get(f"/app/offres/{cid}/suite")
    assert page.status_code == 200, page.text
    assert "Votre offre n'est pas encore ouverte" in page.text
    assert "Aucune demande d'éclaircissement sur votre offre." in page.text
    assert 'action="/app/offres/' not in page.text.split('id="contrat"')[1]  # nothing to sign
    # The workspace links to it.
    assert f'href="/app/offres/{cid}/suite"' in (await web.get(f"/app/offres/{cid}")).text
    # The form's act before there is an opened offer: the service's 404, on the error page.
    refused = await web.post(f"/app/offres/{cid}/suite/motifs",
                             data={"demande": "Pourquoi ?", "_csrf_token": csrf_token(page.text)})
    assert refused.status_code == 404 and "erreur 404" in refused.text
    # The buying side has no vendor's page; a plain member of the invited vendor reads it.
    buyer = await _signed_in(client, "buyer_admin")
    assert (await buyer.get(f"/app/offres/{cid}/suite")).status_code == 403
    member = await (await _signed_in(client, "vendor_member")).get(f"/app/offres/{cid}/suite")
    assert member.status_code == 200 and "Votre offre n'est pas encore ouverte" in member.text


async def test_after_the_award_the_winner_signs_and_downloads_and_the_loser_learns_nothing_of_the_contract(
        client: Client, world: World, clock: FrozenClock) -> None:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    admin = world["buyer_admin"].headers
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                        json={"amountCents": 3_000_000}), 201)
    winner = await _signed_in(client, "vendor_admin")
    page = await winner.get(f"/app/offres/{cid}/suite")
    assert "offre retenue : vous êtes attributaire" in page.text and contract["id"] in page.text
    # D17 is for a vendor whose offer lost: the winner's request is the service's refusal (409, naming the field).
    refused = await winner.post(f"/app/offres/{cid}/suite/motifs",
                                data={"demande": "Pourquoi ?", "_csrf_token": csrf_token(page.text)})
    assert refused.status_code == 409 and "offerId" in refused.text
    # A file that is no signature at all: G16's refusal.
    bad = await winner.post(f"/app/offres/{cid}/suite/signature", data={"_csrf_token": csrf_token(page.text)},
                            files={"document": ("contrat.pdf", minimal_pdf("pas de signature"), "application/pdf")})
    assert bad.status_code in (415, 422) and "Règle <strong class=\"rule-id\">G16</strong>" in bad.text
    # The buyer signs through the API; the winner downloads the buyer's signed document from its page.
    expect(await sign(client, world, contract["id"], "buyer_admin", minimal_pdf("signé acheteur")), 201)
    download = await winner.get(f"/app/offres/{cid}/suite/signature/document?partie=buyer")
    assert download.status_code == 307 and download.headers["location"].startswith("http")
    assert (await winner.get(f"/app/offres/{cid}/suite/signature/document?partie=vendor")).status_code == 404
    # The loser reads its result, not the contract; its download is a 404.
    loser = await _signed_in(client, "other_vendor_admin")
    lost = await loser.get(f"/app/offres/{cid}/suite")
    assert "offre non retenue" in lost.text and contract["id"] not in lost.text
    assert "Demander les motifs" in lost.text
    assert (await loser.get(f"/app/offres/{cid}/suite/signature/document?partie=buyer")).status_code == 404
