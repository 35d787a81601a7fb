"""The contract after the award through the API (machine (e), D18, FU7): created from the award with its own
payment terms (free text and/or instalments adding up to its amount; the funder's 40/40/20 grant is the need's,
tests/funding/), signed by both sides (never before the earliest signature date, once per side) → SIGNED →
ACTIVE, modifications appended without touching the signed amount, and only the two parties see it."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_award import opened_contract, scores
from tests.esign_pki import NOW, contract_xml, issue, pki, sign_cms, sign_pdf, sign_xml
from tests.vendors.api import Client, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")


async def awarded_contract(client: Client, world: World, clock: FrozenClock, *,
                           standstill: bool) -> tuple[str, dict[str, Any]]:
    """A specific contract awarded to the `vendor`'s offer (the buyer's admin is the only evaluator)."""
    cid, offers = await opened_contract(client, world, clock)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    for person, mark in (("vendor_admin", 90), ("other_vendor_admin", 60), ("third_vendor_admin", 50)):
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=admin, json=scores(mark, mark)), 200)
    award = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json={
        "offerId": offers["vendor_admin"], "reasons": "Meilleure offre.", "standstillRequired": standstill}), 201)
    return cid, award


async def sign(client: Client, world: World, contract_id: str, person: str, document: bytes,
               content_type: str = "application/pdf") -> Any:
    """Send the signed contract. An unsigned PDF is signed here first (PAdES, timestamped, with `person`'s
    qualified test certificate), so a test about the contract's life passes any PDF; a signed one goes as is."""
    if content_type == "application/pdf" and document.startswith(b"%PDF") and b"/ByteRange" not in document:
        document = sign_pdf(pki(), pki().signer(person), document)
    return await client.post(f"/contracts/{contract_id}/signatures", content=document,
                             headers={**world[person].headers, "content-type": content_type})


TERMS = "Paiement à 30 jours : 30 % à la commande, 50 % à la recette, 20 % au terme de la première année."
SCHEDULE = [{"label": "À la commande", "amountCents": 300_000},
            {"label": "À la recette", "amountCents": 500_000},
            {"label": "Au terme de la première année", "amountCents": 200_001, "dueOn": "2027-03-01"}]


