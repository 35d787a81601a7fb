"""API keys: a machine client acting for an organisation with some of its roles; the secret is shown once."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from marketplace.accounts import schemas
from marketplace.accounts.access import administered_organisation
from marketplace.accounts.auth import new_api_key
from marketplace.accounts.base import ServiceBase, check_roles
from marketplace.accounts.errors import RoleNotAllowed
from marketplace.accounts.models import ApiKey
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.errors import NotFound


class ApiKeyService(ServiceBase):
    @staticmethod
    def _key_schema(key: ApiKey) -> schemas.ApiKey:
        return schemas.ApiKey(id=key.id, organisation_id=key.organisation_id, name=key.name, prefix=key.prefix,
                              roles=[Role(r) for r in key.roles], created_at=key.created_at,
                              revoked_at=key.revoked_at, last_used_at=key.last_used_at)

    async def create_api_key(self, principal: Principal, organisation_id: uuid.UUID,
                             data: schemas.ApiKeyCreate) -> schemas.ApiKeyCreated:
        organisation = await administered_organisation(self.session, principal, organisation_id)
        roles = check_roles(organisation.kind, data.roles)
        if Role.PLATFORM_ADMIN.value in roles:
            raise RoleNotAllowed("roles: platform administration is never delegated to an API key", field="roles")
        full, prefix, digest = new_api_key()
        key = ApiKey(organisation_id=organisation_id, created_by_id=principal.user_id, name=data.name.strip(),
                     prefix=prefix, secret_sha256=digest, roles=roles)
        self.session.add(key)
        await self.session.flush()
        await self._audit("api_key.created", principal.label, organisation_id=organisation_id,
                          target_type="api_key", target_id=key.id, prefix=prefix, roles=roles)
        base = self._key_schema(key)
        return schemas.ApiKeyCreated(**{f: getattr(base, f) for f in base.__struct_fields__}, key=full)

    async def list_api_keys(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.ApiKey]:
        await administered_organisation(self.session, principal, organisation_id)
        keys = (await self.session.scalars(select(ApiKey).where(ApiKey.organisation_id == organisation_id)
                                           .order_by(ApiKey.created_at))).all()
        return [self._key_schema(k) for k in keys]

    async def revoke_api_key(self, principal: Principal, organisation_id: uuid.UUID, key_id: uuid.UUID) -> None:
        await administered_organisation(self.session, principal, organisation_id)
        key = await self.session.get(ApiKey, key_id, with_for_update=True)
        if key is None or key.organisation_id != organisation_id:
            raise NotFound("No API key has this id.")
        if key.revoked_at is None:
            key.revoked_at = self.clock.now()
            await self._audit("api_key.revoked", principal.label, organisation_id=organisation_id,
                              target_type="api_key", target_id=key.id, prefix=key.prefix)
