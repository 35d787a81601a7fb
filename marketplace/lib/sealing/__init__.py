"""Sealed offers: the cryptography that keeps offer files unreadable until the opening (D13, P4, P6, P9).

Trust model: server-side envelope encryption at receipt (reliability.md §4.1, first row). The server
sees a file's plaintext only in memory, while streaming it: it records the plaintext's SHA-256 and
size, and stores only ciphertext. Nobody can read a file before the opening — not the buyer, not an
administrator, not someone holding a database or bucket dump (G1) — because the key that opens it
exists in the clear only during an opening, rebuilt from `threshold` openers' passphrases.

The pieces, from a file up to the openers:

- Each file gets its own random data key (`new_dek`) and is sealed by `encrypt_stream`: AES-256-GCM
  in the STREAM construction, 64 KiB segments, constant memory (`_stream.py` has the byte layout).
  `DigestingStream` hashes the plaintext on its way in, and checks it on its way out at opening (P9).
- The data key is wrapped to the specific contract's X25519 public key (`wrap_dek`, RFC 9180 HPKE),
  bound to a caller-chosen context (`associated_data(contract=…, offer=…, document=…, sha256=…)`).
- The contract key pair is made when the contract is published (`create_contract_key`). Its private
  key is never stored: it is split with Shamir's secret sharing, `threshold` of n, and each share is
  sealed (HPKE) to one opener's personal X25519 key. Each opener's private key is stored encrypted
  under an Argon2id key derived from their passphrase (`LockedOpenerKey`).
- At opening, `threshold` openers unlock their keys with their passphrases, `recover_contract_key`
  rebuilds the contract private key in memory, `unwrap_dek` gives each file's data key back, and
  `decrypt_stream` + `DigestingStream(expected_sha256=…, expected_size=…)` give the plaintext while
  re-verifying it (G5).
- `PlatformSigner` signs receipts (Ed25519 over RFC 8785 canonical JSON); `verify` is the standalone
  check anyone can reimplement from `_signer.py`'s docstring.

Why Shamir rather than one wrap per subset of openers: pycryptodome's `Shamir` (a maintained, typed
library that the object-store SDK already depends on) keeps the stored record at n shares, where
wrapping the contract key once per k-subset grows as C(n, k) (252 records for 5-of-10). Its field is
GF(2^128), so the 32-byte key is shared as two 16-byte halves with the same indices; a share alone, or
k-1 of them, says nothing about either half. Combining gives no integrity check of its own, so every
share is AEAD-sealed and the rebuilt key must match the recorded public key.

Not covered here, for the caller: the contract public key must itself be trusted by whoever wraps to
it (quote its `fingerprint` in the receipt, so a key swapped in the database shows), passphrases are
checked only for length, and unlocked keys live as long as the caller keeps them.
"""

from __future__ import annotations

from marketplace.lib.sealing._encoding import associated_data, b64u, canonical_json, from_b64u
from marketplace.lib.sealing._errors import (
    IntegrityError,
    NotEnoughOpeners,
    SealingError,
    TamperDetected,
    WrongPassphrase,
)
from marketplace.lib.sealing._keys import (
    MIN_PASSPHRASE_LENGTH,
    KdfParams,
    LockedOpenerKey,
    ProtectedContractKey,
    SealedShare,
    create_contract_key,
    fingerprint,
    load_public_key,
    public_key_bytes,
    recover_contract_key,
    unwrap_dek,
    wrap_dek,
)
from marketplace.lib.sealing._signer import DEV_KEY_FILENAME, PlatformSigner, jwk_thumbprint, verify
from marketplace.lib.sealing._stream import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    DigestingStream,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    new_dek,
    plaintext_size,
)

__all__ = [
    "DEV_KEY_FILENAME",
    "HEADER_SIZE",
    "MIN_PASSPHRASE_LENGTH",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "DigestingStream",
    "IntegrityError",
    "KdfParams",
    "LockedOpenerKey",
    "NotEnoughOpeners",
    "PlatformSigner",
    "ProtectedContractKey",
    "SealedShare",
    "SealingError",
    "TamperDetected",
    "WrongPassphrase",
    "associated_data",
    "b64u",
    "canonical_json",
    "ciphertext_size",
    "create_contract_key",
    "decrypt_stream",
    "encrypt_stream",
    "fingerprint",
    "from_b64u",
    "jwk_thumbprint",
    "load_public_key",
    "new_dek",
    "plaintext_size",
    "public_key_bytes",
    "recover_contract_key",
    "unwrap_dek",
    "verify",
    "wrap_dek",
]
