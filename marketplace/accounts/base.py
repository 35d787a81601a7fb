"""What every service of the accounts domain shares: the session, the clock, the settings, the audit (P8)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.errors import RoleNotAllowed
from marketplace.accounts.roles import OrganisationKind, Role, roles_for
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.settings import Settings


def check_roles(kind: OrganisationKind, roles: list[Role], field: str = "roles") -> list[str]:
    """The roles, as stored, if an organisation of this kind may hold each of them."""
    allowed = roles_for(kind)
    wrong = [r.value for r in roles if r not in allowed]
    if wrong:
        raise RoleNotAllowed(f"{field}: {', '.join(wrong)} cannot be held in a {kind.value} organisation "
                             f"(allowed: {', '.join(sorted(r.value for r in allowed))})", field=field)
    return sorted({r.value for r in roles})


class ServiceBase:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    async def _audit(self, action: str, actor: str, *, organisation_id: uuid.UUID | None = None,
                     target_type: str | None = None, target_id: object = None, **details: object) -> None:
        await audit.record(self.session, self.clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id) if target_id else None,
                           details=details)
