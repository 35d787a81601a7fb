"""Standard Webhooks signatures (https://www.standardwebhooks.com, "symmetric" scheme), for senders and receivers.

The secret is `whsec_` + base64 of 32 random bytes; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`
(the body's exact bytes), signed with HMAC-SHA256 under the decoded secret; the `Webhook-Signature` header holds
`v1,<base64 signature>` (several, space separated, while a secret is being rotated). A receiver checks the
signature in constant time and refuses a timestamp too far from its clock (replayed messages)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"Webhook-Id": message_id, "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": sign(secret, message_id, timestamp, body), "Content-Type": "application/json"}


def verify(secret: str, message_id: str, timestamp: str, signature_header: str, body: bytes, *,
           now: float, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True iff one of the header's `v1` signatures is this body's, and the timestamp within `tolerance`."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    expected = sign(secret, message_id, stamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature_header.split())
