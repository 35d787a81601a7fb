"""A minimal HTTP/1.1 client for the benchmarks: prepared requests written on kept-alive connections, answers read
by their length.

It spends tens of microseconds of CPU per request where httpx spent 4.5 ms (bench/RESULTS.md, 2026-12-06 20:22):
the client shares the machine's two cores with the server and PostgreSQL, so what it spends is taken from the
server under measure, and httpx capped the bare app at ~260 requests/s.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


def prepare(base: str, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """The request's bytes, written as they are on every send."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base).netloc}", "Accept: application/json",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One answer read off a kept-alive connection: its status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    fields = {name.strip().lower(): value.strip() for name, _, value in
              (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
    if b"content-length" in fields:
        return status, await reader.readexactly(int(fields[b"content-length"]))
    body = b""
    if fields.get(b"transfer-encoding") == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    return status, body


class Connection:
    """One kept-alive connection, opened again after a failure."""

    def __init__(self, base: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        where = urlsplit(base)
        self.host = where.hostname or "127.0.0.1"
        self.port = where.port or 80
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(request)
            return await asyncio.wait_for(answer(reader), timeout=self.timeout)
        except BaseException:
            self.close()  # a half-read answer would be taken for the next one's
            raise

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
