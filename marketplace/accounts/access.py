"""Who may see an organisation, and who administers it, written once.

An organisation a principal does not belong to answers 404 (NotFound), never 403, so existence doesn't leak;
platform admins see and administer every organisation.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMIN_ROLE
from marketplace.errors import Forbidden, NotFound


async def visible_organisation(session: AsyncSession, principal: Principal,
                               organisation_id: uuid.UUID) -> Organisation:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or not (principal.member_of(organisation_id) or principal.is_platform_admin):
        raise NotFound("No organisation has this id.")
    return organisation


async def administered_organisation(session: AsyncSession, principal: Principal,
                                    organisation_id: uuid.UUID) -> Organisation:
    organisation = await visible_organisation(session, principal, organisation_id)
    if not (principal.has_role_in(organisation_id, ADMIN_ROLE[organisation.kind]) or principal.is_platform_admin):
        raise Forbidden("Only an administrator of this organisation may do this.")
    return organisation
