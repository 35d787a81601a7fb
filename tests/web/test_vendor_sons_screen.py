"""The vendors' SONS pages over HTTP (no browser): solutions added and withdrawn, the ASP enrolment (its IBAN masked
to its last four characters; a bad IBAN or BIC refused by name), an order drafted with its OG and facility picked
from the page's lists, the CSV import with one bad row reported by line, column and rule while the good rows are
created, the model CSV, the ASP payment requests and their JSON export; each read back through the API
(domain.md §5 with §12: SN1–SN5)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import timedelta

from marketplace.lib.clock import FrozenClock, to_paris
from marketplace.settings import Settings
from marketplace.sons.imports import COLUMNS
from tests.sons.api import IBAN, Client, dispositif, ok, sign, solution
from tests.web.pages import Browser, csrf_token, login
from tests.web.test_funding import refusal
from tests.world import World, email_of

BASE = "/app/solutions"


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def main(page: str) -> str:
    return html.unescape(page.split("<main", 1)[-1].split("</main>", 1)[0])


def import_file(world: World, number: str) -> bytes:
    """An order of the `holder` (its site by SIRET: its facility has the form's order) and one of the `other_holder`,
    then an order of the `holder` naming the other OG's facility (line 4)."""
    head = ["orderRef", "ogFinessEj", "solution", "installationScenario", "tranche", "amountHtCents", "vatRateBp",
            "amountTtcCents", "finessEt", "siret"]
    rows = [["BDC-IMP-1", "750712184", number, "on-premise", "T1", "1200000", "2000", "1440000", "", "77567227200017"],
            ["BDC-IMP-2", "970100400", number, "on-premise", "T1", "1000000", "2000", "1200000", "970100418", ""],
            ["BDC-IMP-3", "750712184", number, "on-premise", "T1", "1000000", "2000", "1200000", "970100418", ""]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([head, *rows])
    return out.getvalue().encode()


async def test_a_vendor_lists_enrols_orders_imports_and_exports_through_the_pages(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    at = clock.now()
    ms1 = await dispositif(client, world, settings, at)
    web = await signed_in(client, "vendor_admin")
    page = await web.get(BASE)
    assert page.status_code == 200, page.text[:3000]
    token = csrf_token(page.text)
    assert "Aucune solution" in main(page.text) and ms1["code"] in page.text

    # Add a solution (as POST /sons/solutions), then a second one withdrawn.
    added = await web.post(BASE, data={"_csrf_token": token, "dispositif": ms1["id"], "nom": "DUI Web",
                                       "version": "5.0", "scenarios": "on-premise, hébergé",
                                       "numero_ans": "ANS-WEB-1",
                                       "reference_le": (to_paris(at).date() - timedelta(days=10)).strftime("%d/%m/%Y")})
    assert added.status_code == 303, main(added.text)[:2000]
    second = await web.post(BASE, data={"_csrf_token": token, "dispositif": ms1["id"], "nom": "DUI Web",
                                        "version": "4.0", "scenarios": "on-premise", "dossier_le": "2026-05-01"})
    assert second.status_code == 303, main(second.text)[:2000]
    listed = {s["version"]: s for s in ok(await client.get(
        "/sons/solutions", params={"vendorOrganisationId": str(world.organisations["vendor"])},
        headers=world["vendor_admin"].headers), 200)}
    assert listed["5.0"]["referencingNumber"] == "ANS-WEB-1"
    assert listed["5.0"]["installationScenarios"] == ["on-premise", "hébergé"]
    assert listed["4.0"]["referencingNumber"] is None and listed["4.0"]["proofFileSubmittedOn"] == "2026-05-01"
    withdrawn = await web.post(f"{BASE}/{listed['4.0']['id']}/retrait", data={"_csrf_token": token})
    assert withdrawn.status_code == 303
    assert ok(await client.get(f"/sons/solutions/{listed['4.0']['id']}",
                               headers=world["vendor_admin"].headers), 200)["status"] == "withdrawn"
    text = main((await web.get(BASE)).text)
    assert "retirée" in text and "ANS-WEB-1" in text

    # The ASP enrolment: a bad IBAN and a bad BIC refused by name; a good one recorded, shown by its last four only.
    bad_iban = await web.post(f"{BASE}/inscription-asp", data={
        "_csrf_token": token, "iban": "FR7630006000011234567890188", "tva": "liable", "reference_asp": "ASP-1",
        "numero_ans": "ANS-WEB-1"})
    refusal(bad_iban, 422, "domain.md §2.6", "iban")
    bad_bic = await web.post(f"{BASE}/inscription-asp", data={
        "_csrf_token": token, "iban": IBAN, "bic": "AGRIFRP", "tva": "liable", "reference_asp": "ASP-1",
        "numero_ans": "ANS-WEB-1"})
    refusal(bad_bic, 422, "ISO 9362", "bic")
    enrolled = await web.post(f"{BASE}/inscription-asp", data={
        "_csrf_token": token, "iban": "FR76 3000 6000 0112 3456 7890 189", "bic": "AGRIFRPP", "cle_rib": "89",
        "tva": "liable", "reference_asp": "ASP-WEB-1", "numero_ans": "ANS-WEB-1"})
    assert enrolled.status_code == 303, main(enrolled.text)[:2000]
    enrolment = ok(await client.get("/sons/enrolment", headers=world["vendor_admin"].headers), 200)
    assert enrolment["iban"] == IBAN and enrolment["enrolmentReference"] == "ASP-WEB-1"
    text = main((await web.get(BASE)).text)
    assert "•••• •••• •••• 0189" in text and IBAN not in text and "30006000011234567890" not in text

    # An order: the OG and its facility picked from the page's lists (ids and FINESS ET as options, never typed).
    holder = str(world.organisations["holder"])
    form = main((await web.get(f"{BASE}/commandes", params={"og": holder, "solution": listed["5.0"]["id"]})).text)
    assert f'<option value="{holder}" selected>' in form
    assert 'name="sites" value="750000010"' in form and 'value="T1"' in form
    drafted = await web.post(f"{BASE}/commandes", data={
        "_csrf_token": token, "reference": "BDC-WEB-1", "og": holder, "solution": listed["5.0"]["id"],
        "scenario": "hébergé", "tranche": "T1", "montant_ht": "12 000,00", "tva": "2000", "sites": ["750000010"]})
    assert drafted.status_code == 303, main(drafted.text)[:2000]
    orders = {o["orderRef"]: o for o in ok(await client.get("/sons/orders", headers=world["vendor_admin"].headers),
                                           200)}
    assert drafted.headers["location"] == f"/app/sons/commandes/{orders['BDC-WEB-1']['id']}"
    assert orders["BDC-WEB-1"]["amountTtcCents"] == 1_440_000
    assert orders["BDC-WEB-1"]["sites"] == [{"finessEt": "750000010", "siret": None, "category": None}]
    # Over the tranche's ceiling: the service's refusal, by rule and field.
    refusal(await web.post(f"{BASE}/commandes", data={
        "_csrf_token": token, "reference": "BDC-WEB-2", "og": holder, "solution": listed["5.0"]["id"],
        "scenario": "hébergé", "tranche": "T1", "montant_ht": "16 000", "tva": "2000", "sites": "750000010"}),
        422, "SN1", "amountHtCents")
    assert "BDC-WEB-1" in main((await web.get(f"{BASE}/commandes")).text)

    # The model CSV: the import's columns.
    model = await web.get(f"{BASE}/import/modele.csv")
    assert model.status_code == 200 and model.headers["content-type"].startswith("text/csv")
    model_rows = list(csv.reader(io.StringIO(model.content.decode("utf-8-sig")), delimiter=";"))
    assert model_rows[0] == list(COLUMNS) and model_rows[1][2] == "ANS-WEB-1"

    # The import: line 4's site is not the OG's, named by column and rule; lines 2 and 3 are created.
    assert (await web.get(f"{BASE}/import")).status_code == 200
    report = await web.post(f"{BASE}/import", data={"_csrf_token": token},
                            files={"fichier": ("commandes.csv", import_file(world, "ANS-WEB-1"), "text/csv")})
    assert report.status_code == 200, main(report.text)[:2000]
    text = main(report.text)
    errors = text.split('id="erreurs"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"<th scope=\"row\">4</th>\s*<td>BDC-IMP-3</td>\s*<td>finessEt</td>\s*<td>domain.md §2.3</td>",
                     errors), errors
    accepted = text.split('id="acceptees"', 1)[1].split("</table>", 1)[0]
    assert "BDC-IMP-1" in accepted and "BDC-IMP-2" in accepted and "BDC-IMP-3" not in accepted
    orders = {o["orderRef"]: o for o in ok(await client.get("/sons/orders", headers=world["vendor_admin"].headers),
                                           200)}
    assert {"BDC-IMP-1", "BDC-IMP-2"} <= orders.keys() and "BDC-IMP-3" not in orders
    assert f'href="/app/sons/commandes/{orders["BDC-IMP-1"]["id"]}"' in accepted

    # The payment requests: none yet, then the advance of a signed order, listed and exported as the API's.
    assert "Aucune demande" in main((await web.get(f"{BASE}/paiements")).text)
    order_id = orders["BDC-WEB-1"]["id"]
    ok(await sign(client, world, order_id), 200)
    ok(await client.post(f"/sons/orders/{order_id}/advance", headers=world["vendor_admin"].headers), 201)
    api = ok(await client.get("/sons/payment-requests", headers=world["vendor_admin"].headers), 200)
    page = main((await web.get(f"{BASE}/paiements")).text)
    assert "BDC-WEB-1" in page and "Avance" in page and f"/paiements/{api[0]['requestId']}/document.json" in page
    every = await web.get(f"{BASE}/paiements/demandes.json")
    assert every.status_code == 200 and json.loads(every.text) == api
    one = await web.get(f"{BASE}/paiements/{api[0]['requestId']}/document.json")
    assert json.loads(one.text) == api[0]
    # Another vendor's admin does not read it (404), and reads its own (empty) space.
    other = await signed_in(client, "other_vendor_admin")
    assert (await other.get(f"{BASE}/paiements/{api[0]['requestId']}/document.json")).status_code == 404
    assert json.loads((await other.get(f"{BASE}/paiements/demandes.json")).text) == []
    assert "•••• " not in main((await other.get(BASE)).text)


async def test_a_vendor_member_reads_but_does_not_act(client: Client, world: World, settings: Settings,
                                                     clock: FrozenClock) -> None:
    at = clock.now()
    ms1 = await dispositif(client, world, settings, at)
    await solution(client, world, ms1["id"], at)
    web = await signed_in(client, "vendor_member")
    for path in (BASE, f"{BASE}/commandes", f"{BASE}/import", f"{BASE}/paiements"):
        answer = await web.get(path)
        assert answer.status_code == 200, (path, main(answer.text)[:1000])
        assert "seuls son administrateur et ses chargés d'offres y agissent" in main(answer.text)
        assert 'method="post"' not in main(answer.text)
    token = csrf_token((await web.get(BASE)).text)
    assert (await web.post(f"{BASE}/inscription-asp", data={"_csrf_token": token})).status_code == 403
    holder = await signed_in(client, "holder_admin")
    assert (await holder.get(BASE)).status_code == 403
