"""A small asyncio client for clamd's INSTREAM command (reliability.md §2.9, P10, G11).

The protocol, as clamd documents it: send `zINSTREAM\\0`, then the data as chunks, each prefixed by its
length as a 4-byte big-endian unsigned integer, then a zero-length chunk to end the stream. clamd answers
one NUL-terminated line: `stream: OK`, `stream: <signature> FOUND`, or an `... ERROR` line (for
instance `INSTREAM size limit exceeded. ERROR` past its `StreamMaxLength`, after which it hangs up).

The one rule callers depend on: only a well-formed `stream: OK` is "clean". A refused connection, a
time-out, a reset, a size limit, an answer we don't recognise — all are "error", so the file stays
`pending` and is scanned again later; it is never shown as clean without a verdict (§2.9).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Literal

DEFAULT_PORT = 3310
# One file's whole exchange (reading it back, sending it, the verdict). Generous: past it the file only
# stays `pending`, to be scanned again later.
SCAN_TIMEOUT = 120.0
# clamd reads chunks of any size up to its StreamMaxLength, but splitting keeps our own buffers small.
MAX_CHUNK = 64 * 1024
# A verdict line is short; anything longer is not clamd talking.
_MAX_REPLY = 4096
_FOUND = re.compile(r"stream: (?P<signature>\S(?:.*\S)?) FOUND")

ScanStatus = Literal["clean", "infected", "error"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    status: ScanStatus
    signature: str | None = None
    """The signature name when infected: the trace kept with the quarantined file (P10)."""
    detail: str | None = None
    """Why the scan gave no verdict, for the logs (never shown as a verdict)."""


def parse_reply(reply: bytes) -> ScanResult:
    text = reply.rstrip(b"\x00\r\n").decode("utf-8", errors="replace")
    if text == "stream: OK":
        return ScanResult("clean")
    found = _FOUND.fullmatch(text)
    if found is not None:
        return ScanResult("infected", signature=found.group("signature"))
    return ScanResult("error", detail=f"unexpected clamd reply: {text[:200]!r}")


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    reply = b""
    while b"\x00" not in reply and len(reply) < _MAX_REPLY:
        data = await reader.read(_MAX_REPLY - len(reply))
        if not data:
            break
        reply += data
    return reply.split(b"\x00", 1)[0]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):  # already reset: nothing left to close cleanly
        await writer.wait_closed()


async def _instream(host: str, port: int, chunks: AsyncIterable[bytes]) -> ScanResult:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"zINSTREAM\x00")
        try:
            async for chunk in chunks:
                for start in range(0, len(chunk), MAX_CHUNK):
                    part = chunk[start:start + MAX_CHUNK]
                    writer.write(struct.pack(">I", len(part)) + part)
                    await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
        except (ConnectionError, BrokenPipeError):
            # clamd hangs up mid-stream on a size limit: its reply, if any, says why.
            reply = await _read_reply(reader)
            detail = reply.decode("utf-8", errors="replace") or "connection lost while sending"
            return ScanResult("error", detail=f"clamd closed the stream: {detail[:200]}")
        return parse_reply(await _read_reply(reader))
    finally:
        await _close(writer)


# The time limit is a parameter rather than left to the caller's `asyncio.timeout` (ASYNC109) because
# running out of time is a result here ("error", file stays pending), not an exception to handle.
async def scan(host: str, port: int, chunks: AsyncIterable[bytes], timeout: float) -> ScanResult:  # noqa: ASYNC109
    """Stream `chunks` to clamd and return its verdict; "error" for anything but a clear verdict.

    `timeout` bounds the whole exchange (connect, send, verdict). Exceptions raised by `chunks` itself
    are the caller's, and propagate: they say nothing about the file's content.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _instream(host, port, chunks)
    except TimeoutError:
        return ScanResult("error", detail=f"clamd gave no verdict within {timeout:g} s")
    except OSError as exc:
        return ScanResult("error", detail=f"clamd unreachable at {host}:{port}: {exc}")


async def ping(host: str, port: int = DEFAULT_PORT, timeout: float = 2.0) -> bool:  # noqa: ASYNC109
    """Whether clamd answers `PONG` (health checks; a scan never relies on it)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"zPING\x00")
                await writer.drain()
                return await _read_reply(reader) == b"PONG"
            finally:
                await _close(writer)
    except (TimeoutError, OSError):
        return False


@dataclass(frozen=True, slots=True)
class Clamd:
    """A configured clamd: where it listens and how long one file's scan may take."""

    host: str
    port: int = DEFAULT_PORT
    timeout: float = SCAN_TIMEOUT
    # clamd's MaxFileSize: a larger file would be answered "OK" unread, which is no verdict (G11).
    max_bytes: int = 100 * 1024**2

    def reads_in_full(self, size: int) -> bool:
        return size <= self.max_bytes

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanResult:
        return await scan(self.host, self.port, chunks, self.timeout)

    async def ping(self) -> bool:
        return await ping(self.host, self.port)
