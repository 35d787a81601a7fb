"""The needs review screens over HTTP (no browser): the list scoped like the API's filed needs, the need's file
with its N1-N19 checklist from the rule engine, N16 from publication's own check, and publishing through the
form, read back through the API (HC1-HC3, N16, D9, D10)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.tenders.campaigns import CAMPAIGNS
from marketplace.tenders.rules import applicable_rules
from tests.funding_api import fund
from tests.tenders.test_publication import admit, ensure_opener, submitted_need
from tests.vendors.api import categories_by_pair, expect, open_dps
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]
WEIGHTS = {"critere": ["Prix", "Valeur technique"], "poids": ["40", "60"]}


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def filed(client: Client, world: World, clock: FrozenClock) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active DPS of the world's buyer (centralised) with a vendor admitted, and a need submitted to it."""
    dps = await open_dps(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    return dps, await submitted_need(client, world)


def rule_row(page: str, rule: str) -> str:
    found = re.search(rf'<tr id="regle-{rule}">.*?</tr>', page, re.S)
    assert found is not None, f"no line for {rule}"
    return found.group(0)


async def publish_form(web: Browser, need_id: str, deadline: str, weights: dict[str, list[str]] = WEIGHTS) -> Any:
    page = await web.get(f"/app/besoins/{need_id}")
    assert page.status_code == 200, page.text[:500]
    assert 'action="/app/besoins/' in page.text, "no publishing form"
    return await web.post(f"/app/besoins/{need_id}/publier", data={
        "_csrf_token": csrf_token(page.text), "echeance": deadline, "seuil": "1", **weights})


async def test_the_list_is_scoped_to_the_dps_buying_organisation(client: Client, world: World,
                                                                 clock: FrozenClock) -> None:
    _, need = await filed(client, world, clock)
    buyer = await signed_in(client, "buyer_admin")
    page = await buyer.get("/app/besoins")
    assert page.status_code == 200, page.text[:500]
    text = html.unescape(page.text)
    assert f'href="/app/besoins/{need["id"]}"' in text and need["title"] in text
    row = re.search(rf'/app/besoins/{need["id"]}".*?</tr>', text, re.S)
    assert row is not None
    assert "à publier" in row.group(0) and "non déposé" in row.group(0) and "(heure de Paris" in row.group(0)
    assert '<td class="num">1</td>' in row.group(0)  # one ESMS
    # Filters in the URL: another campaign, a search that misses, a status it doesn't read.
    assert need["id"] not in (await buyer.get("/app/besoins?campagne=2031")).text
    assert need["id"] not in (await buyer.get("/app/besoins?q=introuvable")).text
    assert need["id"] not in (await buyer.get("/app/besoins?statut=published")).text
    assert need["id"] in (await buyer.get(f"/app/besoins?statut=all&campagne={need['campaign']}&taille=50")).text
    export = await buyer.get("/app/besoins/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert need["id"] in export.text and "à publier" in export.text
    # Another buying organisation: not in its list, not in its export, its file a 404.
    other = await signed_in(client, "other_buyer_admin")
    assert need["id"] not in (await other.get("/app/besoins?statut=all")).text
    assert need["id"] not in (await other.get("/app/besoins/export.csv?statut=all")).text
    refused = await other.get(f"/app/besoins/{need['id']}")
    assert refused.status_code == 404 and "introuvable" in refused.text.lower()
    # Centralised (HC3): the holder does not review it here; another holder neither.
    assert need["id"] not in (await (await signed_in(client, "holder_admin")).get("/app/besoins?statut=all")).text
    assert (await (await signed_in(client, "other_holder_admin")).get(
        f"/app/besoins/{need['id']}")).status_code == 404


async def test_the_checklist_lists_every_rule_of_the_campaign_and_n16_fails_until_funded(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps, need = await filed(client, world, clock)
    buyer = await signed_in(client, "buyer_admin")
    page = html.unescape((await buyer.get(f"/app/besoins/{need['id']}")).text)
    # Every rule the campaign's rule set has, from the engine's registry, each passed: the need was submitted.
    for rule in applicable_rules(CAMPAIGNS[need["campaign"]]):
        assert "respectée" in rule_row(page, rule) and "non respectée" not in rule_row(page, rule), rule
    # N16 as publication checks it: not filed to a call, so it fails with the check's own message and field.
    n16 = rule_row(page, "N16")
    assert "non respectée" in n16 and "N16: a need is published on the SAD only" in n16
    assert "champ <code>fundingDecision</code>" in n16 and "1 règle(s) non respectée(s)" in page
    # The file: the facility with its EJ and name, the category (N19), the DPS's mode.
    et = need["facilities"][0]["finessEt"]
    assert f'<th scope="row">{et}</th>' in page and f"EHPAD {et}" in page
    assert "grand âge × SaaS" in page and "centralisé" in page and "non déposé" in page

    # Publishing before the funder selected it: the error page names N16 (422).
    refused = await publish_form(buyer, need["id"], "2026-02-17T09:00")
    assert refused.status_code == 422, refused.text[:500]
    assert '<strong class="rule-id">N16</strong>' in refused.text
    assert expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers),
                  200)["status"] == "submitted"

    # Once selected: N16 passes and the decision is shown.
    await fund(client, world, need["id"])
    funded = html.unescape((await buyer.get(f"/app/besoins/{need['id']}")).text)
    assert "non respectée" not in rule_row(funded, "N16") and "toutes les règles respectées" in funded
    assert "retenu" in funded and "Montant accordé" in funded
    assert dps["id"]


async def test_publishing_through_the_form_creates_the_contract(client: Client, world: World,
                                                                clock: FrozenClock) -> None:
    dps, need = await filed(client, world, clock)
    await fund(client, world, need["id"])
    buyer = await signed_in(client, "buyer_admin")
    # Without an opener key of the buying organisation, the service refuses (D13): its rule is shown.
    if "buyer_admin" not in world.opener_keys:
        keyless = await publish_form(buyer, need["id"], "2026-02-17T09:00")
        assert keyless.status_code in (409, 422), keyless.text[:500]
        assert "D13" in keyless.text
    await ensure_opener(client, world)
    # Weights outside the DPS's ranges: D10, nothing published.
    bad = await publish_form(buyer, need["id"], "2026-02-17T09:00",
                             {"critere": ["Prix", "Valeur technique"], "poids": ["10", "90"]})
    assert bad.status_code == 422 and '<strong class="rule-id">D10</strong>' in bad.text
    # Too short a tender period: D9.
    short = await publish_form(buyer, need["id"], "2026-02-07T09:00")
    assert short.status_code == 422 and '<strong class="rule-id">D9</strong>' in short.text

    done = await publish_form(buyer, need["id"], "2026-02-17T09:00")
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"] == f"/app/besoins/{need['id']}"
    shown = html.unescape((await buyer.get(f"/app/besoins/{need['id']}")).text)
    assert "Le besoin est publié : 1 éditeur(s) invité(s)" in shown and "publié, ouvert aux offres" in shown
    assert 'action="/app/besoins/' not in shown  # published: no form any more
    link = re.search(r'href="/app/marches/([0-9a-f-]{36})"', shown)
    assert link is not None
    contract = expect(await client.get(f"/specific-contracts/{link.group(1)}", headers=world["buyer_admin"].headers),
                      200)
    assert contract["needId"] == need["id"] and contract["dpsId"] == dps["id"] and contract["status"] == "open"
    assert contract["invitationCount"] == 1 and contract["tenderDeadlineParis"].startswith("17/02/2026 09:00")
    assert [c["weight"] for c in contract["awardCriteria"]] == [40, 60]
    assert expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers),
                  200)["status"] == "published"
    # It leaves the "to publish" view for the published one.
    assert need["id"] not in (await buyer.get("/app/besoins")).text
    assert need["id"] in (await buyer.get("/app/besoins?statut=published")).text
