"""The funding machines (domain.md §11.2): a need's standing with its funder (FU3), a grant tranche (FU5), and the
split of a granted amount in tranches (N14). Pure: the services check every move here before they make it.
"""

from __future__ import annotations

import enum
from datetime import datetime

# The need's standing with its funder is the need's own column (tenders owns the need, funding writes it).
from marketplace.tenders.models import FundingStatus as FundingStatus  # noqa: PLC0414


class CallScope(enum.StrEnum):
    """Whose call (N5, FU1): an ARS's for the needs of its region, or the national funder's."""

    REGIONAL = "regional"
    NATIONAL = "national"


class DecisionOutcome(enum.StrEnum):
    """FU3: FILED → SELECTED (with a funding decision) | REJECTED (with reasons)."""

    SELECTED = "selected"
    REJECTED = "rejected"


def call_open(opens_at: datetime, closes_at: datetime, now: datetime) -> bool:
    """N17: whether a call receives filings at `now`: from its opening instant, and until its closing instant
    excluded (at the closing instant exactly it is too late, as for an offer at its deadline, D14)."""
    return opens_at <= now < closes_at


class TrancheKind(enum.StrEnum):
    """FU5, N14: the grant's three tranches, in the order they are requested."""

    START = "start"                            # 40 %: the signed contract and the kick-off report
    ACCEPTANCE_TESTING = "acceptance_testing"  # 40 %: the signed acceptance report (PV de recette)
    USAGE_VERIFIED = "usage_verified"          # 20 %: the usage indicators (N15)


# N14: percent of the granted amount per tranche, in order; they add up to 100.
FUNDING_SCHEDULE: tuple[tuple[TrancheKind, int], ...] = (
    (TrancheKind.START, 40), (TrancheKind.ACCEPTANCE_TESTING, 40), (TrancheKind.USAGE_VERIFIED, 20))


def split_amount(amount_cents: int) -> list[tuple[TrancheKind, int, int]]:
    """(kind, percent, cents) per tranche: each share rounded down, the remainder on the last, so the sum is
    exactly the amount (1 000 001 → 400 000 + 400 000 + 200 001; FU5)."""
    shares = [(kind, percent, amount_cents * percent // 100) for kind, percent in FUNDING_SCHEDULE]
    kind, percent, _ = shares[-1]
    shares[-1] = (kind, percent, amount_cents - sum(cents for _, _, cents in shares[:-1]))
    return shares


class TrancheStatus(enum.StrEnum):
    """FU5: PENDING (not requested yet) → REQUESTED → VALIDATED → PAID | REFUSED; a refused tranche is requested
    again (with new evidence)."""

    PENDING = "pending"
    REQUESTED = "requested"
    VALIDATED = "validated"
    REFUSED = "refused"
    PAID = "paid"


# action → (states it may start from, state it leads to)
TRANCHE_MOVES: dict[str, tuple[tuple[TrancheStatus, ...], TrancheStatus]] = {
    "request": ((TrancheStatus.PENDING, TrancheStatus.REFUSED), TrancheStatus.REQUESTED),
    "validate": ((TrancheStatus.REQUESTED,), TrancheStatus.VALIDATED),
    "refuse": ((TrancheStatus.REQUESTED,), TrancheStatus.REFUSED),
    "pay": ((TrancheStatus.VALIDATED,), TrancheStatus.PAID),
}
# The evidence is gathered before the request: on a tranche not requested yet, or refused (no move).
EVIDENCE_STAGES = (TrancheStatus.PENDING, TrancheStatus.REFUSED)
# FU5, in this order: a tranche is requested once the one before it is validated (or paid).
PREVIOUS_DONE = (TrancheStatus.VALIDATED, TrancheStatus.PAID)


def tranche_allows(action: str, status: TrancheStatus) -> bool:
    return status in TRANCHE_MOVES[action][0]


class RequestStatus(enum.StrEnum):
    """One request of a tranche: a DRAFT gathers its evidence, then REQUESTED → VALIDATED | REFUSED. Every
    request stays on record with its evidence (a refused one too)."""

    DRAFT = "draft"
    REQUESTED = "requested"
    VALIDATED = "validated"
    REFUSED = "refused"
