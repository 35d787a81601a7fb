"""Documents received as a raw request body: checked on what is declared, then on what is sent.

Shared by every domain that receives files (DPS documents, admission documents, a specific contract's
documents). Declared headers are checked before a byte is read (413/415 at once); the body is then
streamed to a fresh UUID key while its first bytes are sniffed (`filetype`: the content decides, never the
declared type) and its size counted; any refusal deletes what was written, so a refused upload leaves no
object behind (reliability.md §2.7).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated, Any, ClassVar, TypedDict
from urllib.parse import unquote

import filetype
from litestar import Request
from litestar.params import HeaderParameter, QueryParameter

from marketplace.errors import DomainError, RuleViolation
from marketplace.lib.files import safe_filename
from storage import ObjectStore, ObjectTooLarge, StoredObject

SNIFF_BYTES = 8192
# What a rule may list as a document's accepted types: the ones the sniffer recognises from the content
# (`filetype`, `_check_content`); a type it never detects (text/plain, a typo, "PDF") would refuse every
# file. Never the executables it recognises (reliability G11), nor application/octet-stream: that is what
# it answers for content it does *not* recognise, so listing it would accept anything.
_NEVER_ACCEPTED = frozenset({
    "application/octet-stream", "application/x-executable", "application/x-msdownload", "application/wasm",
    "application/x-shockwave-flash", "application/x-google-chrome-extension", "application/x-deb",
    "application/x-rpm", "application/x-nintendo-nes-rom",
})
SNIFFED_MEDIA_TYPES = frozenset(kind.mime for kind in filetype.TYPES) - _NEVER_ACCEPTED


def header_filename(raw: str) -> str:
    """A file's name as sent in the `X-Filename` header (a header, never the URL: URLs end up in access
    logs), percent-encoded UTF-8, reduced to the only form we keep (`safe_filename`)."""
    return safe_filename(_percent_decoded(raw))


def _percent_decoded(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise RuleViolation("X-Filename: the name is percent-encoded UTF-8 (%C3%A9 for é)",
                            field="X-Filename") from exc


def check_rule_media_types(media_types: list[str], field: str) -> None:
    """A document rule's accepted types, each one the upload pipeline can recognise in a file (422 naming
    the first that isn't, e.g. `categories[0].requiredDocuments[1].contentTypes[0]`)."""
    for index, media_type in enumerate(media_types):
        if media_type not in SNIFFED_MEDIA_TYPES:
            raise RuleViolation(f"{field}[{index}]: {media_type!r} is not a media type an upload can be recognised "
                                "as (lowercase type/subtype the content sniffer detects, e.g. application/pdf, "
                                "application/zip, image/jpeg)", field=f"{field}[{index}]")


# A document's name: the X-Filename header, as for offers' files (URLs end up in access logs); the `filename`
# query parameter older clients send is still read. Either way the name kept is `safe_filename`'s.
XFilename = Annotated[str | None, HeaderParameter(
    name="X-Filename", min_length=1, max_length=1000,
    description="The file's name, UTF-8 percent-encoded (kept in a safe form: one path component, no controls).")]
QueryFilename = Annotated[str | None, QueryParameter(
    name="filename", min_length=1, max_length=300,
    description="The file's name, where no X-Filename header is sent (kept in the same safe form).")]


def given_filename(header: str | None, query: str | None) -> str:
    """A document's name as the client gave it: its `X-Filename` header (percent-encoded UTF-8, as for
    `header_filename`) or, as older clients send it, its `filename` query parameter. Not yet the name kept:
    the service that stores the document keeps `safe_filename` of it, whichever way it came."""
    if header is not None:
        return _percent_decoded(header)
    if query is not None:
        return query
    raise RuleViolation("X-Filename: give the file's name in this header (UTF-8, percent-encoded)",
                        field="X-Filename")


