"""Who may see which object of a procedure (house rule 6): the specific contract for its buying side and for the
vendors it invited, an offer for its author, a contract for its parties. Written once, for tenders/ and awards/.

Another organisation's object is a 404, never a 403: whoever is on neither side must not learn that it exists
(nor, for a vendor, that a competitor is invited, has an offer, or is asked anything). The services answer
"whether now" (deadline, state, sealing) themselves, through states.py; what they ask here is only "who".
"""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_WRITERS, VENDOR_MEMBERS, Role
from marketplace.errors import NotFound
from marketplace.tenders.models import ContractInvitation, SpecificContract

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


class PartiesObject(BoughtObject, VendorObject, Protocol):
    pass


_Bought = TypeVar("_Bought", bound=BoughtObject)


def buying_side(principal: Principal, obj: BoughtObject, *roles: Role) -> bool:
    """Whether the caller is of the buying side of `obj`'s procedure with one of `roles` (by default those who
    run its procedures, BUYER_WRITERS; BUYING_SIDE adds the openers). The one definition of the buying side:
    the holder's place in it (domain.md §11.1, intermediation) is to be decided here."""
    return principal.has_role_in(obj.buyer_organisation_id, *(roles or BUYER_WRITERS))


def for_buying_side(principal: Principal, obj: _Bought | None, *roles: Role,
                    missing: str = CONTRACT_NOT_FOUND) -> _Bought:
    """`obj` if the caller is of its buying side (see `buying_side`); else 404 with `missing`."""
    if obj is None or not buying_side(principal, obj, *roles):
        raise NotFound(missing)
    return obj


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


async def visible_contract(session: AsyncSession, principal: Principal, contract: SpecificContract | None) -> tuple[
        SpecificContract, list[ContractInvitation] | None]:
    """The contract and as whom the caller sees it: None for its buying side (it sees everything), else the
    caller's vendors' invitations to it; 404 to anyone else, or when there is no such contract."""
    if contract is None:
        raise NotFound(CONTRACT_NOT_FOUND)
    if buying_side(principal, contract):
        return contract, None
    invited = await invitations(session, principal, contract)
    if not invited:
        raise NotFound(CONTRACT_NOT_FOUND)
    return contract, invited
