"""Who may see which object of the vendors domain, written once.

A DPS in draft is visible only to its buying organisation; an admission request only to its vendor and to the
buyers of its DPS. Everyone else gets 404, never 403, so that existence doesn't leak.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_WRITERS, Role
from marketplace.errors import Forbidden, NotFound
from marketplace.vendors.models import AdmissionRequest, Dps
from marketplace.vendors.states import DpsStatus


def is_buyer_of(principal: Principal | None, dps: Dps, *roles: Role) -> bool:
    return principal is not None and principal.has_role_in(dps.buyer_organisation_id, *(roles or DPS_WRITERS))


async def visible_dps(session: AsyncSession, dps_id: uuid.UUID, principal: Principal | None) -> Dps:
    dps = await session.get(Dps, dps_id)
    if dps is None or (dps.status == DpsStatus.DRAFT and not is_buyer_of(principal, dps)):
        raise NotFound("No DPS has this id.")
    return dps


async def visible_request(session: AsyncSession, request_id: uuid.UUID, principal: Principal, *,
                          lock: bool = False) -> tuple[AdmissionRequest, Dps]:
    request = await session.get(AdmissionRequest, request_id, with_for_update=lock)
    dps = await session.get(Dps, request.dps_id) if request else None
    if request is None or dps is None or not (
            principal.member_of(request.vendor_organisation_id) or is_buyer_of(principal, dps)):
        raise NotFound("No admission request has this id.")
    return request, dps


def require_vendor(principal: Principal, request: AdmissionRequest) -> None:
    if not principal.has_role_in(request.vendor_organisation_id, *VENDOR_WRITERS):
        raise NotFound("No admission request has this id.") if not principal.member_of(
            request.vendor_organisation_id) else Forbidden("Only the vendor's admin or bid manager may do this.")


def require_buyer(principal: Principal, request: AdmissionRequest, dps: Dps) -> None:
    if not is_buyer_of(principal, dps):
        raise NotFound("No admission request has this id.")
