"""AWS Signature V4 query presigning that can sign request headers too.

minio-py's `presign_v4` signs only ``host``, so a presigned URL can't make the server require
anything of the request. Listing more headers in ``X-Amz-SignedHeaders`` binds their exact values
into the signature: a client that omits or changes one gets ``SignatureDoesNotMatch``. That is how a
presigned PUT here forces SSE-C and a declared SHA-256 on the uploader. Written from the SigV4
specification; a test checks it against minio's signer for the host-only case.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

_ALGORITHM = "AWS4-HMAC-SHA256"
# SigV4 "URI encoding": RFC 3986 unreserved characters stay, everything else is %XX.
_UNRESERVED = "-_.~"
MAX_EXPIRY = timedelta(days=7)


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(secret_key: str, day: str, region: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def presign(
    *,
    method: str,
    scheme: str,
    host: str,
    path: str,
    region: str,
    access_key: str,
    secret_key: str,
    expires: timedelta,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned URL for ``method`` on ``path`` (``/bucket/key``); ``headers`` become signed headers.

    ``host`` is what the client will send as ``Host`` (``127.0.0.1:9000``). The payload is
    ``UNSIGNED-PAYLOAD``: the body's integrity comes from a signed checksum header instead.
    """
    seconds = int(expires.total_seconds())
    if not 1 <= seconds <= MAX_EXPIRY.total_seconds():
        raise ValueError("expires must be between 1 second and 7 days")
    # nosemgrep: wall-clock-outside-clock  # S3 checks a signature's date against its real time
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"

    signed = {"host": host}
    for name, value in (headers or {}).items():
        # Header values are canonicalised trimmed with inner runs of spaces folded.
        signed[name.lower()] = " ".join(value.split())
    names = sorted(signed)
    signed_names = ";".join(names)

    params = {
        **(query or {}),
        "X-Amz-Algorithm": _ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(seconds),
        "X-Amz-SignedHeaders": signed_names,
    }
    canonical_query = "&".join(
        f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params.items())
    )
    canonical_path = _uri_encode(path, keep_slash=True)
    canonical_request = "\n".join([
        method.upper(),
        canonical_path,
        canonical_query,
        "".join(f"{name}:{signed[name]}\n" for name in names),
        signed_names,
        "UNSIGNED-PAYLOAD",
    ])
    string_to_sign = "\n".join([
        _ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])
    signature = hmac.new(
        _signing_key(secret_key, day, region), string_to_sign.encode(), hashlib.sha256,
    ).hexdigest()
    return f"{scheme}://{host}{canonical_path}?{canonical_query}&X-Amz-Signature={signature}"
