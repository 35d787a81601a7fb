"""State machines (c) the specific contract and (d) the offer (domain.md §1.5, §1.6): pure functions.

Every status a specific contract or an offer takes is set here, by `move`, after checking it against the
machine's table; whoever moves one (the publication, the opening, the evaluation, the award, the signature,
the cancellation, an offer's submission or withdrawal) names the target and says, for the refusal, what the
stage is for. `deadline_passed` is the one reading of the tender deadline (D14).

What everyone reads is derived here too, at read time, on the contract's clock (a sandbox's runs faster):
`status_at` is the contract's status (HC6: `closed_for_offers` from the deadline's microsecond on, whether or
not the offers were opened yet), `need_status_at` the need's (HC5: it follows its procedure), and their SQL
twins `status_at_sql` / `reads_as_sql` are the same reading for a query that filters or lists by status.
Nothing is stored at the deadline: the stored `closed_for_offers` stays the opening's own move (below).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, overload

from sqlalchemy import ColumnElement, and_, case, literal, or_
from sqlalchemy.orm import QueryableAttribute

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
    # OPEN --deadline_passed--> CLOSED_FOR_OFFERS: stored by the opening, after the deadline (D13, P6), which
    # reads it to open the offers once; everyone reads it from the deadline itself on (`status_at`, HC6).
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


class Deadlined(Protocol):
    """A specific contract, or a row read with its stored status and deadline (the contract's notice)."""

    @property
    def status(self) -> SpecificContractStatus: ...
    @property
    def tender_deadline(self) -> datetime: ...


def deadline_passed(contract: Deadlined, now: datetime, admitted_until: datetime | None = None) -> bool:
    """D14: whether offers are no longer received at `now` (on the contract's clock): at the deadline exactly
    it is too late. The one reading of the deadline in the code; its other side is the database's own guard,
    the trigger of migration 0012 (`offer_received_before_deadline`), which refuses any offer stored as
    submitted whose receipt is not strictly before its contract's deadline, whatever code writes it.

    D14c: `admitted_until`, the end of the window a late admission gave one vendor (tenders/deposits/), stands
    for the deadline for that vendor's deposits alone, as strictly (at its end exactly it is too late); the
    trigger, as replaced by migration 0025, allows exactly those."""
    end = contract.tender_deadline if admitted_until is None else max(contract.tender_deadline, admitted_until)
    return now >= end


def status_at(contract: Deadlined, now: datetime) -> SpecificContractStatus:
    """HC6: the contract's status as everyone reads it at `now` (on the contract's clock). Machine (c)'s
    OPEN --deadline_passed--> CLOSED_FOR_OFFERS happens at the deadline itself, to the microsecond, for
    everyone at once: an open contract whose deadline passed reads `closed_for_offers` although its stored
    status stays OPEN until the opening moves it (the opening's guard is that stored move, so no offer is opened
    twice). Every view of a contract's status reads it here, never `contract.status` directly."""
    if contract.status == SpecificContractStatus.OPEN and deadline_passed(contract, now):
        return SpecificContractStatus.CLOSED_FOR_OFFERS
    return contract.status


# The SQL side of `status_at`, for a query that lists or filters by status (tenders/search.py): the stored
# status and the deadline are columns, `now` a bound parameter from the same clock. "Passed" is written once,
# `deadline <= now`, `deadline_passed`'s `now >= deadline`.
_Column = ColumnElement[Any] | QueryableAttribute[Any]


def _passed_sql(deadline: _Column, now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    return deadline <= now


def status_at_sql(status: _Column, deadline: _Column, now: datetime | ColumnElement[Any]) -> ColumnElement[Any]:
    """`status_at` in SQL: the status a row reads at `now` (HC6)."""
    closed = literal(SpecificContractStatus.CLOSED_FOR_OFFERS, type_=status.type)
    return case((and_(status == SpecificContractStatus.OPEN, _passed_sql(deadline, now)), closed), else_=status)


def reads_as_sql(status: _Column, deadline: _Column, target: SpecificContractStatus,
                 now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether a row reads `target` at `now` (HC6), written so that the index on the stored status still serves:
    `open` is stored OPEN before the deadline; `closed_for_offers` is stored so (opened) or OPEN past it."""
    if target == SpecificContractStatus.OPEN:
        return and_(status == SpecificContractStatus.OPEN, ~_passed_sql(deadline, now))
    if target == SpecificContractStatus.CLOSED_FOR_OFFERS:
        return or_(status == SpecificContractStatus.CLOSED_FOR_OFFERS,
                   and_(status == SpecificContractStatus.OPEN, _passed_sql(deadline, now)))
    return status == target


class NeedProgress(enum.StrEnum):
    """The need's status as it is read (HC5): draft, submitted, then its procedure's stage, derived from its
    specific contract at read time, never stale."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"                  # its specific contract is open for offers
    CLOSED_FOR_OFFERS = "closed_for_offers"  # the tender deadline passed; the offers are not opened yet
    IN_DIALOGUE = "in_dialogue"              # the offers are opened: clarifications and evaluation
    CHOSEN = "chosen"                        # the award is decided (in its standstill, if any)
    CONTRACTED = "contracted"                # the contract is signed
    UNSUCCESSFUL = "unsuccessful"            # no valid offer
    CANCELLED = "cancelled"                  # declared sans suite


# HC5: the need's stage for each stored stage of its specific contract past the deadline's reading (OPEN and
# DRAFT, the publication's own instant, read through `status_at`). The stored CLOSED_FOR_OFFERS is the
# opening's: the offers are opened, the dialogue with the vendors begins (domain.md §11.1).
_NEED_FOLLOWS: dict[SpecificContractStatus, NeedProgress] = {
    SpecificContractStatus.CLOSED_FOR_OFFERS: NeedProgress.IN_DIALOGUE,
    SpecificContractStatus.EVALUATION: NeedProgress.IN_DIALOGUE,
    SpecificContractStatus.AWARD_DECIDED: NeedProgress.CHOSEN,
    SpecificContractStatus.STANDSTILL: NeedProgress.CHOSEN,
    SpecificContractStatus.CONTRACTED: NeedProgress.CONTRACTED,
    SpecificContractStatus.UNSUCCESSFUL: NeedProgress.UNSUCCESSFUL,
    SpecificContractStatus.CANCELLED: NeedProgress.CANCELLED,
}


def need_status_at(stored: str, contract: SpecificContract | None, now: datetime) -> NeedProgress:
    """HC5: the need's status at `now` (on its contract's clock). Its own stored status (draft, submitted) until
    it is published; from then on its specific contract's stage: published while open for offers,
    closed_for_offers from the deadline (HC6), in_dialogue once the offers are opened, chosen at the award,
    contracted at the signature, or cancelled / unsuccessful."""
    if contract is None:
        return NeedProgress(stored)
    if contract.status in (SpecificContractStatus.DRAFT, SpecificContractStatus.OPEN):
        return (NeedProgress.CLOSED_FOR_OFFERS if status_at(contract, now) == SpecificContractStatus.CLOSED_FOR_OFFERS
                else NeedProgress.PUBLISHED)
    return _NEED_FOLLOWS[contract.status]


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
