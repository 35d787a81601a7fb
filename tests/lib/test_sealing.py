"""Sealed offers' cryptography (marketplace.lib.sealing): D13, P4, P6, P9, G1, G2, G5."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import stat
import threading
import time
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.lib.sealing import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    DigestingStream,
    IntegrityError,
    KdfParams,
    LockedOpenerKey,
    NotEnoughOpeners,
    PlatformSigner,
    ProtectedContractKey,
    SealingError,
    TamperDetected,
    WrongPassphrase,
    associated_data,
    b64u,
    canonical_json,
    ciphertext_size,
    create_contract_key,
    decrypt_stream,
    encrypt_stream,
    fingerprint,
    jwk_thumbprint,
    new_dek,
    plaintext_size,
    recover_contract_key,
    unwrap_dek,
    verify,
    wrap_dek,
)

SMALL = 4096  # the smallest segment size: many segments from little data
AAD = associated_data(contract="c-1", offer="o-1", document="d-1")
# Cheap Argon2id so the k-of-n tests stay fast; the default cost is exercised once below.
FAST_KDF = KdfParams(time_cost=1, memory_cost=64, parallelism=1)


async def feed(data: bytes, cuts: Iterable[int] = ()) -> AsyncIterator[bytes]:
    """`data` in chunks ending at each of `cuts` (sorted, deduplicated); an empty chunk is kept too."""
    start = 0
    for cut in sorted(set(cuts)):
        yield data[start:cut]
        start = cut
    yield data[start:]


async def drain(chunks: AsyncIterable[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def seal(data: bytes, dek: bytes, aad: bytes = AAD, cuts: Iterable[int] = (), **kw: int) -> bytes:
    return await drain(encrypt_stream(feed(data, cuts), dek, aad, **kw))


async def unseal(sealed: bytes, dek: bytes, aad: bytes = AAD, cuts: Iterable[int] = ()) -> bytes:
    return await drain(decrypt_stream(feed(sealed, cuts), dek, aad))


def segments(sealed: bytes, segment_size: int) -> list[bytes]:
    body, full = sealed[HEADER_SIZE:], segment_size + TAG_SIZE
    return [body[i:i + full] for i in range(0, len(body), full)]


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE,
                                  3 * SEGMENT_SIZE + 7, 5 * 1024 * 1024 + 3])
async def test_round_trip_at_the_default_segment_size(size: int) -> None:
    data, dek = os.urandom(size), new_dek()
    rng = random.Random(size)
    cuts = [rng.randrange(size + 1) for _ in range(20)]
    sealed = await seal(data, dek, cuts=cuts)
    assert len(sealed) == ciphertext_size(size)
    assert plaintext_size(len(sealed)) == size
    assert await unseal(sealed, dek, cuts=[rng.randrange(len(sealed) + 1) for _ in range(20)]) == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=5 * SMALL + 3), plain_cuts=st.lists(st.integers(0, 5 * SMALL + 3), max_size=12),
       sealed_cuts=st.lists(st.integers(0, 6 * SMALL), max_size=12))
async def test_round_trip_whatever_the_chunking(data: bytes, plain_cuts: list[int], sealed_cuts: list[int]) -> None:
    dek = new_dek()
    sealed = await seal(data, dek, cuts=[c for c in plain_cuts if c <= len(data)], segment_size=SMALL)
    assert len(sealed) == ciphertext_size(len(data), SMALL)
    assert await unseal(sealed, dek, cuts=[c for c in sealed_cuts if c <= len(sealed)]) == data


async def test_the_same_plaintext_seals_differently_each_time() -> None:
    dek = new_dek()
    assert await seal(b"offer", dek) != await seal(b"offer", dek)  # random nonce prefix


def test_sizes_invert() -> None:
    for segment_size in (SMALL, SEGMENT_SIZE):
        for size in [*range(3 * segment_size + 3), 10**9]:
            assert plaintext_size(ciphertext_size(size, segment_size), segment_size) == size


@pytest.mark.parametrize("sealed_size", [0, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1,
                                         # a full segment, then an empty last one: never produced
                                         HEADER_SIZE + SMALL + 2 * TAG_SIZE,
                                         HEADER_SIZE + 2 * (SMALL + TAG_SIZE) + TAG_SIZE])
def test_impossible_sealed_sizes_are_refused(sealed_size: int) -> None:
    with pytest.raises(ValueError, match="cannot be a sealed object"):
        plaintext_size(sealed_size, SMALL)


@pytest.mark.parametrize("segment_size", [0, 1000, 2048, SMALL + 1, 32 * 1024 * 1024])
async def test_segment_size_is_a_bounded_power_of_two(segment_size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        await seal(b"x", new_dek(), segment_size=segment_size)


async def test_a_data_key_is_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        await seal(b"x", os.urandom(16))


# --------------------------------------------------------------------------------- tamper detection (G5)


async def assert_tampered(sealed: bytes, dek: bytes, original: bytes, aad: bytes = AAD,
                          segment_size: int = SMALL) -> None:
    """Decryption fails, and what came out before the failure is whole, authentic leading segments."""
    out: list[bytes] = []
    with pytest.raises(TamperDetected):
        async for piece in decrypt_stream(feed(sealed), dek, aad):
            out.append(piece)
    released = b"".join(out)
    assert original.startswith(released)
    assert len(released) % segment_size == 0


async def test_every_flipped_byte_is_detected() -> None:
    """Header, every segment's body and every tag: 3 segments of 4 KiB, each byte flipped in turn."""
    data, dek = os.urandom(2 * SMALL + 1000), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 1 << (i % 8)
        await assert_tampered(bytes(tampered), dek, data)


