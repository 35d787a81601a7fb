"""The work queue: what waits for the caller, read through the services the API uses (no query here).

Admissions awaiting a decision on each DPS the caller runs (D6: overdue ones first, by due date), and the
specific contracts of its buying side whose deadline for offers falls within CLOSING_WITHIN. Each service
scopes what it returns to the caller (vendors/access.py, tenders/access.py): another organisation's objects
never reach this page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from marketplace.accounts.principal import Principal
from marketplace.lib.clock import ClockExhausted
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.schemas import SpecificContract
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.schemas import Dps

CLOSING_WITHIN = timedelta(days=7)


@dataclass
class DpsQueue:
    dps: Dps
    # Counted in SQL (AdmissionService.queue_counts): a DPS with thousands of requests costs one query.
    awaiting: int = 0
    overdue: int = 0
    next_due_at: datetime | None = None
    # A sandbox whose accelerated clock has run out: its rehearsal is over, nothing is counted.
    clock_exhausted: bool = False


@dataclass
class WorkQueue:
    dps: list[DpsQueue]
    closing: list[SpecificContract]

    @property
    def admissions_awaiting(self) -> int:
        return sum(q.awaiting for q in self.dps)

    @property
    def admissions_overdue(self) -> int:
        return sum(q.overdue for q in self.dps)


async def work_queue(principal: Principal, dps_service: DpsService, admissions: AdmissionService,
                     contracts: SpecificContractService) -> WorkQueue:
    queues = []
    for dps in await dps_service.list_for_buyer(principal):
        try:
            counts = await admissions.queue_counts(principal, dps.id)
            queues.append(DpsQueue(dps, counts.awaiting, counts.overdue, counts.next_due_at))
        except ClockExhausted:
            queues.append(DpsQueue(dps, clock_exhausted=True))
    return WorkQueue(dps=queues, closing=await contracts.closing_soon(principal, CLOSING_WITHIN))
