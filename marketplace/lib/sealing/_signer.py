"""The platform's signature on receipts (accusés de réception, P1, reliability.md §4.2).

What is signed, so that anyone can check a receipt without this code:

1. Serialise the receipt document (a JSON object) with RFC 8785, the JSON Canonicalization Scheme:
   object members sorted by the UTF-16 code units of their names, no whitespace, strings in UTF-8 with
   JSON's minimal escapes, numbers in ECMAScript form. Receipts carry times as RFC 3339 strings and
   sizes as integers, so any RFC 8785 library (or, for such documents, `json.dumps(doc, sort_keys=True,
   separators=(",", ":"), ensure_ascii=False).encode()` when keys are ASCII and there are no floats)
   gives the same bytes.
2. Sign those bytes with Ed25519 (RFC 8032, pure, no pre-hash, no context).
3. The signature is the 64-byte Ed25519 signature in base64url without padding.

The public key is published as an RFC 8037 JWK: `{"kty": "OKP", "crv": "Ed25519", "x": <base64url of
the 32 raw bytes>, "kid": <RFC 7638 thumbprint>, "alg": "EdDSA", "use": "sig"}`; the thumbprint is the
base64url SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":"…"}` (those three members, in that order, no
whitespace). Documents should name their own type (e.g. `"type": "offer-receipt/v1"`) so that a
signature on one kind of document cannot pass for another.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from marketplace.lib.sealing._encoding import b64u, canonical_json, from_b64u

DEV_KEY_FILENAME = "signing_key.pem"


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 thumbprint of an Ed25519 OKP JWK (the `kid` we publish)."""
    required = {"crv": jwk.get("crv"), "kty": jwk.get("kty"), "x": jwk.get("x")}
    if not all(isinstance(v, str) for v in required.values()):
        raise ValueError("an OKP JWK has string crv, kty and x")
    return b64u(hashlib.sha256(canonical_json(required)).digest())


def _public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(public.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": "EdDSA", "use": "sig"}


class PlatformSigner:
    """Signs documents with the platform's Ed25519 key. Its repr names the key id, never the key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._jwk = _public_jwk(private_key.public_key())

    def __repr__(self) -> str:
        return f"<PlatformSigner kid={self.kid}>"

    @classmethod
    def generate(cls) -> PlatformSigner:
        """A throwaway key (tests); production loads a file so receipts stay verifiable across restarts."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem_file(cls, path: Path) -> PlatformSigner:
        """An unencrypted PKCS#8 PEM Ed25519 key, e.g. one mounted from a secret store."""
        key = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> PlatformSigner:
        """Load `path`, creating it first (mode 0600) if it does not exist: the dev data-dir key.

        Like `secret_key`, it lives with the data so receipts signed before a restart still verify.
        The file is written under a temporary name and linked into place, so two processes starting
        together agree on one key and neither reads a half-written file.
        """
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            # mkstemp creates the file 0600, so the key is never readable by others, not even briefly.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                    f.flush()
                    os.fsync(f.fileno())
                with contextlib.suppress(FileExistsError):  # another process won: use its key
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        return cls.from_pem_file(path)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> PlatformSigner:
        return cls.load_or_create(data_dir / DEV_KEY_FILENAME)

    @property
    def kid(self) -> str:
        return self._jwk["kid"]

    def public_jwk(self) -> dict[str, str]:
        """The RFC 8037 public JWK, with `kid` = its RFC 7638 thumbprint."""
        return dict(self._jwk)

    def sign(self, document: Mapping[str, object]) -> str:
        """Base64url Ed25519 signature over the RFC 8785 bytes of `document` (see the module docstring)."""
        return b64u(self._key.sign(canonical_json(document)))


def verify(document: Mapping[str, object], signature: str, jwk: Mapping[str, object]) -> bool:
    """Whether `signature` is the platform's signature of `document` under the public `jwk`.

    False for anything malformed (not an Ed25519 JWK, bad base64url, a document with no canonical form)
    as well as for a wrong signature: a verifier has one answer to give.
    """
    try:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
            return False
        public = Ed25519PublicKey.from_public_bytes(from_b64u(str(jwk["x"])))
        public.verify(from_b64u(signature), canonical_json(document))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
