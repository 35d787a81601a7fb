"""Who is browsing: the principal of the back-office's cookie session.

The login is `SessionService.login`, the very method behind `POST /auth/login` (same per-account throttle,
same audit events); its refresh token is kept in the server-side session and names the session's family.
Each request re-reads the principal through that token (`resolve_session_principal`), so a logout (here or
through the API's family), a deactivated user or a revoked family ends the session at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Empty

from marketplace.accounts.auth import resolve_session_principal
from marketplace.lib.clock import Clock
from marketplace.web.security import MAX_LIFETIME, ROTATE_KEY

_TOKEN = "refresh_token"  # noqa: S105 - the session key it is kept under, not a secret
_STARTED = "started_at"


def open_session(connection: ASGIConnection[Any, Any, Any, Any], refresh_token: str, clock: Clock) -> None:
    """After a successful login: a new session (under a new id) holding the family's refresh token."""
    connection.scope.setdefault("state", {})[ROTATE_KEY] = True
    connection.set_session({_TOKEN: refresh_token, _STARTED: clock.now().isoformat()})


def session_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    session = connection.scope.get("session")
    token = session.get(_TOKEN) if isinstance(session, dict) else None
    return token if isinstance(token, str) else None


class SessionAuthMiddleware(AbstractAuthenticationMiddleware):
    """Pages authenticate by their cookie session only (a bearer header is ignored here: the API's door)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = session_token(connection)
        if token is None:
            return AuthenticationResult(user=None, auth=None)
        state = connection.app.state
        now = state.clock.now()
        started = connection.scope["session"].get(_STARTED)  # type: ignore[union-attr]
        fresh = isinstance(started, str) and (now - datetime.fromisoformat(started)).total_seconds() < MAX_LIFETIME
        principal = await resolve_session_principal(state.statements, token, now) if fresh else None
        if principal is None:
            # Expired, logged out elsewhere, deactivated: the session is dropped (cookie and Redis entry).
            connection.scope["session"] = Empty
            return AuthenticationResult(user=None, auth=None)
        return AuthenticationResult(user=principal, auth=token)