async def test_contract_signed_activated_with_its_payment_terms_and_modifications(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    admin = world["buyer_admin"].headers

    # Created by the buyer's admin only, once, with its own payment terms (FU7): a schedule says how the whole
    # amount is paid, to the cent.
    body = {"amountCents": 1_000_001, "paymentTerms": TERMS, "paymentSchedule": SCHEDULE}
    short = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                     json=body | {"paymentSchedule": SCHEDULE[:2]}), 422)
    assert (short["rule"], short["field"], short["total"]) == ("FU7", "paymentSchedule", 800_000)
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["other_buyer_admin"].headers,
                             json=body), 404)
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["vendor_admin"].headers,
                             json=body), 403)
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json=body), 201)
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json=body), 409)
    kid = contract["id"]
    assert (contract["status"], contract["amountCents"], contract["currentAmountCents"]) == (
        "pending", 1_000_001, 1_000_001)
    assert contract["paymentTerms"] == TERMS
    assert contract["paymentSchedule"] == [{"label": "À la commande", "amountCents": 300_000, "dueOn": None},
                                           {"label": "À la recette", "amountCents": 500_000, "dueOn": None},
                                           SCHEDULE[2]]
    assert "milestones" not in contract  # the grant's tranches are the funder's, not the contract's (FU7)

    # Only the two parties see it.
    assert expect(await client.get(f"/contracts/{kid}", headers=world["vendor_member"].headers), 200)["id"] == kid
    for person in ("other_buyer_admin", "other_vendor_admin"):
        expect(await client.get(f"/contracts/{kid}", headers=world[person].headers), 404)
    expect(await sign(client, world, kid, "other_vendor_admin", minimal_pdf("intrus")), 404)

    # Signatures: a PDF only, once per side; both → SIGNED → ACTIVE.
    expect(await client.post(f"/contracts/{kid}/signatures", content=b"not a pdf",
                             headers={**world["vendor_admin"].headers, "content-type": "text/plain"}), 415)
    buyer_pdf = sign_pdf(pki(), pki().signer("buyer_admin"), minimal_pdf("signé acheteur"))
    signed = expect(await sign(client, world, kid, "buyer_admin", buyer_pdf), 201)
    assert signed["status"] == "pending"
    assert [(s["side"], s["sha256"], s["size"]) for s in signed["signatures"]] == [
        ("buyer", hashlib.sha256(buyer_pdf).hexdigest(), len(buyer_pdf))]
    # G16: kept with what its offline verification found.
    report = signed["signatures"][0]["verification"]
    assert (report["verdict"], report["format"], report["signatures"][0]["category"]) == (
        "valid", "PAdES", "qualified")
    assert report["signatures"][0]["identity"]["commonName"] == "buyer_admin"
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("encore")), 409)
    vendor_pdf = sign_pdf(pki(), pki().signer("vendor_admin"), minimal_pdf("signé titulaire"))
    active = expect(await sign(client, world, kid, "vendor_admin", vendor_pdf), 201)
    assert active["status"] == "active"
    assert [(t["fromStatus"], t["toStatus"]) for t in active["transitions"]] == [
        (None, "pending"), ("pending", "signed"), ("signed", "active")]
    assert sorted((s["side"], s["sha256"]) for s in active["signatures"]) == [
        ("buyer", hashlib.sha256(buyer_pdf).hexdigest()), ("vendor", hashlib.sha256(vendor_pdf).hexdigest())]
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("encore")), 409)
    specific = await fetch(settings, "SELECT status FROM specific_contract WHERE id = $1", uuid.UUID(cid))
    assert specific[0]["status"] == "contracted"
    # Each signature is told to the other side.
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE about_id = $1 AND kind = "
                       "'contract.signed'", uuid.UUID(kid))
    assert {email_of("vendor_admin"), email_of("buyer_admin")} <= {r["recipient_email"] for r in told}

    # The contract's view still carries the payment terms it was created with.
    done = expect(await client.get(f"/contracts/{kid}", headers=world["vendor_member"].headers), 200)
    assert (done["paymentTerms"], done["paymentSchedule"][2]) == (TERMS, SCHEDULE[2])

    # The signed documents are downloaded by either party (a short-lived link, as an attachment, the bytes as
    # signed); anyone else learns nothing; each download is audited.
    paths = [s["downloadPath"] for s in sorted(done["signatures"], key=lambda s: s["side"])]
    expected = [buyer_pdf, vendor_pdf]
    assert len(paths) == 2
    for path, content in zip(paths, expected, strict=True):
        for person in ("buyer_admin", "vendor_member"):
            redirect = await client.get(path, headers=world[person].headers, follow_redirects=False)
            assert redirect.status_code == 307, redirect.text
            async with httpx.AsyncClient() as raw:
                fetched = await raw.get(redirect.headers["location"])
            assert fetched.status_code == 200 and fetched.content == content
            assert fetched.headers["content-disposition"].startswith("attachment")
        for person in ("other_buyer_admin", "other_vendor_admin"):
            expect(await client.get(path, headers=world[person].headers), 404)
    downloads = await fetch(settings, "SELECT action FROM audit_event WHERE action = 'contract_signature.downloaded'")
    assert len(downloads) == 4

    # Modifications are appended: the signed amount stays, the current one is the last modification's.
    expect(await client.post(f"/contracts/{kid}/modifications", headers=world["vendor_admin"].headers,
                             json={"reason": "?", "amountCents": 1}), 403)
    clock.advance(timedelta(days=30))
    expect(await client.post(f"/contracts/{kid}/modifications", headers=admin,
                             json={"reason": "Module supplémentaire.", "amountCents": 1_100_000}), 201)
    clock.advance(timedelta(days=30))
    modified = expect(await client.post(f"/contracts/{kid}/modifications", headers=admin,
                                        json={"reason": "Extension à un second site.", "amountCents": 1_250_000}), 201)
    assert (modified["status"], modified["amountCents"], modified["currentAmountCents"]) == (
        "active", 1_000_001, 1_250_000)
    assert [(m["previousAmountCents"], m["amountCents"]) for m in modified["modifications"]] == [
        (1_000_001, 1_100_000), (1_100_000, 1_250_000)]
    row = await fetch(settings, "SELECT amount_cents FROM contract WHERE id = $1", uuid.UUID(kid))
    assert row[0]["amount_cents"] == 1_000_001

    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE details->>'contract' = $1 ORDER BY id", kid)]
    assert actions == ["contract.created", "contract.signature_added", "contract.signature_added",
                       "contract.signed", "contract.active"] + ["contract_signature.downloaded"] * 4 + [
                       "contract.modified"] * 2
    created = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'contract.created' AND "
                                    "details->>'contract' = $1", kid)
    assert TERMS in created[0]["details"]


