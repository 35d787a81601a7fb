"""Delivery of notifications by e-mail.

SMTP has no idempotency: a server that has answered the end of DATA holds the message, and a client that
dies before recording that fact cannot ask. So a delivery is split at its point of no return, the final
dot. Everything before it (connection, envelope, body) is done under the notification's row lock with the
status still `pending`: a worker killed there leaves an unfinished SMTP transaction, which the server
discards, and a transaction PostgreSQL rolls back, so the next attempt sends the mail once. Just before
the dot the status becomes `sending` and is committed; after the server's 250 it becomes `sent`. A
worker killed between the two leaves `sending`, which no attempt ever sends again: the mail was almost
certainly delivered (the window before the dot is one write), and a duplicate invitation is the failure
we refuse. Notifications left in `sending` are listed for the operators to check, with the failed ones,
once older than a delivery takes (GET /notifications/failed, notifications/inbox.py); the inbox has them.

Failures are never silent. A transient one (no connection, a 4xx reply such as greylisting) is retried
with a growing delay (RETRY_DELAYS), each attempt counted on the row; a permanent one (a 5xx reply, an
address the server can't carry, content that can't be written as a mail) is not retried. Either way the
notification ends `failed` with its reason, which its recipient reads in the app inbox and the platform's
operators list (`GET /notifications/failed`). The attempts stop before arq's own `max_tries`, so it is
this job, not arq giving up quietly, that has the last word.
"""

from __future__ import annotations

import asyncio
import email.errors
import logging
import re
import smtplib
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from arq import Retry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.jobs import job
from marketplace.notifications.mail import needs_smtputf8, subject_line
from marketplace.notifications.models import FAILURE_MAX, EmailStatus, Notification
from marketplace.settings import Settings

log = logging.getLogger("marketplace.notifications")

SMTP_TIMEOUT = 10.0
# Seconds before attempt 2, 3, …: greylisting servers ask for a few minutes; the whole run spans about
# three quarters of an hour. len + 1 attempts in all, fewer than the worker's max_tries (worker.py).
RETRY_DELAYS = (30, 60, 120, 300, 600, 1200)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
_LEADING_DOT = re.compile(rb"(?m)^\.")


class DeliveryError(Exception):
    """A delivery that did not happen; `permanent` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"


def _classify(exc: Exception) -> DeliveryError:
    """RFC 5321 §4.2.1: a 5yz reply is a permanent refusal, 4yz a transient one; no answer is transient."""
    if isinstance(exc, DeliveryError):
        return exc
    # Building or encoding the message, by default: the same content would fail the same way every time.
    reason, permanent = f"the message could not be written: {exc!r}", True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        reason, permanent = f"recipient refused: {_reply(code, reply)}", code >= 500
    elif isinstance(exc, smtplib.SMTPConnectError):
        reason = f"the mail server refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}"
        permanent = False
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"refused by the mail server: {_reply(exc.smtp_code, exc.smtp_error)}"
        permanent = exc.smtp_code >= 500
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        reason = f"the mail server lacks an extension the message needs: {exc}"
    elif isinstance(exc, (smtplib.SMTPException, OSError)):
        reason, permanent = f"no answer from the mail server: {exc!r}", False
    return DeliveryError(reason, permanent=permanent)


class _SmtpTransfer:
    """One SMTP transaction, stopped short of the final dot. Blocking calls: run them in a thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.smtp: smtplib.SMTP | None = None

    def prepare(self, sender: str, recipient: str, message: EmailMessage) -> None:
        self.smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        self.smtp.ehlo_or_helo_if_needed()
        options: list[str] = []
        if needs_smtputf8(sender) or needs_smtputf8(recipient):
            # RFC 6531: only a server that offers SMTPUTF8 can take a non-ASCII address; without it the
            # address can never be written to through this server, so retrying would not help.
            if not self.smtp.has_extn("smtputf8"):
                raise DeliveryError(f"the address {recipient} needs SMTPUTF8 (RFC 6531), which the mail "
                                    "server does not offer", permanent=True)
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        data = message.as_bytes(policy=policy.SMTPUTF8 if options else policy.SMTP)
        code, reply = self.smtp.mail(sender, options)
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
            except OSError:
                pass
            finally:
                self.smtp = None


def _message(notification: Notification, settings: Settings, ctx: dict[str, Any]) -> EmailMessage:
    # The default policy (RFC 5322, unlike compat32) encodes non-ASCII subjects and names as it should.
    message = EmailMessage(policy=policy.default)
    message["From"] = settings.mail_from
    message["To"] = notification.recipient_email
    # Rows stored before subjects were made header-safe may still hold a line break.
    message["Subject"] = subject_line(notification.subject)
    message["Date"] = format_datetime(ctx["clock"].now())
    # A stable id lets a mail client (and our tests) recognise the message whatever the attempt.
    message["Message-ID"] = make_msgid(idstring=str(notification.id), domain="marketplace.localhost")
    message["X-Marketplace-Notification"] = str(notification.id)
    message.set_content(notification.body)
    return message