async def test_truncation_anywhere_is_detected() -> None:
    data, dek = os.urandom(3 * SMALL + 10), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    full = SMALL + TAG_SIZE
    boundaries = [HEADER_SIZE + k * full for k in range(4)]
    for length in [*boundaries, 0, 5, HEADER_SIZE + 10, len(sealed) - 1, len(sealed) - TAG_SIZE]:
        await assert_tampered(sealed[:length], dek, data)


async def test_dropping_the_last_segment_is_detected() -> None:
    data, dek = os.urandom(3 * SMALL), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    parts = segments(sealed, SMALL)
    await assert_tampered(sealed[:HEADER_SIZE] + b"".join(parts[:-1]), dek, data)


async def test_appending_a_segment_is_detected() -> None:
    data, dek = os.urandom(2 * SMALL + 50), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    parts = segments(sealed, SMALL)
    for extra in (parts[-1], parts[0], os.urandom(TAG_SIZE), os.urandom(SMALL + TAG_SIZE), b"\0"):
        await assert_tampered(sealed + extra, dek, data)


async def test_a_longer_seal_cut_at_a_boundary_is_detected() -> None:
    """The first two segments of a three-segment stream are not a two-segment stream."""
    data, dek = os.urandom(3 * SMALL), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    await assert_tampered(sealed[:HEADER_SIZE + 2 * (SMALL + TAG_SIZE)], dek, data)


async def test_swapping_segments_is_detected() -> None:
    data, dek = os.urandom(3 * SMALL + 100), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    parts = segments(sealed, SMALL)
    for a, b in [(0, 1), (1, 2), (0, 2)]:
        swapped = list(parts)
        swapped[a], swapped[b] = swapped[b], swapped[a]
        await assert_tampered(sealed[:HEADER_SIZE] + b"".join(swapped), dek, data)


async def test_a_segment_from_another_stream_is_detected() -> None:
    dek = new_dek()
    one, two = os.urandom(2 * SMALL), os.urandom(2 * SMALL)
    a, b = await seal(one, dek, segment_size=SMALL), await seal(two, dek, segment_size=SMALL)
    await assert_tampered(a[:HEADER_SIZE] + segments(a, SMALL)[0] + segments(b, SMALL)[1], dek, one)


async def test_wrong_associated_data_or_key_is_detected() -> None:
    data, dek = os.urandom(SMALL + 1), new_dek()
    sealed = await seal(data, dek, segment_size=SMALL)
    await assert_tampered(sealed, dek, data, aad=associated_data(contract="c-1", offer="o-2", document="d-1"))
    await assert_tampered(sealed, dek, data, aad=b"")
    await assert_tampered(sealed, new_dek(), data)


async def test_an_empty_plaintext_is_authenticated_too() -> None:
    dek = new_dek()
    sealed = await seal(b"", dek)
    assert len(sealed) == HEADER_SIZE + TAG_SIZE
    assert await unseal(sealed, dek) == b""
    await assert_tampered(sealed[:HEADER_SIZE], dek, b"")
    await assert_tampered(b"", dek, b"")
    await assert_tampered(sealed, new_dek(), b"")