async def test_no_signature_before_the_standstill_ends(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, award = await awarded_contract(client, world, clock, standstill=True)
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract",
                                        headers=world["buyer_admin"].headers, json={"amountCents": 5_000_000}), 201)
    kid = contract["id"]
    assert contract["earliestSignAt"] == award["earliestSignatureAt"]
    for person in ("buyer_admin", "vendor_admin"):
        refused = expect(await sign(client, world, kid, person, minimal_pdf(f"tôt {person}")), 409)
        assert refused["rule"] == "D18"
    clock.advance(timedelta(days=11))
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("titulaire")), 201)
    active = expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("acheteur")), 201)
    assert active["status"] == "active"
    # No payment terms given: none shown (they are the parties' business, FU7).
    assert (active["paymentTerms"], active["paymentSchedule"]) == (None, [])
    stored = await fetch(settings, "SELECT count(*) AS n FROM contract_signature WHERE contract_id = $1",
                         uuid.UUID(kid))
    assert stored[0]["n"] == 2


async def told(settings: Settings, kid: str, kind: str) -> dict[str, str]:
    rows = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE about_id = $1 AND kind = $2",
                       uuid.UUID(kid), kind)
    return {r["recipient_email"]: r["body"] for r in rows}


async def active_contract(client: Client, world: World, clock: FrozenClock) -> tuple[str, str]:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": 3_000_000}), 201)["id"]
    for person in ("buyer_admin", "vendor_admin"):
        expect(await sign(client, world, kid, person, minimal_pdf(f"signé {person}")), 201)
    return cid, kid


async def test_a_pending_contract_is_abandoned_with_reasons(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    admin = world["buyer_admin"].headers
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                   json={"amountCents": 1_500_000}), 201)["id"]
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé acheteur")), 201)
    reasons = "L'attributaire renonce à signer : son offre ne couvre pas l'hébergement HDS."
    path = f"/contracts/{kid}/cancellation"
    # Pending, it can't be terminated; only the buyer's admin abandons it.
    ended = expect(await client.post(f"/contracts/{kid}/termination", headers=admin,
                                     json={"kind": "terminated_early", "reasons": reasons}), 409)
    assert ended["field"] == "status"
    expect(await client.post(path, headers=world["vendor_admin"].headers, json={"reasons": reasons}), 403)
    expect(await client.post(path, headers=world["other_buyer_admin"].headers, json={"reasons": reasons}), 404)
    expect(await client.post(path, headers=admin, json={"reasons": ""}), 400)
    abandoned = expect(await client.post(path, headers=admin, json={"reasons": reasons}), 200)
    assert abandoned["status"] == "cancelled"
    last = abandoned["transitions"][-1]
    assert (last["fromStatus"], last["toStatus"], last["action"], last["reasons"]) == (
        "pending", "cancelled", "abandon", reasons)
    # The other side is told, with the reasons.
    assert reasons in (await told(settings, kid, "contract.cancelled"))[email_of("vendor_admin")]
    # Final: not again, no more signature.
    expect(await client.post(path, headers=admin, json={"reasons": reasons}), 409)
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("trop tard")), 409)
    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE details->>'contract' = $1 ORDER BY id", kid)]
    assert actions[-1] == "contract.cancelled"
    # The specific contract stays awarded: the buyer then declares it sans suite (one contract per award).
    assert expect(await client.get(f"/specific-contracts/{cid}", headers=admin), 200)["status"] == "award_decided"
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json={"amountCents": 1}), 409)
    sans_suite = expect(await client.post(f"/specific-contracts/{cid}/cancellation", headers=admin,
                                          json={"reasons": reasons}), 200)
    assert sans_suite["abandonedContractId"] is None and sans_suite["cancelledAwardId"] is not None


