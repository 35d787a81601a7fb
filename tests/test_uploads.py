"""One reading of a raw-body upload (uploads.py `raw_upload`), shared by every upload route: the declared
Content-Type and Content-Length as sent, a length that is no plain decimal number taken as no declaration
(the size is then enforced on the bytes), and the body streamed as it comes."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Request
from litestar.testing import RequestFactory

from marketplace.uploads import raw_upload


def _raw(headers: dict[str, str], *chunks: bytes) -> Request[Any, Any, Any]:
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> Any:
        return messages.pop(0)

    scope = RequestFactory().put("/x", headers=headers).scope
    scope["state"] = {}  # the factory's request has an empty body already read: this one is still to come
    return Request(scope, receive=receive)


async def test_the_declarations_and_the_body_are_read_as_sent() -> None:
    upload = raw_upload(_raw({"Content-Type": "application/pdf; charset=binary", "Content-Length": "4"},
                             b"%P", b"DF"))
    assert upload["declared_type"] == "application/pdf; charset=binary"
    assert upload["declared_size"] == 4
    assert b"".join([chunk async for chunk in upload["body"]]) == b"%PDF"


@pytest.mark.parametrize("length", ["", "-1", "1e3", " 12", "0x10", "\u00b2"])
def test_a_length_that_is_no_decimal_number_declares_nothing(length: str) -> None:
    upload = raw_upload(_raw({"Content-Length": length}))
    assert upload["declared_size"] is None and upload["declared_type"] == ""
