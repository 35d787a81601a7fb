"""The malware scan at the opening (P10, G11, reliability.md §2.9): files are sealed at receipt, so clamd
reads them when they first become readable. Only a clear verdict counts; an infected file is quarantined
with its trace, listed in the opening record, refused and audited; clamd down, confused or absent leaves
`pending`, never "clean", and the job scans again once clamd is back.

Most tests here use a fake clamd speaking its INSTREAM protocol (like tests/lib/test_clamd.py's), in a
thread of its own so it answers whichever event loop the app runs in: it can be stopped, confused or cut
off at will. The first test runs against a real clamd (tests/conftest.py's `real_clamd`, test signatures
only), so the path from the upload to the quarantine is shown with clamd's own verdict.
"""

from __future__ import annotations

import hashlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from arq import Retry
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.devstack.clamd import REPORTED_EICAR_SIGNATURE
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.tenders.jobs import scan_pending_attachments
from marketplace.worker import worker_options
from storage import ObjectStore, StoreConfig
from tests.apps import shared_app
from tests.tenders.test_offers import DEADLINE, open_contract, open_offers, prepared_offer, submit
from tests.vendors.api import Client, audit_actions, expect, fetch, minimal_pdf
from tests.vendors.conftest import clock  # noqa: F401  (a fixture)
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")

# Built here rather than written out, so no scanner on a developer's machine flags this file.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Eicar-Signature"


class _Instream(socketserver.StreamRequestHandler):
    server: FakeClamd

    def handle(self) -> None:
        command = b""
        while not command.endswith(b"\x00"):
            byte = self.rfile.read(1)
            if not byte:
                return
            command += byte
        if command == b"zPING\x00":
            self.wfile.write(b"PONG\x00")
            return
        data = b""
        while (length := struct.unpack(">I", self.rfile.read(4))[0]) != 0:
            data += self.rfile.read(length)
            if self.server.mode == "hangup":
                # Gone mid-stream (killed, or a size limit): the rest of the file is never read.
                self.request.shutdown(socket.SHUT_RDWR)
                return
        self.server.scanned.append(data)
        if self.server.mode == "garbage":
            self.wfile.write(b"stream: Can't allocate memory ERROR\x00")
        else:
            self.wfile.write(f"stream: {SIGNATURE} FOUND\x00".encode() if EICAR.encode() in data
                             else b"stream: OK\x00")


class FakeClamd(socketserver.ThreadingTCPServer):
    """Answers "FOUND" for anything holding the EICAR string, "OK" otherwise; or, as `mode` says, an
    answer that is no verdict ("garbage"), or hangs up after the first chunk ("hangup")."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Instream)
        self.port: int = self.server_address[1]
        self.scanned: list[bytes] = []
        self.mode = "verdict"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """clamd down: connections to its port are refused."""
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def fake_clamd() -> Iterator[FakeClamd]:
    server = FakeClamd()
    yield server
    server.stop()


@pytest.fixture
def scan_settings(settings: Settings, fake_clamd: FakeClamd) -> Settings:
    return settings.with_(clamd_host="127.0.0.1", clamd_port=fake_clamd.port)


@pytest.fixture
def app(scan_settings: Settings, clock: FrozenClock) -> Litestar:
    """Overrides the root `app`: on the test's clock, with clamd configured."""
    return shared_app(scan_settings, clock)


async def _opened_with(client: Client, world: World, clock: FrozenClock,
                       files: dict[str, bytes]) -> tuple[str, str, dict[str, Any]]:
    """(contract id, offer id, opening record document) for one offer carrying `files`."""
    contract = await open_contract(client, world, clock)
    offer = await prepared_offer(client, world, contract["id"], files=files)
    expect(await submit(client, world, offer["id"]), 200)
    clock.set(DEADLINE)
    record = expect(await open_offers(client, world, contract["id"]), 200)
    return contract["id"], offer["id"], record["document"]


async def _rows(settings: Settings) -> dict[str, Any]:
    rows = await fetch(settings, "SELECT id, sha256, object_key, scan_status::text AS scan_status, scan_verdict, "
                                 "integrity::text AS integrity FROM offer_attachment")
    return {r["sha256"]: r for r in rows}


