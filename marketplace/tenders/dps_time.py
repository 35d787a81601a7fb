"""The DPS's time as the specific contracts under it see it (domain.md §1.1, §1.3; D9, D11, D14, D18).

Moving a DPS's time is a use case of the DPS (vendors/dps.py, vendors/lifecycle.py), but the contracts run
under it constrain it, and they live here, a layer above: admission must not depend on competitions. So these
use cases are composed here, passing the contracts' checks down; vendors runs them once the DPS row is locked.

* A sandbox's clock never skips a period a vendor is owed: an open tender period (D9, D14) or a standstill
  (D18) runs its full length on the sandbox clock (as does an updated self-declaration, D11, checked below).
* A DPS's validity never ends before the tender deadline of a contract still open for offers: the vendors
  invited tender within it. A contract whose offers are in may be awarded after the end (§1.3).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict
from marketplace.lib.clock import Clock
from marketplace.tenders.models import SpecificContract
from marketplace.tenders.states import SpecificContractStatus
from marketplace.vendors import schemas as dps_schemas
from marketplace.vendors.dps import DpsService
from marketplace.vendors.lifecycle import DpsLifecycle
from marketplace.vendors.models import Dps


class DpsTimeService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def _refuse_while_owed_time(self, dps: Dps) -> None:
        running = await self.session.scalar(select(SpecificContract.id).where(
            SpecificContract.dps_id == dps.id,
            SpecificContract.status.in_([SpecificContractStatus.OPEN, SpecificContractStatus.STANDSTILL])).limit(1))
        if running is not None:
            raise Conflict(f"sandbox: specific contract {running} is open for offers or in its standstill; vendors "
                           "keep every second of those periods (D9, D14, D18)", field="sandbox", rule="sandbox",
                           specificContractId=str(running))

    async def _latest_open_deadline(self, dps: Dps) -> datetime | None:
        return await self.session.scalar(
            select(SpecificContract.tender_deadline).where(SpecificContract.dps_id == dps.id,
                                                           SpecificContract.status == SpecificContractStatus.OPEN)
            .order_by(SpecificContract.tender_deadline.desc()).limit(1))

    async def fast_forward(self, principal: Principal, dps_id: uuid.UUID,
                           data: dps_schemas.SandboxFastForward) -> dps_schemas.Dps:
        """Skip sandbox time at once (vendors/dps.py `fast_forward`), never while a contract is owed time."""
        return await DpsService(self.session, self.clock).fast_forward(
            principal, dps_id, data, contracts_hold=self._refuse_while_owed_time)

    async def change_validity(self, principal: Principal, dps_id: uuid.UUID,
                              data: dps_schemas.DpsValidityChange) -> dps_schemas.Dps:
        """Extend or shorten the DPS's validity (vendors/lifecycle.py), never before an open tender deadline."""
        return await DpsLifecycle(self.session, self.clock).change_validity(
            principal, dps_id, data, latest_tender_deadline=self._latest_open_deadline)
