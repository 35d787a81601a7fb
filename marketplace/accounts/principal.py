"""Who is calling: resolved once per request by the auth middleware, read by guards and services."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

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


class Claim(NamedTuple):
    """Who a verified access token names, before the database says whether they may still act and as what. Only
    on a route that reads its caller in its own statement (`requires(..., caller_in_statement=True)`): there the
    authentication middleware reads nothing, the guard lets the claim through, and the handler reads the
    account, its memberships and its session together with what it answers, then applies the route's access
    (accounts/guards.py `check_access`) before using any of it. One statement instead of two, and the answer
    and the caller's rights are read in the same snapshot. A NamedTuple: a handler's dependency may be
    `Principal | Claim`, and a union holds one dataclass at most."""

    user_id: uuid.UUID
    family_id: uuid.UUID | None


SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"
