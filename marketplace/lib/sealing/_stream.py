"""Streaming AEAD: AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015).

Ciphertext layout (all integers big-endian)::

    header   13 bytes  b"MPSE" | version (1) = 0x01 | log2(segment size) (1) | nonce prefix (7, random)
    segment  repeated  AES-256-GCM(dek, nonce, plaintext segment, aad = header | caller aad) | tag (16)

    nonce of segment i = nonce prefix (7) | i (4) | 0x01 if it is the last segment else 0x00

Every segment but the last holds exactly `segment size` bytes of plaintext; the last holds 1 to
`segment size` bytes, or 0 when the whole plaintext is empty (so even an empty file carries a tag).
The counter in the nonce makes reordering fail, the last-segment flag makes truncation at a segment
boundary and appended segments fail, and the header is in every segment's associated data so a
changed header fails too (G5). Both directions hold one segment at a time: memory stays constant
whatever the file size and however the input is chunked (G11).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from marketplace.lib.sealing._errors import IntegrityError, TamperDetected

MAGIC = b"MPSE"
VERSION = 1
HEADER_SIZE = len(MAGIC) + 2 + 7
TAG_SIZE = 16
# 64 KiB: GCM runs at several GB/s at this size (bench/sealing.py), so larger segments buy nothing
# but memory per upload.
SEGMENT_SIZE = 64 * 1024
# What a header may ask for: bounds the memory a stored (possibly tampered) object can make us hold.
MIN_SEGMENT_SIZE = 4 * 1024
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
DEK_SIZE = 32
_MAX_SEGMENTS = 2**32  # the 4-byte counter


def new_dek() -> bytes:
    """A fresh random data key: one per file, never reused (P4)."""
    return os.urandom(DEK_SIZE)


def _check_segment_size(segment_size: int) -> int:
    exponent = segment_size.bit_length() - 1
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE or segment_size != 1 << exponent:
        raise ValueError(f"segment size must be a power of two from {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE}")
    return exponent


def _segment_count(plaintext_size: int, segment_size: int) -> int:
    return max(1, -(-plaintext_size // segment_size))


def ciphertext_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The exact size of the sealed object for a plaintext of this size (to check what the store holds)."""
    _check_segment_size(segment_size)
    if plaintext_size < 0:
        raise ValueError("a size is never negative")
    return HEADER_SIZE + plaintext_size + TAG_SIZE * _segment_count(plaintext_size, segment_size)