async def _scan_jobs(settings: Settings) -> list[Any]:
    return await fetch(settings, "SELECT id, args, status::text AS status FROM job_intent "
                                 "WHERE name = 'scan_pending_attachments'")


def _files() -> dict[str, bytes]:
    return {"propre.pdf": minimal_pdf("mémoire technique"), "piege.pdf": minimal_pdf(EICAR)}


async def test_with_a_real_clamd_an_eicar_file_is_quarantined_with_its_verdict(
        world: World, clock: FrozenClock, settings: Settings, real_clamd: int) -> None:
    """Must show 6: with clamd configured, an EICAR file ends up quarantined with its verdict kept (P10, G11).

    The real clamd answers with its own signature name (".UNOFFICIAL" is clamd's suffix for a local
    database): the fake's name would not match, nor would a verdict invented by the app.
    """
    files = _files()
    configured = settings.with_(clamd_host="127.0.0.1", clamd_port=real_clamd)
    async with AsyncTestClient(app=create_app(configured, clock=clock)) as client:
        contract = await open_contract(client, world, clock)
        cid = contract["id"]
        offer = await prepared_offer(client, world, cid, files=files)
        expect(await submit(client, world, offer["id"]), 200)
        # Sealed at receipt: nobody, clamd included, could read the files yet.
        assert {r["scan_status"] for r in (await _rows(settings)).values()} == {"pending"}
        clock.set(DEADLINE)
        document = expect(await open_offers(client, world, cid), 200)["document"]

        rows = await _rows(settings)
        clean, infected = (rows[hashlib.sha256(files[n]).hexdigest()] for n in ("propre.pdf", "piege.pdf"))
        assert (infected["scan_status"], infected["scan_verdict"]) == ("infected", REPORTED_EICAR_SIGNATURE)
        assert (clean["scan_status"], clean["scan_verdict"]) == ("clean", None)
        assert clean["integrity"] == infected["integrity"] == "verified"

        # Listed with its verdict in the signed opening record, which reads back the same later.
        assert document["quarantinedFiles"] == [{"attachment": str(infected["id"]),
                                                 "signature": REPORTED_EICAR_SIGNATURE}]
        listed = {f["attachment"]: f for f in document["offers"][0]["files"]}
        assert (listed[str(infected["id"])]["scanStatus"], listed[str(infected["id"])]["scanVerdict"]) == \
            ("infected", REPORTED_EICAR_SIGNATURE)
        assert listed[str(clean["id"])]["scanStatus"] == "clean"
        buyer = world["buyer_admin"].headers
        record = expect(await client.get(f"/specific-contracts/{cid}/opening", headers=buyer), 200)
        assert record["document"]["quarantinedFiles"] == document["quarantinedFiles"]

        # Quarantined: kept in the bucket as the trace, never served; the clean file beside it is.
        store = ObjectStore(StoreConfig(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                                        secret_key=settings.s3_secret_key, bucket=settings.s3_bucket,
                                        region=settings.s3_region))
        assert (await store.stat(infected["object_key"])).size > 0
        base = f"/offers/{offer['id']}/attachments"
        refused = expect(await client.get(f"{base}/{infected['id']}/content", headers=buyer), 409)
        assert refused["type"].endswith("file-quarantined") and REPORTED_EICAR_SIGNATURE in refused["detail"]
        served = await client.get(f"{base}/{clean['id']}/content", headers=buyer)
        assert served.status_code == 200 and served.content == files["propre.pdf"]

    # Audited: the quarantine with its verdict, then the refused download.
    assert await audit_actions(settings, str(infected["id"])) == [
        "offer_attachment.quarantined", "offer_attachment.download_refused_quarantined"]
    found = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'offer_attachment.quarantined'")
    assert REPORTED_EICAR_SIGNATURE in found[0]["details"] and cid in found[0]["details"]
    # Both files have a verdict: no scan left to retry.
    assert await _scan_jobs(settings) == []


