"""The back-office's Admissions screens (marketplace/web/admissions.py) over HTTP, in process: the buyer's list with
its filters, sort, page size and CSV export; the request's file; the acts, read back through the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.vendors.api import apply, categories_by_pair, dps_body, expect, open_dps, upload_all
from tests.web.pages import Browser, csrf_token, login, without_help
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]

VENDOR = "Logiciels Médico-Sociaux SAS"
OTHER_VENDOR = "Éditions Santé Numérique"
THIRD_VENDOR = "Atelier Logiciel Domicile SARL"


async def _submitted(client: Client, world: World, person: str, category: str) -> dict[str, Any]:
    request = await apply(client, world[person], category)
    await upload_all(client, world[person], request["id"], f"{person} {category}")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world[person].headers), 200)
    return request


async def _scene(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """The buyer's active DPS (decisions allowed: its initial window is over) with two submitted requests, and
    another buying organisation's DPS with one of its own."""
    dps = await open_dps(client, world, clock)
    categories = list(categories_by_pair(dps).values())
    mine = await _submitted(client, world, "vendor_admin", categories[0])
    clock.advance(timedelta(hours=1))
    theirs = await _submitted(client, world, "other_vendor_admin", categories[1])
    other = expect(await client.post("/dps", headers=world["other_buyer_admin"].headers,
                                     json=dps_body(clock.now(), title="SAD du groupement régional")), 201)
    expect(await client.post(f"/dps/{other['id']}/publish", headers=world["other_buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    foreign = await _submitted(client, world, "third_vendor_admin", other["categories"][0]["id"])
    return {"dps": dps, "mine": mine, "theirs": theirs, "other": other, "foreign": foreign}


async def _buyer(client: Client, person: str = "buyer_admin") -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def _rows(html: str) -> list[str]:
    """The vendors of the list's rows, in order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r'<th scope="row"><a href="/app/admissions/[^"]+">([^<]+)</a>', body)


async def test_the_list_shows_the_buyers_requests_and_nothing_of_another_buyer(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = await _buyer(client)
    page = await web.get("/app/admissions")
    assert page.status_code == 200, page.text
    html = page.text
    assert _rows(html) == [VENDOR, OTHER_VENDOR]  # by due date (D6): the first received is due first
    assert "SIRET 44306184100047" in html and "SIRET 38012986648005" in html
    assert "DUI grand_age en saas" in html and scene["dps"]["title"] in html
    assert "2 demande(s)" in html and 'aria-current="page">Admissions' in html.replace("\n", "")
    # The D6 due date as a countdown, in Paris time.
    queue = expect(await client.get(f"/dps/{scene['dps']['id']}/admission-queue",
                                    headers=world["buyer_admin"].headers), 200)
    due = datetime.fromisoformat(queue[0]["dueAt"])
    assert f'<time datetime="{due.isoformat()}">' in html and "heure de Paris" in html and "dans " in html
    assert THIRD_VENDOR not in html and "SAD du groupement régional" not in html
    # The other buyer sees its own request only; a vendor is no DPS writer (403), like the API's queue.
    other = (await (await _buyer(client, "other_buyer_admin")).get("/app/admissions")).text
    assert _rows(other) == [THIRD_VENDOR]
    assert (await (await _buyer(client, "vendor_admin")).get("/app/admissions")).status_code == 403
    # The work queue's tile links to the DPS's list.
    assert f'href="/app/admissions?dps={scene["dps"]["id"]}">2</a>' in (await web.get("/app/")).text


async def test_filters_sort_page_size_and_the_csv_export(client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = await _buyer(client)
    assert _rows((await web.get("/app/admissions?q=sant%C3%A9")).text) == [OTHER_VENDOR]  # case-insensitive
    assert _rows((await web.get("/app/admissions?q=%25")).text) == []  # a LIKE wildcard is searched as text
    assert _rows((await web.get(f"/app/admissions?dps={scene['other']['id']}")).text) == []
    assert _rows((await web.get(f"/app/admissions?dps={scene['dps']['id']}")).text) == [VENDOR, OTHER_VENDOR]
    assert _rows((await web.get("/app/admissions?statut=decided")).text) == []
    assert _rows((await web.get("/app/admissions?statut=under_evaluation")).text) == [VENDOR, OTHER_VENDOR]
    ascending = _rows((await web.get("/app/admissions?tri=vendor")).text)
    by_vendor = (await web.get("/app/admissions?tri=vendor&ordre=desc")).text
    assert sorted(ascending) == sorted([VENDOR, OTHER_VENDOR]) and _rows(by_vendor) == ascending[::-1]
    assert 'aria-sort="descending"' in by_vendor
    # The header's link flips the order and keeps the other filters (in the URL).
    flipped = (await web.get("/app/admissions?q=x&tri=vendor&ordre=desc")).text
    assert 'href="/app/admissions?q=x&amp;tri=vendor"' in flipped
    assert _rows((await web.get("/app/admissions?tri=received&ordre=desc")).text) == [OTHER_VENDOR, VENDOR]
    first = (await web.get("/app/admissions?taille=1")).text
    assert _rows(first) == [VENDOR] and "page 1 sur 2" in first
    assert 'href="/app/admissions?taille=1&amp;page=2"' in first
    assert _rows((await web.get("/app/admissions?taille=1&page=2")).text) == [OTHER_VENDOR]
    assert '<option value="50"' in first and '<option value="100"' in first
    assert (await web.get("/app/admissions?taille=500")).status_code == 400
    refused = await web.get("/app/admissions?statut=nimporte")
    assert refused.status_code == 422 and "<code>status</code>" in refused.text
    # The export: the current filter (every page of it), UTF-8 with a BOM, `;`-separated, Paris time.
    export = await web.get("/app/admissions/export.csv?q=sant%C3%A9&taille=1")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:3] == ["Identifiant", "Éditeur", "SIRET"] and len(table) == 2
    assert table[1][:3] == [scene["theirs"]["id"], OTHER_VENDOR, "38012986648005"]
    assert table[1][5] == "en cours d'évaluation" and table[1][8] == "non"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", table[1][6])
    everything = list(csv.reader(io.StringIO((await web.get("/app/admissions/export.csv")).content
                                             .decode("utf-8-sig")), delimiter=";"))
    assert [r[1] for r in everything[1:]] == [VENDOR, OTHER_VENDOR]


async def test_the_file_shows_the_request_and_admitting_through_the_form_admits(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    request_id = scene["mine"]["id"]
    web = await _buyer(client)
    page = await web.get(f"/app/admissions/{request_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert VENDOR in html and "44306184100047" in html and "clé de contrôle valide" in html
    assert "DUI grand_age en saas" in html and "Capacités techniques" in html
    assert "Hortense Confidentielle-Dumas" in html  # the self-declaration, for the buyer who judges it
    assert "kbis.pdf" in html and "30/06/2027" in html and "transmise" in html
    assert "10 jours ouvrés" in html and 'action="/app/admissions/' in html
    document = re.search(rf'href="(/app/admissions/{request_id}/documents/[^"]+)"', html)
    assert document is not None
    link = await web.get(document.group(1))
    assert link.status_code == 307 and "X-Amz-Signature" in link.headers["location"]
    # Admit through the form: the request is admitted, as the API reads it, and the page says so.
    token = csrf_token(html)
    done = await web.post(f"/app/admissions/{request_id}/admettre", data={"_csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == f"/app/admissions/{request_id}"
    after = (await web.get(done.headers["location"])).text
    assert "L&#39;éditeur est admis" in after and "admis" in after and "Demander la mise à jour" in after
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "admitted" and api["decidedAt"]
    assert _rows((await web.get("/app/admissions")).text) == [OTHER_VENDOR]
    assert _rows((await web.get("/app/admissions?statut=decided")).text) == [VENDOR]
    # D11: an updated self-declaration asked of the admitted vendor, through the form.
    asked = await web.post(f"/app/admissions/{request_id}/dume",
                           data={"_csrf_token": token, "message": "Merci de mettre à jour votre DUME."})
    assert asked.status_code == 303
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["declarationDueAt"]


async def test_reject_needs_reasons_and_extend_records_its_reason(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    request_id = scene["theirs"]["id"]
    web = await _buyer(client)
    token = csrf_token((await web.get(f"/app/admissions/{request_id}")).text)
    for blank in ({}, {"reasons": "   "}):
        refused = await web.post(f"/app/admissions/{request_id}/rejeter", data={"_csrf_token": token, **blank})
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
        assert "<code>reasons</code>" in refused.text and "§1.4" in refused.text
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "under_evaluation"
    # D6: the evaluation is extended to 15 working days, with its reason shown on the file.
    before = datetime.fromisoformat(api["dueAt"])
    extended = await web.post(f"/app/admissions/{request_id}/prolonger",
                              data={"_csrf_token": token, "reasons": "Références à vérifier."})
    assert extended.status_code == 303
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["extensionReason"] == "Références à vérifier." and datetime.fromisoformat(api["dueAt"]) > before
    page = (await web.get(f"/app/admissions/{request_id}")).text
    assert "Références à vérifier." in page and "prolongé à 15 jours ouvrés" in page
    assert "Prolonger le délai" not in without_help(page)  # extended once: D6 allows no second extension
    assert "prolongé à 15 j ouvrés" in (await web.get("/app/admissions")).text
    # A second extension sent all the same is the service's refusal, rule and field shown.
    again = await web.post(f"/app/admissions/{request_id}/prolonger", data={"_csrf_token": token, "reasons": "x"})
    assert again.status_code == 409 and "D6" in again.text
    rejected = await web.post(f"/app/admissions/{request_id}/rejeter",
                              data={"_csrf_token": token, "reasons": "Capacités techniques insuffisantes."})
    assert rejected.status_code == 303
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "rejected" and api["decisionReasons"] == "Capacités techniques insuffisantes."


async def test_another_organisation_gets_404_and_a_post_without_csrf_403(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    request_id = scene["mine"]["id"]
    other = await _buyer(client, "other_buyer_admin")
    assert (await other.get(f"/app/admissions/{request_id}")).status_code == 404
    token = csrf_token((await other.get("/app/admissions")).text)
    assert (await other.post(f"/app/admissions/{request_id}/admettre",
                             data={"_csrf_token": token})).status_code == 404
    web = await _buyer(client)
    bare = await web.post(f"/app/admissions/{request_id}/admettre")
    assert bare.status_code == 403 and "CSRF" in bare.text
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "under_evaluation"
    # The other buyer's request exists, for its own buyer only.
    assert (await web.get(f"/app/admissions/{scene['foreign']['id']}")).status_code == 404
