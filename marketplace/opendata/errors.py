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
    """A webhook URL the platform will not call: not http(s), or an address of a private network (SSRF)."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Webhook URL refused"
    slug: ClassVar[str] = "webhook-url-refused"