def _outcome(error: DeliveryError, attempts: int) -> tuple[str, int | None]:
    """(reason to record if it fails now, else None and the delay before the next attempt)."""
    if error.permanent:
        return f"{error.reason} (not retried)", None
    if attempts >= MAX_ATTEMPTS:
        return f"{error.reason} (gave up after {attempts} attempts)", None
    return error.reason, RETRY_DELAYS[attempts - 1]


@job
async def deliver_notification(ctx: dict[str, Any], notification_id: str) -> str:
    key = uuid.UUID(notification_id)
    async with ctx["session_maker"]() as session:
        prepared = await _prepare(ctx, session, key)
        if isinstance(prepared, str):
            return prepared
        return await _complete(ctx, session, key, prepared)


async def _prepare(ctx: dict[str, Any], session: AsyncSession, key: uuid.UUID) -> _SmtpTransfer | str:
    """Everything up to the final dot, under the row lock; a result string when there is nothing to send."""
    settings: Settings = ctx["settings"]
    failure: DeliveryError | None = None
    async with session.begin():
        # The row lock serialises duplicate deliveries of the same notification (the queue is
        # at-least-once); whoever comes second sees it no longer pending and does nothing.
        notification = await session.scalar(select(Notification).where(Notification.id == key).with_for_update())
        if notification is None:
            return "missing"
        if notification.email_status != EmailStatus.PENDING:
            return f"already-{notification.email_status.value}"
        if not settings.smtp_host:
            notification.email_status = EmailStatus.NOT_CONFIGURED
            return "inbox-only"
        notification.attempts += 1
        transfer = _SmtpTransfer(settings.smtp_host, settings.smtp_port)
        try:
            message = _message(notification, settings, ctx)
            await asyncio.to_thread(transfer.prepare, settings.mail_from, notification.recipient_email, message)
        except (smtplib.SMTPException, OSError, ValueError, TypeError, UnicodeError, LookupError,
                email.errors.MessageError, DeliveryError) as exc:
            await asyncio.to_thread(transfer.close)
            failure = _classify(exc)
            retry_in = _record_failure(notification, failure, ctx)
        else:
            # Committed with the block: from here on no attempt sends this mail again. Stamped in real time (the
            # row's bookkeeping, not a business time): the operators' list of unconfirmed deliveries reads it
            # against the database's clock (notifications/inbox.py).
            notification.email_status = EmailStatus.SENDING
            # nosemgrep: wall-clock-outside-clock  # real time on purpose, as said above
            notification.updated_at = datetime.now(UTC)
    if failure is None:
        return transfer
    # Raised only now that the attempt is committed (a Retry inside the transaction would undo it).
    if retry_in is None:
        return "failed"
    raise Retry(defer=retry_in)


async def _complete(ctx: dict[str, Any], session: AsyncSession, key: uuid.UUID, transfer: _SmtpTransfer) -> str:
    """The final dot and the server's answer to it."""
    try:
        transfer.send_final_dot()
        code, reply = await asyncio.to_thread(transfer.read_reply)
    except (smtplib.SMTPException, OSError) as exc:
        # No answer to the dot: delivered or not, we can't tell. Left `sending`, never resent.
        await asyncio.to_thread(transfer.close)
        log.error("notification.smtp_unconfirmed", extra={"id": str(key), "error": repr(exc)})
        return "unconfirmed"
    async with session.begin():
        if code == 250:
            await session.execute(update(Notification).where(Notification.id == key).values(
                email_status=EmailStatus.SENT, emailed_at=ctx["clock"].now(), failure_reason=None))
            return "sent"
        # The server answered and refused the message: nothing was delivered, so it may be sent again,
        # unless the refusal is permanent.
        notification = await session.scalar(select(Notification).where(Notification.id == key).with_for_update())
        assert notification is not None
        notification.email_status = EmailStatus.PENDING
        retry_in = _record_failure(notification, DeliveryError(
            f"message refused: {_reply(code, reply)}", permanent=code >= 500), ctx)
    if retry_in is None:
        return "failed"
    raise Retry(defer=retry_in)


def _record_failure(notification: Notification, error: DeliveryError, ctx: dict[str, Any]) -> int | None:
    """Marks the notification failed (returns None), or keeps it pending and returns the retry delay."""
    reason, delay = _outcome(error, notification.attempts)
    notification.failure_reason = reason[:FAILURE_MAX]
    extra = {"id": str(notification.id), "attempt": notification.attempts, "reason": reason}
    if delay is None:
        notification.email_status = EmailStatus.FAILED
        notification.failed_at = ctx["clock"].now()
        log.error("notification.failed", extra=extra)
    else:
        log.warning("notification.retry", extra={**extra, "in_seconds": delay})
    return delay
