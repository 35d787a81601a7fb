from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from marketplace.lib.schemas import CamelStruct, Email


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
