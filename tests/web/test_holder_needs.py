"""The holders' self-service over HTTP (no browser): a need written step by step through the API's own services,
its N1-N19 checklist from the rule engine as it is typed, its submission (a refusal names the rule), its filing
to a funder's call and the decision, read back through the API; another holder gets 404, a vendor 403."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.funding_api import open_call
from tests.vendors.api import expect, open_dps
from tests.web.pages import Browser, csrf_token, login
from tests.world import FACILITIES, World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]
BASE = "/app/mes-besoins"


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


async def step(web: Browser, url: str, form_url: str, **fields: Any) -> Any:
    page = await web.get(url)
    assert page.status_code == 200, page.text[:800]
    return await web.post(form_url, data={"_csrf_token": csrf_token(page.text), **fields})


async def written(web: Browser, dps_id: str, project_type: str) -> str:
    """Steps 1-4 of a need of the holder's one OG for its one facility; the need's id."""
    created = await step(web, f"{BASE}/nouveau", f"{BASE}/nouveau", etape="1", titre="DUI des Tilleuls",
                         description="Un dossier usager informatisé.", campagne="2025", type=project_type,
                         appel="regional", candidature="2025-03-01", sad=dps_id, secteur="grand_age", mode="saas")
    assert created.status_code == 303, created.text[:800]
    need_id = re.search(rf"{BASE}/([0-9a-f-]{{36}})/modifier\?etape=2", created.headers["location"]).group(1)
    edit = f"{BASE}/{need_id}/modifier"
    page = await web.get(f"{edit}?etape=2")
    # The facilities are picked among the holder's registered ones, never typed.
    assert f'name="esms" value="{FACILITIES["holder"][1]}"' in page.text and FACILITIES["holder"][0] in page.text
    assert (await step(web, f"{edit}?etape=2", edit, etape="2", esms=FACILITIES["holder"][1])).status_code == 303
    assert (await step(web, f"{edit}?etape=3", edit, etape="3", socles=["ins", "mss", "dmp", "eprescription"],
                       couloir="MS1", reference="1", rgpd="1", carte="1", continuite="1")).status_code == 303
    assert (await step(web, f"{edit}?etape=4", edit, etape="4", echeancier=["40", "40", "20"], cibles="1",
                       cpv="48000000-8")).status_code == 303
    return need_id


async def test_a_holder_writes_a_need_step_by_step_sees_n2_fixes_it_submits_and_files(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    call = await open_call(client, world)
    web = await signed_in(client, "holder_admin")
    listing = await web.get(BASE)
    assert listing.status_code == 200 and f'href="{BASE}/nouveau"' in listing.text and "Nouveau besoin" in listing.text

    # Type 1 (acquisition) by one OG of one ESMS: N2 wants a grappe of at least 3 OGs and 15 ESMS.
    need_id = await written(web, dps["id"], "1")
    read = expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers), 200)
    assert (read["status"], read["projectType"], read["facilities"][0]["finessEt"], read["fundingSchedule"]) == \
        ("draft", 1, FACILITIES["holder"][1], [40, 40, 20])
    summary = await web.get(f"{BASE}/{need_id}/modifier?etape=5")
    shown = text(summary.text)
    # The failed rule's French statement beside its id, then the engine's own (English) message as the detail.
    assert re.search(r"N2\s+—\s+Un projet de type 1 \(acquisition d'un DUI\)[^—]*Détail :\s+N2: ", shown), shown[-3000:]
    assert 'id="regle-N2"' in summary.text and "non respectée" in re.search(
        r'<tr id="regle-N2">.*?</tr>', summary.text, re.S).group(0)
    # Submitting anyway is refused by the API's submission, naming the rule.
    refused = await web.post(f"{BASE}/{need_id}/soumettre", data={"_csrf_token": csrf_token(summary.text)})
    assert refused.status_code == 422 and "N2" in text(refused.text), refused.text[:1500]
    assert expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers), 200)["status"] == \
        "draft"

    # htmx: a change of type re-validates through the fragment (the draft saved as typed).
    page = await web.get(f"{BASE}/{need_id}/modifier?etape=1")
    assert f'hx-post="{BASE}/{need_id}/verifier"' in page.text
    fragment = await web.post(f"{BASE}/{need_id}/verifier", data={
        "_csrf_token": csrf_token(page.text), "etape": "1", "titre": "DUI des Tilleuls",
        "description": "Un dossier usager informatisé.", "campagne": "2025", "type": "2", "appel": "regional",
        "candidature": "2025-03-01", "sad": dps["id"], "secteur": "grand_age", "mode": "saas"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "respectée" in re.search(r'<tr id="regle-N2">.*?</tr>', fragment.text, re.S).group(0)
    assert not re.search(r"N2\s+—", text(fragment.text))
    # A date half typed is not a page error: the fragment (200) names the field not saved; the draft keeps its own.
    half = await web.post(f"{BASE}/{need_id}/verifier", data={
        "_csrf_token": csrf_token(page.text), "etape": "1", "titre": "DUI des Tilleuls",
        "description": "Un dossier usager informatisé.", "campagne": "2025", "type": "2", "appel": "regional",
        "candidature": "0002-03-01", "sad": dps["id"], "secteur": "grand_age", "mode": "saas"})
    assert half.status_code == 200 and 'id="non-enregistre"' in half.text, half.text[:1500]
    assert "Saisie non enregistrée" in text(half.text) and 'id="regle-N2"' in half.text
    assert expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers),
                  200)["appliedOn"] == "2025-03-01"

    summary = await web.get(f"{BASE}/{need_id}/modifier?etape=5")
    submitted = await web.post(f"{BASE}/{need_id}/soumettre", data={"_csrf_token": csrf_token(summary.text)})
    assert submitted.status_code == 303, text(submitted.text)[:1500]
    assert expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers), 200)["status"] == \
        "submitted"

    file = await web.get(f"{BASE}/{need_id}")
    assert file.status_code == 200 and f'value="{call["id"]}"' in file.text
    filed = await web.post(f"{BASE}/{need_id}/depot", data={"_csrf_token": csrf_token(file.text),
                                                            "appel": call["id"]})
    assert filed.status_code == 303
    read = expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers), 200)
    assert (read["fundingStatus"], read["callId"]) == ("filed", call["id"])
    after = text((await web.get(f"{BASE}/{need_id}")).text)
    assert call["title"] in after and "déposé" in after
    listing = text((await web.get(BASE)).text)
    assert "DUI des Tilleuls" in listing and "à publier" in listing and "déposé, en attente de décision" in listing


async def test_another_holder_gets_404_and_a_vendor_403(client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    need_id = await written(await signed_in(client, "holder_admin"), dps["id"], "2")
    other = await signed_in(client, "other_holder_admin")
    for url in (f"{BASE}/{need_id}", f"{BASE}/{need_id}/modifier?etape=2"):
        assert (await other.get(url)).status_code == 404
    assert need_id not in (await other.get(BASE)).text
    vendor = await signed_in(client, "vendor_admin")
    assert (await vendor.get(BASE)).status_code == 403
    assert (await vendor.get(f"{BASE}/{need_id}")).status_code == 403