async def test_an_infected_file_is_quarantined_with_its_trace_and_never_served(
        client: Client, world: World, clock: FrozenClock, settings: Settings, fake_clamd: FakeClamd) -> None:
    """P10 / G11 "EICAR → quarantined with its trace"; the clean file beside it is clean and served."""
    files = _files()
    cid, offer_id, document = await _opened_with(client, world, clock, files)
    rows = await _rows(settings)
    clean, infected = (rows[hashlib.sha256(files[n]).hexdigest()] for n in ("propre.pdf", "piege.pdf"))
    # clamd read the plaintext, as received: the sealed bytes in the bucket would tell it nothing.
    assert sorted(fake_clamd.scanned) == sorted(files.values())
    assert (clean["scan_status"], clean["scan_verdict"]) == ("clean", None)
    assert (infected["scan_status"], infected["scan_verdict"]) == ("infected", SIGNATURE)
    assert clean["integrity"] == infected["integrity"] == "verified"

    # In the signed opening record, with its verdict.
    listed = {f["attachment"]: f for f in document["offers"][0]["files"]}
    assert (listed[str(infected["id"])]["scanStatus"], listed[str(infected["id"])]["scanVerdict"]) == \
        ("infected", SIGNATURE)
    assert listed[str(clean["id"])]["scanStatus"] == "clean"
    assert document["quarantinedFiles"] == [{"attachment": str(infected["id"]), "signature": SIGNATURE}]
    assert document["blockedFiles"] == []

    # Kept in the bucket (the trace), never served: 409, and the refusal audited.
    store = ObjectStore(StoreConfig(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                                    secret_key=settings.s3_secret_key, bucket=settings.s3_bucket,
                                    region=settings.s3_region))
    assert (await store.stat(infected["object_key"])).size > 0
    buyer = world["buyer_admin"].headers
    base = f"/offers/{offer_id}/attachments"
    refused = expect(await client.get(f"{base}/{infected['id']}/content", headers=buyer), 409)
    assert refused["field"] == "scanStatus" and SIGNATURE in refused["detail"]
    assert refused["type"].endswith("file-quarantined")
    served = await client.get(f"{base}/{clean['id']}/content", headers=buyer)
    assert served.status_code == 200 and served.content == files["propre.pdf"]
    assert await audit_actions(settings, str(infected["id"])) == [
        "offer_attachment.quarantined", "offer_attachment.download_refused_quarantined"]
    found = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'offer_attachment.quarantined'")
    assert SIGNATURE in found[0]["details"] and cid in found[0]["details"]
    # Everything has a verdict: nothing to scan again.
    assert await _scan_jobs(settings) == []


@pytest.mark.parametrize("failure", ["down", "garbage", "hangup"])
async def test_without_a_verdict_files_stay_pending_then_the_job_scans_them_once_clamd_is_back(
        client: Client, world: World, clock: FrozenClock, settings: Settings, scan_settings: Settings,
        fake_clamd: FakeClamd, failure: str) -> None:
    """G11 "clamd down → scan_status=pending, never clean"; an unrecognised answer, or clamd gone mid-file,
    is no verdict either (and the file, which clamd stopped reading, is still verified in full)."""
    port = fake_clamd.port
    if failure == "down":
        fake_clamd.stop()
    else:
        fake_clamd.mode = failure
    files = _files()
    if failure == "hangup":  # larger than the socket buffers, so the hang-up cuts the stream short
        files["propre.pdf"] = minimal_pdf("mémoire technique", size=12 * 1024 * 1024)
    cid, _, document = await _opened_with(client, world, clock, files)
    rows = await _rows(settings)
    assert {r["scan_status"] for r in rows.values()} == {"pending"}
    assert {r["integrity"] for r in rows.values()} == {"verified"}  # the opening itself went through
    assert {f["scanStatus"] for f in document["offers"][0]["files"]} == {"pending"}
    assert document["quarantinedFiles"] == []
    # The job is on record, to scan them once clamd is back.
    [intent] = await _scan_jobs(settings)
    assert intent["args"] == f'["{cid}"]'

    ctx: dict[str, Any] = {}
    options = worker_options(scan_settings, clock)
    await options["on_startup"](ctx)
    try:
        ctx.update(job_id=str(intent["id"]), job_try=1)
        if failure == "down":
            # Still down: retried later, nothing changed.
            with pytest.raises(Retry):
                await scan_pending_attachments(ctx, cid)
            assert {r["scan_status"] for r in (await _rows(settings)).values()} == {"pending"}
            back = FakeClamd(port)  # clamd comes back on its address
        else:
            back = fake_clamd
            back.mode = "verdict"
        try:
            assert await scan_pending_attachments(ctx, cid) == {"clean": 1, "infected": 1}
            # Run twice (the queue is at-least-once): nothing left to do, nothing audited twice.
            assert await scan_pending_attachments(ctx, cid) == {}
        finally:
            if back is not fake_clamd:
                back.stop()
    finally:
        await options["on_shutdown"](ctx)
    rows = await _rows(settings)
    verdicts = {name: (rows[hashlib.sha256(content).hexdigest()]["scan_status"],
                       rows[hashlib.sha256(content).hexdigest()]["scan_verdict"])
                for name, content in files.items()}
    assert verdicts == {"propre.pdf": ("clean", None), "piege.pdf": ("infected", SIGNATURE)}
    quarantined = await fetch(settings, "SELECT target_id, details FROM audit_event "
                                        "WHERE action = 'offer_attachment.quarantined'")
    assert len(quarantined) == 1 and '"scan"' in quarantined[0]["details"]
    assert [j["status"] for j in await _scan_jobs(settings)] == ["done"]


