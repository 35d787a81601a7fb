"""Users, organisations, roles and API keys: what an organisation's admin and the platform's operators manage.

Every page and act calls the service its API route calls (accounts/controllers.py), with the same audience: the
list is `OrganisationService.administered` (the caller's administered organisations, every one for a platform
admin), the file reads `get_organisation`, `MembershipService.members` / `pending_invitations` and
`ApiKeyService.list_api_keys`; the acts are `invite`, `set_roles`, `deactivate`, `create_api_key` and
`revoke_api_key`, each checking the organisation (another one's: 404; a non-admin member: 403) and auditing (P8).

An API key's secret is shown once: the creation's answer is the organisation's page itself (200, `no-store`), with
the secret in it; it is never put in the session nor in a message, so no later page can show it again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts import schemas
from marketplace.accounts.api_keys import ApiKeyService
from marketplace.accounts.deps import (
    provide_api_key_service,
    provide_membership_service,
    provide_organisation_service,
)
from marketplace.accounts.memberships import MembershipService
from marketplace.accounts.organisations import ADMINISTERED_MAX, OrganisationService
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMINS, OrganisationKind, Role, roles_for
from marketplace.errors import RuleViolation
from marketplace.lib.access import requires
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import ListFilters, csv_download

BASE = f"{PREFIX}/organisations"
PAGE_SIZES = (25, 50, 100)
_ADMINS = "The organisation's admin (platform admins: every organisation), as the API's members and API-key routes."
_LIST = "Lists the organisations the caller administers (all of them for a platform admin), as GET /organisations."

# Words, never a colour alone; the roles as a French reader names them.
KIND_LABELS = {OrganisationKind.HOLDER: "porteur de projet", OrganisationKind.VENDOR: "éditeur",
               OrganisationKind.BUYER: "acheteur", OrganisationKind.PLATFORM: "opérateur de la plateforme",
               OrganisationKind.FUNDER: "financeur"}
ROLE_LABELS = {
    Role.HOLDER_ADMIN: "administrateur", Role.HOLDER_MEMBER: "membre", Role.HOLDER_PROJECT_LEAD: "chef de projet",
    Role.HOLDER_OPENER: "ouvreur des plis", Role.HOLDER_EVALUATOR: "évaluateur",
    Role.VENDOR_ADMIN: "administrateur", Role.VENDOR_MEMBER: "membre",
    Role.VENDOR_BID_MANAGER: "responsable des offres",
    Role.BUYER_ADMIN: "administrateur", Role.BUYER_EVALUATOR: "évaluateur", Role.BUYER_OPENER: "ouvreur des plis",
    Role.PLATFORM_ADMIN: "administrateur de la plateforme",
    Role.FUNDER_ADMIN: "administrateur", Role.FUNDER_INSTRUCTOR: "instructeur", Role.FUNDER_MEMBER: "membre"}
assert ROLE_LABELS.keys() == set(Role)

Organisations = NamedDependency[OrganisationService]
Memberships = NamedDependency[MembershipService]
ApiKeys = NamedDependency[ApiKeyService]
Form = RequestEncodingType.URL_ENCODED
Many = str | list[str]


class InviteForm(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(max_length=320)] = ""
    roles: Many = msgspec.field(default_factory=list)


class RolesForm(msgspec.Struct):
    roles: Many = msgspec.field(default_factory=list)


class ApiKeyForm(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=300)] = ""
    roles: Many = msgspec.field(default_factory=list)


def _many(value: Many) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


_AT = re.compile(r"at `\$\.(\w+)")


def _decoded(struct: type[msgspec.Struct], **values: Any) -> Any:
    """The API's body (schemas.InvitationCreate, MemberUpdate, ApiKeyCreate), decoded with the API's own
    constraints: what it refuses is refused here by name (the field), never sent on."""
    try:
        return msgspec.convert(values, struct)
    except msgspec.ValidationError as exc:
        found = _AT.search(str(exc))
        field = found.group(1) if found else None
        raise RuleViolation(f"{field or 'form'}: {exc}", field=field) from exc


class Filters(ListFilters, frozen=True):
    """The list's filters as they stand in the URL (a link, a reload or the export keeps them)."""

    base: ClassVar[str] = BASE
    type: str = ""
    q: str = ""
    taille: int = 25
    page: int = 1


