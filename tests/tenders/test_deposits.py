"""Deposits (domain.md §11.3): every limit a deposit can hit is published with the contract and quoted by the
refusal that hits it (D14a); every refused deposit act is journaled apart, append-only, readable by its vendor
and by the buying side, never by another vendor, never the content (D14b); the buying side may admit a vendor
whose attempts the platform blocked to deposit after the deadline until a time it sets, shown in the opening
record, while nobody else may — not even bypassing the application (D14c)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import FrozenClock
from marketplace.lib.sealing import verify
from marketplace.settings import Settings
from tests.tenders.test_offers import DEADLINE, PARTS, open_contract, open_offers, prepared_offer, submit
from tests.vendors.api import Client, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
KIB = 1024
SECRET_NAME = "Mémoire technique secret-7f3a.pdf"


async def put_file(client: Client, world: World, offer_id: str, content: bytes, *, person: str = "vendor_admin",
                   name: str = SECRET_NAME, content_type: str = "application/pdf") -> httpx.Response:
    return await client.put(f"/offers/{offer_id}/attachments", content=content, headers={
        **world[person].headers, "content-type": content_type, "x-filename": quote(name)})


async def streamed(client: Client, world: World, offer_id: str, chunks: list[bytes]) -> httpx.Response:
    """A file sent without a Content-Length (chunked): its size is known only as it arrives."""

    async def body() -> Any:
        for chunk in chunks:
            yield chunk

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app),
                                     base_url="http://testserver.local") as raw:
            return await raw.put(f"/offers/{offer_id}/attachments", content=body(), headers={
                **world["vendor_admin"].headers, "content-type": "application/pdf",
                "x-filename": quote(SECRET_NAME)})

    return await asyncio.to_thread(client.blocking_portal.call, send)


async def mine(client: Client, world: World, contract_id: str, person: str = "vendor_member") -> Any:
    return expect(await client.get(f"/specific-contracts/{contract_id}/my-deposit-attempts",
                                   headers=world[person].headers), 200)


async def admit_late(client: Client, world: World, contract_id: str, vendor: str, attempts: list[str],
                     until: datetime, person: str = "buyer_admin") -> httpx.Response:
    return await client.post(f"/specific-contracts/{contract_id}/late-admissions", headers=world[person].headers,
                             json={"vendorOrganisationId": str(world.organisations[vendor]),
                                   "reasons": "Dépôts bloqués par la plateforme avant la date limite (pièces "
                                              "au-delà de la taille limite ; CE 13 nov. 2025 n° 506640).",
                                   "attemptIds": attempts, "depositUntil": until.isoformat()})


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_each_refusal_quotes_the_published_limit_and_is_journaled_for_the_vendor_and_the_buyer(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """D14a, D14b: the limit a refusal quotes is the number the public view shows; the refused attempt is
    journaled (bytes received, the error), read by its vendor and, from the deadline, by the buyer; another
    vendor sees none of it."""
    contract = await open_contract(client, world, clock, attachmentMaxBytes=64 * KIB, offerMaxBytes=100 * KIB,
                                   attachmentMaxCount=3)
    cid = contract["id"]
    # D14a: published with the need (anyone) and in the contract's view (its invitees), the same numbers.
    page = expect(await client.get("/discovery/needs"), 200)
    public = next(item for item in page["items"] if item["specificContractId"] == cid)["depositLimits"]
    assert public == contract["depositLimits"] == expect(await client.get(
        f"/specific-contracts/{cid}", headers=world["vendor_member"].headers), 200)["depositLimits"]
    assert (public["attachmentMaxBytes"], public["offerMaxBytes"], public["attachmentMaxCount"]) == (
        64 * KIB, 100 * KIB, 3)
    assert datetime.fromisoformat(public["tenderDeadline"]) == DEADLINE
    assert public["archive"]["maxMembers"] == 1000 and public["archive"]["nestedArchivesAllowed"] is False
    assert public["presignedUploadLifetimeSeconds"] == 900 and "application/pdf" in public["attachmentTypes"]

    offer = expect(await client.post(f"/specific-contracts/{cid}/offers", headers=world["vendor_admin"].headers),
                   201)
    oid = offer["id"]
    # The structured parts' limits are published too, and are the ones enforced: one more is refused, naming the
    # member and the published number.
    parts = public["parts"]
    assert parts["maxBodyBytes"] >= 1_000_000 and parts["answersMax"] >= len(contract["awardCriteria"])
    line = {"item": "Licence", "quantity": 1, "unitPriceCents": 100}
    answer = {"criterion": "Prix", "answer": "Prix ferme."}
    for body, member, limit in (
            ({"priceSchedule": [line], "answers": [answer] * (parts["answersMax"] + 1)}, "answers",
             parts["answersMax"]),
            ({"priceSchedule": [line] * (parts["priceLinesMax"] + 1), "answers": [answer]}, "priceSchedule",
             parts["priceLinesMax"]),
            ({"priceSchedule": [line | {"item": "x" * (parts["itemMaxLength"] + 1)}], "answers": [answer]},
             "priceSchedule", parts["itemMaxLength"]),
            ({"priceSchedule": [line], "answers": [answer | {"answer": "x" * (parts["answerMaxLength"] + 1)}]},
             "answers", parts["answerMaxLength"])):
        refused = expect(await client.put(f"/offers/{oid}/parts", headers=world["vendor_admin"].headers,
                                          json=body), 400)
        assert member in refused["field"] and f"<= {limit}" in refused["detail"], refused
    oversized = await client.put(f"/offers/{oid}/parts", content=b" " * (parts["maxBodyBytes"] + 1), headers={
        **world["vendor_admin"].headers, "content-type": "application/json"})
    assert oversized.status_code == 413, oversized.text
    # Declared too large: refused before a byte is read, quoting the file limit as published.
    big = minimal_pdf("gros", size=65 * KIB)
    declared = expect(await put_file(client, world, oid, big), 413)
    assert (declared["limitName"], declared["limit"], declared["rule"]) == (
        "attachmentMaxBytes", public["attachmentMaxBytes"], "D14a")
    assert str(public["attachmentMaxBytes"]) in declared["detail"] and "depositLimits" in declared["detail"]
    # Streamed without a length: refused once past the limit, after the bytes that came.
    chunks = [minimal_pdf("tête")] + [b"%" + b"x" * 8190 + b"\n"] * 20
    chunked = expect(await streamed(client, world, oid, chunks), 413)
    assert (chunked["limitName"], chunked["limit"]) == ("attachmentMaxBytes", 64 * KIB)
    # A type the contract doesn't take: its accepted types quoted.
    typed = expect(await put_file(client, world, oid, b"\x89PNG\r\n\x1a\n" + b"\0" * 64), 415)
    assert (typed["limitName"], typed["limit"]) == ("attachmentTypes", public["attachmentTypes"])
    # What is left of the offer's total, then the count of files.
    expect(await put_file(client, world, oid, minimal_pdf("un", size=60 * KIB)), 201)
    total = expect(await put_file(client, world, oid, minimal_pdf("deux", size=60 * KIB)), 413)
    assert (total["limitName"], total["limit"], total["left"]) == ("offerMaxBytes", 100 * KIB, 40 * KIB)
    expect(await put_file(client, world, oid, minimal_pdf("deux")), 201)
    expect(await put_file(client, world, oid, minimal_pdf("trois")), 201)
    count = expect(await put_file(client, world, oid, minimal_pdf("quatre")), 422)
    assert (count["limitName"], count["limit"]) == ("attachmentMaxCount", 3)
    # The presigned way in quotes the same limits.
    other = await prepared_offer(client, world, cid, "other_vendor_admin", files={})
    presign = expect(await client.post(f"/offers/{other['id']}/uploads", headers=world["other_vendor_admin"].headers,
                                       json={"filename": "annexe.pdf", "size": 65 * KIB, "sha256": "0" * 64}), 413)
    assert (presign["limitName"], presign["limit"], presign["field"]) == ("attachmentMaxBytes", 64 * KIB, "size")

    # D14b: the vendor reads its refused attempts (any member), in order, with what they brought.
    rows = await mine(client, world, cid)
    assert [(r["action"], r["status"], r["limitName"]) for r in rows] == [
        ("attachment.stream", 413, "attachmentMaxBytes"), ("attachment.stream", 413, "attachmentMaxBytes"),
        ("attachment.stream", 415, "attachmentTypes"), ("attachment.stream", 413, "offerMaxBytes"),
        ("attachment.stream", 422, "attachmentMaxCount")]
    first, second = rows[0], rows[1]
    assert (first["bytesReceived"], first["declaredBytes"]) == (0, len(big))
    assert second["declaredBytes"] is None and 64 * KIB < second["bytesReceived"] <= sum(map(len, chunks))
    assert first["limit"] == 64 * KIB and first["rule"] == "D14a" and first["offerId"] == oid
    assert first["vendorOrganisationId"] == str(world.organisations["vendor"])
    assert first["actor"] == f"user:{world['vendor_admin'].user_id}"
    assert datetime.fromisoformat(first["refusedAt"]) == clock.now()
    assert first["detail"] == declared["detail"]
    # Never the content, never a file's name (sealed like the offer).
    listing = (await client.get(f"/specific-contracts/{cid}/my-deposit-attempts",
                                headers=world["vendor_admin"].headers)).text
    assert "secret-7f3a" not in listing
    stored = await fetch(settings, "SELECT * FROM deposit_attempt")
    assert len(stored) == 6 and not [r for r in stored if "secret-7f3a" in str(dict(r))]

    # Another invited vendor reads only its own; a vendor not invited, nothing (404).
    assert [r["action"] for r in await mine(client, world, cid, "other_vendor_admin")] == ["attachment.presign"]
    assert (await client.get(f"/specific-contracts/{cid}/my-deposit-attempts",
                             headers=world["third_vendor_admin"].headers)).status_code == 404
    # The buying side: sealed before the deadline (who tries to deposit is as sealed as the offers, D13),
    # then every row; another buyer doesn't learn the contract exists.
    url = f"/specific-contracts/{cid}/deposit-attempts"
    assert expect(await client.get(url, headers=world["buyer_admin"].headers), 403)["rule"] == "D13"
    assert (await client.get(url, headers=world["other_buyer_admin"].headers)).status_code == 404
    assert (await client.get(url, headers=world["vendor_admin"].headers)).status_code == 403
    clock.set(DEADLINE)
    every = expect(await client.get(url, headers=world["buyer_evaluator"].headers), 200)
    assert [r["id"] for r in every] == [str(r["id"]) for r in stored_order(stored)]
    assert (await client.get(url, headers=world["other_buyer_admin"].headers)).status_code == 404
    refused = await fetch(settings, "SELECT count(*) AS n FROM audit_event WHERE action = "
                                    "'deposit_attempts.read_refused_sealed'")
    assert refused[0]["n"] == 1


def stored_order(rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    return sorted(rows, key=lambda r: r["id"])


async def test_an_archive_refusal_quotes_the_archive_limits_and_journals_no_member_name(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """G11 with D14a–b: the refusal names the archive's members to their vendor; the journal keeps the reasons
    without them (the archive is sealed content)."""
    contract = await open_contract(client, world, clock)
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers",
                                     headers=world["vendor_admin"].headers), 201)
    nested = _zip({"annexe-confidentielle-91c2.zip": _zip({"a.txt": b"a"})})
    refused = expect(await put_file(client, world, offer["id"], nested, name="annexes.zip",
                                    content_type="application/zip"), 422)
    assert refused["limitName"] == "archive" and refused["limit"] == contract["depositLimits"]["archive"]
    assert "annexe-confidentielle-91c2" in refused["detail"]
    row = (await mine(client, world, contract["id"]))[0]
    assert row["limitName"] == "archive" and "archives inside the archive" in row["detail"]
    assert "annexe-confidentielle-91c2" not in row["detail"] and row["bytesReceived"] == len(nested)


async def test_a_submission_at_the_deadline_exactly_is_refused_quoting_it_and_journaled(
        client: Client, world: World, clock: FrozenClock) -> None:
    """D14 with D14a–b: at the deadline exactly it is late; the refusal quotes the published deadline, and the
    attempt is journaled at that instant."""
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    clock.set(DEADLINE)
    late = expect(await submit(client, world, offer["id"]), 409)
    assert (late["rule"], late["field"], late["limitName"]) == ("D14", "tenderDeadline", "tenderDeadline")
    assert late["limit"] == contract["depositLimits"]["tenderDeadline"]
    assert "D14a" in late["detail"] and "17/02/2026" in late["detail"]
    [row] = await mine(client, world, contract["id"])
    assert (row["action"], row["status"], row["rule"], row["offerId"]) == ("offer.submit", 409, "D14", offer["id"])
    assert datetime.fromisoformat(row["refusedAt"]) == datetime.fromisoformat(row["startedAt"]) == DEADLINE


async def test_a_blocked_vendor_admitted_late_deposits_until_its_window_closes_and_the_opening_shows_it(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """D14c: the buyer's administrator admits, after the deadline, the vendor whose journaled attempts the
    platform blocked in time; that vendor alone deposits until `depositUntil` (sealed, receipted); the opening
    waits for the window to close, then lists the decision, its reasons, its journal rows and the offer."""
    contract = await open_contract(client, world, clock, attachmentMaxBytes=64 * KIB)
    cid = contract["id"]
    on_time = await prepared_offer(client, world, cid, "other_vendor_admin")
    expect(await submit(client, world, on_time["id"], "other_vendor_admin"), 200)
    # An hour before the deadline the vendor's file is refused (its limit, if not read, was published).
    clock.set(DEADLINE - timedelta(hours=1))
    draft = expect(await client.post(f"/specific-contracts/{cid}/offers", headers=world["vendor_admin"].headers),
                   201)
    expect(await client.put(f"/offers/{draft['id']}/parts", headers=world["vendor_admin"].headers, json=PARTS), 200)
    expect(await put_file(client, world, draft["id"], minimal_pdf("mémoire", size=80 * KIB)), 413)
    clock.set(DEADLINE + timedelta(minutes=5))
    expect(await submit(client, world, draft["id"]), 409)  # late: journaled too
    blocked, late_row = await mine(client, world, cid)
    assert (blocked["status"], late_row["status"]) == (413, 409)
    # Withdrawing is no deposit: refused after the deadline as ever, not journaled.
    assert expect(await client.post(f"/offers/{on_time['id']}/withdraw",
                                    headers=world["other_vendor_admin"].headers), 409)["rule"] == "D14"
    assert await mine(client, world, cid, "other_vendor_admin") == []
    until = DEADLINE + timedelta(days=1)

    # Who may decide: the buying organisation's administrator, no one else.
    assert (await admit_late(client, world, cid, "vendor", [blocked["id"]], until,
                             person="buyer_evaluator")).status_code == 403
    assert (await admit_late(client, world, cid, "vendor", [blocked["id"]], until,
                             person="other_buyer_admin")).status_code == 404
    assert (await admit_late(client, world, cid, "vendor", [blocked["id"]], until,
                             person="vendor_admin")).status_code == 403
    # What it may rely on: this vendor's rows on this contract, one at least begun in time; a window after now.
    refusal = expect(await admit_late(client, world, cid, "other_vendor", [blocked["id"]], until), 422)
    assert (refusal["field"], refusal["rule"]) == ("attemptIds[0]", "D14c")
    assert expect(await admit_late(client, world, cid, "vendor", [str(uuid.uuid4())], until), 422)["field"] == \
        "attemptIds[0]"
    assert expect(await admit_late(client, world, cid, "vendor", [late_row["id"]], until), 422)["field"] == \
        "attemptIds"
    assert expect(await admit_late(client, world, cid, "vendor", [blocked["id"]], clock.now()), 422)["field"] == \
        "depositUntil"
    assert expect(await admit_late(client, world, cid, "third_vendor", [blocked["id"]], until), 422)["field"] == \
        "vendorOrganisationId"
    admission = expect(await admit_late(client, world, cid, "vendor", [blocked["id"], late_row["id"]], until), 201)
    assert [a["id"] for a in admission["attempts"]] == [blocked["id"], late_row["id"]]
    assert datetime.fromisoformat(admission["depositUntil"]) == until
    assert expect(await admit_late(client, world, cid, "vendor", [blocked["id"]], until), 409)["rule"] == "D14c"
    assert expect(await client.get(f"/specific-contracts/{cid}/late-admissions",
                                   headers=world["buyer_opener"].headers), 200) == [admission]
    # Audited, and told to the vendor.
    audited = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'specific_contract.late_admission'")
    assert len(audited) == 1 and blocked["id"] in audited[0]["details"]
    told = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE kind = 'tender.late_admission'")
    assert {r["recipient_email"] for r in told} == {world["vendor_admin"].email.lower()}

    # The opening waits for the window to close.
    assert expect(await open_offers(client, world, cid), 409)["rule"] == "D14c"
    # The admitted vendor deposits, sealed and receipted like any offer; its draft shows the window.
    assert datetime.fromisoformat(expect(await client.get(f"/offers/{draft['id']}", headers=world[
        "vendor_member"].headers), 200)["lateDepositUntil"]) == until
    memo = minimal_pdf("mémoire allégé", size=50 * KIB)
    expect(await client.put(f"/offers/{draft['id']}/parts", headers=world["vendor_admin"].headers, json=PARTS), 200)
    expect(await put_file(client, world, draft["id"], memo), 201)
    clock.set(until - timedelta(microseconds=1))
    signed = expect(await submit(client, world, draft["id"]), 200)
    receipt = signed["receipt"]
    assert datetime.fromisoformat(receipt["receivedEnd"]) == until - timedelta(microseconds=1)
    assert receipt["lateAdmission"] == {"id": admission["id"], "depositUntil": until.isoformat()}
    jwk = expect(await client.get("/receipts/public-key"), 200)
    assert verify(receipt, signed["signature"], jwk)
    # Nobody else: the vendor without a decision is refused as at the deadline.
    other_late = expect(await client.post(f"/specific-contracts/{cid}/offers",
                                          headers=world["other_vendor_admin"].headers), 409)
    assert other_late["rule"] == "D14"
    # At the window's end exactly, the admitted vendor is late too.
    clock.set(until)
    refused_at_end = expect(await client.post(f"/specific-contracts/{cid}/offers",
                                              headers=world["vendor_admin"].headers), 409)
    assert refused_at_end["depositUntil"] == until.isoformat()

    record = expect(await open_offers(client, world, cid), 200)
    document = record["document"]
    assert verify(document, record["signature"], jwk)
    assert {o["offer"] for o in document["offers"]} == {on_time["id"], draft["id"]}
    late_entry = next(o for o in document["offers"] if o["offer"] == draft["id"])
    assert late_entry["lateAdmission"] == admission["id"] and "lateAdmission" not in next(
        o for o in document["offers"] if o["offer"] == on_time["id"])
    [decision] = document["lateAdmissions"]
    assert decision["reasons"] == admission["reasons"] and decision["offer"] == draft["id"]
    assert [a["id"] for a in decision["attempts"]] == [blocked["id"], late_row["id"]]
    assert decision["attempts"][0]["limitName"] == "attachmentMaxBytes"
    # The late offer is opened like the others.
    listed = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_admin"].headers), 200)
    files = next(o for o in listed["offers"] if o["id"] == draft["id"])["attachments"]
    content = await client.get(files[0]["downloadPath"], headers=world["buyer_admin"].headers,
                               params={"acceptUnscanned": "true"})
    assert hashlib.sha256(content.content).hexdigest() == hashlib.sha256(memo).hexdigest()
    # After the opening, no late admission any more.
    after = expect(await admit_late(client, world, cid, "other_vendor", [blocked["id"]], until + timedelta(days=1)),
                   409)
    assert after["rule"] == "D14c"


async def test_nothing_late_is_stored_without_a_decision_even_bypassing_the_application(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """D14c's database side: the offer-deadline trigger lets an admitted vendor's offer in before its window's
    end, and refuses any other late submitted offer, written by UPDATE or by INSERT."""
    contract = await open_contract(client, world, clock, attachmentMaxBytes=64 * KIB)
    cid = contract["id"]
    admitted = await prepared_offer(client, world, cid)
    stranger = await prepared_offer(client, world, cid, "other_vendor_admin")
    expect(await put_file(client, world, admitted["id"], minimal_pdf("gros", size=70 * KIB)), 413)
    clock.set(DEADLINE + timedelta(minutes=1))
    # In the application: late without a decision.
    assert expect(await submit(client, world, stranger["id"], "other_vendor_admin"), 409)["rule"] == "D14"
    [blocked] = await mine(client, world, cid)
    until = DEADLINE + timedelta(hours=2)
    expect(await admit_late(client, world, cid, "vendor", [blocked["id"]], until), 201)
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    late_sql = "UPDATE offer SET status = 'submitted', received_at = $2 WHERE id = $1"
    try:
        for received in (DEADLINE, DEADLINE + timedelta(minutes=30)):
            with pytest.raises(asyncpg.CheckViolationError, match="D14"):
                await conn.execute(late_sql, uuid.UUID(stranger["id"]), received)
        with pytest.raises(asyncpg.CheckViolationError, match="D14c"):
            await conn.execute(
                "INSERT INTO offer (id, specific_contract_id, vendor_organisation_id, version, status, created_by, "
                "wrapped_dek, received_at, created_at, updated_at) SELECT $2, specific_contract_id, "
                "vendor_organisation_id, version + 1, 'submitted', created_by, wrapped_dek, $3, now(), now() "
                "FROM offer WHERE id = $1", uuid.UUID(stranger["id"]), uuid.uuid4(), DEADLINE + timedelta(seconds=1))
        # The admitted vendor: at its window's end exactly it is late; before it, accepted.
        async with conn.transaction():
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(late_sql, uuid.UUID(admitted["id"]), until)
        await conn.execute(late_sql, uuid.UUID(admitted["id"]), until - timedelta(microseconds=1))
    finally:
        await conn.close()
    statuses = {r["id"]: r["status"] for r in await fetch(settings, "SELECT id::text, status::text FROM offer")}
    assert statuses == {admitted["id"]: "submitted", stranger["id"]: "draft"}


async def test_the_journal_and_the_decisions_refuse_update_and_delete_in_the_database(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """D14b (append-only) and D14c (a decision is never edited): refused by triggers to the database owner, and
    the application's role has no such privilege either."""
    contract = await open_contract(client, world, clock, attachmentMaxBytes=64 * KIB)
    offer = await prepared_offer(client, world, contract["id"])
    expect(await put_file(client, world, offer["id"], minimal_pdf("gros", size=70 * KIB)), 413)
    clock.set(DEADLINE + timedelta(minutes=1))
    [blocked] = await mine(client, world, contract["id"])
    expect(await admit_late(client, world, contract["id"], "vendor", [blocked["id"]], DEADLINE + timedelta(days=1)),
           201)
    statements = ("UPDATE deposit_attempt SET bytes_received = 0", "DELETE FROM deposit_attempt",
                  "UPDATE late_admission SET deposit_until = deposit_until + interval '1 year'",
                  "DELETE FROM late_admission")
    for url in (settings.migration_url, settings.database_url):
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for statement in statements:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("TRUNCATE deposit_attempt, late_admission")
        finally:
            await conn.close()
    assert len(await fetch(settings, "SELECT id FROM deposit_attempt")) == 1
    assert len(await fetch(settings, "SELECT id FROM late_admission")) == 1
