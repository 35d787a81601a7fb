"""The back-office's specific contract screens over HTTP (no browser): the buying side's list, the cockpit (sealed
offers counted, never shown), its acts through the API's services, and the opening ceremony before and after the
deadline (the FrozenClock moves)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.tenders.test_offers import DEADLINE, PARTS, open_contract, prepared_offer, submit
from tests.tenders.test_publication import OPENER_PASSPHRASE
from tests.vendors.api import expect
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]
CANARY = "CANARI-7f3e-offre-scellee"
VENDOR_NAME = "Logiciels Médico-Sociaux SAS"


def offers_section(html: str) -> str:
    """The cockpit's "Offres reçues" section: never a vendor's name in it, whatever the invitee list says."""
    return html[html.find('aria-labelledby="t-offres"'):html.find('aria-labelledby="t-invites"')]


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def sealed_offer(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """A contract open until DEADLINE with one submitted offer carrying the canary in its parts."""
    contract = await open_contract(client, world, clock)
    parts = {**PARTS, "answers": [{"criterion": "Prix", "answer": CANARY},
                                  {"criterion": "Valeur technique", "answer": CANARY}]}
    offer = await prepared_offer(client, world, contract["id"], parts=parts)
    expect(await submit(client, world, offer["id"]), 200)
    return contract


async def test_the_list_shows_the_buying_sides_contracts_only(client: Client, world: World,
                                                              clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    buyer = await signed_in(client, "buyer_admin")
    page = await buyer.get("/app/marches")
    assert page.status_code == 200, page.text
    assert f'href="/app/marches/{contract["id"]}"' in page.text and contract["title"] in page.text
    assert "ouvert aux offres" in page.text and "<time datetime=" in page.text
    # Filters live in the URL: a status the contract doesn't read, a search that misses it.
    assert contract["id"] not in (await buyer.get("/app/marches?statut=cancelled")).text
    assert contract["id"] not in (await buyer.get("/app/marches?q=introuvable")).text
    assert contract["id"] in (await buyer.get(f"/app/marches?q={contract['title'][:8]}&taille=50")).text
    export = await buyer.get("/app/marches/export.csv?statut=open")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert contract["id"] in export.text and "ouvert aux offres" in export.text
    # Another buying organisation: not in its list, and its cockpit is a 404.
    other = await signed_in(client, "other_buyer_admin")
    assert contract["id"] not in (await other.get("/app/marches")).text
    refused = await other.get(f"/app/marches/{contract['id']}")
    assert refused.status_code == 404 and "introuvable" in refused.text.lower()


async def test_the_cockpit_counts_sealed_offers_and_never_shows_them(client: Client, world: World,
                                                                     clock: FrozenClock) -> None:
    contract = await sealed_offer(client, world, clock)
    cid = contract["id"]
    buyer = await signed_in(client, "buyer_admin")
    before = await buyer.get(f"/app/marches/{cid}")
    assert before.status_code == 200, before.text
    # Before the deadline: not even the count (D13); never a vendor's name nor a byte of content.
    assert 'id="offres-scellees"' in before.text and 'id="offres-recues"' not in before.text
    assert CANARY not in before.text and VENDOR_NAME not in offers_section(before.text)
    assert "Date limite de remise des offres" in before.text and "Limites de dépôt publiées" in before.text
    # The invitee list is not secret (every admitted vendor of the category is invited, D8): named from the public
    # register, the one not admitted there (third_vendor, another category) absent.
    invitees = before.text[before.text.find('aria-labelledby="t-invites"'):
                           before.text.find('aria-labelledby="t-limites"')]
    assert VENDOR_NAME in invitees and str(world.organisations["vendor"]) not in invitees
    assert str(world.organisations["third_vendor"]) not in invitees
    # After it, until the opening: the count, nothing more.
    clock.set(DEADLINE)
    buyer = await signed_in(client, "buyer_admin")  # the session's idle time ran out while the clock moved
    after = await buyer.get(f"/app/marches/{cid}")
    assert 'id="offres-recues">1<' in after.text
    assert CANARY not in after.text and VENDOR_NAME not in offers_section(after.text) and "offre.pdf" not in after.text


async def test_answering_a_question_from_the_cockpit(client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    cid = contract["id"]
    question = expect(await client.post(f"/specific-contracts/{cid}/questions", headers=world["vendor_admin"].headers,
                                        json={"question": "La reprise des données est-elle incluse ?"}), 201)
    buyer = await signed_in(client, "buyer_admin")
    page = await buyer.get(f"/app/marches/{cid}")
    assert "La reprise des données est-elle incluse ?" in page.text and "auteur anonyme" in page.text
    # The invitee list names the vendors (not secret, D8); the questions never say who asked.
    asked = page.text[page.text.find('aria-labelledby="t-questions"'):page.text.find('aria-labelledby="t-documents"')]
    assert "La reprise des données est-elle incluse ?" in asked
    assert VENDOR_NAME not in asked and str(world["vendor_admin"].user_id) not in page.text
    answered = await buyer.post(f"/app/marches/{cid}/questions/{question['id']}/reponse",
                                data={"answer": "Oui, la reprise est incluse.", "_csrf_token": csrf_token(page.text)})
    assert answered.status_code == 303 and answered.headers["location"].startswith(f"/app/marches/{cid}")
    shown = await buyer.get(answered.headers["location"])
    assert "Réponse publiée" in shown.text and "Oui, la reprise est incluse." in shown.text
    # Read back through the API, as a vendor sees it.
    listed = expect(await client.get(f"/specific-contracts/{cid}/questions", headers=world["vendor_admin"].headers),
                    200)
    assert [q["answer"] for q in listed] == ["Oui, la reprise est incluse."]


async def test_declaring_sans_suite_with_reasons(client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    cid = contract["id"]
    buyer = await signed_in(client, "buyer_admin")
    page = await buyer.get(f"/app/marches/{cid}")
    token = csrf_token(page.text)
    # Without reasons: refused, nothing changed.
    empty = await buyer.post(f"/app/marches/{cid}/sans-suite", data={"reasons": "", "_csrf_token": token})
    assert empty.status_code == 400
    assert expect(await client.get(f"/specific-contracts/{cid}", headers=world["buyer_admin"].headers),
                  200)["status"] == "open"
    declared = await buyer.post(f"/app/marches/{cid}/sans-suite",
                                data={"reasons": "Besoin redéfini par l'établissement.", "_csrf_token": token})
    assert declared.status_code == 303
    shown = await buyer.get(declared.headers["location"])
    assert "déclaré sans suite" in shown.text and "sans suite" in shown.text
    assert expect(await client.get(f"/specific-contracts/{cid}", headers=world["buyer_admin"].headers),
                  200)["status"] == "cancelled"
    # Once cancelled it moves no further: declaring again is refused by the service, its reason shown.
    again = await buyer.post(f"/app/marches/{cid}/sans-suite",
                             data={"reasons": "Encore.", "_csrf_token": token})
    assert again.status_code == 409 and "erreur 409" in again.text


async def test_the_opening_ceremony_before_and_after_the_deadline(client: Client, world: World,
                                                                 clock: FrozenClock) -> None:
    contract = await sealed_offer(client, world, clock)
    cid = contract["id"]
    key = world.opener_keys["buyer_admin"]
    buyer = await signed_in(client, "buyer_admin")
    before = await buyer.get(f"/app/marches/{cid}/ouverture")
    assert before.status_code == 200, before.text
    assert 'id="ouverture-possible"' in before.text and 'id="ceremonie"' not in before.text
    assert 'type="password"' not in before.text
    # A POST before the deadline all the same: the service refuses it, and the page says why.
    early = await buyer.post(f"/app/marches/{cid}/ouverture", data={
        f"passphrase-{key}": OPENER_PASSPHRASE, "_csrf_token": csrf_token(before.text)})
    assert early.status_code == 403
    assert "before-deadline" in early.text, early.text[early.text.find("<main"):]
    assert "The offers open at the deadline" in early.text
    assert expect(await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_admin"].headers),
                  403)["rule"] == "D13"

    clock.set(DEADLINE)
    buyer = await signed_in(client, "buyer_admin")
    form = await buyer.get(f"/app/marches/{cid}/ouverture")
    assert 'id="ceremonie"' in form.text and f'name="passphrase-{key}" type="password" autocomplete="off"' in form.text
    assert "(votre clé)" in form.text
    wrong = await buyer.post(f"/app/marches/{cid}/ouverture", data={
        f"passphrase-{key}": "pas la bonne phrase", "_csrf_token": csrf_token(form.text)})
    assert wrong.status_code == 403 and "not-enough-openers" in wrong.text
    opened = await buyer.post(f"/app/marches/{cid}/ouverture", data={
        f"passphrase-{key}": OPENER_PASSPHRASE, "_csrf_token": csrf_token(form.text)})
    assert opened.status_code == 303, opened.text
    record_page = await buyer.get(opened.headers["location"])
    assert "Plis ouverts le" in record_page.text and 'id="proces-verbal"' in record_page.text
    assert "vérifiée" in record_page.text and "intègre : empreinte identique" in record_page.text
    record = expect(await client.get(f"/specific-contracts/{cid}/opening", headers=world["buyer_admin"].headers), 200)
    for offer in record["document"]["offers"]:
        assert offer["offer"] in record_page.text
        for f in offer["files"]:
            assert f["sha256"] in record_page.text
    assert record["openedAtParis"] in record_page.text
    assert str(world["buyer_admin"].user_id) in record_page.text


async def test_the_central_purchasing_body_following_a_procedure_cannot_open_it(
        client: Client, world: World, clock: FrozenClock) -> None:
    """HC2: in intermediation the holder buys; the CPB that follows is refused, the rule named on the page."""
    from tests.awards.test_intermediation import intermediated_contract  # type: ignore[attr-defined]

    contract = await intermediated_contract(client, world, clock)
    clock.set(DEADLINE)
    cpb = await signed_in(client, "buyer_admin")
    listed = await cpb.get("/app/marches")
    assert contract["id"] in listed.text and "suivi (HC2)" in listed.text
    page = await cpb.get(f"/app/marches/{contract['id']}")
    refused = await cpb.post(f"/app/marches/{contract['id']}/ouverture", data={
        "passphrase-00000000-0000-0000-0000-000000000000": "une phrase quelconque",
        "_csrf_token": csrf_token(page.text)})
    assert refused.status_code == 403, refused.text[refused.text.find("<main"):]
    assert "HC2" in refused.text


async def test_a_pure_opener_opens_through_the_page_after_the_deadline(client: Client, world: World,
                                                                       clock: FrozenClock) -> None:
    """A person whose only role is buyer:opener: the API's opening audience (OPENERS). The page reads what the
    ceremony needs (title, deadline, status, the keys sealed for it), not the contract: the cockpit stays closed."""
    contract = await open_contract(client, world, clock, openers=("buyer_opener",))
    offer = await prepared_offer(client, world, contract["id"])
    expect(await submit(client, world, offer["id"]), 200)
    cid = contract["id"]
    key = world.opener_keys["buyer_opener"]
    opener = await signed_in(client, "buyer_opener")
    before = await opener.get(f"/app/marches/{cid}/ouverture")
    assert before.status_code == 200, before.text[before.text.find("<main"):]
    assert contract["title"] in before.text and 'id="ouverture-possible"' in before.text
    assert (await opener.get(f"/app/marches/{cid}")).status_code == 403  # not a reader of the whole contract
    # Another buying organisation doesn't learn the contract exists; the holder's member reads nothing before the
    # opening (as GET …/opening).
    assert (await (await signed_in(client, "other_buyer_admin")).get(f"/app/marches/{cid}/ouverture")).status_code \
        == 404
    assert (await (await signed_in(client, "holder_member")).get(f"/app/marches/{cid}/ouverture")).status_code \
        == 404

    clock.set(DEADLINE)
    opener = await signed_in(client, "buyer_opener")
    listed = await opener.get("/app/marches")
    assert f'href="/app/marches/{cid}/ouverture"' in listed.text
    form = await opener.get(f"/app/marches/{cid}/ouverture")
    assert form.status_code == 200 and 'id="ceremonie"' in form.text and "(votre clé)" in form.text
    assert f'name="passphrase-{key}"' in form.text
    opened = await opener.post(f"/app/marches/{cid}/ouverture", data={
        f"passphrase-{key}": OPENER_PASSPHRASE, "_csrf_token": csrf_token(form.text)})
    assert opened.status_code == 303, opened.text[opened.text.find("<main"):]
    record_page = await opener.get(opened.headers["location"])
    assert "Plis ouverts le" in record_page.text and 'id="proces-verbal"' in record_page.text
    assert offer["id"] in record_page.text and "vérifiée" in record_page.text
    # Read back through the API: opened by the opener alone.
    record = expect(await client.get(f"/specific-contracts/{cid}/opening", headers=world["buyer_admin"].headers), 200)
    assert record["document"]["openedBy"] == [str(world["buyer_opener"].user_id)]
    assert [o["offer"] for o in record["document"]["offers"]] == [offer["id"]]
    # Once opened, the holder's member reads the record (HC3), and has nothing to open.
    holder = await (await signed_in(client, "holder_member")).get(f"/app/marches/{cid}/ouverture")
    assert holder.status_code == 200 and 'id="proces-verbal"' in holder.text and 'type="password"' not in holder.text
