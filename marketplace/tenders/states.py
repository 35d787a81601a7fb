"""State machines (c) the specific contract and (d) the offer (domain.md §1.5, §1.6): pure functions.

Every status a specific contract or an offer takes is set here, by `move`, after checking it against the
machine's table; whoever moves one (the publication, the opening, the evaluation, the award, the signature,
the cancellation, an offer's submission or withdrawal) names the target and says, for the refusal, what the
stage is for. `deadline_passed` is the one reading of the tender deadline (D14).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, overload

from marketplace.errors import Conflict, DomainError
from marketplace.tenders.errors import WrongStage

if TYPE_CHECKING:
    from marketplace.tenders.models import Offer, SpecificContract


class SpecificContractStatus(enum.StrEnum):
    """Machine (c), domain.md §1.5; OCDS tender.status in the comments."""

    DRAFT = "draft"                          # planning
    OPEN = "open"                            # active: invitations sent, offers accepted until the deadline
    CLOSED_FOR_OFFERS = "closed_for_offers"
    EVALUATION = "evaluation"
    AWARD_DECIDED = "award_decided"
    STANDSTILL = "standstill"
    CONTRACTED = "contracted"                # complete
    UNSUCCESSFUL = "unsuccessful"
    CANCELLED = "cancelled"


# Any pre-contract state --declare_sans_suite(reasons)--> CANCELLED: the buyer abandons the procedure
# (awards/cancellation.py). CONTRACTED, UNSUCCESSFUL and CANCELLED are final (G8: a cancelled need moves no
# further).
_SANS_SUITE = SpecificContractStatus.CANCELLED
# OPEN|CLOSED|EVALUATION --no_valid_offer--> UNSUCCESSFUL: the opening found no offer, or the last admissible
# one was rejected (awards/unsuccessful.py). Automatic, as part of the act that leaves no valid offer.
_NO_VALID_OFFER = SpecificContractStatus.UNSUCCESSFUL

CONTRACT_TRANSITIONS: dict[SpecificContractStatus, frozenset[SpecificContractStatus]] = {
    # DRAFT --invite_all_admitted--> OPEN: the publication invites every admitted vendor at once (D8).
    SpecificContractStatus.DRAFT: frozenset({SpecificContractStatus.OPEN, _SANS_SUITE}),
    # OPEN --deadline_passed--> CLOSED_FOR_OFFERS: at the opening, after the deadline (D13, P6).
    SpecificContractStatus.OPEN: frozenset({SpecificContractStatus.CLOSED_FOR_OFFERS, _NO_VALID_OFFER,
                                            _SANS_SUITE}),
    # No evaluation before the opening (G8): the offers are readable only once opened.
    SpecificContractStatus.CLOSED_FOR_OFFERS: frozenset({SpecificContractStatus.EVALUATION, _NO_VALID_OFFER,
                                                         _SANS_SUITE}),
    # EVALUATION --select_best--> AWARD_DECIDED, and STANDSTILL at once when the buyer observes one: the notices
    # leave with the decision (D16, D18).
    SpecificContractStatus.EVALUATION: frozenset({SpecificContractStatus.AWARD_DECIDED,
                                                  SpecificContractStatus.STANDSTILL, _NO_VALID_OFFER,
                                                  _SANS_SUITE}),
    # AWARD_DECIDED|STANDSTILL --sign--> CONTRACTED: the last signature (awards/contracts/).
    SpecificContractStatus.AWARD_DECIDED: frozenset({SpecificContractStatus.STANDSTILL,
                                                     SpecificContractStatus.CONTRACTED, _SANS_SUITE}),
    SpecificContractStatus.STANDSTILL: frozenset({SpecificContractStatus.CONTRACTED, _SANS_SUITE}),
    SpecificContractStatus.CONTRACTED: frozenset(),
    SpecificContractStatus.UNSUCCESSFUL: frozenset(),
    SpecificContractStatus.CANCELLED: frozenset(),
}

# Machine (c)'s ends without a contract: the need's project is no longer active (N18), its ESMS are free for
# another need of the campaign (a need is published once: a new procedure needs a new need).
ENDED_UNAWARDED = (SpecificContractStatus.CANCELLED, SpecificContractStatus.UNSUCCESSFUL)


# INVITED is the invitation itself (`contract_invitation`); what follows the opening (rejections, the ranking,
# WINNING | NOT_RETAINED) is the evaluation's, kept beside the offer (awards/states.py). The docstring below is
# the API's description of the enum (OpenAPI).
class OfferStatus(enum.StrEnum):
    """Machine (d), domain.md §1.6; OCDS bid status in the comments."""

    DRAFT = "draft"              # being prepared: attachments are uploaded to it
    SUBMITTED = "submitted"      # pending: sealed, received strictly before the deadline (D14)
    SUPERSEDED = "superseded"    # replaced by a later submission of the same vendor: only the last counts
    WITHDRAWN = "withdrawn"      # withdrawn
    OPENED = "opened"            # unsealed at the opening


OFFER_TRANSITIONS: dict[OfferStatus, frozenset[OfferStatus]] = {
    # DRAFT --submit(before deadline)--> SUBMITTED (sealed); the vendor may also withdraw its draft.
    OfferStatus.DRAFT: frozenset({OfferStatus.SUBMITTED, OfferStatus.WITHDRAWN}),
    # SUBMITTED --replace(before deadline)--> SUPERSEDED + new SUBMITTED; --withdraw--> WITHDRAWN;
    # --deadline--> OPENED at the opening.
    OfferStatus.SUBMITTED: frozenset({OfferStatus.SUPERSEDED, OfferStatus.WITHDRAWN, OfferStatus.OPENED}),
    OfferStatus.SUPERSEDED: frozenset(),
    OfferStatus.WITHDRAWN: frozenset(),
    OfferStatus.OPENED: frozenset(),
}


def deadline_passed(contract: SpecificContract, now: datetime, admitted_until: datetime | None = None) -> bool:
    """D14: whether offers are no longer received at `now` (on the contract's clock): at the deadline exactly
    it is too late. The one reading of the deadline in the code; its other side is the database's own guard,
    the trigger of migration 0012 (`offer_received_before_deadline`), which refuses any offer stored as
    submitted whose receipt is not strictly before its contract's deadline, whatever code writes it.

    D14c: `admitted_until`, the end of the window a late admission gave one vendor (tenders/deposits/), stands
    for the deadline for that vendor's deposits alone, as strictly (at its end exactly it is too late); the
    trigger, as replaced by migration 0025, allows exactly those."""
    end = contract.tender_deadline if admitted_until is None else max(contract.tender_deadline, admitted_until)
    return now >= end


def can_move(current: SpecificContractStatus | OfferStatus,
             target: SpecificContractStatus | OfferStatus) -> bool:
    if isinstance(current, SpecificContractStatus) and isinstance(target, SpecificContractStatus):
        return target in CONTRACT_TRANSITIONS[current]
    if isinstance(current, OfferStatus) and isinstance(target, OfferStatus):
        return target in OFFER_TRANSITIONS[current]
    raise TypeError(f"{target!r} is not a state of the machine of {current!r}")


def require_move(obj: SpecificContract | Offer, target: SpecificContractStatus | OfferStatus, why: str = "", *,
                 error: type[DomainError] | None = None, rule: str | None = None) -> None:
    """Refuse (409) a move the machine doesn't allow from `obj`'s state; `why` says what the target's stage is
    for. Machine (c) refuses with `WrongStage` naming G8, machine (d) with a plain conflict, unless the caller
    names another error and rule (what that door has always answered)."""
    current = obj.status
    if can_move(current, target):
        return
    contract = isinstance(target, SpecificContractStatus)
    if error is None:
        error, rule = (WrongStage, rule or "G8") if contract else (Conflict, rule)
    detail = f"status: {'the contract' if contract else 'this offer'} is {current.value}"
    raise error(detail + (f"; {why}" if why else ""), field="status", rule=rule)


@overload
def move(obj: SpecificContract, target: SpecificContractStatus, why: str = "", *,
         error: type[DomainError] | None = None, rule: str | None = None) -> SpecificContractStatus: ...


@overload
def move(obj: Offer, target: OfferStatus, why: str = "", *,
         error: type[DomainError] | None = None, rule: str | None = None) -> OfferStatus: ...


def move(obj: SpecificContract | Offer, target: SpecificContractStatus | OfferStatus, why: str = "", *,
         error: type[DomainError] | None = None,
         rule: str | None = None) -> SpecificContractStatus | OfferStatus:
    """Move `obj` to `target` if its machine allows it from its current state (else `require_move`'s
    refusal); returns the state it left."""
    require_move(obj, target, why, error=error, rule=rule)
    previous = obj.status
    obj.status = target
    return previous
