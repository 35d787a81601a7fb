from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.lib.clock import Clock
from marketplace.vendors.services import DpsService
from storage import ObjectStore


def provide_dps_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                        store: NamedDependency[ObjectStore]) -> DpsService:
    return DpsService(db_session, clock, store)


def provide_optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """Public routes still see who calls (a buyer sees its own drafts)."""
    principal = request.scope.get("user")
    return principal if isinstance(principal, Principal) else None
