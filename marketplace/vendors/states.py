"""State machines (a) the DPS and (b) admission requests (domain.md §1.3, §1.4): pure functions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from marketplace.errors import Conflict
from marketplace.lib.clock import format_paris
from marketplace.vendors.errors import InvalidTransition

if TYPE_CHECKING:
    from marketplace.vendors.models import Dps


class DpsStatus(enum.StrEnum):
    """OCDS techniques.dynamicPurchasingSystem status codes, plus our draft."""

    DRAFT = "draft"
    PENDING = "pending"        # notice sent; initial request window open (≥ 30 days, D4)
    ACTIVE = "active"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


DPS_TRANSITIONS: dict[DpsStatus, frozenset[DpsStatus]] = {
    DpsStatus.DRAFT: frozenset({DpsStatus.PENDING, DpsStatus.CANCELLED}),
    # PENDING --validity_end reached--> TERMINATED: a notice whose validity ran out before it ever became
    # active has ended, like an active one (nobody cancelled it; OCDS "terminated" is "no longer in force").
    DpsStatus.PENDING: frozenset({DpsStatus.ACTIVE, DpsStatus.CANCELLED, DpsStatus.TERMINATED}),
    DpsStatus.ACTIVE: frozenset({DpsStatus.TERMINATED}),
    DpsStatus.CANCELLED: frozenset(),
    DpsStatus.TERMINATED: frozenset(),
}
# Requests to participate are received while the DPS is pending or active (D5, §1.3).
DPS_ACCEPTS_REQUESTS = frozenset({DpsStatus.PENDING, DpsStatus.ACTIVE})
# The notice is in force: the validity end is reached in these (machine (a)).
DPS_IN_FORCE = DPS_ACCEPTS_REQUESTS


def dps_status_at(status: DpsStatus, validity_end: datetime, now: datetime) -> DpsStatus:
    """The DPS's status at `now` on its own clock: machine (a)'s ACTIVE --validity_end reached--> TERMINATED
    (and a PENDING one likewise) happens at `validity_end` itself, whether or not the job that stores it
    (vendors/lifecycle.py) has run yet, so no decision ever reads a stale "active"."""
    if status in DPS_IN_FORCE and now >= validity_end:
        return DpsStatus.TERMINATED
    return status


def require_in_force(dps: Dps, now: datetime, field: str = "dpsId") -> None:
    """409 once the DPS's validity has ended (D5: requests are received until `validity_end`; machine (a):
    no new specific contract on a terminated DPS), whether or not the job has stored it yet."""
    if dps.status in DPS_IN_FORCE and dps_status_at(dps.status, dps.validity_end, now) == DpsStatus.TERMINATED:
        raise Conflict(f"{field}: the DPS's validity ended on {format_paris(dps.validity_end)}; it receives no "
                       "requests to participate and no new specific contract (D5, machine (a))",
                       field=field, rule="D5", validityEnd=dps.validity_end.isoformat())


class AdmissionStatus(enum.StrEnum):
    DRAFT = "draft"
    UNDER_EVALUATION = "under_evaluation"
    AWAITING_DOCUMENTS = "awaiting_documents"
    ADMITTED = "admitted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    EXCLUDED = "excluded"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


ADMISSION_TRANSITIONS: dict[AdmissionStatus, frozenset[AdmissionStatus]] = {
    # Any live request closes when its DPS is cancelled or terminated.
    AdmissionStatus.DRAFT: frozenset({AdmissionStatus.UNDER_EVALUATION, AdmissionStatus.WITHDRAWN,
                                      AdmissionStatus.CLOSED}),
    AdmissionStatus.UNDER_EVALUATION: frozenset({
        AdmissionStatus.AWAITING_DOCUMENTS, AdmissionStatus.ADMITTED, AdmissionStatus.REJECTED,
        AdmissionStatus.WITHDRAWN, AdmissionStatus.CLOSED}),
    AdmissionStatus.AWAITING_DOCUMENTS: frozenset({
        AdmissionStatus.UNDER_EVALUATION, AdmissionStatus.REJECTED, AdmissionStatus.WITHDRAWN,
        AdmissionStatus.CLOSED}),
    AdmissionStatus.ADMITTED: frozenset({
        AdmissionStatus.SUSPENDED, AdmissionStatus.EXCLUDED, AdmissionStatus.WITHDRAWN, AdmissionStatus.CLOSED}),
    AdmissionStatus.SUSPENDED: frozenset({
        AdmissionStatus.ADMITTED, AdmissionStatus.EXCLUDED, AdmissionStatus.WITHDRAWN, AdmissionStatus.CLOSED}),
    AdmissionStatus.REJECTED: frozenset(),
    AdmissionStatus.EXCLUDED: frozenset(),
    AdmissionStatus.WITHDRAWN: frozenset(),
    AdmissionStatus.CLOSED: frozenset(),
}
# A request in one of these states blocks a new one for the same vendor and category; after a
# rejection, exclusion or withdrawal the vendor may apply again (admission is a right, D7).
LIVE_ADMISSION_STATES = frozenset({
    AdmissionStatus.DRAFT, AdmissionStatus.UNDER_EVALUATION, AdmissionStatus.AWAITING_DOCUMENTS,
    AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED})
# The evaluation clock runs in these (D6).
EVALUATION_STATES = frozenset({AdmissionStatus.UNDER_EVALUATION, AdmissionStatus.AWAITING_DOCUMENTS})


def check_dps_transition(current: DpsStatus, target: DpsStatus) -> None:
    if target not in DPS_TRANSITIONS[current]:
        raise InvalidTransition(f"status: a DPS that is {current.value} cannot become {target.value}",
                                field="status", rule="domain.md §1.3")


def check_admission_transition(current: AdmissionStatus, target: AdmissionStatus) -> None:
    if target not in ADMISSION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"status: an admission request that is {current.value} cannot become {target.value}",
            field="status", rule="domain.md §1.4")
