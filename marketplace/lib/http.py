"""Response helpers every controller shares: where a new resource lives, and how a file is served."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import TypeVar, overload

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED

from marketplace.lib.files import download_headers

T = TypeVar("T")

# What a file route documents of `download_headers` beyond the content type: that nothing may keep a copy.
DOWNLOAD_HEADERS = [ResponseHeader(
    name="Cache-Control", value="private, no-store", documentation_only=True, required=True,
    description="A file is never kept by a shared cache or on the reader's disk: `private, no-store`.")]


def created(body: T, location: str) -> Response[T]:
    """A 201 always says where the new resource lives (clients and schemathesis follow it)."""
    return Response(body, status_code=HTTP_201_CREATED, headers={"Location": location})


@overload
def download(content: bytes, filename: str, media_type: str) -> Response[bytes]: ...


@overload
def download(content: AsyncIterable[bytes], filename: str, media_type: str) -> Stream: ...


def download(content: bytes | AsyncIterable[bytes], filename: str, media_type: str) -> Response[bytes] | Stream:
    """A file served: bytes at once or streamed, always with `download_headers` (an attachment under its safe
    name, an inert media type, never sniffed, sandboxed, `Cache-Control: private, no-store`; G11)."""
    headers = download_headers(filename, media_type)
    served_type = headers.pop("Content-Type")
    if isinstance(content, bytes):
        return Response(content, media_type=served_type, headers=headers)
    return Stream(content, media_type=served_type, headers=headers)
