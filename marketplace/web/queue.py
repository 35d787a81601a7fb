"""The work queue: what waits for the caller, read through the services the API uses (no query here).

Each tile is one service method, and each method one query over what the caller reaches (vendors/access.py,
tenders/access.py, funding/access.py, sons/access.py): another organisation's objects never reach this page.

- admissions awaiting a decision on each DPS the caller runs (D6: overdue ones first, by due date);
- the buying side's deadlines for offers: closing today, within the week, and past with the offers not yet
  opened (a count: D13, nothing of any offer);
- D15: abnormally low offers whose justification (or, once it is in, the buyer's decision) is due;
- D17: a losing tenderer's requests for reasons not yet answered (15 days);
- FU5: the grant tranches requested of the caller's funders, to validate;
- SONS orders at risk (deployment deadline within 30 days) or sent back TO_MODIFY, for the operator and the
  funders of their region (who read them, sons/access.py);
- §4.1: the contracts whose essential data (DECP) are still unpublished, by their two-month deadline;
- D19: the quarterly grouped award notices of the caller's DPSs still unpublished within 7 days of their deadline
  (30 days after the quarter's end);
- the trend of the admission requests received and decided per week, drawn as inline SVG (no JavaScript).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.reasons import ReasonsService
from marketplace.awards.schemas import PendingItem
from marketplace.funding.schemas import TranchesToValidate
from marketplace.funding.tranches import TrancheService
from marketplace.lib.clock import ClockExhausted, to_paris
from marketplace.opendata.decp import DecpService
from marketplace.opendata.notices import AwardNoticeService, NoticeDue
from marketplace.sons.reports import ReportService
from marketplace.sons.schemas import OrderWatch
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.schemas import DeadlineBoard
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.schemas import AdmissionWeek, Dps

CLOSING_WITHIN = timedelta(days=7)
TREND_WEEKS = 8


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
class Services:
    dps: DpsService
    admissions: AdmissionService
    contracts: SpecificContractService
    abnormally_low: AbnormallyLowService
    reasons: ReasonsService
    tranches: TrancheService
    sons_reports: ReportService
    decp: DecpService
    award_notices: AwardNoticeService


@dataclass
class Bar:
    """One bar of a trend chart, in the SVG's own units (computed here so the template only places it)."""

    x: int
    y: int
    height: int
    count: int


@dataclass
class Trend:
    weeks: list[AdmissionWeek]
    # The SVG's geometry: bars of received and decided side by side per week, scaled to the largest count.
    width: int = 0
    height: int = 0
    baseline: int = 0
    bar_width: int = 0
    top: int = 0
    received: list[Bar] = field(default_factory=list)
    decided: list[Bar] = field(default_factory=list)
    # Each week by its first day in Paris ("12/01"), under its pair of bars.
    labels: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total_received(self) -> int:
        return sum(w.received for w in self.weeks)

    @property
    def total_decided(self) -> int:
        return sum(w.decided for w in self.weeks)


@dataclass
class WorkQueue:
    dps: list[DpsQueue]
    deadlines: DeadlineBoard
    justifications: list[PendingItem]
    reasons: list[PendingItem]
    tranches: list[TranchesToValidate]
    sons: OrderWatch | None
    trend: Trend
    # §4.1: the buying side's contracts whose DECP record is still unpublished, soonest due first.
    decp: list[PendingItem] = field(default_factory=list)
    # D19: the quarters whose grouped award notice is still unpublished, due within 7 days or overdue.
    award_notices: list[NoticeDue] = field(default_factory=list)

    @property
    def admissions_awaiting(self) -> int:
        return sum(q.awaiting for q in self.dps)

    @property
    def admissions_overdue(self) -> int:
        return sum(q.overdue for q in self.dps)

    @property
    def closing(self) -> list[object]:
        return [*self.deadlines.closing_today, *self.deadlines.closing_this_week]

    @property
    def tranches_requested(self) -> int:
        return sum(t.requested for t in self.tranches)

    @property
    def buying_side(self) -> bool:
        return bool(self.justifications or self.reasons or self.closing or self.deadlines.awaiting_opening
                    or self.decp or self.award_notices)


def chart(weeks: list[AdmissionWeek], *, width: int = 480, height: int = 160) -> Trend:
    """The bars of the weekly trend: per week a pair (received, decided), the tallest count reaching the top."""
    top, baseline = 12, height - 24
    slot = width // max(1, len(weeks))
    bar = max(4, (slot - 8) // 2)
    scale = max([1, *(w.received for w in weeks), *(w.decided for w in weeks)])

    def place(i: int, count: int, shift: int) -> Bar:
        tall = round((baseline - top) * count / scale)
        return Bar(x=i * slot + 4 + shift, y=baseline - tall, height=tall, count=count)

    return Trend(weeks=weeks, width=width, height=height, baseline=baseline, bar_width=bar, top=top,
                 received=[place(i, w.received, 0) for i, w in enumerate(weeks)],
                 decided=[place(i, w.decided, bar) for i, w in enumerate(weeks)],
                 labels=[(i * slot + 4 + bar, f"{to_paris(w.starts):%d/%m}") for i, w in enumerate(weeks)])


def reads_sons_watch(principal: Principal) -> bool:
    """The SONS tile is the operator's and the funders' (who read the orders of their region); a vendor or an OG
    follows its own orders on their pages."""
    return principal.is_platform_admin or bool(principal.organisations_with(*FUNDER_MEMBERS))


async def work_queue(principal: Principal, services: Services) -> WorkQueue:
    queues = []
    for dps in await services.dps.list_for_buyer(principal):
        try:
            counts = await services.admissions.queue_counts(principal, dps.id)
            queues.append(DpsQueue(dps, counts.awaiting, counts.overdue, counts.next_due_at))
        except ClockExhausted:
            queues.append(DpsQueue(dps, clock_exhausted=True))
    return WorkQueue(
        dps=queues,
        deadlines=await services.contracts.deadline_board(principal, CLOSING_WITHIN),
        justifications=await services.abnormally_low.pending_for_buying_side(principal),
        reasons=await services.reasons.pending_for_buying_side(principal),
        tranches=await services.tranches.to_validate(principal),
        sons=await services.sons_reports.watch(principal) if reads_sons_watch(principal) else None,
        trend=chart(await services.admissions.weekly_trend(principal, TREND_WEEKS)),
        decp=await services.decp.pending_for_buying_side(principal),
        award_notices=await services.award_notices.pending_for_buying_side(principal))
