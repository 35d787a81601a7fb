"""`ObjectStore`: the async face of one S3 bucket."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import BinaryIO, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from minio.error import S3Error
from minio.helpers import DictType, ObjectWriteResult
from minio.sse import SseCustomerKey

from storage import _uploads
from storage._client import TRANSLATABLE, build_client, translate
from storage._headers import content_disposition, decode_metadata, encode_metadata
from storage._sigv4 import presign
from storage._stream import ChunkReader, stream_upload
from storage._types import (
    CustomerKey,
    IncompleteUpload,
    ListedObject,
    ObjectInfo,
    PresignedUpload,
    StoreConfig,
    StoredObject,
)
from storage.errors import ObjectMismatch, ObjectNotFound, StorageUnavailable

T = TypeVar("T")

# The SDK's minimum part size: a stream under it is one PUT, past it a multipart upload,
# and it bounds what one upload holds in memory.
PART_SIZE = 5 * 1024 * 1024
# Short calls (stat, reads, deletes) and long-lived uploads get separate thread
# budgets, so slow clients uploading can't starve everything else.
_CALL_THREADS = 16
_UPLOAD_THREADS = 16
_HASH_CHUNK = 1 << 20
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")


def _ssec(key: CustomerKey | None) -> SseCustomerKey | None:
    return None if key is None else SseCustomerKey(key.secret)


def _sweep_prefix(prefix: str) -> str:
    # A sweeper must never be handed the whole bucket by mistake, nor match `offers2/` for `offers`.
    prefix = prefix.strip("/")
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"key prefix {prefix!r} must be non-empty /-separated letters, digits, '.', '_', '-'")
    return prefix + "/"


def _cutoff(older_than: timedelta | None, now: datetime | None) -> datetime | None:
    if older_than is None:
        return None
    return (now or datetime.now(UTC)) - older_than  # nosemgrep: wall-clock-outside-clock  # S3 stamps real time


def _guarded(fn: Callable[[], T], key: str | None) -> T:
    # Translated inside the worker thread, so everything leaving it is a `StorageError`.
    try:
        return fn()
    except TRANSLATABLE as exc:
        raise translate(exc, key=key) from exc


class ObjectStore:
    """Objects of one bucket. Keys come from `new_key`; user-facing names belong in metadata."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._bucket = config.bucket
        self._client = build_client(config, pool_size=_CALL_THREADS + _UPLOAD_THREADS)
        # Created on first use: a limiter needs a running event loop on older anyio versions.
        self._call_limiter: anyio.CapacityLimiter | None = None
        self._upload_limiter: anyio.CapacityLimiter | None = None

    @staticmethod
    def new_key(prefix: str = "") -> str:
        """A fresh random key, optionally under ``prefix`` (``a/b`` gives ``a/b/<hex>``)."""
        key = uuid.uuid4().hex
        prefix = prefix.strip("/")
        if not prefix:
            return key
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"key prefix {prefix!r} must be /-separated letters, digits, '.', '_', '-'")
        return f"{prefix}/{key}"

    def _calls(self) -> anyio.CapacityLimiter:
        if self._call_limiter is None:
            self._call_limiter = anyio.CapacityLimiter(_CALL_THREADS)
        return self._call_limiter

    def _uploads(self) -> anyio.CapacityLimiter:
        if self._upload_limiter is None:
            self._upload_limiter = anyio.CapacityLimiter(_UPLOAD_THREADS)
        return self._upload_limiter

    async def _call(self, fn: Callable[[], T], *, key: str | None = None) -> T:
        return await anyio.to_thread.run_sync(_guarded, fn, key, limiter=self._calls())

    async def ensure_bucket(self) -> None:
        await self._call(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        if self._client.bucket_exists(bucket_name=self._bucket):
            return
        try:
            self._client.make_bucket(bucket_name=self._bucket)
        except S3Error as exc:
            # Another process may have created it since the check; any other owner fails the re-check.
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            if not self._client.bucket_exists(bucket_name=self._bucket):
                raise

    async def ping(self) -> None:
        """One cheap authenticated request: raises unless the bucket is reachable with our keys."""
        exists = await self._call(partial(self._client.bucket_exists, bucket_name=self._bucket))
        if not exists:
            raise StorageUnavailable(f"bucket {self._bucket!r} does not exist")

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        max_size: int | None = None,
        sse_key: CustomerKey | None = None,
    ) -> StoredObject:
        """Store what ``chunks`` yields, hashing it on the way; all or nothing.

        If the producer raises, or passes ``max_size`` (`ObjectTooLarge`), the upload is aborted
        and the producer's exception re-raised: no partial object is ever committed. With
        ``sse_key`` S3 encrypts the object with it (SSE-C), as `presign_upload` makes clients do.
        """
        headers: DictType = {**encode_metadata(metadata)}

        def upload(reader: ChunkReader) -> ObjectWriteResult:
            # One part at a time: the SDK's parallel mode buffers several parts, keeps consuming
            # the stream after a part failed, and leaves its worker threads behind on abort.
            return _guarded(
                partial(
                    self._client.put_object,
                    bucket_name=self._bucket,
                    object_name=key,
                    data=cast(BinaryIO, reader),
                    length=-1,
                    part_size=PART_SIZE,
                    content_type=content_type,
                    metadata=headers,
                    sse=_ssec(sse_key),
                    num_parallel_uploads=1,
                ),
                key,
            )

        result, reader = await stream_upload(upload, chunks, max_size=max_size, limiter=self._uploads())
        return StoredObject(key=key, size=reader.size, sha256=reader.sha256, etag=result.etag or None)

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        headers: DictType = {**encode_metadata(metadata)}

        def upload() -> StoredObject:
            result = self._client.put_object(
                bucket_name=self._bucket,
                object_name=key,
                data=io.BytesIO(data),
                length=len(data),
                part_size=PART_SIZE,
                content_type=content_type,
                metadata=headers,
                num_parallel_uploads=1,
            )
            digest = hashlib.sha256(data).hexdigest()
            return StoredObject(key=key, size=len(data), sha256=digest, etag=result.etag or None)

        return await self._call(upload, key=key)

    async def stat(self, key: str, *, sse_key: CustomerKey | None = None) -> ObjectInfo:
        obj = await self._call(
            partial(self._client.stat_object, bucket_name=self._bucket, object_name=key, ssec=_ssec(sse_key)),
            key=key,
        )
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            etag=obj.etag or None,
            content_type=obj.content_type,
            metadata=decode_metadata((obj.metadata or {}).items()),
            last_modified=obj.last_modified,
        )

    async def get_stream(
        self, key: str, *, chunk_size: int = 1 << 20, sse_key: CustomerKey | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """The object's bytes as stored (no content decoding), ``chunk_size`` at a time.

        ``aclose()`` it when stopping early, to release its connection at once.
        """
        response = await self._call(
            partial(self._client.get_object, bucket_name=self._bucket, object_name=key, ssec=_ssec(sse_key)),
            key=key,
        )
        finished = False
        try:
            read = partial(response.read, chunk_size, decode_content=False)
            while chunk := await self._call(read, key=key):
                yield chunk
            finished = True
        finally:
            if not finished:
                # Unread bytes would poison a pooled connection: drop it instead of reusing it.
                response.close()
            response.release_conn()

    async def hash_object(self, key: str, *, sse_key: CustomerKey | None = None) -> StoredObject:
        """Re-read the object and return its real size and SHA-256 (at opening, at each download)."""

        def digest() -> StoredObject:
            response = self._client.get_object(bucket_name=self._bucket, object_name=key, ssec=_ssec(sse_key))
            sha256, size = hashlib.sha256(), 0
            try:
                # Hash the stored bytes, not a decompressed view of them.
                for chunk in response.stream(_HASH_CHUNK, decode_content=False):
                    sha256.update(chunk)
                    size += len(chunk)
            except BaseException:
                response.close()
                raise
            finally:
                response.release_conn()
            etag = (response.headers.get("etag") or "").strip('"') or None
            return StoredObject(key=key, size=size, sha256=sha256.hexdigest(), etag=etag)

        return await self._call(digest, key=key)

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        with contextlib.suppress(ObjectNotFound):
            await self._call(
                partial(self._client.remove_object, bucket_name=self._bucket, object_name=key), key=key,
            )

    def presigned_get(
        self, key: str, *, expires: timedelta = timedelta(minutes=5), filename: str | None = None,
    ) -> str:
        """A download URL, signed locally. With ``filename`` the browser saves it under that name."""
        response_headers: DictType | None = None
        if filename:
            response_headers = {"response-content-disposition": content_disposition(filename)}
        return self._client.presigned_get_object(
            bucket_name=self._bucket, object_name=key, expires=expires, response_headers=response_headers,
        )

    def presigned_put(self, key: str, *, expires: timedelta = timedelta(minutes=15)) -> str:
        """An upload URL that accepts any bytes; prefer `presign_upload`, which binds them."""
        return self._client.presigned_put_object(bucket_name=self._bucket, object_name=key, expires=expires)

    def presign_upload(
        self,
        key: str,
        *,
        size: int,
        sha256: str,
        sse_key: CustomerKey | None = None,
        content_type: str = "application/octet-stream",
        expires: timedelta = timedelta(minutes=15),
        now: datetime | None = None,
    ) -> PresignedUpload:
        """A PUT URL for exactly ``size`` bytes hashing to ``sha256`` (hex), signed locally.

        S3 refuses any other body and, with ``sse_key``, encrypts the accepted one with it.
        The client must send `PresignedUpload.headers` verbatim. Confirm with `verify_upload`.
        """
        headers = _uploads.upload_headers(size=size, sha256=sha256, content_type=content_type, sse_key=sse_key)
        url = urlsplit(self.config.endpoint)
        # nosemgrep: wall-clock-outside-clock  # S3 checks a signature's date against its real time
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        signed = presign(
            method="PUT", scheme=url.scheme, host=url.netloc, path=f"/{self._bucket}/{key}",
            region=self.config.region, access_key=self.config.access_key,
            secret_key=self.config.secret_key, expires=expires, headers=headers, now=moment,
        )
        # Clients set Content-Length from the body themselves; it is still signed, hence checked.
        sent = {name: value for name, value in headers.items() if name != "content-length"}
        return PresignedUpload(
            key=key, url=signed, headers=sent, size=size, sha256=sha256.lower(),
            expires_at=moment.replace(microsecond=0) + expires,
        )

    async def verify_upload(
        self, key: str, *, size: int, sha256: str, sse_key: CustomerKey | None = None,
    ) -> StoredObject:
        """Check that ``key`` holds ``size`` bytes with SHA-256 ``sha256`` (and is SSE-C'd with ``sse_key``).

        A HEAD when the server kept the upload's checksum; otherwise the object is re-read once.
        A mismatch deletes the object and raises `ObjectMismatch`; `ObjectNotFound` if nothing
        was uploaded (yet). A wrong ``sse_key`` raises `AccessDenied` and deletes nothing.
        """
        expected = sha256.lower()

        def head() -> tuple[int, str | None, str | None, str | None]:
            obj = self._client.stat_object(
                bucket_name=self._bucket, object_name=key, ssec=_ssec(sse_key),
                extra_headers={**_uploads.CHECKSUM_MODE},
            )
            meta = obj.metadata or {}
            checksum = meta.get(_uploads.CHECKSUM_HEADER)
            return (
                obj.size or 0,
                _uploads.checksum_hex(checksum) if checksum else None,
                meta.get(_uploads.KEY_MD5_HEADER),
                obj.etag or None,
            )

        actual_size, actual_sha, key_md5, etag = await self._call(head, key=key)
        try:
            if sse_key is not None:
                _uploads.check_key_md5(key_md5, sse_key, key=key)
            if actual_size != size:
                raise ObjectMismatch(f"{actual_size} bytes stored, {size} declared ({key})")
            if actual_sha is None:
                # No checksum kept by the server (not uploaded with one, or an S3 without them).
                actual_sha = (await self.hash_object(key, sse_key=sse_key)).sha256
            if actual_sha != expected:
                raise ObjectMismatch(f"SHA-256 {actual_sha} stored, {expected} declared ({key})")
        except ObjectMismatch:
            await self.delete(key)
            raise
        return StoredObject(key=key, size=actual_size, sha256=actual_sha, etag=etag)

    async def list_objects(
        self, prefix: str, *, older_than: timedelta | None = None, now: datetime | None = None,
    ) -> list[ListedObject]:
        """Objects under ``prefix``/, only those last modified more than ``older_than`` before ``now``."""
        folder, cutoff = _sweep_prefix(prefix), _cutoff(older_than, now)

        def listing() -> list[ListedObject]:
            found = []
            for obj in self._client.list_objects(bucket_name=self._bucket, prefix=folder, recursive=True):
                if obj.is_dir or not obj.object_name:
                    continue
                modified = obj.last_modified
                if cutoff is not None and modified is not None and modified >= cutoff:
                    continue
                found.append(ListedObject(key=obj.object_name, size=obj.size or 0, last_modified=modified))
            return found

        return await self._call(listing)

    async def list_incomplete_uploads(
        self, prefix: str, *, older_than: timedelta | None = None, now: datetime | None = None,
    ) -> list[IncompleteUpload]:
        """Multipart uploads under ``prefix``/ started and never finished (first 1000; see `_uploads`)."""
        folder, cutoff = _sweep_prefix(prefix), _cutoff(older_than, now)
        uploads = await self._call(partial(_uploads.list_uploads, self._client, self._bucket, folder))
        return [u for u in uploads if cutoff is None or u.initiated is None or u.initiated < cutoff]

    async def abort_incomplete_uploads(
        self, prefix: str, *, older_than: timedelta, now: datetime | None = None,
    ) -> int:
        """Abort the unfinished multipart uploads under ``prefix``/ older than ``older_than``; how many."""
        folder, cutoff = _sweep_prefix(prefix), _cutoff(older_than, now)
        return await self._call(partial(_uploads.abort_uploads, self._client, self._bucket, folder, cutoff))
