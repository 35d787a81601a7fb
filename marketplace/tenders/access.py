"""Who may see which object of a procedure (house rule 6): the specific contract for its buying side and for the
vendors it invited, an offer for its author, a contract for its parties. Written once, for tenders/ and awards/.

Another organisation's object is a 404, never a 403: whoever is on neither side must not learn that it exists
(nor, for a vendor, that a competitor is invited, has an offer, or is asked anything). The services answer
"whether now" (deadline, state, sealing) themselves, through states.py; what they ask here is only "who".

Who is who on a specific contract (domain.md §11.1; the columns are copied at publication, so no predicate here
needs another row):

- its buying side (`buying_side`): the people of `buyer_organisation_id` with a buyer role or its holder
  equivalent (accounts/roles.py `acting_for_the_buyer`). In intermediation that organisation is the need's holder
  (HC2): the holder's admins, evaluators and openers run the procedure; in centralised mode it is the central
  purchasing body (or the buyer the holder named, D2), as before (HC3);
- who follows it (`follows`, HC2): in intermediation, the central purchasing body that runs the DPS. It reads the
  contract, its questions and answers, documents and amendments, and the opening record, ranking and award once
  the offers are opened; it may publish answers to questions; every other act is refused with a 403 naming HC2
  (it knows the procedure exists);
- who holds it (`holds`): the need's holder, any of its members. It reads its own specific contract from its
  publication (the notice of its own need), and the opening record, ranking and award once the offers are
  opened (HC3); in centralised mode, when the buying side invited it onto the evaluation committee
  (`on_committee`), its admins and evaluators declare their interests, read the opened offers and score them
  like the buying side's evaluators, and nothing more;
- the vendors it invited (`invitations`), each seeing its own invitation.

Nobody reads sealed content before the opening, whoever they are (D13): the services check it for everyone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import (
    BUYER_WRITERS,
    BUYING_SIDE,
    DPS_WRITERS,
    HOLDER_EVALUATORS,
    HOLDER_MEMBERS,
    VENDOR_MEMBERS,
    Role,
    acting_for_the_buyer,
)
from marketplace.errors import DomainError, NotFound
from marketplace.tenders.errors import NotTheBuyingSide
from marketplace.tenders.models import ContractInvitation, OpeningRecord, SpecificContract
from marketplace.vendors.models import ConductMode

CONTRACT_NOT_FOUND = "No specific contract has this id."


class BoughtObject(Protocol):
    """A specific contract, or what follows from one and keeps its buying organisation (a clarification thread,
    the contract signed after the award)."""

    @property
    def buyer_organisation_id(self) -> uuid.UUID: ...


class VendorObject(Protocol):
    """An offer, or what concerns one vendor of a procedure (a clarification thread, the awardee's contract)."""

    @property
    def vendor_organisation_id(self) -> uuid.UUID: ...


class NoticeParties(BoughtObject, Protocol):
    """A specific contract, or its notice as read in one statement (tenders/contracts.py): who runs, follows and
    holds it."""

    @property
    def conduct_mode(self) -> ConductMode: ...
    @property
    def dps_organisation_id(self) -> uuid.UUID: ...
    @property
    def holder_organisation_id(self) -> uuid.UUID: ...


class PartiesObject(BoughtObject, VendorObject, Protocol):
    pass


_Bought = TypeVar("_Bought", bound=BoughtObject)


def buying_side(principal: Principal, obj: BoughtObject, *roles: Role) -> bool:
    """Whether the caller is of the buying side of `obj`'s procedure with one of `roles` (by default those who
    run its procedures, BUYER_WRITERS; BUYING_SIDE adds the openers). The one definition of the buying side:
    each buyer role counts with its holder equivalent (HC2), read in the object's own buying organisation, a
    holder in intermediation, a buying organisation when centralised (HC3)."""
    return principal.has_role_in(obj.buyer_organisation_id, *acting_for_the_buyer(*(roles or BUYER_WRITERS)))


def follows(principal: Principal, contract: NoticeParties) -> bool:
    """HC2: whether the caller is of the central purchasing body (its admins and evaluators) following a procedure
    of its DPS conducted in intermediation: it reads, assists (answers questions), never runs it."""
    return (contract.conduct_mode == ConductMode.INTERMEDIATION
            and contract.dps_organisation_id != contract.buyer_organisation_id
            and principal.has_role_in(contract.dps_organisation_id, *DPS_WRITERS))


def holds(principal: Principal, contract: NoticeParties) -> bool:
    """HC2, HC3: whether the caller is a member of the need's holder (any role): it reads its own contract."""
    return principal.has_role_in(contract.holder_organisation_id, *HOLDER_MEMBERS)


def on_committee(principal: Principal, contract: SpecificContract) -> bool:
    """HC3: whether the caller is an admin or evaluator of the holder of a centralised contract whose buying side
    invited the holder onto the evaluation committee: it declares its interests and scores, nothing more."""
    return (contract.conduct_mode == ConductMode.CENTRALISED and contract.holder_on_committee
            and principal.has_role_in(contract.holder_organisation_id, *HOLDER_EVALUATORS))


def reads(principal: Principal, contract: NoticeParties) -> bool:
    """Whether the caller reads the contract's notice (the contract, its documents, amendments, questions): its
    buying side, who follows it (HC2) and who holds it (HC3)."""
    return buying_side(principal, contract) or follows(principal, contract) or holds(principal, contract)


def not_the_buying_side(principal: Principal, contract: SpecificContract, missing: str) -> DomainError:
    """What to answer who is not the buying side of `contract` (with the roles an act needs): one who follows or
    holds it knows it exists, so a 403 naming the rule that keeps it from acting (HC2, HC3); anyone else a 404,
    and so is a member of the buying side short of the role (the caller checks the role and says so itself)."""
    if buying_side(principal, contract, *BUYING_SIDE):
        return NotFound(missing)
    if follows(principal, contract):
        return NotTheBuyingSide("HC2: the central purchasing body follows this procedure, conducted in "
                                "intermediation, read-only: the holder is its buyer, which opens, evaluates, awards "
                                "and signs; the central purchasing body may answer the vendors' questions.",
                                rule="HC2")
    if holds(principal, contract):
        if contract.conduct_mode == ConductMode.INTERMEDIATION:
            return NotTheBuyingSide("HC2: the holder buys this contract through its administrators, evaluators and "
                                    "openers; your role in the holder only reads it.", rule="HC2")
        return NotTheBuyingSide("HC3: this procedure is conducted by the central purchasing body on the holder's "
                                "behalf: the holder reads its contract, the opening record and the ranking, and "
                                "scores only when invited onto the evaluation committee.", rule="HC3")
    return NotFound(missing)


def for_buying_side(principal: Principal, obj: _Bought | None, *roles: Role,
                    missing: str = CONTRACT_NOT_FOUND) -> _Bought:
    """`obj` if the caller is of its buying side (see `buying_side`); else 404 with `missing`, or, on a specific
    contract the caller follows or holds, the 403 naming HC2 or HC3 (`not_the_buying_side`)."""
    if obj is None:
        raise NotFound(missing)
    if not buying_side(principal, obj, *roles):
        if isinstance(obj, SpecificContract):
            raise not_the_buying_side(principal, obj, missing)
        raise NotFound(missing)
    return obj


def for_evaluation(principal: Principal, contract: SpecificContract | None, *roles: Role,
                   missing: str = CONTRACT_NOT_FOUND) -> SpecificContract:
    """The contract for its buying side (with one of `roles`) and for the holder's people on its evaluation
    committee (HC3: declarations, the opened offers, scores); otherwise as `for_buying_side`."""
    if contract is not None and on_committee(principal, contract):
        return contract
    return for_buying_side(principal, contract, *roles, missing=missing)


async def opened(session: AsyncSession, contract: SpecificContract) -> bool:
    """Whether the contract's offers were opened: its opening record exists (an opening that found no offer
    writes one too). Not the status: a contract closed for offers or cancelled may never have been opened."""
    return await session.scalar(select(OpeningRecord.id).where(
        OpeningRecord.specific_contract_id == contract.id).limit(1)) is not None


async def for_procedure_reader(session: AsyncSession, principal: Principal, contract: SpecificContract | None,
                               *roles: Role, missing: str = CONTRACT_NOT_FOUND) -> SpecificContract:
    """The contract for its buying side (with one of `roles`) at any time, and, once its offers are opened, for
    who follows it (HC2) or holds it (HC3): the opening record, the ranking, the award. Before the opening they
    get a 404: for them nothing of the offers exists yet."""
    if contract is None:
        raise NotFound(missing)
    if buying_side(principal, contract, *roles):
        return contract
    if (follows(principal, contract) or holds(principal, contract)) and await opened(session, contract):
        return contract
    raise NotFound(missing)


def vendor_side(principal: Principal, obj: VendorObject, *roles: Role) -> bool:
    """Whether the caller is of the vendor `obj` concerns: an offer's author, a thread's or a contract's vendor
    (with one of `roles`, by default any of its members)."""
    return principal.has_role_in(obj.vendor_organisation_id, *(roles or VENDOR_MEMBERS))


def party(principal: Principal, obj: PartiesObject) -> bool:
    """Whether the caller is of one of `obj`'s two sides: its buying side or its vendor."""
    return buying_side(principal, obj) or vendor_side(principal, obj)


async def invitations(session: AsyncSession, principal: Principal, contract: SpecificContract,
                      *roles: Role) -> list[ContractInvitation]:
    """The contract's invitations of the caller's vendor organisations (where it holds one of `roles`, by
    default any vendor role), ordered by vendor: empty when none of them was invited."""
    vendors = principal.organisations_with(*(roles or VENDOR_MEMBERS))
    if not vendors:
        return []
    return list((await session.scalars(select(ContractInvitation).where(
        ContractInvitation.specific_contract_id == contract.id,
        ContractInvitation.vendor_organisation_id.in_(vendors))
        .order_by(ContractInvitation.vendor_organisation_id))).all())


async def invited_vendors(session: AsyncSession, principal: Principal, contract: SpecificContract,
                          *roles: Role) -> list[uuid.UUID]:
    """The caller's vendor organisations (where it holds one of `roles`) invited to the contract, in order."""
    return [i.vendor_organisation_id for i in await invitations(session, principal, contract, *roles)]


async def invited_vendor(session: AsyncSession, principal: Principal, contract: SpecificContract,
                         *roles: Role) -> uuid.UUID:
    """The caller's (first) vendor organisation invited to the contract, with one of `roles`; else 404."""
    invited = await invited_vendors(session, principal, contract, *roles)
    if not invited:
        raise NotFound(CONTRACT_NOT_FOUND)
    return invited[0]


def seen_invitations(principal: Principal, contract: NoticeParties,
                     invited: list[tuple[uuid.UUID, datetime]]) -> list[tuple[uuid.UUID, datetime]]:
    """`visible_contract`'s rule, on a contract's invitations already read (vendor, date; in vendor order) with
    its notice (tenders/contracts.py `NoticeReader`): every one for who reads the notice, else the caller's
    vendors' own; a 404 when that leaves none, as to anyone the contract is not for."""
    if reads(principal, contract):
        return invited
    mine = set(principal.organisations_with(*VENDOR_MEMBERS))
    own = [(vendor, at) for vendor, at in invited if vendor in mine]
    if not own:
        raise NotFound(CONTRACT_NOT_FOUND)
    return own


async def visible_contract(session: AsyncSession, principal: Principal, contract: SpecificContract | None) -> tuple[
        SpecificContract, list[ContractInvitation] | None]:
    """The contract and as whom the caller sees it: None for its buying side, who follows it (HC2) and who holds
    it (HC3) (every invitation: the register of admitted vendors is public and every admitted vendor of the
    category is invited, D8, so the list tells them nothing the register doesn't), else the caller's vendors'
    invitations to it; 404 to anyone else, or when there is no such contract."""
    if contract is None:
        raise NotFound(CONTRACT_NOT_FOUND)
    if reads(principal, contract):
        return contract, None
    invited = await invitations(session, principal, contract)
    if not invited:
        raise NotFound(CONTRACT_NOT_FOUND)
    return contract, invited
