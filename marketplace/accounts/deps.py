from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.api_keys import ApiKeyService
from marketplace.accounts.audit_log import AuditLogService
from marketplace.accounts.memberships import MembershipService
from marketplace.accounts.organisations import OrganisationService
from marketplace.accounts.principal import Claim, Principal
from marketplace.accounts.sessions import SessionService
from marketplace.lib.access import ACCESS_KEY, Access
from marketplace.lib.clock import Clock
from marketplace.settings import Settings


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        # The guard lets anonymous callers through only on public routes, which don't ask for this.
        raise NotAuthorizedException("Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    return principal


def provide_caller(request: Request[Any, Any, Any]) -> Principal | Claim:
    """Who calls, on a route that reads its caller in its own statement (`requires(..., caller_in_statement=True)`):
    a token's claim, not read yet, or the principal of an API key or a web session, read already."""
    caller = request.scope.get("user")
    if not isinstance(caller, (Principal, Claim)):
        raise NotAuthorizedException("Authentication required.", headers={"WWW-Authenticate": "Bearer"})
    return caller


def provide_access(request: Request[Any, Any, Any]) -> Access:
    """The route's own declared audience (`opt["access"]`), for a handler that applies it itself."""
    access = request.route_handler.opt[ACCESS_KEY]
    assert isinstance(access, Access)  # every route declares one (the guard refuses any that doesn't)
    return access


def provide_session_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            settings: NamedDependency[Settings]) -> SessionService:
    return SessionService(db_session, clock, settings)


def provide_organisation_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                                 settings: NamedDependency[Settings]) -> OrganisationService:
    return OrganisationService(db_session, clock, settings)


def provide_membership_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                           settings: NamedDependency[Settings]) -> MembershipService:
    return MembershipService(db_session, clock, settings)


def provide_api_key_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            settings: NamedDependency[Settings]) -> ApiKeyService:
    return ApiKeyService(db_session, clock, settings)


def provide_audit_log_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                              settings: NamedDependency[Settings]) -> AuditLogService:
    return AuditLogService(db_session, clock, settings)
