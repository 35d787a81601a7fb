"""The funder's back-office screens over HTTP (no browser): its calls, a call's filed projects with the selection
(multipart, the signed decision as a file) and the rejection, a project's tranches validated, refused and paid
through the forms (FU3, FU5, FU6). Each act is read back through the API; each refusal shows its status, rule and
field.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from tests.awards.test_contract import sign
from tests.funding.test_tranches import funded_and_awarded
from tests.funding_api import file_need, give_evidence, open_call, request_tranche
from tests.tenders.test_publication import submitted_need
from tests.vendors.api import Client, expect, minimal_pdf
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")


async def signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def act(web: Browser, page: str, action: str, data: dict[str, str] | None = None,
              **kwargs: Any) -> Any:
    """Post a form of `page` (its CSRF token read from the page, as a browser sends it)."""
    shown = await web.get(page)
    assert shown.status_code == 200, shown.text[:500]
    return await web.post(action, data={"_csrf_token": csrf_token(shown.text), **(data or {})}, **kwargs)


def refusal(answer: Any, status: int, rule: str | None, field: str) -> str:
    """The error page: its status, the rule's id and the field it names."""
    assert answer.status_code == status, answer.text[:800]
    text = html.unescape(answer.text)
    if rule:
        assert f'<strong class="rule-id">{rule}</strong>' in text, text[:2000]
    assert f"champ <code>{field}</code>" in text, text[:2000]
    return text


async def test_a_funder_lists_its_own_calls_only_with_counts_and_exports_them(client: Client, world: World) -> None:
    mine = await open_call(client, world, envelope_cents=30_000_000, reference="AAP-IDF-WEB")
    theirs = await open_call(client, world, person="other_funder_admin", reference="AAP-BZH-WEB")
    await open_call(client, world, reference="AAP-IDF-REPET", sandbox=True)
    need = await submitted_need(client, world)
    expect(await file_need(client, world, need["id"], mine["id"]), 201)

    web = await signed_in(client, "funder_admin")
    page = await web.get("/app/financements")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "AAP-IDF-WEB" in text and "AAP-BZH-WEB" not in text and "AAP-IDF-REPET" not in text
    assert "300\u202f000,00 €" in text  # the envelope, in euros
    row = re.search(r"AAP-IDF-WEB.*?</tr>", text, re.S)
    assert row is not None
    assert re.findall(r'class="num">([^<]*)<', row.group(0))[-2:] == ["1", "0"]  # filed, selected
    # The rehearsal calls only when asked for, with their badge.
    sandbox = html.unescape((await web.get("/app/financements?bac_a_sable=true")).text)
    assert "AAP-IDF-REPET" in sandbox and "bac à sable" in sandbox and "AAP-IDF-WEB" not in sandbox
    # Filters stay in the URL; the CSV is the current filter's list.
    assert "AAP-IDF-WEB" not in html.unescape((await web.get("/app/financements?campagne=2026")).text)
    export = await web.get("/app/financements/export")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "AAP-IDF-WEB" in export.text and "AAP-BZH-WEB" not in export.text and "3000000,00" not in export.text
    assert "300000,00" in export.text

    other = await signed_in(client, "other_funder_admin")
    assert "AAP-BZH-WEB" in (await other.get("/app/financements")).text
    assert (await other.get(f"/app/financements/{mine['id']}")).status_code == 404  # FU6
    assert theirs["id"] not in text
    holder = await signed_in(client, "holder_admin")
    assert (await holder.get(f"/app/financements/{mine['id']}")).status_code == 403  # as GET …/projects
    assert "aucun financeur" in html.unescape((await holder.get("/app/financements")).text)


