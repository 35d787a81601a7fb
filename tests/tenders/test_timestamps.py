"""RFC 3161 time-stamps on receipts and opening records (G4): each gets a token from the TSA over the SHA-256 of
its canonical bytes, kept append-only and returned with it; the token verifies (here and with `openssl ts`), a
tampered receipt or another document's bytes do not; a TSA down costs no submission, the token comes once it
is back (marketplace/lib/timestamps.py, tenders/timestamps.py; the session's local TSA is devstack/tsa.py)."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq import Retry
from pypdf import PdfReader

from marketplace.app import asyncpg_dsn
from marketplace.devstack.tsa import EmbeddedTsa
from marketplace.lib.clock import FrozenClock
from marketplace.lib.sealing import canonical_json
from marketplace.lib.timestamps import OFFER_RECEIPT, OPENING_RECORD, load_trust, timestamp_evidence, verify_token
from marketplace.settings import Settings
from marketplace.worker import worker_options
from tests.conftest import report_figure
from tests.tenders.test_offers import DEADLINE, open_contract, open_offers, prepared_offer, submit
from tests.vendors.api import Client, expect, fetch, run_worker
from tests.vendors.conftest import app, clock  # noqa: F401  (fixtures)
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


@pytest.fixture
async def jobs(settings: Settings, clock: FrozenClock) -> AsyncIterator[dict[str, Any]]:
    """The worker's context, to run the time-stamping job as the worker would."""
    ctx: dict[str, Any] = {}
    options = worker_options(settings, clock)
    await options["on_startup"](ctx)
    try:
        yield ctx
    finally:
        await options["on_shutdown"](ctx)


async def _intents(settings: Settings) -> list[Any]:
    return await fetch(settings, "SELECT id, args, status::text AS status FROM job_intent "
                                 "WHERE name = 'timestamp_evidence' ORDER BY created_at")


async def _run(ctx: dict[str, Any], intent: Any) -> str:
    ctx.update(job_id=str(intent["id"]), job_try=ctx.get("job_try", 0) + 1)
    return str(await timestamp_evidence(ctx, *json.loads(intent["args"])))


async def stamp_pending(settings: Settings, clock: FrozenClock) -> None:
    """Run every time-stamping job on record, as the worker would (for tests elsewhere)."""
    ctx: dict[str, Any] = {}
    options = worker_options(settings, clock)
    await options["on_startup"](ctx)
    try:
        for intent in await _intents(settings):
            await _run(ctx, intent)
    finally:
        await options["on_shutdown"](ctx)


def _token(stamped: dict[str, Any]) -> bytes:
    assert stamped["status"] == "stamped", stamped
    return base64.b64decode(stamped["token"])


def _openssl_verifies(tmp: Path, token: bytes, data: bytes, ca: str) -> subprocess.CompletedProcess[str]:
    (tmp / "token.der").write_bytes(token)
    (tmp / "data.bin").write_bytes(data)
    return subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in", str(tmp / "token.der"),
                           "-data", str(tmp / "data.bin"), "-CAfile", ca], capture_output=True, text=True,
                          timeout=60, check=False)


