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
    # EVALUATION --alt_check/clarifications--> EVALUATION: after the opening (nothing is read or discussed
    # before it, D13) and until the award, which the answers may no longer inform.
    "clarify": ((SpecificContractStatus.CLOSED_FOR_OFFERS, SpecificContractStatus.EVALUATION), None),
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


class ContractStatus(enum.StrEnum):
    """Machine (e), the contract (OCDS contractStatus in the comments)."""

    PENDING = "pending"         # pending: awaiting both signatures, none before `earliest_sign_at`
    SIGNED = "signed"           # active: signed by all, being notified
    ACTIVE = "active"           # active
    CANCELLED = "cancelled"     # cancelled
    TERMINATED = "terminated"   # terminated


CONTRACT_MOVES: dict[str, tuple[tuple[ContractStatus, ...], ContractStatus]] = {
    "sign": ((ContractStatus.PENDING,), ContractStatus.PENDING),
    "signed_by_all": ((ContractStatus.PENDING,), ContractStatus.SIGNED),
    "notified": ((ContractStatus.SIGNED,), ContractStatus.ACTIVE),
    # DECP `modifications[]`: a row appended, the contract stays ACTIVE.
    "modification": ((ContractStatus.ACTIVE,), ContractStatus.ACTIVE),
    "validate_milestone": ((ContractStatus.ACTIVE,), ContractStatus.ACTIVE),
}


def contract_allows(action: str, status: ContractStatus) -> bool:
    return status in CONTRACT_MOVES[action][0]


class SignatureSide(enum.StrEnum):
    BUYER = "buyer"
    VENDOR = "vendor"


class MilestoneKind(enum.StrEnum):
    """N14: the funding schedule, in the order the milestones are validated."""

    START = "start"
    ACCEPTANCE_TESTING = "acceptance_testing"   # recettage
    USAGE_VERIFIED = "usage_verified"


# N14: percent of the amount per milestone, in order; they add up to 100.
FUNDING_SCHEDULE: tuple[tuple[MilestoneKind, int], ...] = (
    (MilestoneKind.START, 40), (MilestoneKind.ACCEPTANCE_TESTING, 40), (MilestoneKind.USAGE_VERIFIED, 20))


def split_amount(amount_cents: int) -> list[tuple[MilestoneKind, int, int]]:
    """(kind, percent, cents) per milestone: each share rounded down, the remainder on the last, so the
    sum is exactly the amount (1 000 001 → 400 000 + 400 000 + 200 001)."""
    shares = [(kind, percent, amount_cents * percent // 100) for kind, percent in FUNDING_SCHEDULE]
    kind, percent, _ = shares[-1]
    shares[-1] = (kind, percent, amount_cents - sum(cents for _, _, cents in shares[:-1]))
    return shares


class ClarificationStatus(enum.StrEnum):
    """A clarification thread: open while the buying side waits for answers, then closed by it."""

    OPEN = "open"
    CLOSED = "closed"


THREAD_MOVES: dict[str, tuple[tuple[ClarificationStatus, ...], ClarificationStatus]] = {
    "post": ((ClarificationStatus.OPEN,), ClarificationStatus.OPEN),
    "close": ((ClarificationStatus.OPEN,), ClarificationStatus.CLOSED),
}


def thread_allows(action: str, status: ClarificationStatus) -> bool:
    return status in THREAD_MOVES[action][0]


class DialogueSide(enum.StrEnum):
    """Who wrote a clarification message: the buying side asks, the offer's vendor answers."""

    BUYER = "buyer"
    VENDOR = "vendor"
