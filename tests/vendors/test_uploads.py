"""Uploads that break a category's document rules are refused, and leave nothing in the bucket.

The rules (tests.vendors.api.DOCUMENT_RULES): PDF only, 64 KiB at most. The declared size and type are
checked first; then the bytes themselves are counted and sniffed as they stream to object storage. After
each refusal the bucket's `admissions/` prefix holds exactly the objects it held before, and no multipart
upload is left open.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import (
    KB,
    apply,
    audit_actions,
    bucket_keys,
    expect,
    incomplete_uploads,
    minimal_pdf,
    open_dps,
    sha256,
    streamed_upload,
    upload,
)
from tests.world import World

Client = AsyncTestClient[Litestar]
LIMIT = 64 * KB


def png() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00")) + chunk(b"IEND", b""))


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("kbis.pdf", minimal_pdf("inside a zip"))
    return buffer.getvalue()


def noise(size: int) -> bytes:
    return random.Random(20261123).randbytes(size)


def oversized_pdf() -> bytes:
    body = minimal_pdf("too big", size=LIMIT + KB)
    assert body.startswith(b"%PDF-") and len(body) > LIMIT
    return body


def chunks_of(data: bytes, size: int = 4 * KB) -> Callable[[], AsyncIterator[bytes]]:
    async def produce() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start:start + size]

    return produce


@pytest.fixture
async def draft(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    dps = await open_dps(client, world, clock)
    return await apply(client, world["vendor_admin"], dps["categories"][0]["id"])


async def _refused_without_trace(settings: Settings, send: Callable[[], Any], status: int, field: str,
                                 **problem: Any) -> dict[str, Any]:
    before = await bucket_keys(settings)
    response: httpx.Response = await send()
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["field"] == field, body
    for key, value in problem.items():
        assert body[key] == value, (key, body)
    assert await bucket_keys(settings) == before, "a refused upload left an object in the bucket"
    assert await incomplete_uploads(settings) == [], "a refused upload left a multipart upload open"
    return body


async def test_refused_uploads_leave_nothing_behind(client: Client, world: World, settings: Settings,
                                                   draft: dict[str, Any]) -> None:
    vendor, rid = world["vendor_admin"], draft["id"]

    # Declared size over maxBytes: refused on the Content-Length, before a byte is read.
    await _refused_without_trace(settings, lambda: upload(client, vendor, rid, "kbis", oversized_pdf()),
                                 413, "Content-Length", limit=LIMIT)
    # Declared type not in contentTypes (the body is a genuine PDF).
    for declared in ("image/png", "application/zip", "text/plain"):
        await _refused_without_trace(
            settings, lambda t=declared: upload(client, vendor, rid, "kbis", minimal_pdf("pdf"), content_type=t),
            415, "Content-Type", accepted=["application/pdf"])
    # Declared application/pdf, but the content says otherwise: small bodies, and one past the sniffing window.
    for content, detected in ((png(), "image/png"), (zip_archive(), "application/zip"),
                              (noise(2 * KB), "application/octet-stream"), (noise(40 * KB), "application/octet-stream"),
                              (b"", "application/octet-stream")):
        await _refused_without_trace(settings, lambda c=content: upload(client, vendor, rid, "kbis", c),
                                     415, "body", detected=detected)
    # Chunked transfer, no Content-Length: the bytes are counted as they arrive.
    await _refused_without_trace(settings, lambda: streamed_upload(client, vendor, rid, "kbis",
                                                                   chunks_of(oversized_pdf())),
                                 413, "body", limit=LIMIT)
    # ... and sniffed: a PNG sent in small pieces is refused even when its first chunk is tiny.
    await _refused_without_trace(settings, lambda: streamed_upload(client, vendor, rid, "kbis",
                                                                   chunks_of(png() + noise(20 * KB), 100)),
                                 415, "body", detected="image/png")

    # Nothing was recorded either.
    shown = expect(await client.get(f"/admission-requests/{rid}", headers=vendor.headers), 200)
    assert shown["documents"] == [] and shown["missingDocuments"] == ["kbis", "insurance"]
    assert "admission.document_uploaded" not in await audit_actions(settings, rid)

    # Control: the same listing sees an accepted upload, streamed or not, up to exactly maxBytes.
    before = await bucket_keys(settings)
    exact = minimal_pdf("exactly the limit", size=LIMIT)
    streamed = expect(await streamed_upload(client, vendor, rid, "kbis", chunks_of(exact)), 201)
    assert streamed["size"] == LIMIT and streamed["sha256"] == sha256(exact)
    insurance = minimal_pdf("insurance")
    document = expect(await upload(client, vendor, rid, "insurance", insurance), 201)
    assert document["sha256"] == sha256(insurance) and document["validUntil"] == "2027-06-30"
    added = await bucket_keys(settings) - before
    assert len(added) == 2 and all(key.startswith("admissions/") for key in added)


async def test_other_rules_of_an_upload(client: Client, world: World, settings: Settings,
                                        draft: dict[str, Any]) -> None:
    vendor, rid = world["vendor_admin"], draft["id"]
    before = await bucket_keys(settings)
    # A kind the category doesn't ask for.
    assert (await upload(client, vendor, rid, "brochure", minimal_pdf("x"))).status_code == 404
    # A document with an end of validity needs it.
    missing = await upload(client, vendor, rid, "insurance", minimal_pdf("x"), valid_until=None)
    assert missing.status_code == 422 and missing.json()["field"] == "validUntil", missing.text
    assert await bucket_keys(settings) == before

    # A new upload of the same kind replaces the previous one in the request (both objects are kept).
    first, second = minimal_pdf("first kbis"), minimal_pdf("second kbis")
    expect(await upload(client, vendor, rid, "kbis", first), 201)
    expect(await upload(client, vendor, rid, "kbis", second, filename="kbis-2026.pdf"), 201)
    shown = expect(await client.get(f"/admission-requests/{rid}", headers=vendor.headers), 200)
    assert [(d["kind"], d["sha256"], d["filename"]) for d in shown["documents"]] == [
        ("kbis", sha256(second), "kbis-2026.pdf")]
    assert len(await bucket_keys(settings) - before) == 2

    # Once submitted, the documents are frozen until the buyer asks for more.
    expect(await client.post(f"/admission-requests/{rid}/submit", headers=vendor.headers), 200)
    frozen = await upload(client, vendor, rid, "kbis", minimal_pdf("third kbis"))
    assert frozen.status_code == 409, frozen.text
    assert len(await bucket_keys(settings) - before) == 2