async def test_with_no_scanner_configured_files_stay_pending(
        world: World, clock: FrozenClock, settings: Settings) -> None:
    """No clamd configured: no verdict is invented, and no job waits for a scanner that will not come."""
    assert not settings.clamd_host
    files = _files()
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        _, offer_id, document = await _opened_with(client, world, clock, files)
        rows = await _rows(settings)
        assert {r["scan_status"] for r in rows.values()} == {"pending"}
        assert {f["scanStatus"] for f in document["offers"][0]["files"]} == {"pending"}
        assert await _scan_jobs(settings) == []
        # Fail closed (§2.9): no verdict, no file, unless the reader knowingly takes it unscanned (audited).
        pending = rows[hashlib.sha256(files["propre.pdf"]).hexdigest()]
        url = f"/offers/{offer_id}/attachments/{pending['id']}/content"
        refused = expect(await client.get(url, headers=world["buyer_admin"].headers), 409)
        assert (refused["field"], refused["type"].rsplit("/", 1)[-1]) == ("scanStatus", "file-not-scanned")
        assert "acceptUnscanned=true" in refused["detail"]
        served = await client.get(url, headers=world["buyer_admin"].headers, params={"acceptUnscanned": "true"})
        assert served.status_code == 200 and served.content == files["propre.pdf"]
        downloads = await fetch(settings, "SELECT details FROM audit_event WHERE action = "
                                          "'offer_attachment.downloaded' AND target_id = $1", str(pending["id"]))
        assert len(downloads) == 1 and '"scan_status": "pending"' in downloads[0]["details"]


async def test_a_file_past_the_scanners_limit_is_not_sent_and_stays_pending(
        world: World, clock: FrozenClock, settings: Settings, scan_settings: Settings,
        fake_clamd: FakeClamd) -> None:
    """Past clamd's MaxFileSize a real clamd answers "OK" without reading the file: that is no verdict, so
    such a file is never sent, stays `pending` (never "clean"), and no job waits to scan it again."""
    files = {"court.pdf": minimal_pdf("court"), "long.pdf": minimal_pdf("long", size=200_000)}
    limited = scan_settings.with_(clamd_max_bytes=100_000)
    async with AsyncTestClient(app=create_app(limited, clock=clock)) as client:
        await _opened_with(client, world, clock, files)
    rows = await _rows(settings)
    short, long = (rows[hashlib.sha256(files[n]).hexdigest()] for n in ("court.pdf", "long.pdf"))
    assert fake_clamd.scanned == [files["court.pdf"]]
    assert (short["scan_status"], long["scan_status"]) == ("clean", "pending")
    assert long["integrity"] == "verified"  # still read in full and checked against its receipt
    assert await _scan_jobs(settings) == []
