"""What every funding service shares: the session, the clock, the store, the audit (P8) and telling an
organisation's members."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.lib import audit
from marketplace.lib.clock import Clock, to_paris
from marketplace.notifications.notify import NotificationService
from storage import ObjectStore

DOCUMENT_TYPES = ["application/pdf"]
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
# Object keys of the funding documents (decisions, tranche evidence): swept like the others (sweeper.py).
STORE_PREFIX = "funding"


class FundingBase:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        self.side_sessions = side_sessions
        self.notifications = NotificationService(session, clock)

    def today(self) -> date:
        """The day in Paris: what a decision or a payment is dated by default, and the latest it may be dated."""
        return to_paris(self.clock.now()).date()

    async def _audit(self, principal: Principal, action: str, *, organisation_id: uuid.UUID, target_type: str,
                     target_id: uuid.UUID, **details: Any) -> None:
        await audit.record(self.session, self.clock, action, actor=principal.label, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id), details=details)

    async def _tell(self, organisation_id: uuid.UUID, roles: Iterable[str], *, kind: str, subject: str, body: str,
                    about: uuid.UUID, sandbox: bool) -> None:
        """`sandbox`: about a rehearsal need (and its rehearsal call), labelled as such (notifications/notify.py)."""
        for email in await member_emails(self.session, organisation_id, [str(role) for role in roles]):
            await self.notifications.notify(recipient_email=email, kind=kind, subject=subject, body=body,
                                            about=about, sandbox=sandbox)
