"""The open-data routes' errors (mapped once to problem details, marketplace/errors.py)."""

from __future__ import annotations

from typing import ClassVar

from marketplace.errors import DomainError


class InvalidQuery(DomainError):
    """A query parameter that is malformed; `field` names it as on the wire."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Invalid request"
    slug: ClassVar[str] = "invalid-request"


class WebhookUrlRefused(DomainError):
    """A well-formed webhook URL the platform will not call: an address of a private network (SSRF), a local name,
    credentials in it, a host or port it can't parse."""

    status_code: ClassVar[int] = 422
    title: ClassVar[str] = "Webhook URL refused"
    slug: ClassVar[str] = "webhook-url-refused"


class InvalidReplayRange(DomainError):
    """A replay whose `to` is before its `from`, or spans more positions than one replay may."""

    status_code: ClassVar[int] = 422
    title: ClassVar[str] = "Invalid replay range"
    slug: ClassVar[str] = "invalid-replay-range"


class ImpossibleInstant(InvalidQuery):
    """An instant written as the pattern asks but naming no real time (month 00, 30 February) or a year the
    platform does not handle: well-formed, so not a 400, but not one it can answer for."""

    status_code: ClassVar[int] = 422
    title: ClassVar[str] = "Impossible instant"
    slug: ClassVar[str] = "impossible-instant"
