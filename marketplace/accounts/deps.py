from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.services import AccountsService
from marketplace.lib.clock import Clock
from marketplace.settings import Settings


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        # The guard lets anonymous callers through only on public routes, which don't ask for this.
        raise NotAuthorizedException("Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    return principal


def provide_accounts_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                             settings: NamedDependency[Settings]) -> AccountsService:
    return AccountsService(db_session, clock, settings)
