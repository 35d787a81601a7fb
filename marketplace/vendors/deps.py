from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.lib.clock import Clock
from marketplace.vendors.services import DpsService
from storage import ObjectStore


def provide_dps_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                        store: NamedDependency[ObjectStore],
                        side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> DpsService:
    return DpsService(db_session, clock, store, side_sessions)


def provide_optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """Public routes still see who calls (a buyer sees its own drafts)."""
    principal = request.scope.get("user")
    return principal if isinstance(principal, Principal) else None
