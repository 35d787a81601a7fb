"""The platform's keys for sealed offers: the receipt signer, and the key that seals what the platform
itself must be able to read back before the opening.

Two kinds of secrets, two keys (README, "Sealed offers: the trust model"):
- an offer's content (its structured parts and files) is sealed to the specific contract's key, which
  only the openers' passphrases rebuild (lib/sealing): nobody reads it before the opening;
- what the author is shown before the opening (its receipt, its files' names) is sealed under the
  platform key, derived from the secret key: a database dump alone shows none of it, but an operator
  holding both the dump and the secret could read file names and receipts — never the content.
After the opening the contract's private key is also kept under the platform key, for the evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from marketplace.lib.sealing import DEV_KEY_FILENAME, PlatformSigner, TamperDetected
from marketplace.settings import Settings

_NONCE = 12


class Vault:
    def __init__(self, secret: str, signer: PlatformSigner) -> None:
        if len(secret) < 32:
            raise ValueError("the secret key is too short to derive the platform key from")
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                 info=b"marketplace.vault.v1").derive(secret.encode()))
        self.signer = signer

    def __repr__(self) -> str:
        return f"<Vault signer={self.signer.kid}>"

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        path = Path(settings.signing_key_file) if settings.signing_key_file else settings.data_dir / DEV_KEY_FILENAME
        return cls(settings.secret_key, PlatformSigner.load_or_create(path))

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """AES-256-GCM under the platform key, bound to `context` (what the bytes are, for which object)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())
        except Exception as exc:  # InvalidTag, or bytes too short to hold a tag
            raise TamperDetected(f"sealed {context.split(':', 1)[0]} does not open") from exc