def test_associated_data_is_unambiguous() -> None:
    assert associated_data(a="x|y", b="z") != associated_data(a="x", b="y|z")
    assert associated_data(offer="o", contract="c") == associated_data(contract="c", offer="o")
    with pytest.raises(ValueError):
        associated_data()


# ------------------------------------------------------------------------------ constant memory (G11)


async def test_memory_stays_constant_over_200_mib() -> None:
    """Encrypt then decrypt 200 MiB from a generator: the peak stays a few segments, not the file."""
    block = os.urandom(1024 * 1024)
    total = 200

    async def source() -> AsyncIterator[bytes]:
        for i in range(total):
            # Mix chunk sizes: whole MiBs, and odd small pieces that straddle segment boundaries.
            if i % 10 == 0:
                for start in range(0, len(block), 10_007):
                    yield block[start:start + 10_007]
            else:
                yield block

    dek = new_dek()
    plain = DigestingStream(source())
    back = DigestingStream(decrypt_stream(encrypt_stream(plain, dek, AAD), dek, AAD))
    began = time.perf_counter()
    tracemalloc.start()
    try:
        async for _ in back:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - began
    assert plain.size == back.size == total * len(block)
    assert back.sha256 == plain.sha256
    # About 5 segments in flight (measured: ~340 KiB); the 1 MiB input block predates the tracing.
    assert peak < 8 * SEGMENT_SIZE, f"peak {peak} bytes"
    assert elapsed < 5, f"{elapsed:.1f} s"


# ------------------------------------------------------------------------------ plaintext digest (P9)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=20_000), cuts=st.lists(st.integers(0, 20_000), max_size=10))
async def test_streamed_hash_equals_the_whole_hash(data: bytes, cuts: list[int]) -> None:
    """G5's property: the SHA-256 computed while streaming is hashlib's over the whole file."""
    stream = DigestingStream(feed(data, [c for c in cuts if c <= len(data)]))
    assert await drain(stream) == data
    assert stream.finished
    assert (stream.sha256, stream.size) == (hashlib.sha256(data).hexdigest(), len(data))


async def test_the_hash_is_only_given_for_a_whole_stream() -> None:
    stream = DigestingStream(feed(b"abc"))
    with pytest.raises(RuntimeError):
        _ = stream.sha256
    await drain(stream)
    with pytest.raises(RuntimeError):
        await drain(stream)


@pytest.mark.parametrize(("sha", "size", "message"), [
    (hashlib.sha256(b"offer").hexdigest(), 4, "more than"),
    (hashlib.sha256(b"offer").hexdigest(), 6, "6 recorded"),
    (hashlib.sha256(b"offeR").hexdigest(), 5, "SHA-256"),
])
async def test_a_mismatch_with_the_recorded_digest_fails_the_stream(sha: str, size: int, message: str) -> None:
    stream = DigestingStream(feed(b"offer", [2]), expected_sha256=sha, expected_size=size)
    with pytest.raises(IntegrityError, match=message):
        await drain(stream)
    assert not stream.finished


async def test_opening_reverifies_the_recorded_digest() -> None:
    data, dek = os.urandom(3 * SMALL), new_dek()
    incoming = DigestingStream(feed(data, [100, 5000]))
    sealed = await drain(encrypt_stream(incoming, dek, AAD, segment_size=SMALL))
    opened = DigestingStream(decrypt_stream(feed(sealed), dek, AAD),
                             expected_sha256=incoming.sha256.upper(), expected_size=incoming.size)
    assert await drain(opened) == data


# -------------------------------------------------------------------------------- data-key wrapping


def test_a_data_key_unwraps_only_with_its_key_and_context() -> None:
    contract, dek = X25519PrivateKey.generate(), new_dek()
    context = associated_data(contract="c-1", offer="o-1", document="d-1", sha256="ab" * 32, size=10)
    wrapped = wrap_dek(dek, contract.public_key(), context)
    assert len(wrapped) == 81
    assert unwrap_dek(wrapped, contract, context) == dek
    assert wrap_dek(dek, contract.public_key(), context) != wrapped  # fresh ephemeral key each time
    other = associated_data(contract="c-1", offer="o-1", document="d-2", sha256="ab" * 32, size=10)
    for bad_key, bad_context, bad_wrapped in [
        (contract, other, wrapped),
        (X25519PrivateKey.generate(), context, wrapped),
        (contract, context, wrapped[:40] + bytes([wrapped[40] ^ 1]) + wrapped[41:]),
        (contract, context, b"\x02" + wrapped[1:]),
        (contract, context, wrapped[:-1]),
        (contract, context, b""),
    ]:
        with pytest.raises(TamperDetected):
            unwrap_dek(bad_wrapped, bad_key, bad_context)
    with pytest.raises(ValueError):
        wrap_dek(dek[:16], contract.public_key(), context)


