"""The evaluation and award machines (domain.md §1.5 (c), §1.6 (d), §1.7 (e)): states and allowed moves.

Pure: the services check every transition here before they make it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from marketplace.tenders.states import SpecificContractStatus

# Machine (c), the stages in which this package acts without moving the contract (its moves, the evaluation's
# start, the award, no_valid_offer and declare_sans_suite, are in tenders/states.py's table, made by `move`).
CONTRACT_STAGES: dict[str, tuple[SpecificContractStatus, ...]] = {
    # Declarations, scores and rejections happen during the evaluation only; the award freezes them.
    "evaluate": (SpecificContractStatus.EVALUATION,),
    # EVALUATION --alt_check/clarifications--> EVALUATION: after the opening (nothing is read or discussed
    # before it, D13) and until the award, which the answers may no longer inform.
    "clarify": (SpecificContractStatus.CLOSED_FOR_OFFERS, SpecificContractStatus.EVALUATION),
}
AFTER_AWARD = (SpecificContractStatus.AWARD_DECIDED, SpecificContractStatus.STANDSTILL,
               SpecificContractStatus.CONTRACTED)
# HC3: the holder is invited onto (or taken off) the evaluation committee until the evaluation ends in an award.
COMMITTEE_STATES = (SpecificContractStatus.OPEN, SpecificContractStatus.CLOSED_FOR_OFFERS,
                    SpecificContractStatus.EVALUATION)


def allowed(action: str, status: SpecificContractStatus) -> bool:
    return status in CONTRACT_STAGES[action]


class RejectionGround(enum.StrEnum):
    """Machine (d): UNDER_EVALUATION --irregular|unacceptable|inappropriate--> REJECTED (Code de la commande
    publique L2152-2 to L2152-4). The offer leaves the ranking; D17's answer differs for these offers."""

    IRREGULAR = "irregular"
    UNACCEPTABLE = "unacceptable"
    INAPPROPRIATE = "inappropriate"
    # D15, machine (d) JUSTIFICATION_REQUESTED --insufficient--> REJECTED_ALT (L2152-5, L2152-6): only ever
    # written by the abnormally-low procedure's decision, never by the plain rejection route.
    ABNORMALLY_LOW = "abnormally_low"


# D17: an offer rejected on one of these grounds gets the reasons of its rejection; any other rejected or
# unsuccessful offer (an abnormally low one included: it was not irregular, unacceptable nor inappropriate)
# also gets the characteristics and advantages of the winning offer and the awardee's name.
IRREGULARITY_GROUNDS = frozenset({RejectionGround.IRREGULAR, RejectionGround.UNACCEPTABLE,
                                  RejectionGround.INAPPROPRIATE})


def owes_winning_characteristics(grounds: RejectionGround | None) -> bool:
    """D17: whether the answer to this vendor's request for reasons includes the winning offer's
    characteristics and advantages (None: the offer was ranked, not rejected)."""
    return grounds not in IRREGULARITY_GROUNDS


class AbnormallyLowStatus(enum.StrEnum):
    """D15, machine (d): UNDER_EVALUATION --suspect_ALT--> JUSTIFICATION_REQUESTED --ok--> UNDER_EVALUATION
    (ACCEPTED here) | --insufficient--> REJECTED_ALT (REJECTED here). Suspecting and asking in writing are one
    act: the procedure is born JUSTIFICATION_REQUESTED, so no offer is ever rejected without being asked."""

    JUSTIFICATION_REQUESTED = "justification_requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


# action → (states it may start from, state it leads to); the start is None for the request (no procedure yet).
ABNORMALLY_LOW_MOVES: dict[str, tuple[tuple[AbnormallyLowStatus | None, ...], AbnormallyLowStatus]] = {
    "request_justification": ((None,), AbnormallyLowStatus.JUSTIFICATION_REQUESTED),
    # The vendor's written justification: received once, the procedure waits for the buyer's decision.
    "justify": ((AbnormallyLowStatus.JUSTIFICATION_REQUESTED,), AbnormallyLowStatus.JUSTIFICATION_REQUESTED),
    "accept": ((AbnormallyLowStatus.JUSTIFICATION_REQUESTED,), AbnormallyLowStatus.ACCEPTED),
    "reject": ((AbnormallyLowStatus.JUSTIFICATION_REQUESTED,), AbnormallyLowStatus.REJECTED),
}


def abnormally_low_allows(action: str, status: AbnormallyLowStatus | None) -> bool:
    return status in ABNORMALLY_LOW_MOVES[action][0]


class AwardStatus(enum.StrEnum):
    """Machine (e), OCDS awardStatus in the comments. The notices leave with the decision, so an award is
    born STANDSTILL (D18, when the buyer observes one) or ACTIVE; signing belongs to the contract."""

    STANDSTILL = "standstill"   # pending: no signature before `earliest_signature_at`
    ACTIVE = "active"           # active
    CANCELLED = "cancelled"     # cancelled: frees the contract for another award


def award_status(stored: AwardStatus, earliest_signature_at: datetime, now: datetime) -> AwardStatus:
    """Machine (e): PROPOSED --notices_sent--> (STANDSTILL) --> ACTIVE once the standstill ends (D18). Derived
    on every read from the contract's clock, so it is never stale; the row catches up when the award is next
    written (the contract's creation or first signature, awards/contracts/)."""
    if stored == AwardStatus.STANDSTILL and now >= earliest_signature_at:
        return AwardStatus.ACTIVE
    return stored


class OfferOutcome(enum.StrEnum):
    """What a vendor reads of its own offer once the award is decided (machine (d)'s last states)."""

    WINNING = "winning"
    NOT_RETAINED = "not_retained"
    REJECTED = "rejected"


def offer_outcome(offer_id: object, awarded_offer_id: object, *, rejected: bool) -> OfferOutcome:
    """Machine (d)'s last states, derived from the live award and the rejections (both stored, the award
    with its frozen ranking): the awarded offer WINNING, a rejected one (any ground, D15's included)
    REJECTED, every other opened offer NOT_RETAINED. One function, so every view says the same."""
    if offer_id == awarded_offer_id:
        return OfferOutcome.WINNING
    return OfferOutcome.REJECTED if rejected else OfferOutcome.NOT_RETAINED


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
    # PENDING --abandon--> CANCELLED: never signed by both sides, given up (also when the specific contract
    # is declared sans suite).
    "abandon": ((ContractStatus.PENDING,), ContractStatus.CANCELLED),
    # ACTIVE --completed|terminated_early--> TERMINATED. The funder's grant tranches (FU5) are the need's, not
    # the contract's: a contract is completed whatever was paid of the grant (FU7).
    "completed": ((ContractStatus.ACTIVE,), ContractStatus.TERMINATED),
    "terminated_early": ((ContractStatus.ACTIVE,), ContractStatus.TERMINATED),
}


def contract_allows(action: str, status: ContractStatus) -> bool:
    return status in CONTRACT_MOVES[action][0]


class ContractEnd(enum.StrEnum):
    """How an active contract ends (machine (e): ACTIVE --completed|terminated_early--> TERMINATED)."""

    COMPLETED = "completed"
    TERMINATED_EARLY = "terminated_early"


class SignatureSide(enum.StrEnum):
    BUYER = "buyer"
    VENDOR = "vendor"


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
