from __future__ import annotations

import uuid
from datetime import datetime

from marketplace.lib.schemas import CamelStruct
from marketplace.notifications.models import EmailStatus


class InboxNotification(CamelStruct):
    """A notification as its recipient reads it in the app, with what became of its e-mail."""

    id: uuid.UUID
    kind: str
    subject: str
    body: str
    about_id: uuid.UUID | None
    created_at: datetime
    read: bool
    read_at: datetime | None
    # pending, sending, sent, failed, or not_configured (no mail server: the inbox is the only copy).
    delivery_status: EmailStatus
    emailed_at: datetime | None
    delivery_attempts: int
    # Why the e-mail did not go (or why the last attempt failed, while retries go on).
    delivery_failure: str | None


class InboxPage(CamelStruct):
    items: list[InboxNotification]
    total: int
    unread: int
    limit: int
    offset: int


class UnreadCount(CamelStruct):
    unread: int


class MarkedRead(CamelStruct):
    marked: int


class FailedDelivery(CamelStruct):
    """What an operator needs to follow up a lost e-mail; never its body (it may carry a code)."""

    id: uuid.UUID
    # `failed`: not delivered, with the reason. `sending`: unconfirmed, the worker stopped between its last
    # write and the server's answer to the end of the message: delivered or not, only the mail server's log
    # can tell; it is never sent again by itself.
    delivery_status: EmailStatus
    recipient_email: str
    kind: str
    subject: str
    about_id: uuid.UUID | None
    created_at: datetime
    attempts: int
    failed_at: datetime | None
    failure_reason: str | None


class FailedDeliveryPage(CamelStruct):
    items: list[FailedDelivery]
    total: int
    limit: int
    offset: int
