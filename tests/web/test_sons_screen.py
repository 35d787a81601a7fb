"""The SONS orders screens over HTTP (no browser): the operator's list with its filters, its counts by status (the
chart's hidden table, the same numbers as GET /sons/reports/orders) and its CSV export; a funder's view of its region
only (as the API answers); an ASP status recorded and an order cancelled through the forms, each read back through
the API, each refusal shown with its status, rule and field (domain.md §5, §12: SN5)."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import Client, dispositif, draft, ok, request_of, sign, solution
from tests.sons.test_reports import known_orders
from tests.web.pages import Browser, csrf_token, login
from tests.web.test_funding import refusal
from tests.world import World, email_of


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def listed(page: str) -> list[str]:
    """The order references in the list's table, in order."""
    return re.findall(r'<th scope="row"><a href="/app/sons/commandes/[0-9a-f-]+">([^<]+)</a></th>', page)


def hidden_counts(page: str) -> dict[str, int]:
    """The chart's visually hidden table: status key → count."""
    table = page.split('id="repartition-statuts"', 1)[1].split("</table>", 1)[0]
    return {key: int(n) for key, n in re.findall(
        r'<tr data-statut="([a-z_]+)"><th scope="row">[^<]+</th><td>(\d+)</td></tr>', table)}


async def orders_by_ref(client: Client, world: World) -> dict[str, dict[str, Any]]:
    return {o["orderRef"]: o for o in ok(await client.get("/sons/orders",
                                                          headers=world["platform_admin"].headers), 200)}


