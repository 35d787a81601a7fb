"""`storage.ObjectStore` against a real S3 server (SeaweedFS with access keys)."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import anyio.lowlevel
import httpx
import psutil
import pytest
from minio import Minio

from storage import (
    AccessDenied,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageUnavailable,
    StoreConfig,
)
from tests.faults import FaultProxy

MiB = 1 << 20


class ClientGone(Exception):
    """What a web framework raises when the uploading client disconnects."""


async def random_chunks(
    total: int, *, chunk: int = MiB, seen: Callable[[bytes], object] | None = None,
    fail_after: int | None = None,
) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        if fail_after is not None and sent >= fail_after:
            raise ClientGone(f"gone after {sent} bytes")
        data = os.urandom(min(chunk, total - sent))
        if seen is not None:
            seen(data)
        sent += len(data)
        yield data
        await anyio.lowlevel.checkpoint()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def pending_uploads(sdk: Minio, bucket: str) -> list[str]:
    # Private SDK call: the only way to see multipart uploads that were started and never finished.
    result = sdk._list_multipart_uploads(bucket_name=bucket)
    return [str(upload.object_name) for upload in result.uploads]


@contextmanager
def rss_peak_growth() -> Iterator[list[int]]:
    """Yields a one-item list that holds, on exit, the peak RSS growth over the baseline."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    growth = [0]
    try:
        yield growth
    finally:
        stop.set()
        sampler.join()
        growth[0] = max(peak[0], process.memory_info().rss) - baseline


def with_signature_changed(url: str) -> str:
    """The same URL, byte for byte, but for one hex digit of its signature."""
    match = re.search(r"X-Amz-Signature=([0-9a-f])", url)
    assert match is not None, url
    swapped = "1" if match.group(1) != "1" else "2"
    return url[: match.start(1)] + swapped + url[match.end(1) :]


@pytest.mark.asyncio
async def test_put_stream_50_mib_is_multipart_hashed_and_memory_bounded(store: ObjectStore) -> None:
    # Warm-up: thread pool, connection pool and allocator arenas exist before the baseline.
    warm = store.new_key("warm")
    await store.put_stream(warm, random_chunks(11 * MiB))
    await store.delete(warm)

    key = store.new_key("big")
    expected = hashlib.sha256()
    with rss_peak_growth() as growth:
        stored = await store.put_stream(key, random_chunks(50 * MiB, seen=expected.update))

    assert stored.size == 50 * MiB
    assert stored.sha256 == expected.hexdigest()
    assert growth[0] < 32 * MiB, f"RSS grew by {growth[0] / MiB:.1f} MiB"
    # A multipart ETag is the MD5 of the parts' MD5s, suffixed with the part count (5 MiB parts).
    assert stored.etag is not None and re.fullmatch(r"[0-9a-f]{32}-10", stored.etag), stored.etag
    assert (await store.stat(key)).etag == stored.etag
    rehashed = await store.hash_object(key)
    assert (rehashed.size, rehashed.sha256) == (stored.size, stored.sha256)
    await store.delete(key)


@pytest.mark.asyncio
async def test_presigned_put_then_verified_then_presigned_get(store: ObjectStore) -> None:
    key = store.new_key("presigned")
    data = os.urandom(300_000)
    async with httpx.AsyncClient(timeout=10) as http:
        put = await http.put(store.presigned_put(key), content=data)
        assert put.status_code == 200, put.text

        info = await store.stat(key)
        verified = await store.hash_object(key)
        assert info.size == verified.size == len(data)
        assert verified.sha256 == hashlib.sha256(data).hexdigest()

        plain = await http.get(store.presigned_get(key))
        assert plain.status_code == 200
        assert plain.content == data
        assert "attachment" not in plain.headers.get("content-disposition", "")

        named = await http.get(store.presigned_get(key, filename="offre financière \u202egpj.pdf"))
        assert named.status_code == 200
        assert named.content == data
        disposition = named.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        encoded = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition)
        assert encoded is not None, disposition
        # The bidi override that would display the name as "...fdp.jpg" is gone.
        assert unquote(encoded.group(1)) == "offre financière gpj.pdf"
        assert 'filename="offre financi_re gpj.pdf"' in disposition