class RawUpload(TypedDict):
    """A file sent as the raw request body, as every upload service takes it: what the client declares
    (judged by `check_declared` before a byte is read) and the body, streamed."""

    declared_type: str
    declared_size: int | None
    body: AsyncIterable[bytes]


def raw_upload(request: Request[Any, Any, Any]) -> RawUpload:
    """The raw body of an upload route and its declared Content-Type and Content-Length. A length that is
    not a plain decimal number is no declaration: the size is then enforced on the bytes as they come."""
    length = request.headers.get("content-length")
    return RawUpload(declared_type=request.headers.get("content-type", ""),
                     declared_size=int(length) if length and length.isascii() and length.isdigit() else None,
                     body=request.stream())


class DocumentTooLarge(DomainError):
    status_code: ClassVar[int] = 413
    title: ClassVar[str] = "Document too large"
    slug: ClassVar[str] = "document-too-large"


class DocumentTypeRefused(DomainError):
    status_code: ClassVar[int] = 415
    title: ClassVar[str] = "Document type refused"
    slug: ClassVar[str] = "document-type-refused"


def check_declared(declared_type: str, declared_size: int | None, allowed: list[str], max_bytes: int,
                   label: str) -> str:
    """The declared Content-Type and Content-Length against the rule; returns the media type."""
    media_type = declared_type.split(";", 1)[0].strip().lower()
    if media_type not in allowed:
        raise DocumentTypeRefused(f"Content-Type: {media_type or 'none'} is not accepted for {label} "
                                  f"(accepted: {', '.join(allowed)})", field="Content-Type", accepted=allowed)
    if declared_size is not None and declared_size > max_bytes:
        raise DocumentTooLarge(f"Content-Length: {declared_size} bytes is over the {max_bytes}-byte limit "
                               f"for {label}", field="Content-Length", limit=max_bytes)
    return media_type


async def read_limited(body: AsyncIterable[bytes], max_bytes: int, label: str) -> bytes:
    """The whole body in memory, for documents that are checked as a whole before they are stored (a signed
    contract's signature, G16); refused as soon as it passes `max_bytes`."""
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > max_bytes:
            raise DocumentTooLarge(f"body: over the {max_bytes}-byte limit for {label}", field="body",
                                   limit=max_bytes)
    return bytes(data)


async def store_upload(store: ObjectStore, prefix: str, body: AsyncIterable[bytes], media_type: str,
                       allowed: list[str], max_bytes: int, label: str,
                       metadata: dict[str, str]) -> tuple[str, StoredObject]:
    """Stream to a fresh key, sniffing the content and enforcing the size; a refusal leaves no object."""
    key = ObjectStore.new_key(prefix)
    try:
        stored = await store.put_stream(key, sniffing(body, allowed, label), content_type=media_type,
                                        metadata=metadata, max_size=max_bytes)
    except ObjectTooLarge as exc:
        raise DocumentTooLarge(f"body: over the {max_bytes}-byte limit for {label}", field="body",
                               limit=max_bytes) from exc
    except DocumentTypeRefused:
        await store.delete(key)
        raise
    return key, stored


async def sniffing(body: AsyncIterable[bytes], allowed: list[str], label: str) -> AsyncIterable[bytes]:
    """Pass the stream through, refusing it as soon as its first bytes show a type not allowed."""
    head = b""
    checked = False
    async for chunk in body:
        if checked:
            yield chunk
            continue
        head += chunk
        if len(head) >= SNIFF_BYTES:
            _check_content(head, allowed, label)
            checked = True
            yield head
    if not checked:
        _check_content(head, allowed, label)
        if head:
            yield head


def _check_content(head: bytes, allowed: list[str], label: str) -> None:
    kind = filetype.guess(head)
    actual = kind.mime if kind else "application/octet-stream"
    if actual not in allowed:
        raise DocumentTypeRefused(f"body: the content is {actual}, not an accepted type for {label} "
                                  f"({', '.join(allowed)})", field="body", detected=actual)
