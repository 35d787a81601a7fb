"""Who may see which funding object, written once (FU6, house rule 6).

A call is read by anyone signed in (holders look for the call to file to); what was filed to it and decided is
its funder's (its members read, its admins and instructors act) and the holder's of each need. Another funder's
project, or another holder's need, is a 404, never a 403: nobody learns that it exists. No route of this domain
reads an offer: a funder never sees sealed content.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS, FUNDER_WRITERS, HOLDER_MEMBERS, HOLDER_WRITERS, Role
from marketplace.errors import Forbidden, NotFound
from marketplace.funding.models import FundingCall
from marketplace.tenders.models import Need

CALL_NOT_FOUND = "No call for projects has this id."
PROJECT_NOT_FOUND = "No project of this call has this id."
NEED_NOT_FOUND = "No need has this id."


async def call_of(session: AsyncSession, call_id: uuid.UUID, *, lock: bool = False) -> FundingCall:
    """Any call, for anyone signed in (404 if none)."""
    query = select(FundingCall).where(FundingCall.id == call_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    call = await session.scalar(query)
    if call is None:
        raise NotFound(CALL_NOT_FOUND)
    return call


def funder_side(principal: Principal, call: FundingCall, *roles: Role) -> bool:
    """Whether the caller is of the call's funder with one of `roles` (by default any of its members, FU6)."""
    return principal.has_role_in(call.funder_organisation_id, *(roles or FUNDER_MEMBERS))


async def own_call(session: AsyncSession, principal: Principal, call_id: uuid.UUID, *,
                   write: tuple[Role, ...] = (), lock: bool = False) -> FundingCall:
    """The call, if the caller is of its funder (else 404); with `write`, one of those roles is needed (else 403)."""
    call = await call_of(session, call_id, lock=lock)
    if not funder_side(principal, call):
        raise NotFound(CALL_NOT_FOUND)
    if write and not funder_side(principal, call, *write):
        raise Forbidden("Only the funder's " + ("administrator" if write == (Role.FUNDER_ADMIN,)
                                                 else "administrator or instructors") + " may do this.")
    return call


async def project_of(session: AsyncSession, principal: Principal, call_id: uuid.UUID, need_id: uuid.UUID, *,
                     write: bool = False) -> tuple[FundingCall, Need]:
    """A need filed to one of the caller's funder's calls (FU6: another funder's is a 404), locked for a write."""
    call = await own_call(session, principal, call_id, write=FUNDER_WRITERS if write else ())
    query = select(Need).where(Need.id == need_id)
    if write:
        query = query.with_for_update().execution_options(populate_existing=True)
    need = await session.scalar(query)
    if need is None or need.call_id != call.id:
        raise NotFound(PROJECT_NOT_FOUND)
    return call, need


async def holder_need(session: AsyncSession, principal: Principal, need_id: uuid.UUID, *,
                      write: bool = False) -> Need:
    """The need for its holder's members (else 404); writing needs its admin or project lead (else 403)."""
    query = select(Need).where(Need.id == need_id)
    if write:
        query = query.with_for_update().execution_options(populate_existing=True)
    need = await session.scalar(query)
    if need is None or not principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS):
        raise NotFound(NEED_NOT_FOUND)
    if write and not principal.has_role_in(need.holder_organisation_id, *HOLDER_WRITERS):
        raise Forbidden("Only the holder's administrator or project lead may act on this need's funding.")
    return need


async def funded_need(session: AsyncSession, principal: Principal, need_id: uuid.UUID, *,
                      funder_write: bool = False, holder_write: bool = False) -> tuple[Need, FundingCall | None]:
    """The need and its call for its holder's members or its call's funder's members (FU6; anyone else: 404).
    `holder_write` needs the holder's admin or project lead, `funder_write` the funder's admin or instructors
    (else 403); either locks the need."""
    lock = funder_write or holder_write
    query = select(Need).where(Need.id == need_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    need = await session.scalar(query)
    if need is None:
        raise NotFound(NEED_NOT_FOUND)
    call = await session.get(FundingCall, need.call_id) if need.call_id is not None else None
    holder = principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS)
    funder = call is not None and funder_side(principal, call)
    if not (holder or funder):
        raise NotFound(NEED_NOT_FOUND)
    if holder_write and not principal.has_role_in(need.holder_organisation_id, *HOLDER_WRITERS):
        raise Forbidden("Only the holder's administrator or project lead may request the grant's tranches.")
    if funder_write and not (call is not None and funder_side(principal, call, *FUNDER_WRITERS)):
        raise Forbidden("Only the funder's administrator or instructors may decide on the grant's tranches.")
    return need, call
