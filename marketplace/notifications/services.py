from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.lib.jobs import record_job
from marketplace.lib.sandbox import labelled
from marketplace.notifications.mail import subject_line
from marketplace.notifications.models import Notification


class NotificationService:
    """Creates notifications; delivery is a job recorded in the same transaction (never lost)."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def notify(self, *, recipient_email: str, kind: str, subject: str, body: str,
                     about: uuid.UUID | None = None, sandbox: bool = False) -> Notification:
        subject, body = labelled(subject, body, sandbox)  # about a sandbox object: it says so
        # Stored header-safe, so the inbox shows what the mail says; addresses as accounts hold them.
        notification = Notification(recipient_email=recipient_email.strip().lower(), kind=kind,
                                    subject=subject_line(subject), body=body, about_id=about)
        self.session.add(notification)
        await self.session.flush()
        await record_job(self.session, self.clock, "deliver_notification", str(notification.id))
        return notification