# ------------------------------------------------------------------------------------ opener keys


def test_an_opener_key_unlocks_only_with_its_passphrase() -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery", kdf=FAST_KDF)
    key = locked.unlock("correct horse battery")
    assert key.public_key().public_bytes_raw() == locked.public_key
    with pytest.raises(WrongPassphrase):
        locked.unlock("correct horse batterz")


def test_the_default_cost_is_argon2id_rfc9106() -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery")
    assert locked.to_dict()["kdf"] == {"alg": "argon2id", "salt": locked.to_dict()["kdf"]["salt"],
                                       "timeCost": 3, "memoryCost": 65536, "parallelism": 4}
    with pytest.raises(WrongPassphrase):
        locked.unlock("not the passphrase")


def test_an_opener_key_survives_json_storage() -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery", kdf=FAST_KDF)
    stored = json.loads(json.dumps(locked.to_dict()))
    assert all(isinstance(v, str | int) for v in stored["kdf"].values())
    again = LockedOpenerKey.from_dict(stored)
    assert again == locked
    assert again.unlock("correct horse battery").public_key().public_bytes_raw() == locked.public_key


def test_a_passphrase_is_compared_after_unicode_normalisation() -> None:
    composed, decomposed = "mot de passe été 2026", "mot de passe e\u0301te\u0301 2026"
    locked = LockedOpenerKey.create("user-1", composed, kdf=FAST_KDF)
    locked.unlock(decomposed)


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="12 characters"):
        LockedOpenerKey.create("user-1", "short", kdf=FAST_KDF)


def test_an_opener_key_record_is_bound_to_its_opener_and_parameters() -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery", kdf=FAST_KDF)
    moved = LockedOpenerKey.from_dict({**locked.to_dict(), "opener": "user-2"})
    with pytest.raises(WrongPassphrase):
        moved.unlock("correct horse battery")
    costly = locked.to_dict()
    costly["kdf"] = {**costly["kdf"], "memoryCost": 64 * 1024 * 1024}
    with pytest.raises(SealingError, match="out of bounds"):
        LockedOpenerKey.from_dict(costly).unlock("correct horse battery")


@pytest.mark.parametrize("damage", [
    lambda d: {k: v for k, v in d.items() if k != "nonce"},
    lambda d: {**d, "version": 2},
    lambda d: {**d, "publicKey": "not base64!"},
    lambda d: {**d, "publicKey": d["publicKey"][:-4]},
    lambda d: {**d, "nonce": 12},
    lambda d: {**d, "kdf": {**d["kdf"], "timeCost": "3"}},
    lambda d: {**d, "opener": ""},
])
def test_a_malformed_opener_record_is_refused(damage: object) -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery", kdf=FAST_KDF)
    with pytest.raises(SealingError):
        LockedOpenerKey.from_dict(damage(locked.to_dict()))  # type: ignore[operator]


def test_reprs_hold_no_key_material() -> None:
    locked = LockedOpenerKey.create("user-1", "correct horse battery", kdf=FAST_KDF)
    assert locked.to_dict()["encryptedPrivateKey"] not in repr(locked)
    assert "correct" not in repr(locked)
    key = Ed25519PrivateKey.generate()
    signer = PlatformSigner(key)
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert raw.hex() not in repr(signer) and b64u(raw) not in repr(signer) and signer.kid in repr(signer)


# ------------------------------------------------------------------------------------- k-of-n (P6, G2)


def make_openers(n: int) -> tuple[dict[str, LockedOpenerKey], dict[str, X25519PrivateKey]]:
    locked = {f"opener-{i}": LockedOpenerKey.create(f"opener-{i}", f"passphrase number {i}", kdf=FAST_KDF)
              for i in range(n)}
    unlocked = {opener_id: key.unlock(f"passphrase number {opener_id[-1]}") for opener_id, key in locked.items()}
    return locked, unlocked