async def test_an_active_contract_is_completed_with_reasons_whatever_the_grant(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, kid = await active_contract(client, world, clock)
    admin = world["buyer_admin"].headers
    path = f"/contracts/{kid}/termination"
    body = {"kind": "completed", "reasons": "Déploiement achevé, usage vérifié dans les trois établissements."}
    # Signed: neither abandoned nor declared sans suite any more.
    expect(await client.post(f"/contracts/{kid}/cancellation", headers=admin, json={"reasons": "?"}), 409)
    expect(await client.post(f"/specific-contracts/{cid}/cancellation", headers=admin, json={"reasons": "?"}), 409)
    expect(await client.post(path, headers=world["vendor_admin"].headers, json=body), 403)
    expect(await client.post(path, headers=admin, json={"kind": "abandoned", "reasons": "?"}), 400)
    # FU7: the contract waits for no funding milestone (the grant's tranches are the need's, with its funder).
    completed = expect(await client.post(path, headers=admin, json=body), 200)
    assert completed["status"] == "terminated"
    last = completed["transitions"][-1]
    assert (last["fromStatus"], last["toStatus"], last["action"], last["reasons"]) == (
        "active", "terminated", "completed", body["reasons"])
    assert body["reasons"] in (await told(settings, kid, "contract.completed"))[email_of("vendor_admin")]
    # Terminated is final: no second end, no modification.
    expect(await client.post(path, headers=admin, json={"kind": "terminated_early", "reasons": "?"}), 409)
    expect(await client.post(f"/contracts/{kid}/modifications", headers=admin,
                             json={"reason": "Avenant", "amountCents": 3_100_000}), 409)
    audited = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'contract.terminated' AND "
                          "details->>'contract' = $1", kid)
    assert len(audited) == 1 and '"completed"' in audited[0]["details"]


async def test_an_active_contract_is_terminated_early_with_reasons(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    _, kid = await active_contract(client, world, clock)
    admin = world["buyer_admin"].headers
    reasons = "Résiliation pour faute : le titulaire n'a pas livré le module de facturation."
    ended = expect(await client.post(f"/contracts/{kid}/termination", headers=admin,
                                     json={"kind": "terminated_early", "reasons": reasons}), 200)
    assert (ended["status"], ended["transitions"][-1]["action"]) == ("terminated", "terminated_early")
    assert reasons in (await told(settings, kid, "contract.terminated_early"))[email_of("vendor_admin")]
    # The routes of the funding milestones the contract once had are gone (FU7).
    gone = await client.post(f"/contracts/{kid}/milestones/start/validate", content=minimal_pdf("x"),
                             headers={**admin, "content-type": "application/pdf"})
    assert gone.status_code in (404, 405)


async def pending_contract(client: Client, world: World, clock: FrozenClock) -> str:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    return expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                    json={"amountCents": 2_000_000}), 201)["id"]