@pytest.mark.asyncio
async def test_content_encoded_upload_is_hashed_as_stored(store: ObjectStore) -> None:
    # A presigned PUT may declare any Content-Encoding; verification must hash the stored bytes,
    # which is what every later download serves, not a decompressed view of them.
    key = store.new_key("encoded")
    body = gzip.compress(b"%PDF-1.7 " * 1000)
    async with httpx.AsyncClient(timeout=10) as http:
        put = await http.put(store.presigned_put(key), content=body, headers={"Content-Encoding": "gzip"})
        assert put.status_code == 200, put.text
    verified = await store.hash_object(key)
    assert (verified.size, verified.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert b"".join([c async for c in store.get_stream(key)]) == body


@pytest.mark.asyncio
async def test_wrong_credentials_are_refused(store: ObjectStore, store_config: StoreConfig) -> None:
    wrong_secret = ObjectStore(replace(store_config, secret_key=store_config.secret_key + "x"))
    with pytest.raises(AccessDenied):
        await wrong_secret.ping()
    with pytest.raises(AccessDenied):
        await wrong_secret.put_bytes(store.new_key(), b"nope")
    with pytest.raises(AccessDenied):
        await wrong_secret.put_stream(store.new_key(), random_chunks(7 * MiB))
    wrong_access = ObjectStore(replace(store_config, access_key="nobody"))
    with pytest.raises(AccessDenied):
        await wrong_access.ping()

    key = store.new_key()
    await store.put_bytes(key, b"secret")
    async with httpx.AsyncClient(timeout=10) as http:
        url = store.presigned_get(key)
        assert (await http.get(url)).status_code == 200
        assert (await http.get(with_signature_changed(url))).status_code == 403
        put_url = store.presigned_put(key)
        assert (await http.put(with_signature_changed(put_url), content=b"overwritten")).status_code == 403
    assert (await store.hash_object(key)).sha256 == hashlib.sha256(b"secret").hexdigest()


@pytest.mark.asyncio
async def test_small_round_trip(store: ObjectStore) -> None:
    key = store.new_key("tenders/42")
    assert re.fullmatch(r"tenders/42/[0-9a-f]{32}", key)
    data = b"hello, object storage\n" * 100
    stored = await store.put_stream(
        key, _chunks(data, 333),
        content_type="text/plain", metadata={"Filename": "offre financière 100%.txt"},
    )
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert stored.etag == hashlib.md5(data).hexdigest()  # one plain PUT, not multipart

    info = await store.stat(key)
    assert (info.key, info.size, info.content_type, info.etag) == (key, len(data), "text/plain", stored.etag)
    assert info.metadata == {"filename": "offre financière 100%.txt"}
    assert info.last_modified is not None
    assert b"".join([c async for c in store.get_stream(key, chunk_size=1000)]) == data

    # A reader that stops early gives its connection back and leaves the store usable.
    chunks = store.get_stream(key, chunk_size=100)
    assert await anext(chunks) == data[:100]
    await chunks.aclose()

    other = store.new_key()
    by_bytes = await store.put_bytes(other, data[:10], metadata={"who": "ACME"})
    assert by_bytes == await store.hash_object(other)
    assert (await store.stat(other)).metadata == {"who": "ACME"}

    empty = await store.put_stream(store.new_key(), _chunks(b"", 1))
    assert (empty.size, empty.sha256) == (0, hashlib.sha256(b"").hexdigest())


@pytest.mark.asyncio
async def test_delete_is_idempotent_and_missing_keys_are_not_found(store: ObjectStore) -> None:
    key = store.new_key()
    await store.put_bytes(key, b"short-lived")
    await store.delete(key)
    await store.delete(key)
    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    with pytest.raises(ObjectNotFound):
        [c async for c in store.get_stream(key)]
    with pytest.raises(ObjectNotFound):
        await store.hash_object(key)


@pytest.mark.asyncio
async def test_ensure_bucket_is_idempotent(store_config: StoreConfig, sdk: Minio) -> None:
    store = ObjectStore(replace(store_config, bucket=f"storage-fresh-{os.urandom(6).hex()}"))
    with pytest.raises(StorageUnavailable):
        await store.ping()
    try:
        # Concurrent callers race between "does it exist" and "create it": both must succeed.
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(store.ensure_bucket)
        await store.ensure_bucket()
        await store.ping()
    finally:
        sdk.remove_bucket(bucket_name=store.config.bucket)


@pytest.mark.asyncio
async def test_failed_producer_leaves_nothing(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio,
) -> None:
    multipart = store.new_key("fail")
    with pytest.raises(ClientGone):
        await store.put_stream(multipart, random_chunks(20 * MiB, fail_after=7 * MiB))
    single = store.new_key("fail")
    with pytest.raises(ClientGone):
        await store.put_stream(single, random_chunks(3 * MiB, fail_after=MiB))

    too_big = store.new_key("fail")
    with pytest.raises(ObjectTooLarge):
        await store.put_stream(too_big, random_chunks(20 * MiB), max_size=6 * MiB)
    exact = await store.put_stream(store.new_key(), _chunks(b"x" * 1000, 300), max_size=1000)
    assert exact.size == 1000

    for key in (multipart, single, too_big):
        with pytest.raises(ObjectNotFound):
            await store.stat(key)
    assert not set(pending_uploads(sdk, store_config.bucket)) & {multipart, single, too_big}


@pytest.mark.asyncio
async def test_cancelled_upload_leaves_nothing(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio,
) -> None:
    key = store.new_key("cancel")
    sent_part = anyio.Event()

    async def stalls_after_a_part() -> AsyncIterator[bytes]:
        async for chunk in random_chunks(7 * MiB):
            yield chunk
        sent_part.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    # As when a web client disconnects mid-upload: the request task is cancelled, with the first
    # part already sent and the second half read.
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.put_stream, key, stalls_after_a_part())
        with anyio.fail_after(10):
            await sent_part.wait()
            await anyio.sleep(0.5)
        tg.cancel_scope.cancel()

    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    assert key not in pending_uploads(sdk, store_config.bucket)


