"""State machines (a) the DPS and (b) admission requests (domain.md §1.3, §1.4): pure functions."""

from __future__ import annotations

import enum

from marketplace.errors import Conflict


class DpsStatus(enum.StrEnum):
    """OCDS techniques.dynamicPurchasingSystem status codes, plus our draft."""

    DRAFT = "draft"
    PENDING = "pending"        # notice sent; initial request window open (≥ 30 days, D4)
    ACTIVE = "active"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


DPS_TRANSITIONS: dict[DpsStatus, frozenset[DpsStatus]] = {
    DpsStatus.DRAFT: frozenset({DpsStatus.PENDING, DpsStatus.CANCELLED}),
    DpsStatus.PENDING: frozenset({DpsStatus.ACTIVE, DpsStatus.CANCELLED}),
    DpsStatus.ACTIVE: frozenset({DpsStatus.TERMINATED}),
    DpsStatus.CANCELLED: frozenset(),
    DpsStatus.TERMINATED: frozenset(),
}
# Requests to participate are received while the DPS is pending or active (D5, §1.3).
DPS_ACCEPTS_REQUESTS = frozenset({DpsStatus.PENDING, DpsStatus.ACTIVE})


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


class InvalidTransition(Conflict):
    slug = "invalid-transition"


def check_dps_transition(current: DpsStatus, target: DpsStatus) -> None:
    if target not in DPS_TRANSITIONS[current]:
        raise InvalidTransition(f"status: a DPS that is {current.value} cannot become {target.value}",
                                field="status", rule="domain.md §1.3")


def check_admission_transition(current: AdmissionStatus, target: AdmissionStatus) -> None:
    if target not in ADMISSION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"status: an admission request that is {current.value} cannot become {target.value}",
            field="status", rule="domain.md §1.4")
