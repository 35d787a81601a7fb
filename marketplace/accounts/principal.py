"""Who is calling: resolved once per request by the auth middleware, read by guards and services."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from marketplace.accounts.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """A user (through a JWT) or a machine client (through an API key), with roles per organisation."""

    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    email: str | None
    roles_by_organisation: dict[uuid.UUID, frozenset[Role]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        return f"user:{self.user_id}"

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset().union(*self.roles_by_organisation.values())

    @property
    def is_platform_admin(self) -> bool:
        return Role.PLATFORM_ADMIN in self.roles

    def has_any(self, roles: Iterable[str]) -> bool:
        wanted = {Role(r) for r in roles}
        return bool(wanted & self.roles)

    def member_of(self, organisation_id: uuid.UUID) -> bool:
        return organisation_id in self.roles_by_organisation

    def has_role_in(self, organisation_id: uuid.UUID, *roles: Role) -> bool:
        return bool(set(roles) & self.roles_by_organisation.get(organisation_id, frozenset()))

    def organisations_with(self, *roles: Role) -> list[uuid.UUID]:
        return [org for org, held in self.roles_by_organisation.items() if set(roles) & held]


SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"
