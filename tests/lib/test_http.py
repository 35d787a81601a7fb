"""Files served through one helper (lib/http.py `download`): whether bytes or a stream, every header of
`download_headers` goes out, the content type as the response's media type (G11)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.response import Response, Stream

from marketplace.lib.files import download_headers
from marketplace.lib.http import DOWNLOAD_HEADERS, download


async def _chunks() -> AsyncIterator[bytes]:
    yield b"<svg onload=alert(1)>"


def test_bytes_and_streams_are_served_with_every_download_header() -> None:
    expected = download_headers("facture\u202efdp.svg", "image/svg+xml")
    whole = download(b"%PDF-1.7", "facture\u202efdp.svg", "image/svg+xml")
    streamed = download(_chunks(), "facture\u202efdp.svg", "image/svg+xml")
    assert isinstance(whole, Response) and isinstance(streamed, Stream)
    for response in (whole, streamed):
        assert response.media_type == expected["Content-Type"] == "application/octet-stream"
        assert {name: response.headers[name] for name in expected if name != "Content-Type"} == {
            name: value for name, value in expected.items() if name != "Content-Type"}
        assert response.headers["Cache-Control"] == "private, no-store"


def test_what_file_routes_document_is_what_the_helper_sends() -> None:
    sent = download(b"", "a.pdf", "application/pdf").headers
    assert {header.name: header.value for header in DOWNLOAD_HEADERS} == {"Cache-Control": sent["Cache-Control"]}
