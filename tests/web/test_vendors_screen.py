"""The back-office's Vendors and referencing screens (marketplace/web/vendors.py) over HTTP, in process: the buyer's
list of its DPS's vendors with filters and the CSV register, one vendor's file with its Ségur solutions and its ASP
enrolment (the IBAN masked), and the sanctions, read back through the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock, to_paris
from marketplace.settings import Settings
from tests.sons.api import IBAN, dispositif, ok, solution
from tests.vendors.api import apply, categories_by_pair, dps_body, expect, minimal_pdf, open_dps, upload
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]

VENDOR = "Logiciels Médico-Sociaux SAS"
OTHER_VENDOR = "Éditions Santé Numérique"
THIRD_VENDOR = "Atelier Logiciel Domicile SARL"


async def _submitted(client: Client, world: World, clock: FrozenClock, person: str, category: str,
                     insurance_days: int = 400) -> dict[str, Any]:
    request = await apply(client, world[person], category)
    expect(await upload(client, world[person], request["id"], "kbis", minimal_pdf(f"{person} kbis")), 201)
    ends = (to_paris(clock.now()) + timedelta(days=insurance_days)).date().isoformat()
    expect(await upload(client, world[person], request["id"], "insurance", minimal_pdf(f"{person} insurance"),
                        valid_until=ends), 201)
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world[person].headers), 200)
    return request


async def _scene(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """The buyer's active DPS: `vendor` admitted (its insurance ends in 20 days), `other_vendor` under evaluation;
    another buying organisation's DPS with `third_vendor`'s request."""
    dps = await open_dps(client, world, clock)
    categories = list(categories_by_pair(dps).values())
    mine = await _submitted(client, world, clock, "vendor_admin", categories[0], insurance_days=20)
    expect(await client.post(f"/admission-requests/{mine['id']}/admit", headers=world["buyer_admin"].headers), 200)
    theirs = await _submitted(client, world, clock, "other_vendor_admin", categories[1])
    other = expect(await client.post("/dps", headers=world["other_buyer_admin"].headers,
                                     json=dps_body(clock.now(), title="SAD du groupement régional")), 201)
    expect(await client.post(f"/dps/{other['id']}/publish", headers=world["other_buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    foreign = await _submitted(client, world, clock, "third_vendor_admin", other["categories"][0]["id"])
    return {"dps": dps, "categories": categories, "mine": mine, "theirs": theirs, "other": other,
            "foreign": foreign}


async def _signed_in(client: Client, person: str = "buyer_admin") -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r'<th scope="row"><a href="/app/editeurs/[^"]+">([^<]+)</a>', body)


async def test_the_list_shows_the_buyers_vendors_with_filters_and_the_csv_register(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = await _signed_in(client)
    page = await web.get("/app/editeurs")
    assert page.status_code == 200, page.text
    html = page.text
    assert _rows(html) == [VENDOR, OTHER_VENDOR]  # by name
    assert THIRD_VENDOR not in html and "SAD du groupement régional" not in html
    assert "SIRET 44306184100047" in html and "SIRET valide" in html
    assert "2 éditeur(s)" in html and 'aria-current="page">Éditeurs' in html.replace("\n", "")
    # The admitted vendor's insurance ends within 30 days: counted, with its date.
    ends = (to_paris(clock.now()) + timedelta(days=20)).date().strftime("%d/%m/%Y")
    assert "1 pièce(s)" in html and f"première le {ends}" in html
    assert ">admis<" in html and "en cours d&#39;évaluation" in html

    # Filters in the URL: status, search (name or SIRET), category.
    assert _rows((await web.get("/app/editeurs", params={"statut": "admitted"})).text) == [VENDOR]
    assert _rows((await web.get("/app/editeurs", params={"q": "santé"})).text) == [OTHER_VENDOR]
    assert _rows((await web.get("/app/editeurs", params={"q": "38012986"})).text) == [OTHER_VENDOR]
    by_category = await web.get("/app/editeurs", params={"categorie": scene["categories"][1]})
    assert _rows(by_category.text) == [OTHER_VENDOR]
    paged = await web.get("/app/editeurs", params={"taille": 1, "page": 2})
    assert _rows(paged.text) == [OTHER_VENDOR] and "page 2 sur 2" in paged.text
    unknown = await web.get("/app/editeurs", params={"statut": "nonsense"})
    assert unknown.status_code == 422 and "status: one of" in unknown.text

    # The CSV register of the current filter: every page, one line per vendor × category.
    export = await web.get("/app/editeurs/export.csv", params={"statut": "admitted"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Éditeur", "SIREN", "SIRET"]
    assert [(r[0], r[6], r[12]) for r in rows[1:]] == [(VENDOR, "admis", "1")]
    everything = await web.get("/app/editeurs/export.csv")
    names = [r[0] for r in csv.reader(io.StringIO(everything.content.decode("utf-8-sig")), delimiter=";")][1:]
    assert names == [VENDOR, OTHER_VENDOR]

    # Another buyer sees its own vendor only; a vendor's member is no DPS writer (403), like the API's queue.
    other = (await (await _signed_in(client, "other_buyer_admin")).get("/app/editeurs")).text
    assert _rows(other) == [THIRD_VENDOR]
    vendor_page = await (await _signed_in(client, "vendor_admin")).get("/app/editeurs")
    assert vendor_page.status_code == 403


async def test_the_vendor_file_masks_the_iban_and_suspends_through_the_service(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    scene = await _scene(client, world, clock)
    vendor_id = str(world.organisations["vendor"])
    # The vendor's Ségur solution and its ASP enrolment, through the SONS API.
    found = await dispositif(client, world, settings, clock.now())
    listed = await solution(client, world, found["id"], clock.now())
    ok(await client.post("/sons/enrolments", headers=world["vendor_admin"].headers, json={
        "iban": IBAN, "vatStatus": "liable", "enrolmentReference": "ASP-ENR-7",
        "referencingNumber": listed["referencingNumber"]}), 201)

    web = await _signed_in(client)
    page = await web.get(f"/app/editeurs/{vendor_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f"<h1>{VENDOR}</h1>" in html and "clé de contrôle valide" in html
    assert listed["referencingNumber"] in html and "MS1-DUI-PA-PH-DOM, vague 1" in html and "4.2" in html
    assert "ASP-ENR-7" in html and "enrôlé" in html and "IBAN contrôlé" in html
    # The IBAN masked: its last four characters only, never the whole, nor any longer part of it.
    assert '<span class="iban-end">0189</span>' in html
    assert IBAN not in html and IBAN[:8] not in html and IBAN[-8:] not in html
    assert "expire sous 30 jours" in html and scene["dps"]["title"] in html

    # Suspend through the form: a blank reason is refused by name; with reasons the API reads it suspended.
    token = csrf_token(html)
    act = f"/app/editeurs/{vendor_id}/admissions/{scene['mine']['id']}/suspendre"
    blank = await web.post(act, data={"_csrf_token": token, "reasons": "  "})
    assert blank.status_code == 422 and "reasons" in blank.text
    done = await web.post(act, data={"_csrf_token": token, "reasons": "Attestation d'assurance expirée."})
    assert done.status_code == 303 and done.headers["location"] == f"/app/editeurs/{vendor_id}"
    api = expect(await client.get(f"/admission-requests/{scene['mine']['id']}",
                                  headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "suspended" and api["decisionReasons"] == "Attestation d'assurance expirée."
    after = (await web.get(f"/app/editeurs/{vendor_id}")).text
    assert "L&#39;admission est suspendue" in after and "Motifs : Attestation d&#39;assurance expirée." in after
    assert ">Rétablir<" in after and ">Suspendre<" not in after
    # Suspending again is refused by the state machine (§1.4): the error page with its rule.
    again = await web.post(act, data={"_csrf_token": token, "reasons": "Encore."})
    assert again.status_code == 409 and "§1.4" in again.text

    # Another buyer: this vendor applied to none of its DPS, so it does not exist (404), acts included;
    # a vendor's member is no DPS writer (403).
    other = await _signed_in(client, "other_buyer_admin")
    assert (await other.get(f"/app/editeurs/{vendor_id}")).status_code == 404
    other_token = csrf_token((await other.get("/app/editeurs")).text)
    refused = await other.post(f"/app/editeurs/{vendor_id}/admissions/{scene['mine']['id']}/exclure",
                               data={"_csrf_token": other_token, "reasons": "Non."})
    assert refused.status_code == 404
    assert (await (await _signed_in(client, "vendor_admin")).get(f"/app/editeurs/{vendor_id}")).status_code == 403
    # The vendor without enrolment reads "non enrôlé".
    theirs = (await web.get(f"/app/editeurs/{world.organisations['other_vendor']}")).text
    assert "non enrôlé" in theirs and "Aucune solution référencée" in theirs
