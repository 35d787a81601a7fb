"""The in-app inbox: every notification addressed to a person, whatever became of its e-mail.

A notification is addressed to an e-mail address (some recipients have no account yet: a support request's
author, an invitee), so a person's inbox is the notifications sent to their account's address. It is the
copy that can't be lost: a mail that failed (notifications/jobs.py) is still read here, with the reason.
Operators see the failed deliveries of everyone, without their bodies (an invitation carries its code).

The inbox is addressed by the caller's e-mail address, a plain value: who the caller is, and whether they may
read an inbox at all, is the accounts' business (accounts/controllers.py), above this package.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.errors import Forbidden, NotFound
from marketplace.lib.clock import Clock
from marketplace.notifications import schemas
from marketplace.notifications.models import EmailStatus, Notification


def _item(n: Notification) -> schemas.InboxNotification:
    return schemas.InboxNotification(
        id=n.id, kind=n.kind, subject=n.subject, body=n.body, about_id=n.about_id, created_at=n.created_at,
        read=n.read_at is not None, read_at=n.read_at, delivery_status=n.email_status, emailed_at=n.emailed_at,
        delivery_attempts=n.attempts, delivery_failure=n.failure_reason)


# A delivery holds its `sending` state for one SMTP round trip; past this it is not coming back by itself.
UNCONFIRMED_AFTER = timedelta(minutes=10)
UNCONFIRMED = ("unconfirmed: the delivery stopped after the mail's content was handed over and before the mail "
               "server's answer to its end; check the server's log before sending it again (never resent by itself)")


class InboxService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    @staticmethod
    def _address(email: str | None) -> str:
        """`email`: the caller's account address; None for a machine client."""
        if email is None:
            # An API key acts for an organisation, not a person: mail is addressed to people.
            raise Forbidden("An inbox belongs to a person; API keys have none.")
        return email

    async def _unread(self, address: str) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.recipient_email == address, Notification.read_at.is_(None))) or 0)

    async def list(self, email: str | None, *, limit: int, offset: int,
                   unread_only: bool = False) -> schemas.InboxPage:
        address = self._address(email)
        where = [Notification.recipient_email == address]
        if unread_only:
            where.append(Notification.read_at.is_(None))
        total = await self.session.scalar(select(func.count()).select_from(Notification).where(*where))
        rows = (await self.session.scalars(select(Notification).where(*where).order_by(
            Notification.created_at.desc(), Notification.id.desc()).limit(limit).offset(offset))).all()
        return schemas.InboxPage(items=[_item(n) for n in rows], total=int(total or 0),
                                 unread=await self._unread(address), limit=limit, offset=offset)

    async def unread_count(self, email: str | None) -> schemas.UnreadCount:
        return schemas.UnreadCount(unread=await self._unread(self._address(email)))

    async def mark_read(self, email: str | None, notification_id: uuid.UUID) -> schemas.InboxNotification:
        notification = await self.session.get(Notification, notification_id)
        # Someone else's notification is as absent as one that doesn't exist.
        if notification is None or notification.recipient_email != self._address(email):
            raise NotFound("No notification of yours has this id.")
        if notification.read_at is None:  # the first reading is the one kept
            notification.read_at = self.clock.now()
            await self.session.flush()
        return _item(notification)

    async def mark_all_read(self, email: str | None) -> schemas.MarkedRead:
        result = await self.session.execute(update(Notification).where(
            Notification.recipient_email == self._address(email), Notification.read_at.is_(None)
        ).values(read_at=self.clock.now()))
        return schemas.MarkedRead(marked=int(result.rowcount or 0))  # type: ignore[attr-defined]

    async def failed_deliveries(self, *, limit: int, offset: int) -> schemas.FailedDeliveryPage:
        """The failed deliveries, and those left unconfirmed (`sending`) for longer than a delivery takes, which
        a person must check in the mail server's log (notifications/jobs.py), latest first."""
        # On the database's clock: `updated_at` is the real time of the last write, whatever the app's clock.
        unconfirmed = ((Notification.email_status == EmailStatus.SENDING)
                       & (Notification.updated_at < func.now() - UNCONFIRMED_AFTER))
        where = (Notification.email_status == EmailStatus.FAILED) | unconfirmed
        total = await self.session.scalar(select(func.count()).select_from(Notification).where(where))
        at = func.coalesce(Notification.failed_at, Notification.updated_at)
        rows = (await self.session.scalars(select(Notification).where(where).order_by(
            at.desc(), Notification.id.desc()).limit(limit).offset(offset))).all()
        return schemas.FailedDeliveryPage(
            items=[schemas.FailedDelivery(
                id=n.id, delivery_status=n.email_status, recipient_email=n.recipient_email, kind=n.kind,
                subject=n.subject, about_id=n.about_id, created_at=n.created_at, attempts=n.attempts,
                failed_at=n.failed_at if n.email_status == EmailStatus.FAILED else n.updated_at,
                failure_reason=n.failure_reason if n.email_status == EmailStatus.FAILED else UNCONFIRMED)
                for n in rows],
            total=int(total or 0), limit=limit, offset=offset)
