"""The public pages (marketplace/web/public_pages.py) over HTTP, in process, as an anonymous visitor: the DPS notices
and one notice with its categories and documents, the register of admitted vendors with its filters and CSV, the
search of published needs and a published contract's public view with its deposit limits (D3, D14a). Sandboxes
never appear; what the API hides from the public is a 404 here too."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.tenders.test_needs import create
from tests.tenders.test_search import publish_need
from tests.vendors.api import categories_by_pair, dps_body, expect, minimal_pdf, open_dps
from tests.web.pages import Browser, login
from tests.web.test_vendors_screen import _submitted
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]
SANDBOX_TITLE = "SAD d'entraînement (bac à sable)"
TITLE = "Logiciel de dossier usager informatisé pour les EHPAD"


async def _scene(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """The buyer's active DPS with a published document, `vendor` and `other_vendor` admitted to two categories,
    a published need; a sandbox DPS (published) with an admitted vendor, and another buyer's draft DPS."""
    dps = await open_dps(client, world, clock)
    categories = list(categories_by_pair(dps).values())
    for person, category in (("vendor_admin", categories[0]), ("other_vendor_admin", categories[1])):
        request = await _submitted(client, world, clock, person, category)
        expect(await client.post(f"/admission-requests/{request['id']}/admit",
                                 headers=world["buyer_admin"].headers), 200)
    document = expect(await client.put(
        f"/dps/{dps['id']}/documents", params={"title": "Règlement de la consultation"}, content=minimal_pdf("rc"),
        headers={**world["buyer_admin"].headers, "content-type": "application/pdf", "x-filename": "rc.pdf"}), 201)
    sandbox = expect(await client.post("/dps", headers=world["buyer_admin"].headers,
                                       json=dps_body(clock.now(), title=SANDBOX_TITLE) | {"sandbox": {"factor": 1440}}),
                     201)
    expect(await client.post(f"/dps/{sandbox['id']}/publish", headers=world["buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    rehearsal = await _submitted(client, world, clock, "third_vendor_admin", sandbox["categories"][0]["id"])
    # The sandbox's own clock past its initial window (decisions wait for it), admitted.
    expect(await client.post(f"/dps/{sandbox['id']}/sandbox/fast-forward", headers=world["buyer_admin"].headers,
                             json={"days": 40}), 200)
    expect(await client.post(f"/admission-requests/{rehearsal['id']}/admit",
                             headers=world["buyer_admin"].headers), 200)
    draft = expect(await client.post("/dps", headers=world["other_buyer_admin"].headers,
                                     json=dps_body(clock.now(), title="SAD en préparation")), 201)
    contract = await publish_need(client, world, clock, dps["id"], title=TITLE, dpsId=dps["id"],
                                  description="Interopérabilité avec le DMP et la messagerie MSSanté.")
    await publish_need(client, world, clock, dps["id"], title="Planification des interventions à domicile",
                       dpsId=dps["id"], description="Télégestion des tournées.", sector="handicap",
                       deliveryMode="hosted")
    unpublished = await create(client, world, title="Logiciel brouillon", description="Un logiciel en préparation.")
    return {"dps": dps, "categories": categories, "document": document, "sandbox": sandbox, "draft": draft,
            "contract": contract, "unpublished": unpublished}


async def test_an_anonymous_visitor_reads_the_notices_and_one_notice_with_its_documents(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = Browser(client)  # never signed in
    listing = await web.get("/app/sad")
    assert listing.status_code == 200, listing.text
    assert scene["dps"]["title"] in listing.text and f"/app/sad/{scene['dps']['id']}" in listing.text
    assert SANDBOX_TITLE not in listing.text and "SAD en préparation" not in listing.text
    # The header offers the way in, and no signed-in navigation.
    assert 'href="/app/connexion"' in listing.text and "Se connecter" in listing.text
    assert "Se déconnecter" not in listing.text and "File de travail" not in listing.text

    notice = await web.get(f"/app/sad/{scene['dps']['id']}")
    assert notice.status_code == 200, notice.text
    page = notice.text
    for category in scene["dps"]["categories"]:
        assert category["title"] in page
    assert "Capacités techniques et professionnelles" in page  # selection criteria
    assert "Valeur technique" in page and "de 50 % à 80 %" in page
    assert "Règlement de la consultation" in page
    download = scene["document"]["downloadPath"]
    assert f'href="{download}"' in page
    # The link is the API's public route: it answers an anonymous visitor with the short-lived link (D3).
    assert (await client.get(download, follow_redirects=False)).status_code == 307
    rules = scene["dps"]["categories"][0]["requiredDocuments"]
    assert rules and rules[0]["label"] in page and ".pdf" in page and " Mo" in page

    # Another organisation's draft is no notice at all, as `GET /dps/{id}` answers the public.
    assert (await client.get(f"/dps/{scene['draft']['id']}")).status_code == 404
    refused = await web.get(f"/app/sad/{scene['draft']['id']}")
    assert refused.status_code == 404 and "SAD en préparation" not in refused.text
    assert (await web.get(f"/app/sad/{uuid.uuid4()}")).status_code == 404


async def test_the_register_filters_searches_and_exports_admitted_vendors_of_real_dps_only(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = Browser(client)
    names = {org: expect(await client.get(f"/organisations/{world.organisations[org]}",
                                          headers=world[f"{org}_admin"].headers), 200)["name"]
             for org in ("vendor", "other_vendor", "third_vendor")}
    everything = await web.get("/app/registre")
    assert everything.status_code == 200, everything.text
    assert names["vendor"] in everything.text and names["other_vendor"] in everything.text
    assert names["third_vendor"] not in everything.text  # admitted to a sandbox only: a rehearsal
    assert "2 admission(s)" in everything.text

    one = await web.get("/app/registre", params={"categorie": scene["categories"][1]})
    assert names["other_vendor"] in one.text and names["vendor"] not in one.text
    searched = await web.get("/app/registre", params={"q": names["vendor"][:6].lower()})
    assert names["vendor"] in searched.text and names["other_vendor"] not in searched.text
    # The filter stays in the URL of the export; the export holds the current filter, every page of it.
    assert f"/app/registre/export.csv?dps={scene['dps']['id']}" in (
        await web.get("/app/registre", params={"dps": scene["dps"]["id"], "taille": 25, "page": 1})).text
    exported = await web.get("/app/registre/export.csv", params={"dps": scene["dps"]["id"]})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Éditeur" and sorted(r[0] for r in rows[1:]) == sorted([names["vendor"],
                                                                                 names["other_vendor"]])
    assert all(r[2] == scene["dps"]["title"] for r in rows[1:])
    # The same entries as the API's public register.
    api = expect(await client.get("/register", params={"dpsId": scene["dps"]["id"]}), 200)
    assert api["total"] == len(rows) - 1


async def test_the_search_finds_published_needs_only_and_shows_a_contract_with_its_deposit_limits(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await _scene(client, world, clock)
    web = Browser(client)
    found = await web.get("/app/consultations", params={"q": "logiciels ehpad"})
    assert found.status_code == 200, found.text
    assert TITLE in found.text and "Planification des interventions" not in found.text
    assert "Logiciel brouillon" not in found.text
    contract_id = scene["contract"]["id"]
    assert f"/app/consultations/{contract_id}" in found.text
    assert 'value="logiciels ehpad"' in found.text  # the search stays in the form
    # As the form sends it: every field, the unused ones empty.
    form = {"q": "logiciels ehpad", "categoryId": "", "sector": "", "deliveryMode": "", "departement": "",
            "region": "", "cpv": "", "status": "", "limit": "20"}
    submitted = await web.get("/app/consultations", params=form)
    assert submitted.status_code == 200 and TITLE in submitted.text
    # Filters as the API takes them.
    hosted = await web.get("/app/consultations", params={"deliveryMode": "hosted"})
    assert "Planification des interventions" in hosted.text and TITLE not in hosted.text
    refused = await web.get("/app/consultations", params={"departement": "999"})
    api_refusal = await client.get("/discovery/needs", params={"departement": "999"})
    assert refused.status_code == api_refusal.status_code == 422 and "departement" in refused.text
    # Paged by the API's cursor.
    first = await web.get("/app/consultations", params={"limit": 1})
    assert "Page suivante" in first.text and "cursor=" in first.text

    shown = await web.get(f"/app/consultations/{contract_id}")
    assert shown.status_code == 200, shown.text
    api = expect(await client.get("/discovery/needs", params={"q": "logiciels ehpad"}), 200)["items"][0]
    limits = api["depositLimits"]
    assert api["specificContractId"] == contract_id and TITLE in shown.text
    assert f"{limits['attachmentMaxCount']} au plus" in shown.text
    assert f"{limits['offerMaxBytes'] // 1024**2} Mo au plus" in shown.text
    assert ".pdf" in shown.text and "application/pdf" not in shown.text
    assert "ouvert aux offres" in shown.text
    # Anything the discovery search doesn't publish is a 404: an unknown id, a need not published.
    assert (await web.get(f"/app/consultations/{uuid.uuid4()}")).status_code == 404
    assert (await web.get(f"/app/consultations/{scene['unpublished']['id']}")).status_code == 404


async def test_a_signed_in_visitor_keeps_the_header_of_their_account(client: Client, world: World,
                                                                     clock: FrozenClock) -> None:
    web = Browser(client)
    assert (await login(web, email_of("vendor_admin"))).status_code == 303
    page = await web.get("/app/sad")
    assert page.status_code == 200 and "Se déconnecter" in page.text and "Se connecter<" not in page.text