@pytest.mark.parametrize(("k", "n"), [(1, 1), (2, 3), (3, 5), (3, 3), (1, 4)])
def test_every_k_subset_recovers_and_no_smaller_one_does(k: int, n: int) -> None:
    locked, unlocked = make_openers(n)
    context = associated_data(contract="c-1")
    protected = create_contract_key({i: key.public() for i, key in locked.items()}, k, context)
    assert (protected.threshold, len(protected.shares)) == (k, n)
    # Stored as JSON, read back: the next engineer's JSONB round trip.
    protected = ProtectedContractKey.from_dict(json.loads(json.dumps(protected.to_dict())))
    dek = new_dek()
    wrapped = wrap_dek(dek, protected.public(), AAD)
    for size in range(n + 1):
        for subset in itertools.combinations(sorted(unlocked), size):
            presented = {i: unlocked[i] for i in subset}
            if size >= k:
                contract = recover_contract_key(protected, presented, context)
                assert unwrap_dek(wrapped, contract, AAD) == dek
            else:
                with pytest.raises(NotEnoughOpeners):
                    recover_contract_key(protected, presented, context)


def test_a_key_presented_under_another_openers_id_does_not_count() -> None:
    locked, unlocked = make_openers(3)
    context = associated_data(contract="c-1")
    protected = create_contract_key({i: key.public() for i, key in locked.items()}, 2, context)
    with pytest.raises(NotEnoughOpeners, match="opener-1"):
        # One person holding opener-0's key cannot stand in for opener-1 too.
        recover_contract_key(protected, {"opener-0": unlocked["opener-0"], "opener-1": unlocked["opener-0"]},
                             context)
    with pytest.raises(NotEnoughOpeners, match="stranger"):
        recover_contract_key(protected, {"opener-0": unlocked["opener-0"],
                                         "stranger": X25519PrivateKey.generate()}, context)


async def test_from_passphrases_to_plaintext() -> None:
    """The whole opening: 2 of 3 passphrases → contract key → data key → plaintext, re-verified."""
    locked, _ = make_openers(3)
    context = associated_data(contract="c-9")
    protected = create_contract_key({i: key.public() for i, key in locked.items()}, 2, context)
    data, dek = os.urandom(70_000), new_dek()

    incoming = DigestingStream(feed(data, [10, 65_536]))
    sealed = await drain(encrypt_stream(incoming, dek, AAD))
    # Wrapped once the upload is over, so the recorded hash and size are bound to the data key.
    doc_context = associated_data(contract="c-9", document="d-1", sha256=incoming.sha256, size=incoming.size)
    wrapped = wrap_dek(dek, protected.public(), doc_context)
    present = {i: locked[i].unlock(f"passphrase number {i[-1]}") for i in ("opener-0", "opener-2")}
    contract = recover_contract_key(protected, present, context)
    opened = DigestingStream(decrypt_stream(feed(sealed), unwrap_dek(wrapped, contract, doc_context), AAD),
                             expected_sha256=incoming.sha256, expected_size=incoming.size)
    assert await drain(opened) == data


def test_a_contract_key_is_bound_to_its_contract_and_record() -> None:
    locked, unlocked = make_openers(3)
    context = associated_data(contract="c-1")
    protected = create_contract_key({i: key.public() for i, key in locked.items()}, 2, context)
    two = {i: unlocked[i] for i in ("opener-0", "opener-1")}
    with pytest.raises(TamperDetected):
        recover_contract_key(protected, two, associated_data(contract="c-2"))
    lowered = ProtectedContractKey.from_dict({**protected.to_dict(), "threshold": 1})
    with pytest.raises(TamperDetected):
        recover_contract_key(lowered, two, context)
    other = create_contract_key({i: key.public() for i, key in locked.items()}, 2, context)
    swapped = ProtectedContractKey.from_dict({**protected.to_dict(), "publicKey": other.to_dict()["publicKey"]})
    with pytest.raises(TamperDetected):
        recover_contract_key(swapped, two, context)
    assert fingerprint(protected.public()) != fingerprint(other.public())
    assert "opener" not in repr(protected) and protected.to_dict()["shares"][0]["sealed"] not in repr(protected)


