"""The holder's procedure, contract and grant pages (web/holder_contracts.py) through the app in process: who reads
which page, what each refusal names, and the centralised case (HC3).

The procedure is brought through the API as tests/funding/test_seeds_procedure.py does it. The pages' acts go
through the services of the API's routes: the refusals they meet are the services' (FU5: without evidence, before
the contract is signed; N15: the last tranche without its usage indicators), each page naming its rule and field.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_contract import sign
from tests.funding.test_seeds_procedure import WINNER, _evaluate_and_award, _funded_and_published, _offers
from tests.funding_api import paris_day, pay_tranche, validate_tranche
from tests.tenders.test_offers import DEADLINE, open_offers
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
Client = AsyncTestClient[Litestar]
_RULE = re.compile(r'class="rule-id">([^<]+)<')


async def _as(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303, person
    return web


async def _post(web: Browser, page: str, url: str, *, data: dict[str, str] | None = None,
                files: dict[str, tuple[str, bytes, str]] | None = None) -> httpx.Response:
    """A form of `page` posted as the browser would (its CSRF token with it)."""
    token = csrf_token((await web.get(page)).text)
    return await web.post(url, data={"_csrf_token": token, **(data or {})}, files=files)


def _refusal(response: httpx.Response) -> tuple[int, str | None, str | None]:
    rule = _RULE.search(response.text)
    field = re.search(r"champ <code>([^<]+)</code>", response.text)
    return response.status_code, rule.group(1) if rule else None, field.group(1) if field else None


async def _awarded(client: Client, world: World, clock: FrozenClock, settings: Settings,
                   mode: str) -> tuple[str, str]:
    nid, cid = await _funded_and_published(client, world, clock, mode)
    offers = await _offers(client, world, clock, cid)
    clock.set(DEADLINE + timedelta(hours=1))
    if mode == "intermediation":
        expect(await open_offers(client, world, cid, "holder_opener", person="holder_opener"), 200)
    else:
        expect(await open_offers(client, world, cid), 200)
    await _evaluate_and_award(client, world, settings, mode, cid, offers)
    return nid, cid


async def test_the_holders_pages_refuse_what_the_rules_refuse_and_hide_from_other_holders(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    nid, cid = await _awarded(client, world, clock, settings, "intermediation")
    base = f"/app/mes-besoins/{nid}"
    admin, member, other = [await _as(client, p) for p in ("holder_admin", "holder_member", "other_holder_admin")]
    grant = f"{base}/financement"

    # Another holder learns nothing of the need; the holder's plain member reads its procedure and grant, not the
    # contract (GET /contracts/{id} is its buying side's, HC2) and acts on nothing.
    for page in ("procedure", "contrat", "financement"):
        assert (await other.get(f"{base}/{page}")).status_code == 404, page
    assert (await member.get(f"{base}/procedure")).status_code == 200
    assert (await member.get(grant)).status_code == 200
    assert (await member.get(f"{base}/contrat")).status_code == 403
    evidence = {"preuve": ("lancement.pdf", minimal_pdf("lancement"), "application/pdf")}
    assert (await _post(member, grant, f"{grant}/tranches/1/preuve", files=evidence)).status_code == 403
    procedure = (await member.get(f"{base}/procedure")).text
    assert f'href="/app/marches/{cid}"' in procedure and f"/app/marches/{cid}/evaluation" not in procedure
    assert f'href="{base}/contrat"' not in procedure  # no tab the member's roles would be refused

    # Before the contract: nothing to sign (409 naming HC4); the first tranche without evidence, then before the
    # contract is signed (FU5).
    signature = {"document": ("contrat.pdf", minimal_pdf("contrat"), "application/pdf")}
    assert _refusal(await _post(admin, f"{base}/contrat", f"{base}/contrat/signature", files=signature)) == (
        409, "HC4", "contract")
    assert _refusal(await _post(admin, grant, f"{grant}/tranches/1/demande")) == (422, "FU5", "evidence")
    assert (await _post(admin, grant, f"{grant}/tranches/1/preuve", files=evidence)).status_code == 303
    assert _refusal(await _post(admin, grant, f"{grant}/tranches/1/demande")) == (409, "FU5", "contract")
    # An evidence form without its file names it.
    assert _refusal(await _post(admin, grant, f"{grant}/tranches/2/preuve")) == (422, "FU5", "preuve")

    # The contract made and signed by both (through the API): the first tranche goes, and once the second is
    # validated too, the third is refused without its usage indicators (N15), then requested with them.
    created = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["holder_admin"].headers,
                                       json={"amountCents": 9_600_000}), 201)
    contract_page = (await admin.get(f"{base}/contrat")).text
    assert "Déposer la signature du porteur" in contract_page
    expect(await sign(client, world, created["id"], "holder_admin", minimal_pdf("signé par le porteur")), 201)
    expect(await sign(client, world, created["id"], WINNER, minimal_pdf("signé par le titulaire")), 201)
    contract_page = (await admin.get(f"{base}/contrat")).text
    assert "Déposer la signature du porteur" not in contract_page and "signé et notifié" in contract_page
    for side in ("buyer", "vendor"):
        link = f"{base}/contrat/signatures/document?partie={side}"
        assert link in contract_page
        download = await admin.get(link)
        assert download.status_code == 307 and f"signature-{side}.pdf" in download.headers["location"]
    assert (await other.get(f"{base}/contrat/signatures/document?partie=buyer")).status_code == 404
    assert (await _post(admin, grant, f"{grant}/tranches/1/demande")).status_code == 303
    today = paris_day(clock.now().isoformat())
    expect(await validate_tranche(client, world, nid, 1), 200)
    expect(await pay_tranche(client, world, nid, 1, 2_400_000, paid_on=today), 200)
    assert (await _post(admin, grant, f"{grant}/tranches/2/preuve", files=evidence)).status_code == 303
    assert (await _post(admin, grant, f"{grant}/tranches/2/demande")).status_code == 303
    expect(await validate_tranche(client, world, nid, 2), 200)
    assert (await _post(admin, grant, f"{grant}/tranches/3/preuve", files=evidence)).status_code == 303
    assert _refusal(await _post(admin, grant, f"{grant}/tranches/3/demande")) == (422, "N15", "usageIndicators")
    assert _refusal(await _post(admin, grant, f"{grant}/tranches/3/demande",
                                data={"utilisateurs_actifs": "beaucoup"})) == (422, "N15", "utilisateurs_actifs")
    assert (await _post(admin, grant, f"{grant}/tranches/3/demande", data={
        "utilisateurs_actifs": "148", "essms_utilisateurs": "1", "releve_le": "2026-09-30",
        "commentaire": ""})).status_code == 303
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    assert [t["status"] for t in funding["tranches"]] == ["paid", "validated", "requested"]
    assert funding["tranches"][2]["requests"][0]["usageIndicators"] == {
        "activeDuiUsers": 148, "esmsUsing": 1, "measuredOn": "2026-09-30", "comment": None}
    page = (await member.get(grant)).text
    assert "utilisateurs actifs du DUI : 148" in page and "Demander la tranche" not in page  # a member acts not


async def test_centralised_the_holder_reads_its_procedure_and_signs_nothing(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    nid, cid = await _awarded(client, world, clock, settings, "centralised")
    base = f"/app/mes-besoins/{nid}"
    admin = await _as(client, "holder_admin")
    procedure = await admin.get(f"{base}/procedure")
    assert procedure.status_code == 200
    text = html.unescape(procedure.text)
    assert "Centralisé : la centrale d'achat achète pour vous (HC3)" in text
    assert f"/app/marches/{cid}/ouverture" in text and f"/app/marches/{cid}/evaluation" not in text
    assert "Logiciels Médico-Sociaux SAS" in text  # the award, read after the opening (HC3)
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                             json={"amountCents": 9_600_000}), 201)
    contract = await admin.get(f"{base}/contrat")
    assert contract.status_code == 200
    assert "conduit par la centrale d'achat pour votre compte" in html.unescape(contract.text)
    assert "Déposer la signature" not in contract.text
    signature = {"document": ("contrat.pdf", minimal_pdf("contrat"), "application/pdf")}
    # Not a party (HC4): as POST /contracts/{id}/signatures, the contract is not the holder's to see.
    assert (await _post(admin, f"{base}/contrat", f"{base}/contrat/signature", files=signature)).status_code == 404
