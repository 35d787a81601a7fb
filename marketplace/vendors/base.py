"""What every service of the vendors domain shares: the session, the real clock, each DPS's own clock, the audit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import dps_clock


class ServiceBase:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def _audit(self, action: str, principal: Principal | str, target_type: str, target_id: object,
                     organisation_id: uuid.UUID | None = None, **details: object) -> None:
        actor = principal if isinstance(principal, str) else principal.label
        await audit.record(self.session, self.clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id), details=details)

    def _time(self, dps: Dps) -> Clock:
        """The DPS's business clock: accelerated for a sandbox (vendors/sandbox.py), else the real one."""
        return dps_clock(self.clock, dps)
