from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from marketplace.errors import DomainError
from marketplace.lib.clock import InstantOutOfRange, check_year

# PostgreSQL text can't hold NUL, and UTF-8 can't encode an unpaired surrogate (JSON "\ud800" decodes to
# one): refused at the door with a 400 naming the field, rather than failing in the database as a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# No column holds an integer beyond 64 bits (BIGINT); msgspec decodes any JSON integer, 10**30 included.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is proven by the mail itself.
# Control characters are named, not left to `\s`: Python's `\s` also matches \x1c-\x1f and \x85, JavaScript's
# (the OpenAPI document's regex dialect) matches \ufeff, so the same pattern meant two things to the server
# and to its clients.
_NOT_IN_ADDRESS = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
EMAIL_PATTERN = rf"^{_NOT_IN_ADDRESS}+@{_NOT_IN_ADDRESS}+\.{_NOT_IN_ADDRESS}+$"

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]


class UnstorableValue(DomainError, ValueError):
    """A value no column or conversion can hold. A ValueError, so that msgspec reports it while decoding a
    body as a validation error at its path; a DomainError, so that a Struct built by hand from query
    parameters gives a 400 too."""

    title = "Invalid request"
    slug = "invalid-request"


def _check_value(path: str, value: Any) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise UnstorableValue(f"`{path}` contains a NUL or an unpaired surrogate character, which can't be "
                                  "stored", field=path)
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise UnstorableValue(f"`{path}` is out of range (a 64-bit integer at most)", field=path)
    elif isinstance(value, date):  # datetimes too: near year 1 or 9999 a conversion would overflow
        try:
            check_year(value)
        except InstantOutOfRange as exc:
            raise UnstorableValue(f"`{path}`: {exc}", field=path) from None
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            _check_value(f"{path}[{index}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_value(f"{path}.{key}", key)
            _check_value(f"{path}.{key}", item)


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of every request and response body: camelCase on the wire, unknown fields refused, and no value
    that the database or a date conversion would fail on (named by its wire name)."""

    def __post_init__(self) -> None:
        for name, wire in zip(self.__struct_fields__, self.__struct_encode_fields__, strict=True):
            _check_value(wire, getattr(self, name))


class CamelReply(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of a response body the server builds from what it stored and never decodes from a client: the
    wire shape of CamelStruct (camelCase, the same OpenAPI schema) without its check of every value, which
    the values passed on their way in. The check walks each value of each item: in a page of 20 published
    needs it cost more than half of the request's own time."""


T = TypeVar("T")


class Page(CamelStruct, Generic[T]):
    """A page of a list: `total` items match, `limit` from `offset` are here."""

    items: list[T]
    total: int
    limit: int
    offset: int