async def test_a_receipt_and_an_opening_record_are_time_stamped_and_their_tokens_verify(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: dict[str, Any],
        tmp_path: Path) -> None:
    trusted = load_trust(settings)
    assert trusted, "the session's local TSA gives the certificate tokens are checked against"
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    signed = expect(await submit(client, world, offer["id"]), 200)
    receipt_bytes = canonical_json(signed["receipt"])
    digest = hashlib.sha256(receipt_bytes).hexdigest()
    # Issued at once, its token on its way: the submission never waits on the TSA.
    assert signed["timestamp"] == {"status": "pending", "sha256": digest, "token": None, "genTime": None}
    [intent] = await _intents(settings)
    assert intent["args"] == f'["{OFFER_RECEIPT}", "{offer["id"]}", "{digest}"]'
    assert await _run(jobs, intent) == "stamped"
    # At least once: a second run keeps the first token.
    assert await _run(jobs, intent) == "stamped-already"
    assert [i["status"] for i in await _intents(settings)] == ["done"]

    again = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers), 200)
    assert again["receipt"] == signed["receipt"] and again["timestamp"]["sha256"] == digest
    token = _token(again["timestamp"])
    check = verify_token(token, receipt_bytes, trusted)
    assert check.ok, check.reason
    assert check.gen_time is not None and again["timestamp"]["genTime"] is not None
    assert check.tsa is not None and "TSA" in check.tsa
    # The receipt's PDF carries it too, beside the signed JSON it covers: it verifies on its own.
    pdf = await client.get(f"/offers/{offer['id']}/receipt.pdf", headers=world["vendor_admin"].headers)
    assert pdf.status_code == 200
    attachments = PdfReader(io.BytesIO(pdf.content)).attachments
    assert attachments["receipt.tst"][0] == token
    assert verify_token(attachments["receipt.tst"][0], attachments["receipt.json"][0], trusted).ok
    if shutil.which("openssl"):
        # And by a verifier that is not ours: G4's `openssl ts -verify`.
        verified = _openssl_verifies(tmp_path, token, receipt_bytes, settings.tsa_certificate)
        assert "Verification: OK" in verified.stdout, verified.stderr
        assert "Verification: OK" not in _openssl_verifies(
            tmp_path, token, receipt_bytes.replace(b'"version":1', b'"version":2'), settings.tsa_certificate).stdout

    # A receipt whose manifest was tampered with no longer matches its token.
    for tamper in ("manifestSha256", "files"):
        forged = copy.deepcopy(signed["receipt"])
        if tamper == "files":
            forged["files"][0]["sha256"] = "0" * 64
        else:
            forged["manifestSha256"] = hashlib.sha256(b"another manifest").hexdigest()
        refused = verify_token(token, canonical_json(forged), trusted)
        assert not refused.ok and "message imprint" in (refused.reason or "")

    clock.set(DEADLINE)
    record = expect(await open_offers(client, world, contract["id"]), 200)
    record_bytes = canonical_json(record["document"])
    assert record["timestamp"] == {"status": "pending", "sha256": hashlib.sha256(record_bytes).hexdigest(),
                                   "token": None, "genTime": None}
    intent = (await _intents(settings))[-1]
    assert OPENING_RECORD in intent["args"] and record["id"] in intent["args"]
    assert await _run(jobs, intent) == "stamped"
    read = expect(await client.get(f"/specific-contracts/{contract['id']}/opening",
                                   headers=world["buyer_admin"].headers), 200)
    record_token = _token(read["timestamp"])
    assert verify_token(record_token, record_bytes, trusted).ok
    # A token for other bytes: the record's is no receipt's, the receipt's no record's.
    assert not verify_token(record_token, receipt_bytes, trusted).ok
    assert not verify_token(token, record_bytes, trusted).ok
    # A record altered in the database no longer matches its token: the API says so by the digest it shows.
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("UPDATE opening_record SET document = jsonb_set(document, '{openedBy}', '[]') "
                            "WHERE id = $1", uuid.UUID(record["id"]))
        # The tokens themselves are evidence: append-only, even for the schema's owner.
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await owner.execute("UPDATE evidence_timestamp SET token = $1", b"forged")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await owner.execute("DELETE FROM evidence_timestamp")
    finally:
        await owner.close()
    altered = expect(await client.get(f"/specific-contracts/{contract['id']}/opening",
                                      headers=world["buyer_admin"].headers), 200)
    assert altered["timestamp"]["token"] == read["timestamp"]["token"]
    assert altered["timestamp"]["sha256"] != read["timestamp"]["sha256"]
    assert not verify_token(_token(altered["timestamp"]), canonical_json(altered["document"]), trusted).ok


async def test_a_tsa_down_costs_no_submission_and_the_token_comes_once_it_is_back(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: dict[str, Any],
        local_tsa: EmbeddedTsa) -> None:
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    local_tsa.unavailable = True
    signed = expect(await submit(client, world, offer["id"]), 200)
    # Received, signed and acknowledged: the receipt says its time-stamp is pending.
    assert signed["receipt"]["offer"] == offer["id"] and signed["signature"]
    assert signed["timestamp"]["status"] == "pending"
    [intent] = await _intents(settings)
    issued = local_tsa.issued
    # The job meets the TSA down: retried later, nothing kept.
    for _ in range(2):
        with pytest.raises(Retry):
            await _run(jobs, intent)
    assert local_tsa.issued == issued
    assert await fetch(settings, "SELECT id FROM evidence_timestamp") == []
    pending = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers), 200)
    assert pending["timestamp"]["status"] == "pending" and pending["receipt"] == signed["receipt"]

    local_tsa.unavailable = False
    assert await _run(jobs, intent) == "stamped"
    stamped = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers), 200)
    assert verify_token(_token(stamped["timestamp"]), canonical_json(signed["receipt"]), load_trust(settings)).ok
    assert [i["status"] for i in await _intents(settings)] == ["done"]


async def test_without_a_tsa_configured_the_job_asks_nothing_and_the_receipt_stays_pending(
        client: Client, world: World, clock: FrozenClock, settings: Settings, local_tsa: EmbeddedTsa) -> None:
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    expect(await submit(client, world, offer["id"]), 200)
    [intent] = await _intents(settings)
    ctx: dict[str, Any] = {}
    options = worker_options(settings.with_(tsa_url=""), clock)
    await options["on_startup"](ctx)
    try:
        issued = local_tsa.issued
        assert await _run(ctx, intent) == "no-tsa"
        assert local_tsa.issued == issued
    finally:
        await options["on_shutdown"](ctx)
    receipt = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers), 200)
    assert receipt["timestamp"]["status"] == "pending"


async def test_through_the_outbox_and_the_real_worker_the_token_comes_within_moments(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """The path a deployment takes: the intent committed with the submission, relayed to arq by the app, run by
    the worker (registered in FUNCTIONS). The token's genTime lies between the submission's answer and the
    worker's end (G4 asks for it within a second of the receipt: the delay is reported among the figures)."""
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"])
    before = datetime.now(UTC)
    signed = expect(await submit(client, world, offer["id"]), 200)
    answered = datetime.now(UTC)
    await run_worker(settings)
    after = datetime.now(UTC)
    stamped = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers), 200)
    check = verify_token(_token(stamped["timestamp"]), canonical_json(signed["receipt"]), load_trust(settings))
    assert check.ok and check.gen_time is not None
    assert before <= check.gen_time <= after
    report_figure(f"G4: receipt token genTime {(check.gen_time - answered).total_seconds():.3f} s after the "
                  "submission's answer (outbox → arq → worker → local TSA)")