async def test_the_operator_lists_filters_counts_and_exports_the_orders(
        client: Client, world: World, settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    await known_orders(client, world, settings, clock, tmp_path)
    web = await signed_in(client, "platform_admin")

    page = await web.get("/app/sons")
    assert page.status_code == 200, page.text[:800]
    text = html.unescape(page.text)
    # By deployment deadline: B1 (MS2, 20 days) first, then the MS1 orders by reference.
    assert listed(text) == ["B1", "A1", "A2", "A3"]
    assert "déploiement dans les 30 jours" in text and "avance payée" in text
    # The chart's hidden table carries the API report's numbers.
    report = ok(await client.get("/sons/reports/orders", params={"by": "status"},
                                 headers=world["platform_admin"].headers), 200)
    assert hidden_counts(text) == {**{r["key"]: r["orders"] for r in report["rows"]},
                                   "total": report["total"]["orders"]} == {"advance_paid": 1, "draft": 3, "total": 4}
    assert '<svg role="img" aria-labelledby="graphique-titre graphique-desc"' in text

    async def refs(**params: str) -> list[str]:
        answer = await web.get("/app/sons", params=params)
        assert answer.status_code == 200, html.unescape(answer.text).split('<main', 1)[-1][:1500]
        return listed(html.unescape(answer.text))

    assert await refs(dispositif="MS2-DUI-PDE") == ["B1"]
    assert await refs(vague="1", tri="ref") == ["A1", "A2", "A3"]
    assert await refs(region="11") == ["A1"]
    assert await refs(region="unknown", tri="ref") == ["A2", "B1"]
    assert await refs(statut_asp="DECIDED_PAID") == ["A1"]
    # Equal amounts (A3, B1: 12 000 € TTC) fall back on the reference.
    assert await refs(statut_asp="NONE", tri="ttc", ordre="desc") == ["A2", "A3", "B1"]
    assert await refs(risque="echeance") == ["B1"]
    assert await refs(risque="a-modifier") == []
    assert await refs(statut_asp="TO_MODIFY") == []
    assert await refs(editeur=str(world.organisations["other_vendor"])) == ["A3"]
    assert await refs(og=str(world.organisations["other_holder"])) == ["A3"]
    assert await refs(q="a3") == ["A3"]
    # As the form sends it without JavaScript: every field, the empty ones meaning "all".
    assert await refs(dispositif="", vague="", editeur="", og="", region="11", statut_asp="", risque="", q="",
                      taille="25", tri="deadline", ordre="asc") == ["A1"]
    assert await refs(tri="ref", taille="2") == ["A1", "A2"]
    assert await refs(tri="ref", taille="2", page="2") == ["A3", "B1"]
    # An unknown filter value is refused (400), never ignored.
    assert (await web.get("/app/sons", params={"risque": "bientot"})).status_code == 400

    export = await web.get("/app/sons/export.csv", params={"vague": "1", "tri": "ref"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Identifiant", "Référence", "Éditeur"]
    assert [r[1] for r in rows[1:]] == ["A1", "A2", "A3"]
    a1 = rows[1]
    assert a1[8:13] == ["avance payée", "décidée et payée", "12000,00", "14400,00", "4320,00"]

    # The report CSV is the API's own.
    assert (await web.get("/app/sons/rapport.csv")).text == (await client.get(
        "/sons/reports/orders", params={"by": "status", "format": "csv"},
        headers=world["platform_admin"].headers)).text


async def test_a_funder_sees_the_orders_of_its_region_only(
        client: Client, world: World, settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    await known_orders(client, world, settings, clock, tmp_path)
    every = await orders_by_ref(client, world)

    funder = await signed_in(client, "funder_admin")
    page = html.unescape((await funder.get("/app/sons")).text)
    assert listed(page) == ["A1"]
    assert hidden_counts(page) == {"advance_paid": 1, "total": 1}
    file = await funder.get(f"/app/sons/commandes/{every['A1']['id']}")
    assert file.status_code == 200 and "Commande SONS A1" in file.text
    # Read-only: no act form on the file.
    assert "Enregistrer le statut" not in file.text and "Annuler la commande" not in file.text
    for other in ("A2", "A3", "B1"):
        assert (await funder.get(f"/app/sons/commandes/{every[other]['id']}")).status_code == 404
        assert (await client.get(f"/sons/orders/{every[other]['id']}",
                                 headers=world["funder_admin"].headers)).status_code == 404
    assert (await funder.get(f"/app/sons/commandes/{every['A3']['id']}/demandes-de-paiement.json")).status_code == 404

    bretagne = await signed_in(client, "other_funder_admin")
    assert listed(html.unescape((await bretagne.get("/app/sons")).text)) == []
    assert (await bretagne.get(f"/app/sons/commandes/{every['A1']['id']}")).status_code == 404
    export = await bretagne.get("/app/sons/export.csv")
    assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 1  # the header only


async def test_the_operator_records_asp_statuses_and_cancels_through_the_forms(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    at = clock.now()
    ms1 = await dispositif(client, world, settings, at)
    sol = await solution(client, world, ms1["id"], at)
    order = ok(await draft(client, world, sol["id"]), 201)
    ok(await sign(client, world, order["id"]), 200)
    advance = request_of(ok(await client.post(f"/sons/orders/{order['id']}/advance",
                                              headers=world["vendor_admin"].headers), 201), "advance")
    page_url = f"/app/sons/commandes/{order['id']}"
    action = f"/app/sons/demandes-asp/{advance['id']}/statuts"

    web = await signed_in(client, "platform_admin")
    page = await web.get(page_url)
    assert page.status_code == 200, page.text[:800]
    text = html.unescape(page.text)
    for shown in ("FINESS ET 750000010", "12\u202f000,00 €", "14\u202f400,00 €", "15\u202f000,00 €",
                  "Avance — 4\u202f320,00 €", "Statut actuel : <span class=\"badge\">déposée</span>"):
        assert shown in text, shown
    # SN5: from REQUESTED the form offers what the machine allows, not DECIDED_PAID (a validated advance first).
    options = re.findall(r'<option value="([A-Z_]+)">', text.split(action, 1)[1].split("</form>", 1)[0])
    assert options == ["INCOMPLETE", "TO_MODIFY", "VALIDATED", "REJECTED"]
    token = csrf_token(page.text)

    answer = await web.post(action, data={"_csrf_token": token, "status": "VALIDATED", "note": "Dossier complet."})
    assert answer.status_code == 303 and answer.headers["location"] == page_url
    shown = html.unescape((await web.get(page_url)).text)
    assert "Statut ASP enregistré : validée." in shown and "Dossier complet." in shown
    read = ok(await client.get(f"/sons/orders/{order['id']}", headers=world["platform_admin"].headers), 200)
    assert read["status"] == "advance_validated"
    assert [e["status"] for e in request_of(read, "advance")["history"]] == ["REQUESTED", "VALIDATED"]

    # A move the SN5 machine forbids is refused by the service, with its rule and field.
    refusal(await web.post(action, data={"_csrf_token": token, "status": "INCOMPLETE"}), 409, "SN5", "status")
    refusal(await web.post(action, data={"_csrf_token": token, "status": "DECIDED_PAID", "paye": "beaucoup"}),
            422, "SN5", "paidCents")
    answer = await web.post(action, data={"_csrf_token": token, "status": "DECIDED_PAID", "paye": "4 320,00"})
    assert answer.status_code == 303
    read = ok(await client.get(f"/sons/orders/{order['id']}", headers=world["platform_admin"].headers), 200)
    assert (read["status"], read["paidCents"], request_of(read, "advance")["paidCents"]) == (
        "advance_paid", 432_000, 432_000)

    # Only the operator acts: the vendor's admin, who reads the order, is refused by the role guard.
    vendor = await signed_in(client, "vendor_admin")
    vendor_page = await vendor.get(page_url)
    assert vendor_page.status_code == 200 and "Annuler la commande" not in vendor_page.text
    assert (await vendor.post(f"{page_url}/annulation", data={"_csrf_token": csrf_token(vendor_page.text),
                                                              "sworn_statement": "Non."})).status_code == 403

    # Cancel: the sworn statement is required (as the API's body), then the order is cancelled, the advance owed.
    refusal(await web.post(f"{page_url}/annulation", data={"_csrf_token": token, "sworn_statement": "  "}),
            422, "§5.3", "swornStatement")
    answer = await web.post(f"{page_url}/annulation", data={
        "_csrf_token": token, "sworn_statement": "L'éditeur renonce : changement de solution.",
        "client_renunciation": "on"})
    assert answer.status_code == 303
    shown = html.unescape((await web.get(page_url)).text)
    assert "La commande est annulée ; 4320,00 € à recouvrer." in shown
    assert "L'éditeur renonce : changement de solution." in shown and "Annuler la commande" not in shown
    read = ok(await client.get(f"/sons/orders/{order['id']}", headers=world["platform_admin"].headers), 200)
    assert (read["status"], read["recoveryCents"], read["swornStatement"]) == (
        "cancelled", 432_000, "L'éditeur renonce : changement de solution.")
    refusal(await web.post(f"{page_url}/annulation", data={"_csrf_token": token, "sworn_statement": "Encore."}),
            409, "SN5", "status")

    # The payment requests' JSON is the API's export of this order.
    exported = await web.get(f"{page_url}/demandes-de-paiement.json")
    assert exported.status_code == 200
    assert exported.json() == ok(await client.get("/sons/payment-requests", params={"orderId": order["id"]},
                                                  headers=world["platform_admin"].headers), 200)
