"""The evaluation and award machines (domain.md §1.5 (c), §1.6 (d), §1.7 (e)): states and allowed moves.

Pure: the services check every transition here before they make it.
"""

from __future__ import annotations

import enum

from marketplace.tenders.models import SpecificContractStatus

# Machine (c), the part this package drives.
CONTRACT_TRANSITIONS: dict[str, tuple[tuple[SpecificContractStatus, ...], SpecificContractStatus | None]] = {
    # No evaluation before the opening (G8): the offers are readable only once opened.
    "start_evaluation": ((SpecificContractStatus.CLOSED_FOR_OFFERS,), SpecificContractStatus.EVALUATION),
    # Declarations, scores and rejections happen during the evaluation only; the award freezes them.
    "evaluate": ((SpecificContractStatus.EVALUATION,), None),
    "award": ((SpecificContractStatus.EVALUATION,), SpecificContractStatus.AWARD_DECIDED),
}
AFTER_AWARD = (SpecificContractStatus.AWARD_DECIDED, SpecificContractStatus.STANDSTILL,
               SpecificContractStatus.CONTRACTED)


def allowed(action: str, status: SpecificContractStatus) -> bool:
    return status in CONTRACT_TRANSITIONS[action][0]


class RejectionGround(enum.StrEnum):
    """Machine (d): UNDER_EVALUATION --irregular|unacceptable|inappropriate--> REJECTED (Code de la commande
    publique L2152-2 to L2152-4). The offer leaves the ranking; D17's answer differs for these offers."""

    IRREGULAR = "irregular"
    UNACCEPTABLE = "unacceptable"
    INAPPROPRIATE = "inappropriate"


class AwardStatus(enum.StrEnum):
    """Machine (e), OCDS awardStatus in the comments. The notices leave with the decision, so an award is
    born STANDSTILL (D18, when the buyer observes one) or ACTIVE; signing belongs to the contract."""

    STANDSTILL = "standstill"   # pending: no signature before `earliest_signature_at`
    ACTIVE = "active"           # active
    CANCELLED = "cancelled"     # cancelled: frees the contract for another award


class OfferOutcome(enum.StrEnum):
    """What a vendor reads of its own offer once the award is decided (machine (d)'s last states)."""

    WINNING = "winning"
    NOT_RETAINED = "not_retained"
    REJECTED = "rejected"


SCORE_MIN, SCORE_MAX = 0, 100
