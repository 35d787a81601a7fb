"""Presigned uploads that S3 encrypts (SSE-C) and verifies (signed SHA-256), and the sweeper helpers.

Against the session's real SeaweedFS; the client side is plain httpx, as a browser or script would do.
Findings these tests pin down are in storage/_uploads.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from minio import Minio
from minio.error import S3Error
from minio.sse import SseCustomerKey

from marketplace.settings import Settings
from storage import (
    AccessDenied,
    CustomerKey,
    ObjectMismatch,
    ObjectNotFound,
    ObjectStore,
    PresignedUpload,
    StorageError,
    StoreConfig,
)
from storage._sigv4 import presign

MiB = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def with_canary(canary: bytes, size: int = 400_000) -> bytes:
    # Random around the canary: nothing compresses, so a plaintext copy on disk is a literal copy.
    half = size // 2
    return os.urandom(half) + canary + os.urandom(half)


async def put(upload: PresignedUpload, body: bytes, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.put(upload.url, content=body, headers={**upload.headers, **headers})


def sdk_exists(sdk: Minio, bucket: str, key: str) -> bool:
    try:
        sdk.stat_object(bucket_name=bucket, object_name=key)
    except S3Error as exc:
        # SSE-C objects answer a keyless HEAD with 400; only a 404 means "no object".
        status = exc.response.status if exc.response is not None else 0
        return exc.code not in ("NoSuchKey", "NoSuchObject") and status != 404
    return True


@pytest.fixture
def weed_data_dir(stack_settings: Settings) -> Iterator[Path]:
    path = stack_settings.data_dir / "s3" / "data"
    if not path.is_dir():
        pytest.skip("S3 is not the embedded weed of this session: its disk can't be inspected")
    yield path


def on_disk(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_sealed_presigned_put_is_verified_by_a_head_alone(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(700_000)
    sse = CustomerKey.generate()
    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert "x-amz-server-side-encryption-customer-key" not in repr(upload)

    response = await put(upload, data)
    assert response.status_code == 200, response.text

    async def no_reread(*args: object, **kwargs: object) -> None:
        raise AssertionError("verification re-read the object")

    # S3 kept the checksum it checked: complete costs one HEAD, the bytes never reach us.
    monkeypatch.setattr(store, "hash_object", no_reread)
    verified = await store.verify_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert (verified.size, verified.sha256) == (len(data), sha256(data))
    monkeypatch.undo()

    # Opening and downloads read it back with the key and re-hash it (P9).
    assert (await store.hash_object(key, sse_key=sse)).sha256 == sha256(data)
    chunks = [chunk async for chunk in store.get_stream(key, sse_key=sse)]
    assert b"".join(chunks) == data
    await store.delete(key)


async def test_s3_refuses_other_bytes_and_keeps_nothing(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio,
) -> None:
    data = os.urandom(300_000)
    sse = CustomerKey.generate()
    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)

    flipped = bytearray(data)
    flipped[1234] ^= 1
    tampered = await put(upload, bytes(flipped))
    assert tampered.status_code == 400 and "BadDigest" in tampered.text

    # Fewer bytes than declared: Content-Length is signed, so S3 refuses before reading the body.
    truncated = await put(upload, data[:-1])
    assert truncated.status_code == 403 and "SignatureDoesNotMatch" in truncated.text

    # A client that declares the full length and disconnects halfway.
    url = urlsplit(upload.url)
    with socket.create_connection((url.hostname or "", url.port or 80)) as sock:
        head = f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(data)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in upload.headers.items())
        sock.sendall(head.encode() + b"\r\n" + data[: len(data) // 2])
        await anyio.sleep(0.2)
    await anyio.sleep(0.5)

    assert not sdk_exists(sdk, store_config.bucket, key)
    with pytest.raises(ObjectNotFound):
        await store.verify_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert await store.list_incomplete_uploads("presigned") == []
    assert key not in [o.key for o in await store.list_objects("presigned")]


@pytest.mark.parametrize(
    ("drop", "extra"),
    [
        ("x-amz-server-side-encryption-customer-key", {}),  # would store plaintext
        ("x-amz-checksum-sha256", {}),  # would store any bytes
        (None, {"content-type": "text/html"}),  # a type of the client's choosing
        (None, {"x-amz-meta-note": "hi"}),  # unsigned x-amz-* header
        (None, {"x-amz-server-side-encryption-customer-key-md5": "AAAAAAAAAAAAAAAAAAAAAA=="}),
    ],
)
async def test_signed_headers_are_enforced(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio, drop: str | None, extra: dict[str, str],
) -> None:
    data = os.urandom(10_000)
    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=CustomerKey.generate())
    headers = {name: value for name, value in upload.headers.items() if name != drop} | extra
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.put(upload.url, content=data, headers=headers)
    assert response.status_code == 403, response.text
    assert not sdk_exists(sdk, store_config.bucket, key)


async def test_sealed_object_is_ciphertext_at_rest_and_unreadable_without_its_key(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio, weed_data_dir: Path,
) -> None:
    sealed_canary = b"P4-SEALED-CANARY-" + os.urandom(8).hex().encode()
    plain_canary = b"P4-CONTROL-CANARY-" + os.urandom(8).hex().encode()
    data = with_canary(sealed_canary)
    sse = CustomerKey.generate()
    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert (await put(upload, data)).status_code == 200
    control = store.new_key("presigned")
    await store.put_bytes(control, with_canary(plain_canary))

    # The control proves the grep sees what weed writes; then the sealed canary must be absent.
    for _ in range(50):
        if on_disk(weed_data_dir, plain_canary):
            break
        await anyio.sleep(0.1)
    assert on_disk(weed_data_dir, plain_canary)
    assert on_disk(weed_data_dir, sealed_canary) == []
    assert on_disk(weed_data_dir, sse.secret) == []

    # A bucket dump through the S3 API can't read it: no key, or another key, is refused.
    with pytest.raises(S3Error) as keyless:
        sdk.get_object(bucket_name=store_config.bucket, object_name=key)
    assert keyless.value.code == "InvalidArgument"
    with pytest.raises(S3Error) as other:
        sdk.get_object(bucket_name=store_config.bucket, object_name=key, ssec=SseCustomerKey(os.urandom(32)))
    assert other.value.code == "AccessDenied"
    async with httpx.AsyncClient(timeout=10) as http:
        link = await http.get(store.presigned_get(key))
    assert link.status_code == 400 and sealed_canary not in link.content
    with pytest.raises(AccessDenied):
        await store.hash_object(key, sse_key=CustomerKey.generate())
    await store.delete(key)
    await store.delete(control)


async def test_verify_upload_refuses_and_deletes_what_was_not_declared(store: ObjectStore) -> None:
    data = os.urandom(50_000)
    sse = CustomerKey.generate()

    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert (await put(upload, data)).status_code == 200
    with pytest.raises(ObjectMismatch, match="SHA-256"):
        await store.verify_upload(key, size=len(data), sha256=sha256(b"other"), sse_key=sse)
    with pytest.raises(ObjectNotFound):
        await store.stat(key, sse_key=sse)

    key = store.new_key("presigned")
    upload = store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    assert (await put(upload, data)).status_code == 200
    with pytest.raises(ObjectMismatch, match="bytes stored"):
        await store.verify_upload(key, size=len(data) + 1, sha256=sha256(data), sse_key=sse)

    # Plaintext where a sealed object was expected (written by anything but the signed URL).
    key = store.new_key("presigned")
    await store.put_bytes(key, data)
    with pytest.raises(ObjectMismatch, match="SSE-C"):
        await store.verify_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)
    with pytest.raises(ObjectNotFound):
        await store.stat(key)


async def test_a_wrong_key_at_completion_is_denied_and_deletes_nothing(store: ObjectStore) -> None:
    data = os.urandom(20_000)
    sse = CustomerKey.generate()
    key = store.new_key("presigned")
    assert (await put(store.presign_upload(key, size=len(data), sha256=sha256(data), sse_key=sse), data)).is_success
    with pytest.raises(AccessDenied):
        await store.verify_upload(key, size=len(data), sha256=sha256(data), sse_key=CustomerKey.generate())
    assert (await store.verify_upload(key, size=len(data), sha256=sha256(data), sse_key=sse)).size == len(data)
    await store.delete(key)


async def test_streamed_sealed_upload_ends_in_the_same_verified_state(store: ObjectStore) -> None:
    # The API-streamed path with the same SSE-C key: no checksum is kept, verification re-reads once.
    data = os.urandom(7 * MiB)
    sse = CustomerKey.generate()
    key = store.new_key("presigned")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), MiB):
            yield data[i : i + MiB]

    stored = await store.put_stream(key, chunks(), sse_key=sse)
    verified = await store.verify_upload(key, size=stored.size, sha256=stored.sha256, sse_key=sse)
    assert (verified.size, verified.sha256) == (len(data), sha256(data))
    # Keyless reads are refused (400: a request error, not a missing object or bad credentials).
    with pytest.raises(StorageError) as keyless:
        await store.hash_object(key)
    assert type(keyless.value) is StorageError
    await store.delete(key)


async def test_expired_url_is_refused(store: ObjectStore, store_config: StoreConfig, sdk: Minio) -> None:
    data = os.urandom(1000)
    key = store.new_key("presigned")
    upload = store.presign_upload(
        key, size=len(data), sha256=sha256(data), sse_key=CustomerKey.generate(),
        expires=timedelta(seconds=60), now=datetime.now(UTC) - timedelta(seconds=61),
    )
    assert upload.expires_at < datetime.now(UTC)
    response = await put(upload, data)
    assert response.status_code == 403 and "expired" in response.text
    assert not sdk_exists(sdk, store_config.bucket, key)


def test_signer_matches_minio_for_host_only(store_config: StoreConfig, sdk: Minio) -> None:
    when = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    url = urlsplit(store_config.endpoint)
    ours = presign(
        method="PUT", scheme=url.scheme, host=url.netloc, path=f"/{store_config.bucket}/a/b-c_d.e",
        region=store_config.region, access_key=store_config.access_key,
        secret_key=store_config.secret_key, expires=timedelta(minutes=15), now=when,
    )
    theirs = sdk.get_presigned_url(
        "PUT", store_config.bucket, "a/b-c_d.e", expires=timedelta(minutes=15), request_date=when,
    )
    assert parse_qs(urlsplit(ours).query) == parse_qs(urlsplit(theirs).query)


def test_presign_upload_rejects_bad_declarations(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        store.presign_upload("k", size=1, sha256="abc")
    with pytest.raises(ValueError, match="size"):
        store.presign_upload("k", size=-1, sha256=sha256(b""))
    with pytest.raises(ValueError, match="7 days"):
        store.presign_upload("k", size=1, sha256=sha256(b""), expires=timedelta(days=8))
    with pytest.raises(ValueError, match="32 bytes"):
        CustomerKey(b"short")


async def test_incomplete_uploads_are_listed_and_aborted(
    store: ObjectStore, store_config: StoreConfig, sdk: Minio,
) -> None:
    bucket, prefix = store_config.bucket, f"sweep-{os.urandom(4).hex()}"
    started = [store.new_key(prefix) for _ in range(3)]
    ids = {k: sdk._create_multipart_upload(bucket_name=bucket, object_name=k, headers={}) for k in started}
    sdk._upload_part(
        bucket_name=bucket, object_name=started[0], data=os.urandom(5 * MiB), headers=None,
        upload_id=ids[started[0]], part_number=1,
    )
    neighbour = f"{prefix}x/{os.urandom(4).hex()}"  # same characters, other prefix
    neighbour_id = sdk._create_multipart_upload(bucket_name=bucket, object_name=neighbour, headers={})

    listed = await store.list_incomplete_uploads(prefix)
    assert sorted(u.key for u in listed) == sorted(started)
    assert {u.upload_id for u in listed} == set(ids.values())
    assert all(u.initiated is not None for u in listed)
    assert await store.list_incomplete_uploads(prefix, older_than=timedelta(hours=1)) == []

    assert await store.abort_incomplete_uploads(prefix, older_than=timedelta(hours=1)) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await store.abort_incomplete_uploads(prefix, older_than=timedelta(hours=1), now=later) == 3
    assert await store.list_incomplete_uploads(prefix) == []
    assert [u.key for u in await store.list_incomplete_uploads(f"{prefix}x")] == [neighbour]
    sdk._abort_multipart_upload(bucket, neighbour, neighbour_id)
    assert [o.key for o in await store.list_objects(prefix)] == []

    with pytest.raises(ValueError):
        await store.abort_incomplete_uploads("", older_than=timedelta(0))


async def test_list_objects_for_a_sweeper(store: ObjectStore) -> None:
    prefix = f"staged-{os.urandom(4).hex()}"
    keys = sorted([store.new_key(prefix), store.new_key(f"{prefix}/deeper")])
    other = store.new_key(f"{prefix}-other")
    for key in (*keys, other):
        await store.put_bytes(key, b"x" * 10)

    listed = await store.list_objects(prefix)
    assert sorted(o.key for o in listed) == keys
    assert all(o.size == 10 and o.last_modified is not None for o in listed)
    assert await store.list_objects(prefix, older_than=timedelta(hours=1)) == []
    later = datetime.now(UTC) + timedelta(hours=2)
    assert len(await store.list_objects(prefix, older_than=timedelta(hours=1), now=later)) == 2
    for key in (*keys, other):
        await store.delete(key)


async def test_presigned_put_64_mib_throughput(store: ObjectStore, capsys: pytest.CaptureFixture[str]) -> None:
    # Measured, not asserted: client and server share the machine's cores.
    data = os.urandom(64 * MiB)
    digest = sha256(data)
    sse = CustomerKey.generate()
    results = []
    for mode in ("unbound", "checksum", "checksum+SSE-C"):
        key = store.new_key("presigned")
        if mode == "unbound":
            url, headers = store.presigned_put(key), {}
        else:
            upload = store.presign_upload(
                key, size=len(data), sha256=digest, sse_key=sse if "SSE-C" in mode else None,
            )
            url, headers = upload.url, upload.headers
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.put(url, content=data, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        if mode != "unbound":
            began = time.perf_counter()
            await store.verify_upload(key, size=len(data), sha256=digest, sse_key=sse if "SSE-C" in mode else None)
            verify = f", verify {(time.perf_counter() - began) * 1000:.1f} ms"
        else:
            verify = ""
        results.append(f"{mode}: {len(data) / MiB / elapsed:.0f} MiB/s ({elapsed:.2f} s){verify}")
        await store.delete(key)
    with capsys.disabled():
        print("\npresigned PUT of 64 MiB: " + "; ".join(results))
