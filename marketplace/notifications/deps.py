from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.notifications.inbox import InboxService


def provide_inbox_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> InboxService:
    return InboxService(db_session, clock)