async def test_the_funder_selects_a_project_with_its_signed_decision_and_rejects_another_with_reasons(
        client: Client, world: World, clock: FrozenClock) -> None:
    call = await open_call(client, world, envelope_cents=10_000_000, reference="AAP-IDF-SEL")
    chosen, turned_down = await submitted_need(client, world), await submitted_need(client, world)
    for need in (chosen, turned_down):
        expect(await file_need(client, world, need["id"], call["id"]), 201)
    call_page = f"/app/financements/{call['id']}"
    base = f"{call_page}/projets/{chosen['id']}"

    web = await signed_in(client, "funder_instructor")
    shown = html.unescape((await web.get(call_page)).text)
    assert chosen["title"] in shown and "déposé, à instruire" in shown and f'href="{base}"' in shown
    assert 'enctype="multipart/form-data"' in shown

    # Over the envelope: the service refuses it, naming FU3 and the amount.
    signed = minimal_pdf("Décision de financement n° 2026-17 signée")
    fields = {"montant": "120 000,00", "decide_le": clock.now().date().isoformat(), "reference": "DEC-2026-17"}
    files = {"decision": ("décision 17.pdf", signed, "application/pdf")}
    refusal(await act(web, call_page, f"{base}/selection", fields, files=files), 422, "FU3", "amountCents")
    # Another funder: 404 whatever the form, before anything is read from it (FU6).
    other = await signed_in(client, "other_funder_admin")
    assert (await act(other, "/app/financements", f"{base}/selection", fields, files=files)).status_code == 404

    fields["montant"] = "40 000,01"
    answer = await act(web, call_page, f"{base}/selection", fields, files=files)
    assert answer.status_code == 303 and answer.headers["location"] == base, answer.text[:500]
    funding = expect(await client.get(f"/needs/{chosen['id']}/funding", headers=world["funder_admin"].headers), 200)
    decision = funding["decision"]
    assert (funding["fundingStatus"], decision["amountCents"], decision["reference"]) == (
        "selected", 4_000_001, "DEC-2026-17")
    assert decision["document"]["sha256"] == hashlib.sha256(signed).hexdigest()
    assert decision["document"]["filename"] == "décision 17.pdf"
    assert [t["amountCents"] for t in funding["tranches"]] == [1_600_000, 1_600_000, 800_001]
    page = html.unescape((await web.get(base)).text)
    assert "retenu : décision DEC-2026-17 enregistrée" in page  # the one-shot message
    assert "40\u202f000,01 €" in page and "16\u202f000,00 €" in page and "non demandée" in page
    download = await web.get(f"{base}/decision")
    assert download.status_code == 307 and "X-Amz-Signature" in download.headers["location"]

    # The rejection: blank reasons are no reasons (FU3); then the reasons are kept and the holder's.
    rejected = f"{call_page}/projets/{turned_down['id']}/rejet"
    refusal(await act(web, call_page, rejected, {"motifs": "   "}), 422, "FU3", "reasons")
    answer = await act(web, call_page, rejected, {"motifs": "Hors des priorités régionales."})
    assert answer.status_code == 303 and answer.headers["location"] == call_page
    funding = expect(await client.get(f"/needs/{turned_down['id']}/funding",
                                      headers=world["holder_admin"].headers), 200)
    assert (funding["fundingStatus"], funding["decision"]["reasons"]) == ("rejected", "Hors des priorités régionales.")
    # Decided once (FU3): a second selection is refused with the rule.
    refusal(await act(web, call_page, f"{base}/selection", fields, files=files), 409, "FU3", "status")
    # The holder passes no funder's guard.
    holder = await signed_in(client, "holder_admin")
    assert (await holder.get(base)).status_code == 403


async def test_the_funder_validates_then_pays_a_requested_tranche_through_the_forms(
        client: Client, world: World, clock: FrozenClock) -> None:
    nid, cid = await funded_and_awarded(client, world, clock)
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": 4_200_000}), 201)["id"]
    for person in ("buyer_admin", "vendor_admin"):
        expect(await sign(client, world, kid, person, minimal_pdf(f"signé {person}")), 201)
    kickoff = minimal_pdf("Compte rendu de la réunion de lancement")
    expect(await give_evidence(client, world, nid, 1, kickoff), 200)
    expect(await request_tranche(client, world, nid, 1), 200)
    call_id = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers),
                     200)["call"]["id"]
    base = f"/app/financements/{call_id}/projets/{nid}"

    web = await signed_in(client, "funder_admin")
    page = html.unescape((await web.get(base)).text)
    assert "demandée, à valider ou refuser" in page and "preuve-1.pdf" in page
    assert hashlib.sha256(kickoff).hexdigest() in page and f'href="{base}/tranches/1/preuve"' in page
    evidence = await web.get(f"{base}/tranches/1/preuve")
    assert evidence.status_code == 307 and "X-Amz-Signature" in evidence.headers["location"]

    # FU5's order and stages are the service's: the second tranche isn't requested, so it can't be validated.
    refusal(await act(web, base, f"{base}/tranches/2/validation"), 409, "FU5", "status")
    refusal(await act(web, base, f"{base}/tranches/1/versement",
                      {"verse_le": clock.now().date().isoformat(), "montant": "20 000,00", "reference": "VIR-1"}),
            409, "FU5", "status")  # not validated yet
    # A refusal without reasons is none (FU5).
    refusal(await act(web, base, f"{base}/tranches/1/refus", {"motifs": ""}), 422, "FU5", "reasons")
    # Another funder: 404 (FU6); the holder: 403 (no funder role), as through the API.
    other = await signed_in(client, "other_funder_admin")
    assert (await other.get(base)).status_code == 404
    assert (await act(other, "/app/financements", f"{base}/tranches/1/validation")).status_code == 404
    holder = await signed_in(client, "holder_admin")
    assert (await act(holder, "/app/", f"{base}/tranches/1/validation")).status_code == 403

    answer = await act(web, base, f"{base}/tranches/1/validation")
    assert answer.status_code == 303 and answer.headers["location"] == base
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["holder_admin"].headers), 200)
    assert funding["tranches"][0]["status"] == "validated"
    assert "Tranche 1 validée." in html.unescape((await web.get(base)).text)

    today = clock.now().date().isoformat()
    wrong = {"verse_le": today, "montant": "20 000,01", "reference": "VIR-2026-001"}
    refusal(await act(web, base, f"{base}/tranches/1/versement", wrong), 422, "FU5", "amountCents")
    refusal(await act(web, base, f"{base}/tranches/1/versement", wrong | {"montant": "vingt mille"}), 422, None,
            "montant")
    answer = await act(web, base, f"{base}/tranches/1/versement", wrong | {"montant": "20 000,00"})
    assert answer.status_code == 303, answer.text[:500]
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    first = funding["tranches"][0]
    assert (first["status"], first["paidAmountCents"], first["paymentReference"], first["paidOn"]) == (
        "paid", 2_000_000, "VIR-2026-001", today)
    assert funding["paidCents"] == 2_000_000
    page = html.unescape((await web.get(base)).text)
    assert "Versement de la tranche 1 enregistré." in page and "VIR-2026-001" in page
