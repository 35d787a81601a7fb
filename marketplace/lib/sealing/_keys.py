"""Keys: data keys wrapped to a contract key, opener keys under passphrases, the contract key k-of-n.

Every public-key encryption here is RFC 9180 HPKE in base mode with DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256 and AES-256-GCM, as implemented by `cryptography`; its `info` carries canonical JSON that
binds the ciphertext to its purpose and to the caller's context, so a wrapped key moved to another
document, offer or contract no longer opens.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from Crypto.Protocol.SecretSharing import Shamir  # nosec B413  # pycryptodome (maintained), not pyCrypto
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from marketplace.lib.sealing._encoding import b64u, canonical_json, from_b64u, passphrase_bytes
from marketplace.lib.sealing._errors import NotEnoughOpeners, SealingError, TamperDetected, WrongPassphrase
from marketplace.lib.sealing._stream import DEK_SIZE

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_WRAP_VERSION = b"\x01"
RECORD_VERSION = 1
MIN_PASSPHRASE_LENGTH = 12
# Shares are numbered 1..n; a committee larger than this is a configuration error, not a use case.
MAX_OPENERS = 64


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_bytes(key: X25519PublicKey | X25519PrivateKey) -> bytes:
    """The 32 raw bytes of a public key (of a private key's public half), as stored."""
    return _raw_public(key.public_key() if isinstance(key, X25519PrivateKey) else key)


def load_public_key(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError("an X25519 public key is 32 bytes") from exc


def fingerprint(key: X25519PublicKey | X25519PrivateKey) -> str:
    """Hex SHA-256 of the raw public key: what a receipt quotes so a swapped contract key shows."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()


def _info(purpose: str, **fields: str | int) -> bytes:
    return canonical_json({"purpose": f"marketplace.sealing.{purpose}.v1", **fields})


# ------------------------------------------------------------------------------------------ data keys


def wrap_dek(dek: bytes, contract_key: X25519PublicKey, context: bytes) -> bytes:
    """Seal a data key to the contract's public key (81 bytes: version 0x01 | HPKE enc (32) | ct (48)).

    `context` should name what the key protects, e.g. `associated_data(contract=…, offer=…,
    document=…, sha256=…, size=…)`: wrapping after the upload, with the plaintext's hash and size in
    the context, makes an edited hash row fail to unwrap as well as to verify (G5).
    """
    if len(dek) != DEK_SIZE:
        raise ValueError(f"a data key is {DEK_SIZE} bytes")
    return _WRAP_VERSION + _SUITE.encrypt(dek, contract_key, info=_info("dek", context=b64u(context)))


def unwrap_dek(wrapped: bytes, contract_key: X25519PrivateKey, context: bytes) -> bytes:
    """The data key back; `TamperDetected` for another key, another context or altered bytes."""
    if wrapped[:1] != _WRAP_VERSION:
        raise TamperDetected("wrapped data key of an unknown version")
    try:
        dek = _SUITE.decrypt(wrapped[1:], contract_key, info=_info("dek", context=b64u(context)))
    except (InvalidTag, ValueError):
        raise TamperDetected("wrapped data key does not open with this key and context") from None
    if len(dek) != DEK_SIZE:
        raise TamperDetected("wrapped data key has the wrong length")
    return dek


# ---------------------------------------------------------------------------------------- opener keys


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost; the default is RFC 9106 §4's second recommendation (64 MiB, 3 passes, 4 lanes)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024  # KiB
    parallelism: int = 4

    def check(self) -> None:
        # Read back from storage: bounded so an edited record cannot make an unlock exhaust the server.
        if not (1 <= self.time_cost <= 16 and 8 * self.parallelism <= self.memory_cost <= 1024 * 1024
                and 1 <= self.parallelism <= 16):
            raise SealingError("key-derivation parameters out of bounds")

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        self.check()
        return hash_secret_raw(passphrase_bytes(passphrase), salt, time_cost=self.time_cost,
                               memory_cost=self.memory_cost, parallelism=self.parallelism, hash_len=32,
                               type=Type.ID)


@dataclass(frozen=True, slots=True, repr=False)
class LockedOpenerKey:
    """An opener's X25519 key pair whose private half is AES-256-GCM-encrypted under an Argon2id key.

    Stored as `to_dict()` (JSONB). Only the opener's passphrase unlocks it; a database dump holds an
    Argon2id-hardened ciphertext, which is why a passphrase has at least `MIN_PASSPHRASE_LENGTH`
    characters (G1).
    """

    opener_id: str
    public_key: bytes
    kdf: KdfParams
    salt: bytes
    nonce: bytes
    encrypted_private_key: bytes

    def __repr__(self) -> str:
        return f"<LockedOpenerKey opener={self.opener_id!r} public={b64u(self.public_key)}>"

    def _aad(self) -> bytes:
        return _info("opener-key", opener=self.opener_id, publicKey=b64u(self.public_key),
                     salt=b64u(self.salt), timeCost=self.kdf.time_cost, memoryCost=self.kdf.memory_cost,
                     parallelism=self.kdf.parallelism)

    @classmethod
    def create(cls, opener_id: str, passphrase: str, *, kdf: KdfParams | None = None,
               private_key: X25519PrivateKey | None = None) -> LockedOpenerKey:
        """A new key pair (or `private_key`, to change the passphrase) locked under `passphrase`."""
        if not opener_id:
            raise ValueError("an opener needs an id")
        if len(passphrase) < MIN_PASSPHRASE_LENGTH:
            raise ValueError(f"a passphrase has at least {MIN_PASSPHRASE_LENGTH} characters")
        kdf = kdf or KdfParams()
        key = private_key or X25519PrivateKey.generate()
        salt, nonce = os.urandom(16), os.urandom(12)
        blank = cls(opener_id, public_key_bytes(key), kdf, salt, nonce, b"")
        sealed = AESGCM(kdf.derive(passphrase, salt)).encrypt(nonce, _raw_private(key), blank._aad())
        return cls(opener_id, blank.public_key, kdf, salt, nonce, sealed)

    def unlock(self, passphrase: str) -> X25519PrivateKey:
        """The private key, in memory only; `WrongPassphrase` otherwise."""
        key = self.kdf.derive(passphrase, self.salt)
        try:
            raw = AESGCM(key).decrypt(self.nonce, self.encrypted_private_key, self._aad())
        except InvalidTag:
            raise WrongPassphrase(f"wrong passphrase for opener {self.opener_id}") from None
        private = X25519PrivateKey.from_private_bytes(raw)
        if public_key_bytes(private) != self.public_key:
            raise TamperDetected("opener key record does not match its public key")
        return private

    def public(self) -> X25519PublicKey:
        return load_public_key(self.public_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION, "opener": self.opener_id, "publicKey": b64u(self.public_key),
            "kdf": {"alg": "argon2id", "salt": b64u(self.salt), "timeCost": self.kdf.time_cost,
                    "memoryCost": self.kdf.memory_cost, "parallelism": self.kdf.parallelism},
            "nonce": b64u(self.nonce), "encryptedPrivateKey": b64u(self.encrypted_private_key),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LockedOpenerKey:
        try:
            kdf = data["kdf"]
            if data["version"] != RECORD_VERSION or kdf["alg"] != "argon2id":
                raise SealingError("opener key record of an unknown version")
            params = KdfParams(_int(kdf["timeCost"]), _int(kdf["memoryCost"]), _int(kdf["parallelism"]))
            return cls(_str(data["opener"]), _public(data["publicKey"]), params, from_b64u(kdf["salt"]),
                       from_b64u(data["nonce"]), from_b64u(data["encryptedPrivateKey"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SealingError(f"malformed opener key record: {exc}") from exc


def _public(text: object) -> bytes:
    raw = from_b64u(_str(text))
    load_public_key(raw)  # refuses anything but 32 bytes
    return raw


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


# ------------------------------------------------------------------------------------- contract keys


@dataclass(frozen=True, slots=True, repr=False)
class SealedShare:
    """One opener's Shamir share of the contract private key, HPKE-sealed to the opener's public key."""

    opener_id: str
    index: int
    opener_public_key: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True, repr=False)
class ProtectedContractKey:
    """A contract's public key, and its private key recoverable only by `threshold` of the openers.

    The private key is split with Shamir's scheme (two 16-byte halves, each shared over GF(2^128)) and
    each share sealed to one opener; the private key itself is stored nowhere (P4, P6).
    """

    public_key: bytes
    threshold: int
    shares: tuple[SealedShare, ...]

    def __repr__(self) -> str:
        return (f"<ProtectedContractKey {fingerprint(self.public())[:16]} "
                f"{self.threshold}-of-{len(self.shares)}>")

    def public(self) -> X25519PublicKey:
        return load_public_key(self.public_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION, "publicKey": b64u(self.public_key), "scheme": "shamir-gf128x2",
            "threshold": self.threshold,
            "shares": [{"opener": s.opener_id, "index": s.index, "openerPublicKey": b64u(s.opener_public_key),
                        "sealed": b64u(s.sealed)} for s in self.shares],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProtectedContractKey:
        try:
            if data["version"] != RECORD_VERSION or data["scheme"] != "shamir-gf128x2":
                raise SealingError("contract key record of an unknown version")
            shares = tuple(SealedShare(_str(s["opener"]), _int(s["index"]), _public(s["openerPublicKey"]),
                                       from_b64u(_str(s["sealed"]))) for s in data["shares"])
            return cls(_public(data["publicKey"]), _int(data["threshold"]), shares)
        except (KeyError, TypeError, ValueError) as exc:
            raise SealingError(f"malformed contract key record: {exc}") from exc


def _share_info(context: bytes, public_key: bytes, threshold: int, share: SealedShare) -> bytes:
    return _info("contract-key-share", context=b64u(context), contractKey=b64u(public_key),
                 threshold=threshold, opener=share.opener_id, index=share.index,
                 openerKey=b64u(share.opener_public_key))


def create_contract_key(openers: Mapping[str, X25519PublicKey], threshold: int,
                        context: bytes) -> ProtectedContractKey:
    """A new contract key pair, its private half shared `threshold`-of-`len(openers)` among `openers`.

    `openers` maps each opener id to that opener's public key (`LockedOpenerKey.public()`); `context`
    names the contract (`associated_data(contract=…)`) and must be given again to recover.
    """
    n = len(openers)
    if not 1 <= threshold <= n <= MAX_OPENERS:
        raise ValueError(f"need 1 ≤ threshold ≤ openers ≤ {MAX_OPENERS}, got {threshold} of {n}")
    raw_publics = {opener_id: _raw_public(key) for opener_id, key in openers.items()}
    if any(not opener_id for opener_id in raw_publics):
        raise ValueError("an opener needs an id")
    if len(set(raw_publics.values())) != n:
        # One person holding two shares would defeat the threshold.
        raise ValueError("two openers have the same public key")
    private = X25519PrivateKey.generate()
    public = public_key_bytes(private)
    secret = _raw_private(private)
    low, high = Shamir.split(threshold, n, secret[:16]), Shamir.split(threshold, n, secret[16:])
    shares = []
    for (index, lo), (_, hi), (opener_id, opener_key) in zip(low, high, openers.items(), strict=True):
        blank = SealedShare(opener_id, index, raw_publics[opener_id], b"")
        sealed = _SUITE.encrypt(lo + hi, opener_key, info=_share_info(context, public, threshold, blank))
        shares.append(SealedShare(opener_id, index, blank.opener_public_key, sealed))
    return ProtectedContractKey(public, threshold, tuple(shares))


def recover_contract_key(protected: ProtectedContractKey, openers: Mapping[str, X25519PrivateKey],
                         context: bytes) -> X25519PrivateKey:
    """The contract private key, in memory only, from at least `threshold` openers' unlocked keys.

    An opener whose id has no share, or whose key is not the one the share was sealed to, does not
    count; fewer than `threshold` that count raises `NotEnoughOpeners`. A share that the right key
    cannot open, or shares that do not rebuild the recorded public key, raise `TamperDetected`.
    """
    by_opener = {s.opener_id: s for s in protected.shares}
    opened: list[tuple[int, bytes]] = []
    refused: list[str] = []
    for opener_id, key in openers.items():
        share = by_opener.get(opener_id)
        if share is None or public_key_bytes(key) != share.opener_public_key:
            refused.append(opener_id)
            continue
        info = _share_info(context, protected.public_key, protected.threshold, share)
        try:
            plain = _SUITE.decrypt(share.sealed, key, info=info)
        except (InvalidTag, ValueError):
            raise TamperDetected(f"the share of opener {opener_id} does not open with its key") from None
        if len(plain) != 32:
            raise TamperDetected(f"the share of opener {opener_id} has the wrong length")
        opened.append((share.index, plain))
    if len(opened) < protected.threshold:
        detail = f" (not counted: {', '.join(sorted(refused))})" if refused else ""
        raise NotEnoughOpeners(f"{protected.threshold} openers needed, {len(opened)} presented a valid key{detail}")
    # Exactly `threshold` shares: Lagrange interpolation with more would give the same secret, but the
    # library asks for no more.
    chosen = sorted(opened)[: protected.threshold]
    secret = (Shamir.combine([(i, s[:16]) for i, s in chosen])
              + Shamir.combine([(i, s[16:]) for i, s in chosen]))
    private = X25519PrivateKey.from_private_bytes(secret)
    if public_key_bytes(private) != protected.public_key:
        raise TamperDetected("the shares do not rebuild the contract key")
    return private
