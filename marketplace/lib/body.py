"""The one place where a JSON request body is decoded, before any handler or the database sees it.

Litestar's own decoding turns only msgspec's `DecodeError` into a 400: a body that is not UTF-8 (msgspec
raises `UnicodeDecodeError`) or nested deeper than the interpreter's recursion limit (`RecursionError`, a
2 000-byte `[[[[…`) escaped as 500s on every JSON route. Here every way a body can be unreadable is a 400
problem naming `body`, through the app's `request_class` (an oversized one is a 413 from the framework's
`request_max_body_size`, before anything is decoded). Only `json()` is replaced: raw-body upload routes
read `request.stream()` and keep streaming, unbuffered.

What the body's values may hold (NUL, out-of-range integers and instants) is checked once the body has a
type, by `lib/schemas.py`'s `CamelStruct`, which names the field.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

from marketplace.errors import DomainError

# Deeper than any body the API takes (its deepest is about five levels), far below the recursion limit.
MAX_DEPTH = 32
# JSON bodies; upload routes set their own limit (`request_max_body_size=None` and a per-rule maximum).
MAX_JSON_BODY = 10_000_000

_decoder = msgspec.json.Decoder()


class InvalidBody(DomainError):
    status_code = 400
    title = "Invalid request body"
    slug = "invalid-body"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="body")


def decode_json_body(body: bytes) -> Any:
    """`body` decoded to builtins, or `InvalidBody` saying why it can't be."""
    try:
        value = _decoder.decode(body or b"null")
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    except RecursionError:
        raise InvalidBody(f"The body is nested too deeply (at most {MAX_DEPTH} levels).") from None
    except msgspec.DecodeError as exc:
        # msgspec's message gives a position, never the content (which could be anything).
        raise InvalidBody(f"The body is not valid JSON: {exc}.") from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    # Iterative: the depth check itself must not recurse on what it is checking.
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [child for item in level for child in _children(item)]
        if not level:
            return
    raise InvalidBody(f"The body is nested too deeply (at most {MAX_DEPTH} levels).")


def _children(value: Any) -> Any:
    if isinstance(value, dict):
        return value.values()
    if isinstance(value, list):
        return value
    return ()


class MarketplaceRequest(Request[Any, Any, Any]):
    """Litestar's request with a JSON body decoded by `decode_json_body` (every JSON route reads it here)."""

    __slots__ = ()

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                self._json = self._connection_state.json = decode_json_body(await self.body())
        return self._json