def plaintext_size(sealed_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The plaintext size a sealed object of this size holds; `ValueError` if no plaintext gives it."""
    _check_segment_size(segment_size)
    body = sealed_size - HEADER_SIZE
    if body < TAG_SIZE:
        raise ValueError(f"{sealed_size} bytes cannot be a sealed object")
    segments = -(-body // (segment_size + TAG_SIZE))
    size = body - TAG_SIZE * segments
    if ciphertext_size(size, segment_size) != sealed_size:
        raise ValueError(f"{sealed_size} bytes cannot be a sealed object with {segment_size}-byte segments")
    return size


def _aead(dek: bytes) -> AESGCM:
    if len(dek) != DEK_SIZE:
        raise ValueError(f"a data key is {DEK_SIZE} bytes")
    return AESGCM(dek)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_SEGMENTS:
        raise ValueError("stream too long for its 32-bit segment counter")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


async def encrypt_stream(chunks: AsyncIterable[bytes], dek: bytes, aad: bytes, *,
                         segment_size: int = SEGMENT_SIZE) -> AsyncIterator[bytes]:
    """Seal a plaintext stream: yields the header, then one ciphertext segment at a time.

    The input may come in chunks of any size; only one segment (plus the chunk being cut) is held.
    A segment is sealed once the next byte arrives, because only the end of the input says which
    segment is the last.
    """
    aead = _aead(dek)
    header = MAGIC + bytes([VERSION, _check_segment_size(segment_size)]) + os.urandom(7)
    prefix, seg_aad = header[-7:], header + aad
    yield header
    counter = 0
    pending = bytearray()
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if len(pending) == segment_size:  # more input follows, so this one is not the last
                yield aead.encrypt(_nonce(prefix, counter, False), pending, seg_aad)
                counter += 1
                pending.clear()
            if not pending and len(view) > segment_size:
                # Whole segments straight from a large chunk, without copying them into `pending`.
                yield aead.encrypt(_nonce(prefix, counter, False), view[:segment_size], seg_aad)
                counter += 1
                view = view[segment_size:]
                continue
            take = segment_size - len(pending)
            pending += view[:take]
            view = view[take:]
    yield aead.encrypt(_nonce(prefix, counter, True), pending, seg_aad)


async def decrypt_stream(chunks: AsyncIterable[bytes], dek: bytes, aad: bytes) -> AsyncIterator[bytes]:
    """Open a sealed stream: yields each plaintext segment only once its tag has been checked.

    Raises `TamperDetected` at the first segment that fails, and at the end if the stream stops short
    or goes on after its last segment. Segments before a failure have already been yielded: a consumer
    must treat the output as provisional until the iteration ends without an error (a download is cut
    off, a hash is not recorded).
    """
    aead = _aead(dek)
    pending = bytearray()
    header: bytes | None = None
    seg_aad = prefix = b""
    full = 0
    counter = 0
    async for chunk in chunks:
        view = memoryview(chunk)
        if header is None:
            take = HEADER_SIZE - len(pending)
            pending += view[:take]
            view = view[take:]
            if len(pending) < HEADER_SIZE:
                continue
            header = bytes(pending)
            pending.clear()
            full = _parse_header(header) + TAG_SIZE
            prefix, seg_aad = header[-7:], header + aad
        while view:
            if len(pending) == full:
                yield _open(aead, _nonce(prefix, counter, False), pending, seg_aad)
                counter += 1
                pending.clear()
            if not pending and len(view) > full:
                yield _open(aead, _nonce(prefix, counter, False), view[:full], seg_aad)
                counter += 1
                view = view[full:]
                continue
            take = full - len(pending)
            pending += view[:take]
            view = view[take:]
    if header is None or len(pending) < TAG_SIZE:
        raise TamperDetected("sealed stream ends before its last segment")
    yield _open(aead, _nonce(prefix, counter, True), pending, seg_aad)


def _parse_header(header: bytes) -> int:
    if header[:4] != MAGIC or header[4] != VERSION:
        raise TamperDetected("not a sealed stream of a known version")
    exponent = header[5]
    if not MIN_SEGMENT_SIZE <= (1 << exponent) <= MAX_SEGMENT_SIZE:
        raise TamperDetected("sealed stream header names an impossible segment size")
    return 1 << exponent


def _open(aead: AESGCM, nonce: bytes, segment: bytes | bytearray | memoryview, aad: bytes) -> bytes:
    try:
        return aead.decrypt(nonce, segment, aad)
    except InvalidTag:
        raise TamperDetected("sealed stream failed authentication") from None


class DigestingStream:
    """Passes a byte stream through while counting its size and computing its SHA-256 (P9, G5).

    Wrap the plaintext on its way into `encrypt_stream` at receipt, and on its way out of
    `decrypt_stream` at opening with `expected_*` set: then a mismatch raises `IntegrityError` at the
    end of the iteration (or as soon as the size is exceeded), before the consumer sees a clean end.
    """

    def __init__(self, chunks: AsyncIterable[bytes], *, expected_sha256: str | None = None,
                 expected_size: int | None = None) -> None:
        self._chunks = chunks
        self._hash = hashlib.sha256()
        self._expected_sha256 = expected_sha256.lower() if expected_sha256 is not None else None
        self._expected_size = expected_size
        self._finished = False
        self._started = False
        self.size = 0

    def __repr__(self) -> str:
        return f"<DigestingStream size={self.size} finished={self._finished}>"

    @property
    def finished(self) -> bool:
        """The wrapped stream ran to its end (and matched, when expectations were given)."""
        return self._finished

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything that passed; only once the stream is finished, never of a part."""
        if not self._finished:
            raise RuntimeError("the stream has not been read to its end")
        return self._hash.hexdigest()

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("a DigestingStream can be iterated once")
        self._started = True
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            if self._expected_size is not None and self.size > self._expected_size:
                raise IntegrityError(f"more than the recorded {self._expected_size} bytes")
            self._hash.update(chunk)
            yield chunk
        if self._expected_size is not None and self.size != self._expected_size:
            raise IntegrityError(f"{self.size} bytes, {self._expected_size} recorded")
        if self._expected_sha256 is not None and self._hash.hexdigest() != self._expected_sha256:
            raise IntegrityError("SHA-256 differs from the one recorded at receipt")
        self._finished = True
