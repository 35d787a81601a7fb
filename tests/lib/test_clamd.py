"""The clamd INSTREAM client: only a clear "OK" is clean, anything else keeps the file pending (§2.9, P10, G11).

A fake clamd speaking the protocol covers every answer; a real clamd with a local signature database
(§2.9's offline set-up, tests/conftest.py's `real_clamd`) gives the verdicts clamd really sends.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from marketplace.devstack.clamd import EICAR, REPORTED_EICAR_SIGNATURE
from marketplace.lib.clamd import MAX_CHUNK, ScanResult, parse_reply, ping, scan

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        if length == 0:
            return data
        assert length <= MAX_CHUNK
        data += await reader.readexactly(length)


def _clamd_like(reply_for: Callable[[bytes], bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = await reader.readuntil(b"\x00")
        if command == b"zPING\x00":
            writer.write(b"PONG\x00")
        else:
            assert command == b"zINSTREAM\x00"
            writer.write(reply_for(await _read_chunks(reader)))
        await writer.drain()
        writer.close()
    return handle


def _verdict(data: bytes) -> bytes:
    return b"stream: Eicar-Signature FOUND\x00" if EICAR in data else b"stream: OK\x00"


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.fixture
def fake_clamd() -> Callable[[Handler], Awaitable[int]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_clean_stream_is_clean(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    port = await fake_clamd(_clamd_like(_verdict))
    big = bytes(3 * MAX_CHUNK + 7)  # split into protocol chunks no larger than MAX_CHUNK
    assert await scan("127.0.0.1", port, _chunks(b"hello ", big), timeout=5) == ScanResult("clean")


async def test_eicar_is_infected_with_its_signature(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    port = await fake_clamd(_clamd_like(_verdict))
    # Split across chunks: the fake, like clamd, sees the reassembled stream.
    result = await scan("127.0.0.1", port, _chunks(b"prefix ", EICAR[:20], EICAR[20:]), timeout=5)
    assert result == ScanResult("infected", signature="Eicar-Signature")


@pytest.mark.parametrize("reply", [
    b"garbage\x00", b"stream: OKAY\x00", b"stream:  FOUND\x00", b"INSTREAM size limit exceeded. ERROR\x00",
    b"stream: Can't allocate memory ERROR\x00", b"", b"x" * 10_000,
])
async def test_anything_but_a_clear_verdict_is_an_error(fake_clamd: Callable[[Handler], Awaitable[int]],
                                                        reply: bytes) -> None:
    port = await fake_clamd(_clamd_like(lambda _: reply))
    result = await scan("127.0.0.1", port, _chunks(b"data"), timeout=5)
    assert result.status == "error" and result.signature is None and result.detail


async def test_a_refused_connection_is_an_error() -> None:
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await scan("127.0.0.1", port, _chunks(b"data"), timeout=5)
    assert result.status == "error" and "unreachable" in (result.detail or "")
    assert not await ping("127.0.0.1", port)


async def test_a_silent_clamd_times_out_as_an_error(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    port = await fake_clamd(_hang)
    started = time.monotonic()
    result = await scan("127.0.0.1", port, _chunks(b"data"), timeout=0.3)
    assert result.status == "error" and "within" in (result.detail or "")
    assert time.monotonic() - started < 5
    assert not await ping("127.0.0.1", port, timeout=0.3)


async def test_a_hang_up_is_an_error(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    port = await fake_clamd(_hang_up)
    result = await scan("127.0.0.1", port, _chunks(bytes(4 * MAX_CHUNK)), timeout=5)
    assert result.status == "error"


async def test_ping(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    assert await ping("127.0.0.1", await fake_clamd(_clamd_like(_verdict)))


async def test_the_callers_own_stream_errors_are_not_hidden(fake_clamd: Callable[[Handler], Awaitable[int]]) -> None:
    port = await fake_clamd(_clamd_like(_verdict))

    async def broken() -> AsyncIterator[bytes]:
        yield b"x"
        raise RuntimeError("upload interrupted")

    with pytest.raises(RuntimeError, match="upload interrupted"):
        await scan("127.0.0.1", port, broken(), timeout=5)


def test_parse_reply() -> None:
    assert parse_reply(b"stream: OK\x00") == ScanResult("clean")
    assert parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\n") == ScanResult("infected", "Win.Test.EICAR_HDB-1")
    assert parse_reply(b"1: stream: OK").status == "error"  # an IDSESSION reply is not ours


# ------------------------------------------------------------------------------------------ real clamd


async def test_real_clamd_finds_eicar_and_passes_a_clean_file(real_clamd: int) -> None:
    """clamd itself (tests/conftest.py's `real_clamd`): the replies the client parses are clamd's own."""
    assert await ping("127.0.0.1", real_clamd)
    # The bare EICAR file, then EICAR after other bytes and split across protocol chunks.
    for chunks in (_chunks(EICAR), _chunks(b"note: ", EICAR[:30], EICAR[30:] + bytes(3 * MAX_CHUNK))):
        infected = await scan("127.0.0.1", real_clamd, chunks, timeout=30)
        # ".UNOFFICIAL" is clamd's own suffix for a local database's signature: no fake adds it.
        assert infected == ScanResult("infected", signature=REPORTED_EICAR_SIGNATURE)
    assert await scan("127.0.0.1", real_clamd, _chunks(b"%PDF-1.7\n", bytes(100_000)), timeout=30) == \
        ScanResult("clean")
