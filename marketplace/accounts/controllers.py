from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from marketplace.accounts import schemas
from marketplace.accounts.api_keys import ApiKeyService
from marketplace.accounts.deps import (
    provide_api_key_service,
    provide_membership_service,
    provide_organisation_service,
    provide_principal,
    provide_session_service,
)
from marketplace.accounts.memberships import MembershipService
from marketplace.accounts.organisations import OrganisationService
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMINS, HOLDER_ADMINISTRATION, Role
from marketplace.accounts.sessions import SessionService
from marketplace.lib.access import public, requires
from marketplace.lib.http import created
from marketplace.lib.openapi import answers
from marketplace.lib.rate_limit import login_rate_limit
from marketplace.notifications import schemas as inbox_schemas
from marketplace.notifications.deps import provide_inbox_service
from marketplace.notifications.inbox import InboxService

_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
         "sessions": Provide(provide_session_service, sync_to_thread=False),
         "organisations": Provide(provide_organisation_service, sync_to_thread=False),
         "memberships": Provide(provide_membership_service, sync_to_thread=False),
         "api_keys": Provide(provide_api_key_service, sync_to_thread=False)}

Sessions = NamedDependency[SessionService]
Organisations = NamedDependency[OrganisationService]
Memberships = NamedDependency[MembershipService]
ApiKeys = NamedDependency[ApiKeyService]
Caller = NamedDependency[Principal]


class AuthController(Controller):
    path = "/auth"
    tags = ["Authentication"]
    opt = answers(429)  # the per-address rate limit below answers every route of the controller
    dependencies = _deps
    # Per client address, on top of the per-account throttle of SessionService.login; counted in Redis, so
    # every API process counts together (lib/rate_limit.py).
    middleware = [login_rate_limit()]

    @post("/login", opt=public("Rate-limited per account; failures never say whether the account exists."),
          status_code=HTTP_200_OK, summary="Log in with e-mail and password")
    async def login(self, data: JSONBody[schemas.LoginRequest], sessions: Sessions) -> schemas.TokenPair:
        return await sessions.login(data.email, data.password)

    @post("/refresh", opt=public("The refresh token is the credential."), status_code=HTTP_200_OK,
          summary="Exchange a refresh token for a new pair (the old one is spent)")
    async def refresh(self, data: JSONBody[schemas.RefreshRequest], sessions: Sessions) -> schemas.TokenPair:
        return await sessions.refresh(data.refresh_token)

    @post("/logout", opt=requires(), status_code=HTTP_204_NO_CONTENT, summary="Revoke a refresh token")
    async def logout(self, data: JSONBody[schemas.RefreshRequest], sessions: Sessions, principal: Caller) -> None:
        await sessions.logout(principal, data.refresh_token)

    @get("/me", opt=requires(), summary="Who am I: account and memberships")
    async def me(self, sessions: Sessions, principal: Caller) -> schemas.Me:
        return await sessions.me(principal)


class OrganisationController(Controller):
    path = "/organisations"
    tags = ["Organisations"]
    dependencies = _deps

    @post("/", opt=requires(Role.PLATFORM_ADMIN, reason="Organisations are registered by the platform."),
          summary="Register an organisation")
    async def create(self, data: JSONBody[schemas.OrganisationCreate], organisations: Organisations,
                     principal: Caller) -> Response[schemas.Organisation]:
        organisation = await organisations.create_organisation(principal, data)
        return created(organisation, f"{self.path}/{organisation.id}")

    @get("/", opt=requires(reason="Lists the caller's organisations (all of them for a platform admin)."),
         summary="List organisations")
    async def list_all(self, organisations: Organisations, principal: Caller) -> list[schemas.Organisation]:
        return await organisations.list_organisations(principal)

    @get("/{organisation_id:uuid}", opt=requires(reason="Members of the organisation and platform admins."),
         summary="Show an organisation")
    async def show(self, organisation_id: FromPath[uuid.UUID], organisations: Organisations,
                   principal: Caller) -> schemas.Organisation:
        return await organisations.get_organisation(principal, organisation_id)

    @post("/{organisation_id:uuid}/facilities",
          opt=requires(*HOLDER_ADMINISTRATION, reason="The OG's administrator."),
          summary="Add a facility (ESMS) to an OG")
    async def add_facility(self, organisation_id: FromPath[uuid.UUID], data: JSONBody[schemas.FacilityCreate],
                           organisations: Organisations, principal: Caller) -> Response[schemas.Facility]:
        facility = await organisations.add_facility(principal, organisation_id, data)
        return created(facility, f"{self.path}/{organisation_id}/facilities")

    @get("/{organisation_id:uuid}/facilities",
         opt=requires(reason="Members of the organisation (an OG, or a grappe for its OGs' facilities) and "
                             "platform admins."),
         summary="List an OG's facilities, or every facility of a grappe's OGs")
    async def facilities(self, organisation_id: FromPath[uuid.UUID], organisations: Organisations,
                         principal: Caller) -> list[schemas.Facility]:
        return await organisations.list_facilities(principal, organisation_id)

    @post("/{organisation_id:uuid}/invitations", opt=requires(*ADMINS, reason="The organisation's admin."),
          summary="Invite a colleague (an e-mail carries the invitation code)")
    async def invite(self, organisation_id: FromPath[uuid.UUID], data: JSONBody[schemas.InvitationCreate],
                     memberships: Memberships, principal: Caller) -> Response[schemas.Invitation]:
        invitation = await memberships.invite(principal, organisation_id, data)
        return created(invitation, f"{self.path}/{organisation_id}/members")

    @get("/{organisation_id:uuid}/members", opt=requires(*ADMINS, reason="The organisation's admin."),
         summary="List members and their roles")
    async def members(self, organisation_id: FromPath[uuid.UUID], memberships: Memberships,
                      principal: Caller) -> list[schemas.Member]:
        return await memberships.members(principal, organisation_id)

    @patch("/{organisation_id:uuid}/members/{user_id:uuid}",
           opt=requires(*ADMINS, reason="The organisation's admin."), summary="Change a member's roles")
    async def set_roles(self, organisation_id: FromPath[uuid.UUID], user_id: FromPath[uuid.UUID],
                        data: JSONBody[schemas.MemberUpdate], memberships: Memberships,
                        principal: Caller) -> schemas.Member:
        return await memberships.set_roles(principal, organisation_id, user_id, data)

    @post("/{organisation_id:uuid}/members/{user_id:uuid}/deactivate", status_code=HTTP_204_NO_CONTENT,
          opt=requires(*ADMINS, reason="The organisation's admin."),
          summary="Deactivate a member's account (effective on their next request)")
    async def deactivate(self, organisation_id: FromPath[uuid.UUID], user_id: FromPath[uuid.UUID],
                         memberships: Memberships, principal: Caller) -> None:
        await memberships.deactivate(principal, organisation_id, user_id)

    @post("/{organisation_id:uuid}/api-keys", opt=requires(*ADMINS, reason="The organisation's admin."),
          summary="Create an API key (its secret is shown once)")
    async def create_api_key(self, organisation_id: FromPath[uuid.UUID], data: JSONBody[schemas.ApiKeyCreate],
                             api_keys: ApiKeys, principal: Caller) -> Response[schemas.ApiKeyCreated]:
        key = await api_keys.create_api_key(principal, organisation_id, data)
        return created(key, f"{self.path}/{organisation_id}/api-keys")

    @get("/{organisation_id:uuid}/api-keys", opt=requires(*ADMINS, reason="The organisation's admin."),
         summary="List API keys (never their secrets)")
    async def api_keys(self, organisation_id: FromPath[uuid.UUID], api_keys: ApiKeys,
                       principal: Caller) -> list[schemas.ApiKey]:
        return await api_keys.list_api_keys(principal, organisation_id)

    @delete("/{organisation_id:uuid}/api-keys/{key_id:uuid}",
            opt=requires(*ADMINS, reason="The organisation's admin."), summary="Revoke an API key")
    async def revoke_api_key(self, organisation_id: FromPath[uuid.UUID], key_id: FromPath[uuid.UUID],
                             api_keys: ApiKeys, principal: Caller) -> None:
        await api_keys.revoke_api_key(principal, organisation_id, key_id)


