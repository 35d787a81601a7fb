"""The SONS order's acts for its OG and its vendor through the order file's forms (no browser), each read back
through the API (domain.md §5 with §12): the OG signs its order (the signed PDF checked, G16, its report shown), the
vendor files the advance, the ASP's statuses are recorded, the vendor amends the advance and declares the deployment,
the OG signs its VA, the vendor files the balance with its Factur-X invoice. Each form is shown only to who may do it
and when §12's machine allows it; each refusal is the error page naming its rule; the OG's list is headed by the
orders awaiting its signature."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import (
    SIGNATORY,
    TTC,
    Client,
    asp,
    dispositif,
    draft,
    facturx,
    ok,
    request_of,
    signed,
    solution,
)
from tests.vendors.api import minimal_pdf
from tests.web.pages import Browser, csrf_token
from tests.web.test_funding import refusal
from tests.web.test_sons_screen import signed_in
from tests.world import World

STEP = timedelta(minutes=5)
FORMS = ("form-signature", "form-avance", "form-deploiement", "form-va", "form-solde", "form-avenant")


def forms(page: str) -> set[str]:
    """The act forms the page offers."""
    return {f for f in FORMS if f'id="{f}"' in page}


def awaited(page: str) -> str:
    section = html.unescape(page).split('id="attendu"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)).strip()


async def api_order(client: Client, world: World, order_id: str) -> dict[str, Any]:
    return dict(ok(await client.get(f"/sons/orders/{order_id}", headers=world["platform_admin"].headers), 200))


async def file_page(web: Browser, order_id: str) -> str:
    page = await web.get(f"/app/sons/commandes/{order_id}")
    assert page.status_code == 200, page.text[:1500]
    return page.text


async def post_form(web: Browser, order_id: str, act: str, *, data: dict[str, str] | None = None,
                    files: dict[str, tuple[str, bytes, str]] | None = None, clock: FrozenClock | None = None) -> Any:
    token = csrf_token(await file_page(web, order_id))
    if clock is not None:
        clock.advance(STEP)  # each act at its own instant: the timeline orders them
    return await web.post(f"/app/sons/commandes/{order_id}/{act}", data={"_csrf_token": token, **(data or {})},
                          files=files)


async def test_the_og_and_the_vendor_act_on_an_order_through_its_file(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    sol = await solution(client, world, found["id"], start)
    order = ok(await draft(client, world, sol["id"]), 201)
    oid = order["id"]
    holder, vendor = await signed_in(client, "holder_admin"), await signed_in(client, "vendor_admin")
    member, other = await signed_in(client, "holder_member"), await signed_in(client, "other_holder_admin")

    # The OG's list is headed by the order awaiting its signature; the vendor's is not (nothing for it to do).
    listing = html.unescape((await holder.get("/app/sons")).text)
    assert 'id="a-faire"' in listing and "signer le bon de commande" in listing
    assert listing.index('id="a-faire"') < listing.index('id="commandes"')
    assert 'id="a-faire"' not in (await vendor.get("/app/sons")).text

    # A draft: the OG's admin signs; its plain member and the vendor read the file without the form.
    page = await file_page(holder, oid)
    assert forms(page) == {"form-signature"}
    assert "Attendu de l'OG : la signature du bon de commande" in awaited(page)
    assert forms(await file_page(member, oid)) == set() and forms(await file_page(vendor, oid)) == set()
    assert "Aide sur cette page" in page and "Historique de la commande" in page

    # Refusals, each naming its rule: an unsigned PDF (G16), no file, no method; the vendor (403), another OG (404).
    form = {"signataire": SIGNATORY, "qualite": "Directrice", "methode": "pro_sante_connect"}
    unsigned = await post_form(holder, oid, "signature", data=form,
                               files={"document": ("bdc.pdf", minimal_pdf("non signé"), "application/pdf")})
    refusal(unsigned, 415, "G16", "body")
    refusal(await post_form(holder, oid, "signature", data=form), 422, "G16", "body")
    refusal(await post_form(holder, oid, "signature", data={**form, "methode": ""},
                            files={"document": ("bdc.pdf", signed(f"BDC {oid}"), "application/pdf")}),
            422, "§5.3", "method")
    token = csrf_token(await file_page(vendor, oid))
    assert (await vendor.post(f"/app/sons/commandes/{oid}/signature", data={"_csrf_token": token, **form},
                              files={"document": ("bdc.pdf", signed(f"BDC {oid}"), "application/pdf")})
            ).status_code == 403
    token = csrf_token((await other.get("/app/sons")).text)
    assert (await other.post(f"/app/sons/commandes/{oid}/signature", data={"_csrf_token": token, **form},
                             files={"document": ("bdc.pdf", signed(f"BDC {oid}"), "application/pdf")})
            ).status_code == 404
    assert (await api_order(client, world, oid))["status"] == "draft"

    # The OG signs: the API reads the signature, the page shows its verification report.
    answer = await post_form(holder, oid, "signature", data=form, clock=clock,
                             files={"document": ("bdc.pdf", signed(f"BDC {oid}"), "application/pdf")})
    assert answer.status_code == 303, html.unescape(answer.text)[:1500]
    read = await api_order(client, world, oid)
    assert read["status"] == "signed"
    assert (read["signature"]["signatoryName"], read["signature"]["signatoryRole"], read["signature"]["method"]) \
        == (SIGNATORY, "Directrice", "pro_sante_connect")
    page = html.unescape(await file_page(holder, oid))
    assert "Vérification des signatures (G16)" in page and read["signature"]["sha256"] in page
    assert ">valide</span>" in page and "Pro Santé Connect" in page
    assert "Bon de commande signé : signature valide (G16)" in page  # the flash message
    assert forms(page) == set() and "Attendu de l'éditeur : le dépôt de la demande d'avance" in awaited(page)

    # The vendor files the advance (its list now heads with it; the OG's has nothing left); the OG cannot (403).
    assert "déposer la demande d'avance" in html.unescape((await vendor.get("/app/sons")).text).split(
        'id="a-faire"', 1)[1].split("</section>", 1)[0]
    assert 'id="a-faire"' not in (await holder.get("/app/sons")).text
    assert forms(await file_page(vendor, oid)) == {"form-avance"}
    token = csrf_token(await file_page(holder, oid))
    assert (await holder.post(f"/app/sons/commandes/{oid}/avance", data={"_csrf_token": token})).status_code == 403
    assert (await post_form(vendor, oid, "avance", clock=clock)).status_code == 303
    read = await api_order(client, world, oid)
    advance = request_of(read, "advance")
    assert (read["status"], advance["amountCents"]) == ("advance_requested", TTC * 3000 // 10_000)
    page = await file_page(vendor, oid)
    assert forms(page) == set() and "Attendu de l'ASP" in awaited(page)
    # Deploying before the advance is paid: the machine refuses it by name (SN5).
    refusal(await post_form(vendor, oid, "deploiement"), 409, "SN5", "status")

    # The ASP sends it back: the vendor files it again from the page; then validated and paid.
    clock.advance(STEP)
    ok(await asp(client, world, advance["id"], "TO_MODIFY", note="RIB illisible"), 200)
    page = await file_page(vendor, oid)
    assert f"/app/sons/demandes-asp/{advance['id']}/nouveau-depot" in page
    assert f"/app/sons/demandes-asp/{advance['id']}/nouveau-depot" not in await file_page(holder, oid)
    clock.advance(STEP)
    again = await vendor.post(f"/app/sons/demandes-asp/{advance['id']}/nouveau-depot",
                              data={"_csrf_token": csrf_token(page)})
    assert again.status_code == 303
    assert (await api_order(client, world, oid))["status"] == "advance_requested"
    clock.advance(STEP)
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    clock.advance(STEP)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)

    # Paid: the vendor deploys and may amend; an amendment past the TTC is refused (SN5).
    assert forms(await file_page(vendor, oid)) == {"form-deploiement", "form-avenant"}
    refusal(await post_form(vendor, oid, "avenants", data={"montant": "15 000,00"}), 422, "SN5", "amountCents")
    assert (await post_form(vendor, oid, "avenants", data={"montant": "100,00"}, clock=clock)).status_code == 303
    amendment = request_of(await api_order(client, world, oid), "amendment", 1)
    assert (amendment["amountCents"], amendment["status"]) == (10_000, "REQUESTED")
    assert (await post_form(vendor, oid, "deploiement", clock=clock)).status_code == 303
    read = await api_order(client, world, oid)
    assert read["status"] == "deployed" and read["deployedAt"]

    # The OG signs its VA (the MS1 dispositif asks for its MSS case, SN6); its list heads with it.
    assert "signer la vérification d'aptitude" in html.unescape((await holder.get("/app/sons")).text)
    page = await file_page(holder, oid)
    assert forms(page) == {"form-va"} and "Attendu de l'OG : la signature de la vérification" in awaited(page)
    va = {"document": ("va.pdf", signed(f"VA {oid}"), "application/pdf")}
    refusal(await post_form(holder, oid, "va", data={"signataire": SIGNATORY}, files=va), 422, "SN6", "mssCase")
    assert (await post_form(holder, oid, "va", data={"signataire": SIGNATORY, "cas_mss": "CAS_1"}, clock=clock,
                            files={"document": ("va.pdf", signed(f"VA {oid}"), "application/pdf")})
            ).status_code == 303
    read = await api_order(client, world, oid)
    assert (read["status"], read["acceptance"]["mssCase"], read["acceptance"]["signatoryName"]) == (
        "accepted", "CAS_1", SIGNATORY)

    # The balance waits for the amendment (SN5), then goes with its invoice.
    invoice = {"facture": ("facture.pdf", facturx(), "application/pdf")}
    refusal(await post_form(vendor, oid, "solde", data={"cas_mss": "CAS_1"}, files=invoice), 409, "SN5", "status")
    clock.advance(STEP)
    ok(await asp(client, world, amendment["id"], "VALIDATED"), 200)
    clock.advance(STEP)
    ok(await asp(client, world, amendment["id"], "DECIDED_PAID"), 200)
    assert (await post_form(vendor, oid, "solde", data={"cas_mss": "CAS_1"}, clock=clock,
                            files={"facture": ("facture.pdf", facturx(), "application/pdf")})).status_code == 303
    read = await api_order(client, world, oid)
    assert read["status"] == "balance_requested" and request_of(read, "balance")["invoice"]["grandTotalCents"] == TTC

    # The timeline tells it all, in order; what is awaited now is the ASP's.
    page = html.unescape(await file_page(holder, oid))
    steps = page.split('id="historique"', 1)[1].split("</section>", 1)[0]
    order_of = [steps.index(s) for s in ("bon de commande rédigé", "bon de commande signé par",
                                         "demande d'avance : à modifier", "demande d'avance déposée à nouveau",
                                         "demande d'avance : décidée et payée", "solution déclarée déployée",
                                         "vérification d'aptitude (VA) signée par", "demande de solde déposée")]
    assert order_of == sorted(order_of)
    assert "Attendu de l'ASP" in awaited(page) and forms(page) == set()
