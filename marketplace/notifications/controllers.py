"""The inbox of the authenticated person, and the operators' list of failed deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.lib.access import requires
from marketplace.lib.clock import Clock
from marketplace.notifications import schemas
from marketplace.notifications.inbox import InboxService

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200)]
Offset = Annotated[int, QueryParameter(name="offset", ge=0, le=1_000_000)]
Caller = NamedDependency[Principal]
Inbox = NamedDependency[InboxService]


def provide_inbox_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> InboxService:
    return InboxService(db_session, clock)


_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
         "inbox": Provide(provide_inbox_service, sync_to_thread=False)}
_OWN = "Any person signed in: their own notifications only (an API key has no inbox: 403)."


class InboxController(Controller):
    path = "/my/notifications"
    tags = ["Notifications"]
    dependencies = _deps

    @get("/", opt=requires(reason=_OWN), summary="My notifications, newest first, with their delivery status")
    async def list_mine(self, inbox: Inbox, principal: Caller, limit: Limit = 50, offset: Offset = 0,
                        unread: Annotated[bool, QueryParameter(name="unread")] = False) -> schemas.InboxPage:
        return await inbox.list(principal, limit=limit, offset=offset, unread_only=unread)

    @get("/unread-count", opt=requires(reason=_OWN), summary="How many of my notifications are unread")
    async def unread_count(self, inbox: Inbox, principal: Caller) -> schemas.UnreadCount:
        return await inbox.unread_count(principal)

    @post("/{notification_id:uuid}/read", opt=requires(reason=_OWN + " Someone else's is a 404."),
          status_code=HTTP_200_OK, summary="Mark one of my notifications read")
    async def mark_read(self, notification_id: FromPath[uuid.UUID], inbox: Inbox,
                        principal: Caller) -> schemas.InboxNotification:
        return await inbox.mark_read(principal, notification_id)

    @post("/read-all", opt=requires(reason=_OWN), status_code=HTTP_200_OK,
          summary="Mark all my notifications read")
    async def mark_all_read(self, inbox: Inbox, principal: Caller) -> schemas.MarkedRead:
        return await inbox.mark_all_read(principal)


class FailedDeliveryController(Controller):
    path = "/notifications"
    tags = ["Notifications"]
    dependencies = _deps

    @get("/failed", opt=requires(Role.PLATFORM_ADMIN, reason="The platform's operators follow up lost e-mails."),
         summary="E-mails that could not be delivered, most recent failure first")
    async def failed(self, inbox: Inbox, limit: Limit = 50, offset: Offset = 0) -> schemas.FailedDeliveryPage:
        return await inbox.failed_deliveries(limit=limit, offset=offset)
