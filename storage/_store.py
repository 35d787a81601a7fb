"""`ObjectStore`: the async face of one S3 bucket."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from datetime import timedelta
from functools import partial
from typing import BinaryIO, TypeVar, cast

import anyio
import anyio.to_thread
from minio.error import S3Error
from minio.helpers import DictType, ObjectWriteResult

from storage._client import TRANSLATABLE, build_client, translate
from storage._headers import content_disposition, decode_metadata, encode_metadata
from storage._stream import ChunkReader, stream_upload
from storage._types import ObjectInfo, StoreConfig, StoredObject
from storage.errors import ObjectNotFound, StorageUnavailable

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
    ) -> StoredObject:
        """Store what ``chunks`` yields, hashing it on the way; all or nothing.

        If the producer raises, or passes ``max_size`` (`ObjectTooLarge`), the upload is aborted
        and the producer's exception re-raised: no partial object is ever committed.
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

    async def stat(self, key: str) -> ObjectInfo:
        obj = await self._call(
            partial(self._client.stat_object, bucket_name=self._bucket, object_name=key), key=key,
        )
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            etag=obj.etag or None,
            content_type=obj.content_type,
            metadata=decode_metadata((obj.metadata or {}).items()),
            last_modified=obj.last_modified,
        )

    async def get_stream(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncGenerator[bytes, None]:
        """The object's bytes as stored (no content decoding), ``chunk_size`` at a time.

        ``aclose()`` it when stopping early, to release its connection at once.
        """
        response = await self._call(
            partial(self._client.get_object, bucket_name=self._bucket, object_name=key), key=key,
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

    async def hash_object(self, key: str) -> StoredObject:
        """Re-read the object and return its real size and SHA-256 (e.g. after a presigned PUT)."""

        def digest() -> StoredObject:
            response = self._client.get_object(bucket_name=self._bucket, object_name=key)
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
        """An upload URL, signed locally. Verify the result with `hash_object` before trusting it."""
        return self._client.presigned_put_object(bucket_name=self._bucket, object_name=key, expires=expires)