@pytest.mark.asyncio
async def test_unreachable_server_fails_fast(store_config: StoreConfig, closed_port: int) -> None:
    dead = ObjectStore(replace(store_config, endpoint=f"http://127.0.0.1:{closed_port}"))
    began = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await dead.ping()
    assert time.monotonic() - began < 5
    with pytest.raises(StorageUnavailable):
        await dead.put_stream(dead.new_key(), random_chunks(2 * MiB))
    with pytest.raises(StorageUnavailable):
        await dead.stat("anything")
    assert time.monotonic() - began < 5


@pytest.mark.asyncio
async def test_a_hung_server_costs_one_read_timeout_not_one_per_retry(store_config: StoreConfig) -> None:
    """A server that accepts and never answers (G12): each call fails after one read timeout, as
    StorageUnavailable; the retries kept for refused connections and 5xx don't multiply the wait."""
    proxy = FaultProxy.for_url(store_config.endpoint)
    proxy.start()
    try:
        hung = ObjectStore(replace(store_config, endpoint=proxy.url(store_config.endpoint), read_timeout=1.0))
        await hung.ping()  # through the proxy, passing
        proxy.set_mode("blackhole")
        for call in (hung.ping, lambda: hung.stat("anything"),
                     lambda: hung.put_stream(hung.new_key(), random_chunks(64 * 1024))):
            began = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await call()
            assert time.monotonic() - began < 2.5  # one timeout of 1 s; three would be >= 3 s
        proxy.set_mode("pass")
        await hung.ping()  # and back, with no manual step
    finally:
        proxy.stop()


def test_presigning_needs_no_server(store_config: StoreConfig, closed_port: int) -> None:
    dead = ObjectStore(replace(store_config, endpoint=f"http://127.0.0.1:{closed_port}"))
    began = time.monotonic()
    get = dead.presigned_get("some/key", filename="devis.pdf")
    put = dead.presigned_put("some/key")
    assert time.monotonic() - began < 0.5
    for url in (get, put):
        parts = urlsplit(url)
        assert parts.netloc == f"127.0.0.1:{closed_port}"
        assert parts.path == f"/{store_config.bucket}/some/key"
        assert "X-Amz-Signature" in dict(parse_qsl(parts.query))
    assert dict(parse_qsl(urlsplit(get).query))["response-content-disposition"].startswith("attachment;")
