"""Delivery of notifications by e-mail."""

from __future__ import annotations

import logging
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
from arq import Retry
from sqlalchemy import select

from marketplace.lib.jobs import job
from marketplace.notifications.models import EmailStatus, Notification
from marketplace.settings import Settings

log = logging.getLogger("marketplace.notifications")


@job
async def deliver_notification(ctx: dict[str, Any], notification_id: str) -> str:
    settings: Settings = ctx["settings"]
    async with ctx["session_maker"]() as session, session.begin():
        # The row lock serialises duplicate deliveries of the same notification (the queue is
        # at-least-once); whoever comes second sees it sent and does nothing.
        notification = await session.scalar(
            select(Notification).where(Notification.id == uuid.UUID(notification_id)).with_for_update()
        )
        if notification is None:
            return "missing"
        if notification.email_status != EmailStatus.PENDING:
            return "already-done"
        if not settings.smtp_host:
            notification.email_status = EmailStatus.NOT_CONFIGURED
            return "inbox-only"
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = notification.recipient_email
        message["Subject"] = notification.subject
        message["Date"] = format_datetime(ctx["clock"].now())
        # A stable id lets a mail client (and our tests) recognise a duplicate should one slip through.
        message["Message-ID"] = make_msgid(idstring=str(notification.id), domain="marketplace.localhost")
        message["X-Marketplace-Notification"] = str(notification.id)
        message.set_content(notification.body)
        try:
            await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port, timeout=10)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("notification.smtp_failed", extra={"id": notification_id, "error": repr(exc)})
            raise Retry(defer=min(5 * ctx.get("job_try", 1), 60)) from exc
        notification.email_status = EmailStatus.SENT
        notification.emailed_at = ctx["clock"].now()
        return "sent"
