"""The one guard every route passes: it enforces the route's declared audience (`opt["access"]`)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from marketplace.accounts.errors import CredentialRefused
from marketplace.accounts.principal import Claim, Principal
from marketplace.errors import Forbidden
from marketplace.lib.access import ACCESS_KEY, FRAMEWORK_PREFIXES, Access


# A coroutine on purpose: Litestar runs a plain function guard in a worker thread (`sync_to_thread`), a thread
# hop and two event-loop wake-ups on every request for what is a few dictionary lookups.
async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    access = handler.opt.get(ACCESS_KEY)
    if access is None:
        if connection.url.path.startswith(FRAMEWORK_PREFIXES):
            return
        # Fail closed: an undeclared route is refused (and the inventory test names it).
        raise PermissionDeniedException("This route declares no audience.")
    assert isinstance(access, Access)
    if access.audience == "public":
        return
    principal = connection.scope.get("user")
    if isinstance(principal, Claim) and access.caller_in_statement:
        return  # the handler reads the caller, then calls check_access before using anything it read
    check_access(principal, access)


def check_access(principal: object, access: Access) -> None:
    """The route's declared audience, applied to who calls: 401 without a principal, 403 without a role. Used by
    the guard, and by a handler that reads its caller itself (`Claim`) before it uses anything it read."""
    if not isinstance(principal, Principal):
        raise CredentialRefused("Authentication required.")
    if access.roles and not principal.has_any(access.roles):
        raise Forbidden("Your roles do not allow this.")
