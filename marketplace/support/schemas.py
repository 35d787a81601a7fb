from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from marketplace.lib.schemas import CamelStruct

# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is proven by the mail itself.
# Control characters are named, not left to `\s`: Python's `\s` also matches \x1c-\x1f and \x85, JavaScript's
# (the OpenAPI document's regex dialect) matches \ufeff, so the same pattern meant two things to the server
# and to its clients.
_NOT_IN_ADDRESS = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
EMAIL_PATTERN = rf"^{_NOT_IN_ADDRESS}+@{_NOT_IN_ADDRESS}+\.{_NOT_IN_ADDRESS}+$"

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]


class SupportRequestCreate(CamelStruct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    email: Email
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
    organisation: Annotated[str, msgspec.Meta(max_length=300)] | None = None


class SupportRequestReceipt(CamelStruct):
    """What the requester may see: that it arrived and when, not its content (anyone with the id can ask)."""

    id: uuid.UUID
    received_at: datetime
    status: str
