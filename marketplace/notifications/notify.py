"""Sending notifications: what one says (written once), its row and its delivery intent (the outbox), one at a
time (`NotificationService`) or for many recipients in one statement (`notified_cte`, accounts/members.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.lib.jobs import intents_cte, record_job
from marketplace.lib.sandbox import labelled
from marketplace.notifications.mail import subject_line
from marketplace.notifications.models import Notification

# notifications/jobs.py's `deliver_notification`, registered with the worker by that name.
DELIVERY_JOB = "deliver_notification"


def message(subject: str, body: str, *, sandbox: bool = False) -> tuple[str, str]:
    """What a notification says, written once: about a sandbox object it says so (lib/sandbox.py), and the
    subject is one header-safe line (titles are typed by users; a line break must not reach the header)."""
    subject, body = labelled(subject, body, sandbox)
    return subject_line(subject), body


def notified_cte(recipients: str) -> str:
    """SQL for a set-based statement: `notified AS (...)`, one pending notification per row of the CTE
    `recipients` (its `email`) about `:about_id`, then `intents AS (...)`, its delivery intent (the outbox),
    so the notifications and their delivery commit or roll back together, in one round trip. The statement
    binds `:subject`, `:body`, `:kind`, `:about_id`, `:job_name` and `:now` (`broadcast_params`)."""
    return f"""notified AS (
    INSERT INTO notification (id, recipient_email, subject, body, kind, about_id, email_status,
                              created_at, updated_at)
    SELECT gen_random_uuid(), {recipients}.email, CAST(:subject AS varchar), CAST(:body AS text),
           CAST(:kind AS varchar), CAST(:about_id AS uuid), 'pending',
           CAST(:now AS timestamptz), CAST(:now AS timestamptz)
    FROM {recipients}
    RETURNING id
), {intents_cte("notified")}"""  # noqa: S608  # nosec B608  # names from code; values are bound


def broadcast_params(*, kind: str, subject: str, body: str, about: uuid.UUID, sandbox: bool,
                     now: datetime) -> dict[str, Any]:
    """The parameters `notified_cte` binds."""
    subject, body = message(subject, body, sandbox=sandbox)
    return {"subject": subject, "body": body, "kind": kind, "about_id": about, "job_name": DELIVERY_JOB,
            "now": now}


class NotificationService:
    """Creates notifications; delivery is a job recorded in the same transaction (never lost)."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def notify(self, *, recipient_email: str, kind: str, subject: str, body: str,
                     about: uuid.UUID | None = None, sandbox: bool = False) -> Notification:
        subject, body = message(subject, body, sandbox=sandbox)
        # Stored header-safe, so the inbox shows what the mail says; addresses as accounts hold them.
        notification = Notification(recipient_email=recipient_email.strip().lower(), kind=kind,
                                    subject=subject, body=body, about_id=about)
        self.session.add(notification)
        await self.session.flush()
        await record_job(self.session, self.clock, DELIVERY_JOB, str(notification.id))
        return notification