Kind = Annotated[OrganisationKind | None, QueryParameter(name="type")]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


CSV_HEADER = ("Identifiant", "Nom", "Type", "Grappe", "SIRET", "SIREN", "FINESS EJ", "Région (INSEE)",
              "Membres actifs")


def csv_rows(items: list[schemas.OrganisationListItem]) -> Iterator[tuple[object, ...]]:
    for item in items:
        yield (str(item.id), item.name, KIND_LABELS[item.kind], item.is_grappe, item.siret, item.siren,
               item.finess_ej, item.region, item.members)


class AccountPagesController(Controller):
    path = PREFIX
    dependencies = {**BASE_DEPENDENCIES,
                    "organisations": Provide(provide_organisation_service, sync_to_thread=False),
                    "memberships": Provide(provide_membership_service, sync_to_thread=False),
                    "api_keys": Provide(provide_api_key_service, sync_to_thread=False)}

    @get("/organisations", opt=requires(reason=_LIST), name="web.accounts.list")
    async def index(self, principal: Caller, viewer: Viewer, organisations: Organisations, type: Kind = None,
                    q: Search = "", taille: Taille = 25, page: Numero = 1) -> Template:
        filters = Filters(type=type.value if type else "", q=q, taille=taille, page=page)
        found = await organisations.administered(principal, kind=type, search=q, limit=taille,
                                                 offset=(page - 1) * taille)
        return Template("accounts_list.html", context={
            "viewer": viewer, "title": "Organisations", "found": found, "filters": filters,
            "pages": max(1, -(-found.total // taille)), "kinds": KIND_LABELS, "sizes": PAGE_SIZES})

    @get("/organisations/export.csv", opt=requires(reason=_LIST), name="web.accounts.export")
    async def export(self, principal: Caller, organisations: Organisations, type: Kind = None,
                     q: Search = "") -> Stream:
        found = await organisations.administered(principal, kind=type, search=q, limit=ADMINISTERED_MAX, offset=0)
        return csv_download("organisations.csv", CSV_HEADER, csv_rows(found.items))

    @get("/organisations/{organisation_id:uuid}", opt=requires(*ADMINS, reason=_ADMINS), name="web.accounts.show")
    async def show(self, organisation_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                   organisations: Organisations, memberships: Memberships, api_keys: ApiKeys) -> Template:
        return Template("accounts_organisation.html", context=await _file(
            organisation_id, principal, viewer, organisations, memberships, api_keys))

    @post("/organisations/{organisation_id:uuid}/invitations", opt=requires(*ADMINS, reason=_ADMINS),
          status_code=303, name="web.accounts.invite")
    async def invite(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                     principal: Caller, memberships: Memberships,
                     data: Annotated[InviteForm, Body(media_type=Form)]) -> Redirect:
        invitation = await memberships.invite(principal, organisation_id, _decoded(
            schemas.InvitationCreate, email=data.email.strip(), roles=_many(data.roles)))
        return done(request, f"{BASE}/{organisation_id}",
                    f"Invitation envoyée à {invitation.email} ; le code d'invitation lui parvient par courriel.")

    @post("/organisations/{organisation_id:uuid}/membres/{user_id:uuid}/roles",
          opt=requires(*ADMINS, reason=_ADMINS), status_code=303, name="web.accounts.set_roles")
    async def set_roles(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                        user_id: FromPath[uuid.UUID], principal: Caller, memberships: Memberships,
                        data: Annotated[RolesForm, Body(media_type=Form)]) -> Redirect:
        member = await memberships.set_roles(principal, organisation_id, user_id,
                                             _decoded(schemas.MemberUpdate, roles=_many(data.roles)))
        return done(request, f"{BASE}/{organisation_id}", f"Les rôles de {member.email} sont enregistrés.")

    @post("/organisations/{organisation_id:uuid}/membres/{user_id:uuid}/desactivation",
          opt=requires(*ADMINS, reason=_ADMINS), status_code=303, name="web.accounts.deactivate")
    async def deactivate(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                         user_id: FromPath[uuid.UUID], principal: Caller, memberships: Memberships) -> Redirect:
        await memberships.deactivate(principal, organisation_id, user_id)
        return done(request, f"{BASE}/{organisation_id}",
                    "Le membre est retiré de l'organisation (son compte est fermé s'il n'en a pas d'autre) ; "
                    "cela vaut dès sa prochaine requête.")

    @post("/organisations/{organisation_id:uuid}/cles-api", opt=requires(*ADMINS, reason=_ADMINS),
          status_code=200, name="web.accounts.create_api_key")
    async def create_api_key(self, organisation_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                             organisations: Organisations, memberships: Memberships, api_keys: ApiKeys,
                             data: Annotated[ApiKeyForm, Body(media_type=Form)]) -> Template:
        created = await api_keys.create_api_key(principal, organisation_id, _decoded(
            schemas.ApiKeyCreate, name=data.name.strip(), roles=_many(data.roles)))
        # The answer is the page itself (no redirect), so the secret lives in this one response only.
        return Template("accounts_organisation.html", headers={"Cache-Control": "no-store"}, context=await _file(
            organisation_id, principal, viewer, organisations, memberships, api_keys, created=created))

    @post("/organisations/{organisation_id:uuid}/cles-api/{key_id:uuid}/revocation",
          opt=requires(*ADMINS, reason=_ADMINS), status_code=303, name="web.accounts.revoke_api_key")
    async def revoke_api_key(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                             key_id: FromPath[uuid.UUID], principal: Caller, api_keys: ApiKeys) -> Redirect:
        await api_keys.revoke_api_key(principal, organisation_id, key_id)
        return done(request, f"{BASE}/{organisation_id}",
                    "La clé d'API est révoquée : elle est refusée dès la prochaine requête.")

    @get("/compte", opt=requires(reason="The caller's own account, as GET /auth/me."), name="web.accounts.me")
    async def me(self, principal: Caller, viewer: Viewer, organisations: Organisations) -> Template:
        administered = await organisations.administered(principal, limit=ADMINISTERED_MAX)
        return Template("accounts_me.html", context={
            "viewer": viewer, "title": "Mon compte", "kinds": KIND_LABELS, "role_labels": ROLE_LABELS,
            "administered": {o.id for o in administered.items}})


async def _file(organisation_id: uuid.UUID, principal: Principal, viewer: schemas.Me,
                organisations: OrganisationService, memberships: MembershipService, api_keys: ApiKeyService,
                created: schemas.ApiKeyCreated | None = None) -> dict[str, Any]:
    """The organisation's file: each part read through the service its API route calls."""
    organisation = await organisations.get_organisation(principal, organisation_id)
    members = await memberships.members(principal, organisation_id)
    held = roles_for(organisation.kind)
    return {
        "viewer": viewer, "title": organisation.name, "organisation": organisation, "members": members,
        "invitations": await memberships.pending_invitations(principal, organisation_id),
        "keys": await api_keys.list_api_keys(principal, organisation_id), "created": created,
        "roles": [role for role in Role if role in held], "role_labels": ROLE_LABELS, "kinds": KIND_LABELS,
        "base": f"{BASE}/{organisation_id}", "me": principal.user_id}


CONTROLLERS: list[type[Controller]] = [AccountPagesController]