async def test_signatures_are_verified_offline_and_refusals_name_the_failing_check(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """G16 at the door: each refusal names the body, the rule and the failing check, carries the report, is
    audited apart, and leaves no signature and no object behind; CAdES and XAdES are accepted as well."""
    kid = await pending_contract(client, world, clock)
    buyer = pki().signer("buyer_admin")

    async def refused(document: bytes, status: int, check: str, content_type: str = "application/pdf") -> Any:
        problem = expect(await client.post(f"/contracts/{kid}/signatures", content=document,
                                           headers={**world["buyer_admin"].headers, "content-type": content_type}),
                         status)
        assert (problem["field"], problem["rule"], problem["check"]) == ("body", "G16", check), problem
        return problem

    # Unsupported: an unsigned PDF, bytes that are no signature format, content unlike its declared type.
    unsigned = await refused(minimal_pdf("jamais signé"), 415, "format")
    assert unsigned["type"].endswith("/problems/signature-unsupported")
    assert unsigned["verification"]["verdict"] == "unsupported"
    await refused(b"\x00\x01 ceci n'est pas une signature", 415, "format")
    cades = sign_cms(pki(), buyer, minimal_pdf("contrat en CAdES"))
    assert "CAdES" in (await refused(cades, 415, "format"))["detail"]
    # Invalid: one byte changed after signing; a certificate expired at signing time.
    signed = sign_pdf(pki(), buyer, minimal_pdf("contrat à altérer"))
    at = signed.index(b"contrat")
    tampered = await refused(signed[:at] + b"C" + signed[at + 1:], 422, "integrity")
    assert tampered["type"].endswith("/problems/signature-invalid")
    assert tampered["verification"]["signatures"][0]["checks"]["integrity"]["status"] == "failed"
    expired = issue("Périmé", "Acheteur", pki().qualified_ca, qualified=True,
                    not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    await refused(sign_pdf(pki(), expired, minimal_pdf("signé trop tard")), 422, "validity")
    # Valid but not qualified: refused, since public contracts need a qualified certificate by default.
    advanced = issue("Avancé", "Acheteur", pki().advanced_ca)
    category = await refused(sign_pdf(pki(), advanced, minimal_pdf("signature avancée")), 422, "category")
    assert category["verification"]["verdict"] == "valid"
    assert category["verification"]["signatures"][0]["category"] == "not_qualified"

    refusals = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'contract.signature_refused' "
                           "AND details->>'contract' = $1 ORDER BY id", kid)
    assert [json.loads(r["details"])["check"] for r in refusals] == [
        "format", "format", "format", "integrity", "validity", "category"]
    assert await fetch(settings, "SELECT id FROM contract_signature WHERE contract_id = $1", uuid.UUID(kid)) == []

    # CAdES enveloping the document for the buyer, XAdES enveloped for the vendor: both accepted → ACTIVE.
    expect(await sign(client, world, kid, "buyer_admin", cades, "application/pkcs7-signature"), 201)
    xades = sign_xml(pki().signer("vendor_admin"), contract_xml("Marché signé en XAdES"))
    active = expect(await sign(client, world, kid, "vendor_admin", xades, "application/xml"), 201)
    assert active["status"] == "active"
    shown = {s["side"]: s for s in expect(await client.get(f"/contracts/{kid}",
                                                            headers=world["vendor_member"].headers), 200)["signatures"]}
    assert (shown["buyer"]["mediaType"], shown["buyer"]["verification"]["format"],
            shown["buyer"]["verification"]["packaging"]) == ("application/pkcs7-signature", "CAdES", "enveloping")
    vendor = shown["vendor"]["verification"]["signatures"][0]
    assert (shown["vendor"]["mediaType"], vendor["category"], vendor["signingTime"]["source"]) == (
        "application/xml", "qualified", "claimed")
    assert set(vendor["checks"]) == {"integrity", "timestamp", "validity", "chain", "revocation", "category"}
    # Downloaded as sent, under a name that says what it is.
    for side, content, extension in (("buyer", cades, ".p7s"), ("vendor", xades, ".xml")):
        redirect = await client.get(shown[side]["downloadPath"], headers=world["buyer_admin"].headers,
                                    follow_redirects=False)
        assert redirect.status_code == 307, redirect.text
        async with httpx.AsyncClient() as raw:
            fetched = await raw.get(redirect.headers["location"])
        assert fetched.content == content
        assert f'signature-{side}{extension}"' in fetched.headers["content-disposition"]
    added = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'contract.signature_added' "
                        "AND details->>'contract' = $1 ORDER BY id", kid)
    assert [json.loads(r["details"])["format"] for r in added] == ["CAdES", "XAdES"]


async def test_a_test_deployment_may_accept_signatures_that_are_not_qualified(
        world: World, clock: FrozenClock, settings: Settings) -> None:
    """MARKETPLACE_ESIGN_REQUIRE_QUALIFIED=false (test deployments): a valid advanced signature is kept, reported as not
    qualified; an invalid one is still refused."""
    relaxed = create_app(settings.with_(esign_require_qualified=False), clock=clock)
    async with AsyncTestClient(app=relaxed) as client:
        kid = await pending_contract(client, world, clock)
        advanced = issue("Avancé", "Acheteur", pki().advanced_ca)
        rogue = issue("Inconnu", "Acheteur", pki().rogue_ca)
        refused = expect(await sign(client, world, kid, "buyer_admin",
                                    sign_pdf(pki(), rogue, minimal_pdf("autorité inconnue"))), 422)
        assert (refused["rule"], refused["check"]) == ("G16", "chain")
        kept = expect(await sign(client, world, kid, "buyer_admin",
                                 sign_pdf(pki(), advanced, minimal_pdf("signature avancée"))), 201)
        report = kept["signatures"][0]["verification"]
        assert (report["verdict"], report["signatures"][0]["category"]) == ("valid", "not_qualified")
