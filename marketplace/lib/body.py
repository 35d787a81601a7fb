"""The one place where a JSON request body is decoded, before any handler or the database sees it.

Litestar's own decoding turns only msgspec's `DecodeError` into a 400: a body that is not UTF-8 (msgspec
raises `UnicodeDecodeError`) or nested deeper than the interpreter's recursion limit (`RecursionError`, a
2 000-byte `[[[[…`) escaped as 500s on every JSON route. Here every way a body can be unreadable is a 400
problem naming `body`, through the app's `request_class` (an oversized one is a 413 from the framework's
`request_max_body_size`, before anything is decoded). Only `json()` is replaced: raw-body upload routes
read `request.stream()` and keep streaming, unbuffered.

Litestar then converts the decoded body to the handler's type in msgspec's lax mode (made for query
strings), which reads a JSON number as a Unix time for a date-time or a string as a number. A JSON body
has real types: it is first checked here in strict mode, as `msgspec.json.decode(body, type=...)` would,
and a value of the wrong JSON type is a 400 naming its field.

What the body's values may hold (NUL, out-of-range integers and instants) is checked once the body has a
type, by `lib/schemas.py`'s `CamelStruct`, which names the field.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
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


_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def check_json_types(value: Any, annotation: Any) -> None:
    """Refuse a decoded body whose JSON types don't match `annotation` strictly (see the module's doc)."""
    try:
        msgspec.convert(_integral(value), annotation, strict=True, str_keys=True)
    except msgspec.ValidationError as exc:
        # The same problem as Litestar's own validation failures (errors.py names the field from `key`).
        message = str(exc)
        match = _PATH.search(message)
        key = match.group(1) if match else ""
        message = message[: match.start()] if match else message
        raise ValidationException(detail=message, extra=[{"message": message, "key": key, "source": "body"}]) \
            from None
    except TypeError:
        # A type msgspec can't convert without Litestar's own hooks: Litestar's conversion decides.
        return


def _integral(value: Any) -> Any:
    # JSON has one number type: 2070.0 is the integer 2070 for JSON Schema (and the documented contract),
    # and Litestar's conversion takes it; only strict msgspec tells them apart. Depth is bounded above.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


class MarketplaceRequest(Request[Any, Any, Any]):
    """Litestar's request with a JSON body decoded by `decode_json_body` (every JSON route reads it here)."""

    __slots__ = ()

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                value = decode_json_body(await self.body())
                field = self.route_handler.parsed_data_field
                if field is not None:
                    check_json_types(value, field.annotation)
                self._json = self._connection_state.json = value
        return self._json
