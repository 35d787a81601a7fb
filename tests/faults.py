"""A TCP fault proxy on loopback, between the app and one dependency (G12).

Toxiproxy and netem are not available here (docs: reliability §2.4), so this small asyncio proxy stands in: it
runs its own event loop in a thread, so a stalled app loop can't stall it (and it can't stall the app), and a
test switches its mode while the app talks through it:

- ``pass``: bytes flow both ways;
- ``blackhole``: connections are accepted and what they send is read and dropped; nothing ever comes back
  (a hung server, or a network dropping packets). Connections already open stop flowing too;
- ``reset``: every open connection is aborted (RST) and every new one is accepted and aborted at once (the
  server's process is gone, its port half-alive behind a load balancer);
- ``refuse``: every open connection is aborted and the port stops listening, so connecting is refused (the
  server is stopped). Back to another mode, the same port listens again.

Back to ``pass``, the connections that lost bytes are aborted: their exchange can't resume where it broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["pass", "blackhole", "reset", "refuse"]


class _Link:
    """One client connection and, in pass mode, its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.broken = False  # bytes were dropped: the exchange can't resume

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Linger 0: close() sends a RST rather than a FIN, as a vanished server's kernel would.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``FaultProxy("127.0.0.1", 5432)``: `start()`, point the app at `port`, `set_mode(...)`, `stop()`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.port = 0
        self.accepted = 0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        parts = urlsplit(url)
        assert parts.hostname and parts.port, f"no host:port in {url!r}"
        return cls(parts.hostname, parts.port)

    def url(self, url: str) -> str:
        """``url`` (of the upstream) pointing at the proxy instead, credentials and path kept."""
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # -- lifecycle, from the test's thread ---------------------------------------------------------------
    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def close() -> None:
            assert self._server is not None
            self._closed = True
            self._server.close()
            for link in list(self._links):
                link.abort()
            self._links.clear()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def set_mode(self, mode: Mode) -> None:
        assert self._loop is not None, "start() first"
        asyncio.run_coroutine_threadsafe(self._switch(mode), self._loop).result(10)

    @contextlib.contextmanager
    def fault(self, mode: Mode) -> Iterator[FaultProxy]:
        """``with proxy.fault("blackhole"):``: the fault for the block, then back to pass."""
        self.set_mode(mode)
        try:
            yield self
        finally:
            self.set_mode("pass")

    # -- in the proxy's loop ---------------------------------------------------------------------------
    async def _switch(self, mode: Mode) -> None:
        self.mode = mode
        for link in list(self._links):
            if mode in ("reset", "refuse") or (mode == "pass" and (link.broken or link.upstream is None)):
                link.abort()
                self._links.discard(link)
        assert self._server is not None
        if mode == "refuse" and self._server.is_serving():
            self._server.close()
            await self._server.wait_closed()
        elif mode != "refuse" and not self._server.is_serving() and not self._closed:
            # The same port again: the app's connection strings name it.
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            _reset(writer)
            return
        link = _Link(writer)
        self._links.add(link)
        try:
            if self.mode == "pass":
                try:
                    up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
                except OSError:
                    return  # the real server is down too: the client sees its connection dropped
                await asyncio.gather(self._pump(reader, link.upstream, link),
                                     self._pump(up_reader, writer, link))
            else:
                await self._pump(reader, None, link)
        finally:
            self._links.discard(link)
            link.abort()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter | None, link: _Link) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await source.read(65536):
                if self.mode != "pass" or sink is None:
                    link.broken = True  # dropped on the floor
                    continue
                sink.write(data)
                await sink.drain()
        # One side closed: close the other so the half-open pair doesn't linger.
        if sink is not None and not link.broken:
            with contextlib.suppress(OSError):
                sink.close()
