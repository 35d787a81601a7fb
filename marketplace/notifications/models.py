from __future__ import annotations

import enum
import uuid
from datetime import datetime

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.columns import value_enum

SUBJECT_MAX = 300


class EmailStatus(enum.StrEnum):
    PENDING = "pending"
    # The final dot of the SMTP transaction was about to leave: never sent again (see notifications/jobs.py).
    # A notification that stays here had its worker die before the server's answer was recorded.
    SENDING = "sending"
    SENT = "sent"
    # No SMTP server configured: the notification lives in the in-app inbox only.
    NOT_CONFIGURED = "not_configured"
    # Never delivered: refused for good by the server, or still failing after every retry. `failure_reason`
    # says why; the recipient reads it in the app inbox, and the platform's operators list these.
    FAILED = "failed"


FAILURE_MAX = 500


class Notification(UUIDv7AuditBase):
    __tablename__ = "notification"
    __table_args__ = (
        # The inbox: a person's notifications, newest first.
        Index("ix_notification_inbox", "recipient_email", "created_at"),
        # The unread count every back-office page shows in its header (web/pages.py): read notifications,
        # the bulk of an inbox, are left out, so the count reads the person's unread entries only.
        Index("ix_notification_unread", "recipient_email", postgresql_where=text("read_at IS NULL")),
        # The operators' list of failed deliveries stays small; the index holds nothing else.
        Index("ix_notification_failed", "failed_at", postgresql_where=text("email_status = 'failed'")),
        # So are the deliveries left unconfirmed (`sending`), listed with them once they are old enough.
        Index("ix_notification_unconfirmed", "updated_at", postgresql_where=text("email_status = 'sending'")),
    )

    # As the account holds it (lower-cased): the inbox is matched on it.
    recipient_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    body: Mapped[str] = mapped_column(Text)
    # A dotted event name (`support.request_received`), so inboxes and tests can filter by kind.
    kind: Mapped[str] = mapped_column(String(100))
    # The object the notification is about (a support request, an offer…), for inboxes and follow-up.
    about_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    email_status: Mapped[EmailStatus] = mapped_column(
        value_enum(EmailStatus, "notification_email_status"),
        default=EmailStatus.PENDING,
    )
    emailed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # SMTP attempts made (notifications/jobs.py): a transient failure is retried until MAX_ATTEMPTS.
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    failed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(FAILURE_MAX), default=None)
    # When the recipient marked it read in the inbox.
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
