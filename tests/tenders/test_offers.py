"""Sealed offers: drafts, streamed sealed attachments, submission to the second (D14, P2), signed receipts,
idempotent submission (G7), nothing readable before the opening (D13, P3–P4), the k-of-n opening (P6)
and integrity re-checked at the opening and at each download (P9)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import secrets
import subprocess
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from pypdf import PdfReader

from marketplace.app import asyncpg_dsn
from marketplace.devstack.postgres import _bin
from marketplace.lib.clock import FrozenClock
from marketplace.lib.sealing import verify
from marketplace.settings import Settings
from tests.tenders.test_publication import OPENER_PASSPHRASE, admit, ensure_opener, publish, submitted_need
from tests.vendors.api import (
    Client,
    _minio,
    audit_actions,
    categories_by_pair,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
# 2026-02-17 09:00 in Paris (winter time): the tender deadline of every contract below.
DEADLINE = datetime(2026, 2, 17, 8, 0, tzinfo=UTC)
PARTS = {"priceSchedule": [{"item": "Licence DUI, 40 postes", "quantity": 1, "unitPriceCents": 4_800_000}],
         "answers": [{"criterion": "Prix", "answer": "Prix ferme."},
                     {"criterion": "Valeur technique", "answer": "Mémoire technique joint."}]}


async def open_contract(client: Client, world: World, clock: FrozenClock, **options: Any) -> dict[str, Any]:
    """A contract open until DEADLINE with `vendor` and `other_vendor` invited (`third_vendor` is not)."""
    dps = await open_dps(client, world, clock)
    categories = categories_by_pair(dps)
    await admit(client, world, world["vendor_admin"], categories["grand_age", "saas"])
    await admit(client, world, world["other_vendor_admin"], categories["grand_age", "saas"])
    await admit(client, world, world["third_vendor_admin"], categories["grand_age", "hosted"])
    need = await submitted_need(client, world)
    return dict(expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00", **options), 201))


async def prepared_offer(client: Client, world: World, contract_id: str, person: str = "vendor_admin", *,
                         files: dict[str, bytes] | None = None, parts: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = world[person].headers
    offer = expect(await client.post(f"/specific-contracts/{contract_id}/offers", headers=headers), 201)
    expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers, json=parts or PARTS), 200)
    for name, content in (files or {"offre.pdf": minimal_pdf(f"offre {person}")}).items():
        expect(await client.put(f"/offers/{offer['id']}/attachments", content=content,
                                headers={**headers, "content-type": "application/pdf", "x-filename": quote(name)}),
               201)
    return offer


async def submit(client: Client, world: World, offer_id: str, person: str = "vendor_admin",
                 key: str | None = None) -> httpx.Response:
    headers = {**world[person].headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post(f"/offers/{offer_id}/submit", headers=headers)


async def open_offers(client: Client, world: World, contract_id: str, *openers: str,
                      person: str = "buyer_admin", passphrase: str = OPENER_PASSPHRASE) -> httpx.Response:
    body = {"openers": [{"openerKeyId": world.opener_keys[p], "passphrase": passphrase} for p in openers or (person,)]}
    return await client.post(f"/specific-contracts/{contract_id}/opening", headers=world[person].headers, json=body)


async def test_an_offer_is_sealed_until_the_opening_then_read_back_intact(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    cid = contract["id"]
    # Only invited vendors' admins or bid managers prepare offers.
    assert (await client.post(f"/specific-contracts/{cid}/offers",
                              headers=world["third_vendor_admin"].headers)).status_code == 404
    assert (await client.post(f"/specific-contracts/{cid}/offers",
                              headers=world["vendor_member"].headers)).status_code == 403
    memo, annex = minimal_pdf("mémoire technique"), minimal_pdf("annexe financière", size=200_000)
    offer = await prepared_offer(client, world, cid, files={"Mémoire technique.pdf": memo, "Annexe.pdf": annex})
    # One draft at a time.
    assert (await client.post(f"/specific-contracts/{cid}/offers",
                              headers=world["vendor_admin"].headers)).status_code == 409
    clock.advance(timedelta(seconds=5))
    receipt = expect(await submit(client, world, offer["id"]), 200)
    body = receipt["receipt"]
    assert body["offer"] == offer["id"] and body["version"] == 1
    assert [(f["name"], f["size"], f["sha256"]) for f in body["files"]] == [
        ("Mémoire technique.pdf", len(memo), hashlib.sha256(memo).hexdigest()),
        ("Annexe.pdf", len(annex), hashlib.sha256(annex).hexdigest())]
    assert datetime.fromisoformat(body["receivedEnd"]) == clock.now() < DEADLINE
    assert datetime.fromisoformat(body["receivedStart"]) < datetime.fromisoformat(body["receivedEnd"])

    # The receipt verifies with the published key, and not once changed (must show 7).
    jwk = expect(await client.get("/receipts/public-key"), 200)
    assert jwk["kid"] == receipt["kid"] and verify(body, receipt["signature"], jwk)
    for field, value in (("receivedEnd", "2026-02-01T00:00:00+00:00"), ("version", 2),
                         ("manifestSha256", "0" * 64)):
        assert not verify({**body, field: value}, receipt["signature"], jwk)
    assert not verify({**body, "files": body["files"][:1]}, receipt["signature"], jwk)
    # As a PDF, carrying the signed JSON: it verifies on its own.
    pdf = await client.get(f"/offers/{offer['id']}/receipt.pdf", headers=world["vendor_member"].headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    # A file like any other (lib/http.py `download`): an attachment, kept by no cache.
    assert pdf.headers["content-disposition"].startswith("attachment")
    assert pdf.headers["cache-control"] == "private, no-store"
    attached = PdfReader(io.BytesIO(pdf.content)).attachments
    embedded = json.loads(attached["receipt.json"][0])
    assert embedded == body and verify(embedded, receipt["signature"], jwk)
    # The author fetches it again, the same.
    assert expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_member"].headers),
                  200) == receipt
    mine = expect(await client.get(f"/offers/{offer['id']}", headers=world["vendor_member"].headers), 200)
    assert mine["status"] == "submitted" and [a["filename"] for a in mine["attachments"]] == [
        "Mémoire technique.pdf", "Annexe.pdf"]

    # Before the deadline: the buyer learns nothing, not even how many offers there are; others 404.
    sealed = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_admin"].headers), 403)
    assert sealed["rule"] == "D13" and "received" not in sealed
    for person in ("buyer_admin", "other_vendor_admin", "third_vendor_admin"):
        assert (await client.get(f"/offers/{offer['id']}", headers=world[person].headers)).status_code in (403, 404)
        assert (await client.get(f"/offers/{offer['id']}/receipt",
                                 headers=world[person].headers)).status_code in (403, 404)
    assert (await client.get(f"/offers/{offer['id']}/unsealed-parts",
                             headers=world["buyer_admin"].headers)).status_code == 403
    assert expect(await open_offers(client, world, cid), 403)["reason"] == "before-deadline"

    # At the deadline: how many, nothing more; then the opening.
    clock.set(DEADLINE)
    count = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_admin"].headers), 200)
    assert (count["received"], count["opened"], count["offers"]) == (1, False, [])
    refused = expect(await open_offers(client, world, cid, passphrase="pas la bonne phrase"), 403)
    assert refused["reason"] == "not-enough-openers"
    record = expect(await open_offers(client, world, cid), 200)
    document = record["document"]
    assert [o["offer"] for o in document["offers"]] == [offer["id"]]
    assert [f["integrity"] for f in document["offers"][0]["files"]] == ["verified", "verified"]
    assert verify(document, record["signature"], jwk)
    assert document["openedBy"] == [str(world["buyer_admin"].user_id)]

    listed = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_evaluator"].headers),
                    200)
    files = listed["offers"][0]["attachments"]
    assert [f["filename"] for f in files] == ["Mémoire technique.pdf", "Annexe.pdf"]
    # No scanner in this test: the files have no verdict, so they are taken knowingly unscanned.
    assert files[0]["scanStatus"] == "pending"
    assert (await client.get(files[0]["downloadPath"], headers=world["buyer_evaluator"].headers)).status_code == 409
    downloaded = await client.get(files[0]["downloadPath"], headers=world["buyer_evaluator"].headers,
                                  params={"acceptUnscanned": "true"})
    assert downloaded.status_code == 200 and downloaded.content == memo
    assert downloaded.headers["content-disposition"].startswith("attachment")
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    # An unsealed offer's file is kept by no shared cache and by no disk cache (lib/http.py `download`).
    assert downloaded.headers["cache-control"] == "private, no-store"
    assert downloaded.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert downloaded.headers["content-type"] == "application/pdf"
    assert expect(await client.get(f"/offers/{offer['id']}/unsealed-parts",
                                   headers=world["buyer_admin"].headers), 200) == PARTS
    assert (await client.get(f"/offers/{offer['id']}/unsealed-parts",
                             headers=world["other_buyer_admin"].headers)).status_code == 404
    # Every attempt is audited, the refused ones too.
    assert await audit_actions(settings, cid) == [
        "specific_contract.published", "offers.read_refused_sealed", "specific_contract.opening_refused",
        "specific_contract.opening_refused", "specific_contract.opened"]


async def test_received_strictly_before_the_deadline_to_the_microsecond(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """D14 / P2 / G3 (a): at D − 1 µs accepted; at D and D + 1 µs refused; the database refuses it too."""
    contract = await open_contract(client, world, clock)
    early = await prepared_offer(client, world, contract["id"])
    late = await prepared_offer(client, world, contract["id"], "other_vendor_admin")
    clock.set(DEADLINE - timedelta(microseconds=1))
    assert expect(await submit(client, world, early["id"]), 200)["receipt"]["receivedEnd"] == \
        "2026-02-17T07:59:59.999999+00:00"
    for at in (DEADLINE, DEADLINE + timedelta(microseconds=1)):
        clock.set(at)
        refused = expect(await submit(client, world, late["id"], "other_vendor_admin"), 409)
        assert refused["rule"] == "D14" and refused["field"] == "tenderDeadline"
    late_audit = await fetch(settings, "SELECT details FROM audit_event WHERE action = "
                                       "'offer.submission_refused_late' ORDER BY id")
    assert len(late_audit) == 2 and '"started_before_deadline": true' in late_audit[0]["details"]
    # Bypassing the application: the trigger refuses a submitted row received at the deadline.
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="D14"):
            await conn.execute("UPDATE offer SET status = 'submitted', received_at = $2 WHERE id = $1",
                               uuid.UUID(late["id"]), DEADLINE)
    finally:
        await conn.close()
    # The opening record lists the late one apart.
    clock.set(DEADLINE + timedelta(minutes=1))
    document = expect(await open_offers(client, world, contract["id"]), 200)["document"]
    assert [o["offer"] for o in document["offers"]] == [early["id"]]
    assert [entry["offer"] for entry in document["late"]] == [late["id"], late["id"]]


async def test_a_new_version_supersedes_and_a_withdrawn_offer_is_out(
        client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    first = await prepared_offer(client, world, contract["id"])
    expect(await submit(client, world, first["id"]), 200)
    second = await prepared_offer(client, world, contract["id"], files={"v2.pdf": minimal_pdf("v2")})
    assert second["version"] == 2
    expect(await submit(client, world, second["id"]), 200)
    withdrawn = await prepared_offer(client, world, contract["id"], "other_vendor_admin")
    expect(await submit(client, world, withdrawn["id"], "other_vendor_admin"), 200)
    assert expect(await client.post(f"/offers/{withdrawn['id']}/withdraw",
                                    headers=world["other_vendor_admin"].headers), 200)["status"] == "withdrawn"
    versions = expect(await client.get(f"/specific-contracts/{contract['id']}/my-offers",
                                       headers=world["vendor_member"].headers), 200)
    assert [(v["version"], v["status"]) for v in versions] == [(1, "superseded"), (2, "submitted")]
    clock.set(DEADLINE)
    assert expect(await client.get(f"/specific-contracts/{contract['id']}/offers",
                                   headers=world["buyer_admin"].headers), 200)["received"] == 1
    assert (await client.post(f"/offers/{second['id']}/withdraw",
                              headers=world["vendor_admin"].headers)).status_code == 409
    document = expect(await open_offers(client, world, contract["id"]), 200)["document"]
    assert [o["offer"] for o in document["offers"]] == [second["id"]]
    assert [o["offer"] for o in document["superseded"]] == [first["id"]]
    assert [o["offer"] for o in document["withdrawn"]] == [withdrawn["id"]]


async def test_an_opening_that_finds_no_offer_is_an_opening_all_the_same(
        client: Client, world: World, clock: FrozenClock) -> None:
    """Found by tests/awards/test_state_machine.py: with nothing submitted, the list of the offers still
    said `opened: false` after the opening, as if the buyer could open them again."""
    contract = await open_contract(client, world, clock)
    await prepared_offer(client, world, contract["id"])  # a draft, never submitted: not an offer
    clock.set(DEADLINE)
    url = f"/specific-contracts/{contract['id']}/offers"
    before = expect(await client.get(url, headers=world["buyer_admin"].headers), 200)
    assert (before["received"], before["opened"], before["offers"]) == (0, False, [])
    assert expect(await open_offers(client, world, contract["id"]), 200)["document"]["offers"] == []
    after = expect(await client.get(url, headers=world["buyer_admin"].headers), 200)
    assert (after["received"], after["opened"], after["offers"]) == (0, True, [])
    assert (await open_offers(client, world, contract["id"])).status_code == 409


async def test_fifty_identical_submissions_with_one_key_make_one_version_and_one_receipt(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """G7 (must show 4)."""
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    responses = await asyncio.gather(*(submit(client, world, offer["id"], key="remise-1") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    rows = await fetch(settings, "SELECT status::text AS s, count(*) AS n FROM offer GROUP BY 1")
    assert {r["s"]: r["n"] for r in rows} == {"submitted": 1}
    assert len(await fetch(settings, "SELECT id FROM audit_event WHERE action = 'offer.submitted'")) == 1
    # The same key for another request is refused.
    other = await prepared_offer(client, world, contract["id"], "other_vendor_admin")
    assert (await submit(client, world, other["id"], "other_vendor_admin", key="remise-1")).status_code == 200
    again = await prepared_offer(client, world, contract["id"], files={"v2.pdf": minimal_pdf("v2")})
    reused = expect(await submit(client, world, again["id"], key="remise-1"), 422)
    assert reused["field"] == "Idempotency-Key"


async def test_opening_needs_k_of_the_n_openers(client: Client, world: World, clock: FrozenClock,
                                                settings: Settings) -> None:
    """P6 / G2: two of the three openers, the caller among them, with their passphrases."""
    await ensure_opener(client, world, "buyer_opener")
    await ensure_opener(client, world, "buyer_admin")
    contract = await open_contract(client, world, clock, openingThreshold=2)
    offer = await prepared_offer(client, world, contract["id"])
    expect(await submit(client, world, offer["id"]), 200)
    clock.set(DEADLINE)
    assert expect(await open_offers(client, world, contract["id"], "buyer_admin"), 403)["reason"] == \
        "not-enough-openers"
    # The caller must be one of the openers whose passphrases are given.
    assert expect(await open_offers(client, world, contract["id"], "buyer_opener"), 403)["reason"] == \
        "caller-not-among-openers"
    assert (await open_offers(client, world, contract["id"], "buyer_admin", "buyer_opener",
                              person="buyer_evaluator")).status_code == 403
    record = expect(await open_offers(client, world, contract["id"], "buyer_admin", "buyer_opener"), 200)
    assert sorted(record["document"]["openedBy"]) == sorted(
        [str(world["buyer_admin"].user_id), str(world["buyer_opener"].user_id)])
    refusals = await fetch(settings, "SELECT count(*) AS n FROM audit_event WHERE action = "
                                     "'specific_contract.opening_refused'")
    assert refusals[0]["n"] == 2  # the evaluator was stopped by the role guard, before the service
    # Publishing asks for as many openers as the threshold.
    need = await submitted_need(client, world)
    dps_id = contract["dpsId"]
    too_many = expect(await publish(client, world, need["id"], dps_id, "2026-03-20T09:00:00",
                                    openingThreshold=3), 422)
    assert too_many["field"] == "openingThreshold" and too_many["rule"] == "D13"


async def test_a_flipped_byte_or_an_edited_hash_is_caught_and_blocks_only_that_file(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """P9 / G5 (must show 5): at the opening and at each download; audited."""
    contract = await open_contract(client, world, clock)
    files = {name: minimal_pdf(name) for name in ("a.pdf", "b.pdf", "c.pdf")}
    offer = await prepared_offer(client, world, contract["id"], files=files)
    expect(await submit(client, world, offer["id"]), 200)
    rows = {r["sha256"]: r for r in await fetch(settings, "SELECT id, object_key, sha256 FROM offer_attachment")}
    by_name = {name: rows[hashlib.sha256(content).hexdigest()] for name, content in files.items()}
    # a.pdf: one byte flipped in the bucket; b.pdf: its recorded hash edited; c.pdf untouched.
    minio = _minio(settings)
    key = by_name["a.pdf"]["object_key"]
    stored = bytearray(minio.get_object(bucket_name=settings.s3_bucket, object_name=key).read())
    stored[len(stored) // 2] ^= 0x01
    minio.put_object(bucket_name=settings.s3_bucket, object_name=key, data=io.BytesIO(bytes(stored)),
                     length=len(stored))
    await fetch(settings, "UPDATE offer_attachment SET sha256 = $2 WHERE id = $1", by_name["b.pdf"]["id"],
                hashlib.sha256(b"forged").hexdigest())
    clock.set(DEADLINE)
    document = expect(await open_offers(client, world, contract["id"]), 200)["document"]
    integrity = {f["attachment"]: f["integrity"] for f in document["offers"][0]["files"]}
    assert integrity == {str(by_name["a.pdf"]["id"]): "mismatch", str(by_name["b.pdf"]["id"]): "mismatch",
                         str(by_name["c.pdf"]["id"]): "verified"}
    assert sorted(document["blockedFiles"]) == sorted([str(by_name["a.pdf"]["id"]), str(by_name["b.pdf"]["id"])])
    base = f"/offers/{offer['id']}/attachments"
    buyer = world["buyer_admin"].headers
    assert expect(await client.get(f"{base}/{by_name['a.pdf']['id']}/content", headers=buyer), 409)["field"] == \
        "sha256"
    # No scanner here: the intact file is served to a reader who takes it unscanned.
    assert (await client.get(f"{base}/{by_name['c.pdf']['id']}/content", headers=buyer,
                             params={"acceptUnscanned": "true"})).content == files["c.pdf"]
    flagged = await fetch(settings, "SELECT target_id, details FROM audit_event WHERE action = "
                                    "'offer_attachment.integrity_mismatch' ORDER BY id")
    assert [r["target_id"] for r in flagged] == [str(by_name["a.pdf"]["id"]), str(by_name["b.pdf"]["id"]),
                                                 str(by_name["a.pdf"]["id"])]
    assert '"download"' in flagged[-1]["details"]


# Who asks before the opening, by conduct mode (HC1): the buying side (the central purchasing body when
# centralised, the holder in intermediation, HC2), whoever follows or holds the procedure, the operator, another
# holder, a vendor not invited, another buyer and the funder of the need (FU6). Nobody of them reads a canary
# (D13 holds whoever buys).
CANARY_ASKERS = {
    "centralised": ("buyer_admin", "buyer_evaluator", "buyer_opener", "platform_admin", "third_vendor_admin",
                    "holder_admin", "holder_evaluator", "holder_opener", "other_buyer_admin", "funder_admin",
                    "funder_instructor"),
    "intermediation": ("holder_admin", "holder_evaluator", "holder_opener", "holder_member", "buyer_admin",
                       "buyer_evaluator", "platform_admin", "third_vendor_admin", "other_holder_admin",
                       "other_buyer_admin", "funder_admin", "funder_instructor"),
}
# The holder's two openers (an opener and its admin) open an intermediated contract, 1 of 2.
HOLDER_OPENERS = ("holder_opener", "holder_admin")


async def _canary_contract(client: Client, world: World, clock: FrozenClock, mode: str) -> dict[str, Any]:
    if mode == "centralised":
        return await open_contract(client, world, clock)
    dps = await open_dps(client, world, clock, conduct_mode="intermediation")
    categories = categories_by_pair(dps)
    await admit(client, world, world["vendor_admin"], categories["grand_age", "saas"])
    await admit(client, world, world["other_vendor_admin"], categories["grand_age", "saas"])
    need = await submitted_need(client, world)
    return dict(expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00",
                                     person="holder_admin", openers=HOLDER_OPENERS), 201))


@pytest.mark.parametrize("mode", ["centralised", "intermediation"])
async def test_canaries_appear_nowhere_before_the_opening_but_to_their_author(
        client: Client, world: World, clock: FrozenClock, settings: Settings,
        caplog: pytest.LogCaptureFixture, mode: str) -> None:
    """G1 / P3–P4 (must show 2): not in any response to others, any log line, the database or the bucket,
    whoever the buying side is (HC2, HC3)."""
    caplog.set_level("DEBUG")
    contract = await _canary_contract(client, world, clock, mode)
    canaries = {person: secrets.token_hex(16) for person in ("vendor_admin", "other_vendor_admin")}
    responses: list[httpx.Response] = []
    for person, canary in canaries.items():
        parts = {**PARTS, "answers": [{"criterion": "Prix", "answer": f"Prix {canary}"},
                                      {"criterion": "Valeur technique", "answer": canary}]}
        offer = await prepared_offer(client, world, contract["id"], person, parts=parts,
                                     files={f"offre-{canary}.pdf": minimal_pdf(f"contenu {canary}")})
        expect(await submit(client, world, offer["id"], person), 200)
    # Everything others can ask before the deadline.
    cid = contract["id"]
    for person in CANARY_ASKERS[mode]:
        for path in (f"/specific-contracts/{cid}/offers", f"/specific-contracts/{cid}", f"/offers/{offer['id']}",
                     f"/offers/{offer['id']}/receipt", f"/offers/{offer['id']}/unsealed-parts",
                     f"/specific-contracts/{cid}/opening", "/my/invitations", f"/specific-contracts/{cid}/my-offers",
                     f"/needs/{contract['needId']}", f"/needs/{contract['needId']}/funding"):
            responses.append(await client.get(path, headers=world[person].headers))
    other_view = responses
    for canary in canaries.values():
        assert not [r.url for r in other_view if canary in r.text]
        assert canary not in caplog.text
    # pg_dump of the whole database (the embedded PostgreSQL's own, matching the server's version), and
    # every object of the bucket as fetched directly.
    dump = (await asyncio.to_thread(
        subprocess.run, [_bin("pg_dump"), "--data-only", "--dbname", asyncpg_dsn(settings.migration_url)],
        capture_output=True, check=True, timeout=120)).stdout
    assert b"COPY public.offer_attachment" in dump
    minio = _minio(settings)
    listed_keys = [o.object_name for o in minio.list_objects(bucket_name=settings.s3_bucket, recursive=True)]
    ours = {r["object_key"] for r in await fetch(settings, "SELECT object_key FROM offer_attachment")}
    assert len(ours) == 2 and ours <= set(listed_keys)
    objects = [_raw_object(settings, key) for key in listed_keys]
    for canary in canaries.values():
        assert canary.encode() not in dump and canary.encode().hex().encode() not in dump
        assert not [o for o in objects if canary.encode() in o]
    # The author sees its own file names back; after the opening, the buyer reads everything.
    assert canaries["other_vendor_admin"] in (await client.get(
        f"/offers/{offer['id']}", headers=world["other_vendor_admin"].headers)).text
    clock.set(DEADLINE)
    buyer = "buyer_admin" if mode == "centralised" else "holder_admin"
    expect(await open_offers(client, world, cid, person=buyer), 200)
    listed = (await client.get(f"/specific-contracts/{cid}/offers", headers=world[buyer].headers)).text
    parts = (await client.get(f"/offers/{offer['id']}/unsealed-parts", headers=world[buyer].headers)).text
    assert all(c in listed for c in canaries.values()) and canaries["other_vendor_admin"] in parts


def _zip(entries: dict[str, bytes], *, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_upload_attacks_are_refused_or_neutralised_and_leave_nothing(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """reliability.md §2.7, G11 (must show 6): sizes, lying types, archives, names, active content."""
    contract = await open_contract(client, world, clock, attachmentMaxBytes=64 * 1024,
                                   attachmentTypes=["application/pdf", "application/zip"])
    headers = world["vendor_admin"].headers
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
    url = f"/offers/{offer['id']}/attachments"

    async def put(content: bytes, name: str = "piece.pdf", content_type: str = "application/pdf",
                  **extra: str) -> httpx.Response:
        return await client.put(url, content=content, headers={**headers, "content-type": content_type,
                                                               "x-filename": quote(name), **extra})

    before = {o.object_name for o in _minio(settings).list_objects(bucket_name=settings.s3_bucket,
                                                                  prefix="offers/", recursive=True)}
    # Oversized: declared (refused before reading) and streamed without a length.
    assert expect(await put(minimal_pdf("big", size=65 * 1024)), 413)["field"] == "Content-Length"

    async def chunked() -> Any:
        yield minimal_pdf("head")
        for _ in range(20):
            yield b"%" + b"x" * 8190 + b"\n"

    async def send() -> httpx.Response:
        # The test client reads a body whole: chunked transfer goes through httpx's ASGI transport, in the
        # app's own event loop (as tests/vendors/api.streamed_upload does).
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app),
                                     base_url="http://testserver.local") as raw:
            return await raw.put(url, content=chunked(), headers={**headers, "content-type": "application/pdf",
                                                                  "x-filename": "gros.pdf"})

    streamed = await asyncio.to_thread(client.blocking_portal.call, send)
    assert streamed.status_code == 413 and "content-length" not in streamed.request.headers
    # Types: a PNG, an HTML page, an SVG and an executable sent as PDFs; a type not allowed at all.
    for body in (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b"<!DOCTYPE html><script>alert(1)</script>",
                 b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', b"MZ\x90\x00" + b"\0" * 64):
        assert (await put(body)).status_code == 415
    assert (await put(minimal_pdf("x"), content_type="text/html")).status_code == 415
    # Archives: a bomb (10 MiB of zeros deflated ~1000:1), zip-slip and nested archives are refused.
    bomb = _zip({"zeros.bin": b"\0" * (10 * 1024 * 1024)})
    assert len(bomb) < 64 * 1024
    refused = expect(await put(bomb, "annexes.zip", "application/zip"), 422)
    assert refused["field"] == "body" and refused["reasons"]
    assert (await put(_zip({"../../etc/passwd": b"x"}), "a.zip", "application/zip")).status_code == 422
    assert (await put(_zip({"inner.zip": _zip({"a.txt": b"a"})}), "b.zip", "application/zip")).status_code == 422
    after = {o.object_name for o in _minio(settings).list_objects(bucket_name=settings.s3_bucket,
                                                                  prefix="offers/", recursive=True)}
    assert after == before  # nothing refused was kept
    # Names: traversal and Unicode separators neutralised, the file kept under a UUID key.
    for name in ("../../etc/passwd.pdf", "..\uff0f..\uff0fboot.pdf", "rapport\u202efdp.exe", "CON.pdf"):
        kept = expect(await put(minimal_pdf(name), name), 201)
        assert "/" not in kept["filename"] and "\\" not in kept["filename"] and "\u202e" not in kept["filename"]
        assert not kept["filename"].startswith(".") and kept["filename"].lower() != "con.pdf"
    # A name that is not percent-encoded UTF-8 is refused naming the header, not a 500.
    bad_name = expect(await put(minimal_pdf("x"), "ok.pdf", **{"x-filename": "caf%E9.pdf"}), 422)
    assert bad_name["field"] == "X-Filename"
    keys = [r["object_key"] for r in await fetch(settings, "SELECT object_key FROM offer_attachment")]
    assert all(uuid.UUID(k.split("/")[-1]) for k in keys)
    # A plain archive is accepted, recorded by what its content is, and never extracted.
    normal = expect(await put(_zip({"annexe.txt": b"Annexe"}), "annexes.zip", "application/zip"), 201)
    assert normal["contentType"] == "application/zip"


async def test_a_presigned_upload_never_passes_through_the_api_and_ends_in_the_same_verified_state(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """The second way in (issue 6): presigned PUT straight to S3 (encrypted there with the file's own key,
    bound to its size and SHA-256), then `complete`, which checks the stored size and hash and judges the type."""
    contract = await open_contract(client, world, clock)
    headers = world["vendor_admin"].headers
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
    expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers, json=PARTS), 200)
    canary = secrets.token_hex(16)
    content = minimal_pdf(f"annexe {canary}", size=300_000)
    upload = expect(await client.post(f"/offers/{offer['id']}/uploads", headers=headers, json={
        "filename": "Annexe financière.pdf", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}),
        201)
    key = upload["headers"]["x-amz-server-side-encryption-customer-key"]
    complete = upload["completePath"]
    # Nothing uploaded yet; then other bytes than declared: the storage server refuses them.
    assert expect(await client.post(complete, headers=headers, json={"key": key}), 409)["field"] == "upload"
    async with httpx.AsyncClient(timeout=60) as s3:
        forged = content[:-2] + b"X\n"
        refused = await s3.put(upload["url"], content=forged, headers=upload["headers"])
        assert refused.status_code == 400, refused.text
        assert (await s3.put(upload["url"], content=content, headers=upload["headers"])).status_code == 200
        # Stored encrypted: a read without the file's key is refused.
        assert (await s3.get(upload["url"].split("?")[0])).status_code >= 400
    assert expect(await client.post(complete, headers=headers, json={"key": base64.b64encode(b"k" * 32).decode()}),
                  422)["field"] == "key"
    received = expect(await client.post(complete, headers=headers, json={"key": key}), 200)
    assert received["receivedAt"] is not None and received["sha256"] == hashlib.sha256(content).hexdigest()
    assert received["contentType"] == "application/pdf"  # what the content shows, judged at completion (D14a)
    assert expect(await client.post(complete, headers=headers, json={"key": key}), 200) == received
    raw = _minio(settings).list_objects(bucket_name=settings.s3_bucket, prefix="offers/", recursive=True)
    assert all(canary.encode() not in _raw_object(settings, o.object_name) for o in raw)

    receipt = expect(await submit(client, world, offer["id"]), 200)["receipt"]
    assert [(f["name"], f["size"]) for f in receipt["files"]] == [("Annexe financière.pdf", len(content))]
    clock.set(DEADLINE)
    document = expect(await open_offers(client, world, contract["id"]), 200)["document"]
    assert [f["integrity"] for f in document["offers"][0]["files"]] == ["verified"]
    listed = expect(await client.get(f"/specific-contracts/{contract['id']}/offers",
                                     headers=world["buyer_admin"].headers), 200)
    downloaded = await client.get(listed["offers"][0]["attachments"][0]["downloadPath"],
                                  headers=world["buyer_admin"].headers, params={"acceptUnscanned": "true"})
    assert downloaded.status_code == 200 and downloaded.content == content


async def test_a_presigned_upload_of_a_type_not_published_is_refused_at_completion_and_removed(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """The presigned way judges the content's type as the streamed way does (D14a): once the bytes are in, read
    with the key the vendor hands over to complete; a type the contract does not accept is refused, quoting the
    published list, and the object is deleted."""
    contract = await open_contract(client, world, clock)
    headers = world["vendor_admin"].headers
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
    content = b"MZ" + b"\x90" * 62 + b"PE\x00\x00" + secrets.token_bytes(4000)  # a Windows executable
    upload = expect(await client.post(f"/offers/{offer['id']}/uploads", headers=headers, json={
        "filename": "annexe.pdf", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}), 201)
    async with httpx.AsyncClient(timeout=60) as s3:
        assert (await s3.put(upload["url"], content=content, headers=upload["headers"])).status_code == 200
    key = upload["headers"]["x-amz-server-side-encryption-customer-key"]
    refused = expect(await client.post(upload["completePath"], headers=headers, json={"key": key}), 415)
    assert refused["field"] == "body" and refused["rule"] == "D14a"
    assert "application/pdf" in json.dumps(refused)  # the published types, quoted
    stored = await fetch(settings, "SELECT object_key, received_at FROM offer_attachment WHERE id = $1",
                         uuid.UUID(upload["attachmentId"]))
    assert stored[0]["received_at"] is None
    names = {o.object_name for o in _minio(settings).list_objects(bucket_name=settings.s3_bucket, prefix="offers/",
                                                                  recursive=True)}
    assert stored[0]["object_key"] not in names


def _raw_object(settings: Settings, name: str) -> bytes:
    """An object as fetched directly from the bucket (an SSE-C one can't be: nothing comes back)."""
    try:
        return bytes(_minio(settings).get_object(bucket_name=settings.s3_bucket, object_name=name).read())
    except Exception:
        return b""