class InvitationController(Controller):
    path = "/invitations"
    tags = ["Organisations"]
    dependencies = _deps

    @post("/accept", opt=public("The invitation code is the credential."), status_code=HTTP_200_OK,
          summary="Accept an invitation (creates the account if needed) and log in")
    async def accept(self, data: JSONBody[schemas.InvitationAccept], memberships: Memberships) -> schemas.TokenPair:
        return await memberships.accept_invitation(data)


# -- the inbox: notifications are addressed to an e-mail address, a person's is their account's (accounts
# resolve the caller; notifications/inbox.py knows addresses only) ------------------------------------------

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200)]
Offset = Annotated[int, QueryParameter(name="offset", ge=0, le=1_000_000)]
Inbox = NamedDependency[InboxService]
_inbox_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
               "inbox": Provide(provide_inbox_service, sync_to_thread=False)}
_OWN = "Any person signed in: their own notifications only (an API key has no inbox: 403)."


class InboxController(Controller):
    path = "/my/notifications"
    tags = ["Notifications"]
    dependencies = _inbox_deps

    @get("/", opt=requires(reason=_OWN), summary="My notifications, newest first, with their delivery status")
    async def list_mine(self, inbox: Inbox, principal: Caller, limit: Limit = 50, offset: Offset = 0,
                        unread: Annotated[bool, QueryParameter(name="unread")] = False) -> inbox_schemas.InboxPage:
        return await inbox.list(principal.email, limit=limit, offset=offset, unread_only=unread)

    @get("/unread-count", opt=requires(reason=_OWN), summary="How many of my notifications are unread")
    async def unread_count(self, inbox: Inbox, principal: Caller) -> inbox_schemas.UnreadCount:
        return await inbox.unread_count(principal.email)

    @post("/{notification_id:uuid}/read", opt=requires(reason=_OWN + " Someone else's is a 404."),
          status_code=HTTP_200_OK, summary="Mark one of my notifications read")
    async def mark_read(self, notification_id: FromPath[uuid.UUID], inbox: Inbox,
                        principal: Caller) -> inbox_schemas.InboxNotification:
        return await inbox.mark_read(principal.email, notification_id)

    @post("/read-all", opt=requires(reason=_OWN), status_code=HTTP_200_OK,
          summary="Mark all my notifications read")
    async def mark_all_read(self, inbox: Inbox, principal: Caller) -> inbox_schemas.MarkedRead:
        return await inbox.mark_all_read(principal.email)


class FailedDeliveryController(Controller):
    path = "/notifications"
    tags = ["Notifications"]
    dependencies = _inbox_deps

    @get("/failed", opt=requires(Role.PLATFORM_ADMIN, reason="The platform's operators follow up lost e-mails."),
         summary="E-mails that could not be delivered, or whose delivery is unconfirmed, most recent first")
    async def failed(self, inbox: Inbox, limit: Limit = 50, offset: Offset = 0) -> inbox_schemas.FailedDeliveryPage:
        return await inbox.failed_deliveries(limit=limit, offset=offset)
