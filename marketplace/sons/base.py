"""What every SONS service shares: the session, the clock, the store, the signature policy (G16) and the audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.errors import RuleViolation
from marketplace.lib import audit, esign
from marketplace.lib.clock import Clock, InvalidLocalTime, paris_instant
from storage import ObjectStore

DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
# Object keys of the orders' documents (signed orders, VA/MOM, invoices): swept like the others (sweeper.py).
STORE_PREFIX = "sons"


def instant(value: datetime, field: str, rule: str = "SN1") -> datetime:
    """An instant given with an offset, or naive as Europe/Paris wall time (SN1: the calendar's instants are Paris
    times of day)."""
    try:
        return paris_instant(value)
    except InvalidLocalTime as exc:
        raise RuleViolation(f"{field}: {exc}", field=field, rule=rule) from exc


class SonsBase:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None,
                 signatures: esign.SignaturePolicy | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        self.side_sessions = side_sessions
        self.signature_policy = signatures or esign.SignaturePolicy()

    async def _audit(self, principal: Principal | str, action: str, *, organisation_id: uuid.UUID | None,
                     target_type: str, target_id: uuid.UUID, **details: Any) -> None:
        actor = principal if isinstance(principal, str) else principal.label
        await audit.record(self.session, self.clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id), details=details)