def test_contract_key_parameters_are_checked() -> None:
    locked, _ = make_openers(3)
    publics = {i: key.public() for i, key in locked.items()}
    context = associated_data(contract="c-1")
    for threshold in (0, 4):
        with pytest.raises(ValueError, match="threshold"):
            create_contract_key(publics, threshold, context)
    with pytest.raises(ValueError, match="same public key"):
        create_contract_key({**publics, "alias": publics["opener-0"]}, 2, context)
    with pytest.raises(SealingError):
        ProtectedContractKey.from_dict({"version": 1})


# ------------------------------------------------------------------------------- receipts signature


RECEIPT: dict[str, Any] = {"type": "offer-receipt/v1", "offer": "o-1", "receivedAt": "2026-11-23T09:00:00.000001Z",
           "files": [{"name": "mémoire technique.pdf", "sha256": "ab" * 32, "size": 123}]}


def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    signer = PlatformSigner.generate()
    signature = signer.sign(RECEIPT)
    jwk = signer.public_jwk()
    assert verify(RECEIPT, signature, jwk)
    assert verify(dict(reversed(list(RECEIPT.items()))), signature, jwk)  # member order is not content
    changed = [
        {**RECEIPT, "offer": "o-2"},
        {**RECEIPT, "extra": None},
        {k: v for k, v in RECEIPT.items() if k != "type"},
        {**RECEIPT, "files": [{**RECEIPT["files"][0], "size": 124}]},
    ]
    for document in changed:
        assert not verify(document, signature, jwk)
    assert not verify(RECEIPT, signature, PlatformSigner.generate().public_jwk())
    assert not verify(RECEIPT, signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1], jwk)


@pytest.mark.parametrize(("signature", "jwk"), [
    ("!!", None), ("", None), ("AAAA", None),
    (None, {"kty": "EC", "crv": "P-256", "x": "AAAA"}),
    (None, {"kty": "OKP", "crv": "Ed25519"}),
    (None, {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
])
def test_malformed_signatures_and_keys_do_not_verify(signature: str | None, jwk: dict[str, str] | None) -> None:
    signer = PlatformSigner.generate()
    assert not verify(RECEIPT, signature if signature is not None else signer.sign(RECEIPT),
                      jwk if jwk is not None else signer.public_jwk())


def test_what_is_signed_is_the_rfc8785_form_under_plain_ed25519() -> None:
    """Reimplemented from the docstring with nothing but `cryptography` and base64."""
    key = Ed25519PrivateKey.generate()
    signer = PlatformSigner(key)
    jwk = signer.public_jwk()
    message = json.dumps(RECEIPT, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public = base64.urlsafe_b64decode(jwk["x"] + "=")
    assert public == key.public_key().public_bytes_raw()
    signature = base64.urlsafe_b64decode(signer.sign(RECEIPT) + "==")
    key.public_key().verify(signature, message)  # raises if not
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")


def test_canonical_json_is_rfc8785() -> None:
    """RFC 8785 §3.2.2/§3.2.3's example, and what has no canonical form."""
    document = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "€$\u000f\nA'B\"\\\\\"/", "literals": [None, True, False]}
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical_json(document) == expected.encode()
    for bad in ({"n": float("nan")}, {"n": 2**60}, {1: "x"}, {"at": object()}):
        with pytest.raises(ValueError):
            canonical_json(bad)  # type: ignore[arg-type]


def test_jwk_thumbprint_is_rfc7638_and_stable() -> None:
    """RFC 8037 appendix A.3's Ed25519 key and its thumbprint."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    signer = PlatformSigner.generate()
    assert signer.kid == jwk_thumbprint(signer.public_jwk()) == jwk_thumbprint(signer.public_jwk())


def test_the_dev_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    first = PlatformSigner.from_data_dir(tmp_path / "data")
    path = tmp_path / "data" / "signing_key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PlatformSigner.load_or_create(path)
    assert again.kid == first.kid
    assert verify(RECEIPT, first.sign(RECEIPT), again.public_jwk())
    assert PlatformSigner.from_pem_file(path).kid == first.kid
    assert [p.name for p in path.parent.iterdir()] == ["signing_key.pem"]  # no temporary file left


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "signing_key.pem"
    kids: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        kids.append(PlatformSigner.load_or_create(path).kid)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1 and len(kids) == 8


def test_a_pem_file_must_hold_an_ed25519_key(tmp_path: Path) -> None:
    path = tmp_path / "x25519.pem"
    path.write_bytes(X25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(ValueError, match="Ed25519"):
        PlatformSigner.from_pem_file(path)


