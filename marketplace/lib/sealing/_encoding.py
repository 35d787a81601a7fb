"""Byte ↔ text helpers shared by the stored records, the JWK and the signatures."""

from __future__ import annotations

import base64
import binascii
import unicodedata
import uuid
from collections.abc import Mapping

import rfc8785


def b64u(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2, the JOSE form), used for every byte string we store."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64u(text: str) -> bytes:
    """The inverse of `b64u`; refuses anything else (padding, the standard alphabet, whitespace)."""
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not unpadded base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not unpadded base64url text") from exc
    if b64u(raw) != text:  # non-canonical trailing bits: two texts must never name the same bytes
        raise ValueError("not canonical base64url text")
    return raw


def canonical_json(document: Mapping[str, object]) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON object: sorted keys, no whitespace, UTF-8, ES6 number form.

    Raises `ValueError` for what has no single JSON form (non-str keys, NaN, integers past 2**53,
    other Python types such as `datetime`: the caller turns them into strings first).
    """
    if not isinstance(document, Mapping):
        raise ValueError("a signed or bound document is a JSON object")
    try:
        return rfc8785.dumps(document)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"no canonical JSON form: {exc}") from exc


def associated_data(**parts: str | int | uuid.UUID) -> bytes:
    """Bytes that bind a ciphertext to what it belongs to, e.g. `associated_data(contract=…, offer=…)`.

    Canonical JSON rather than a joined string, so no two different sets of parts give the same bytes
    ("a|b" + "c" vs "a" + "b|c").
    """
    if not parts:
        raise ValueError("associated data needs at least one part")
    return canonical_json({k: str(v) if isinstance(v, uuid.UUID) else v for k, v in parts.items()})


def passphrase_bytes(passphrase: str) -> bytes:
    # NFC: the same passphrase typed on systems that compose accents differently gives the same key.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")
