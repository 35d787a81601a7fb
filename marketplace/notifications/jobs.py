"""Delivery of notifications by e-mail.

SMTP has no idempotency: a server that has answered the end of DATA holds the message, and a client that
dies before recording that fact cannot ask. So a delivery is split at its point of no return, the final
dot. Everything before it (connection, envelope, body) is done under the notification's row lock with the
status still `pending`: a worker killed there leaves an unfinished SMTP transaction, which the server
discards, and a transaction PostgreSQL rolls back, so the next attempt sends the mail once. Just before
the dot the status becomes `sending` and is committed; after the server's 250 it becomes `sent`. A
worker killed between the two leaves `sending`, which no attempt ever sends again: the mail was almost
certainly delivered (the window before the dot is one write), and a duplicate invitation is the failure
we refuse. Notifications left in `sending` are listed for a person to check (and the inbox has them).
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import uuid
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from arq import Retry
from sqlalchemy import select, update

from marketplace.lib.jobs import job
from marketplace.notifications.models import EmailStatus, Notification
from marketplace.settings import Settings

log = logging.getLogger("marketplace.notifications")

SMTP_TIMEOUT = 10.0
_LEADING_DOT = re.compile(rb"(?m)^\.")


class _SmtpTransfer:
    """One SMTP transaction, stopped short of the final dot. Blocking calls: run them in a thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.smtp: smtplib.SMTP | None = None

    def prepare(self, sender: str, recipient: str, data: bytes) -> None:
        self.smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        self.smtp.ehlo_or_helo_if_needed()
        code, reply = self.smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = self.smtp.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = self.smtp.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", data)  # RFC 5321 §4.5.2 transparency
        self.smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")

    def send_final_dot(self) -> None:
        # Three bytes into an idle socket's buffer: no need for a thread, and no await between the commit
        # of `sending` and this write, which keeps the window a crash can fall into as short as possible.
        assert self.smtp is not None and self.smtp.sock is not None
        self.smtp.sock.sendall(b".\r\n")

    def read_reply(self) -> tuple[int, bytes]:
        assert self.smtp is not None
        code, reply = self.smtp.getreply()
        self.close()
        return code, reply

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None


@job
async def deliver_notification(ctx: dict[str, Any], notification_id: str) -> str:
    settings: Settings = ctx["settings"]
    key = uuid.UUID(notification_id)
    transfer: _SmtpTransfer | None = None
    async with ctx["session_maker"]() as session:
        async with session.begin():
            # The row lock serialises duplicate deliveries of the same notification (the queue is
            # at-least-once); whoever comes second sees it no longer pending and does nothing.
            notification = await session.scalar(select(Notification).where(Notification.id == key)
                                                .with_for_update())
            if notification is None:
                return "missing"
            if notification.email_status != EmailStatus.PENDING:
                return f"already-{notification.email_status.value}"
            if not settings.smtp_host:
                notification.email_status = EmailStatus.NOT_CONFIGURED
                return "inbox-only"
            message = EmailMessage()
            message["From"] = settings.mail_from
            message["To"] = notification.recipient_email
            message["Subject"] = notification.subject
            message["Date"] = format_datetime(ctx["clock"].now())
            # A stable id lets a mail client (and our tests) recognise the message whatever the attempt.
            message["Message-ID"] = make_msgid(idstring=str(notification.id), domain="marketplace.localhost")
            message["X-Marketplace-Notification"] = str(notification.id)
            message.set_content(notification.body)
            transfer = _SmtpTransfer(settings.smtp_host, settings.smtp_port)
            try:
                await asyncio.to_thread(transfer.prepare, settings.mail_from, notification.recipient_email,
                                        message.as_bytes(policy=policy.SMTP))
            except (smtplib.SMTPException, OSError) as exc:
                await asyncio.to_thread(transfer.close)
                log.warning("notification.smtp_failed", extra={"id": notification_id, "error": repr(exc)})
                raise Retry(defer=min(5 * ctx.get("job_try", 1), 60)) from exc
            notification.email_status = EmailStatus.SENDING
        # Committed: from here on no attempt sends this mail again.
        try:
            transfer.send_final_dot()
            code, reply = await asyncio.to_thread(transfer.read_reply)
        except (smtplib.SMTPException, OSError) as exc:
            # No answer to the dot: delivered or not, we can't tell. Left `sending`, never resent.
            await asyncio.to_thread(transfer.close)
            log.error("notification.smtp_unconfirmed", extra={"id": notification_id, "error": repr(exc)})
            return "unconfirmed"
        async with session.begin():
            if code == 250:
                await session.execute(update(Notification).where(Notification.id == key).values(
                    email_status=EmailStatus.SENT, emailed_at=ctx["clock"].now()))
                return "sent"
            # The server answered and refused the message: nothing was delivered, so it may be sent again.
            await session.execute(update(Notification).where(Notification.id == key).values(
                email_status=EmailStatus.PENDING))
        log.warning("notification.smtp_refused", extra={"id": notification_id, "code": code,
                                                        "reply": reply.decode("utf-8", "replace")})
        raise Retry(defer=min(5 * ctx.get("job_try", 1), 60))
