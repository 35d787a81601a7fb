"""The htmx fetch opens http(s) URLs only: the registry's address comes from the environment and the tarball's from
the registry's answer, and urllib would as readily read a local file (bandit B310)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketplace.devstack import htmx


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://registry.example/htmx.tgz", "data:,hello"])
def test_a_url_other_than_http_is_refused_before_any_read(url: str) -> None:
    with pytest.raises(htmx.HtmxUnavailable, match="http"):
        htmx._get(url)


class _Registry(BaseHTTPRequestHandler):
    """A registry whose answer names a local file as the tarball, with the pinned integrity."""

    asked: list[str] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = json.dumps({"dist": {"integrity": htmx.INTEGRITY, "tarball": "file:///etc/passwd"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy configured for the machine must not answer instead
    _Registry.asked = []
    try:
        yield _Registry.asked
    finally:
        server.shutdown()
        server.server_close()


def test_a_registry_answer_naming_a_local_tarball_is_refused(registry: list[str]) -> None:
    with pytest.raises(htmx.HtmxUnavailable, match="file:///etc/passwd"):
        htmx._tarball_over_http()
    assert registry == [f"/{htmx.PACKAGE}/{htmx.VERSION}"]
