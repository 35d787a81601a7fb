from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.settings import Settings
from marketplace.support.requests import SupportService


def provide_support_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            settings: NamedDependency[Settings]) -> SupportService:
    return SupportService(db_session, clock, settings)
