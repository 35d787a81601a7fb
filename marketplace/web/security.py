"""The back-office's browser-facing protections: cookie session in Redis, CSRF, and the security headers.

- The session is server-side (Redis, through Litestar's `ServerSideSessionConfig`): the cookie carries a random
  id only; the refresh token of the family the login opened stays in Redis (web/auth.py). It is `HttpOnly`,
  `SameSite=Lax`, limited to `/app`, and `Secure` unless `web_cookie_secure` is off (`marketplace dev` only,
  plain HTTP on 127.0.0.1: settings.py). It expires after IDLE_TIMEOUT without a request, and after
  MAX_LIFETIME whatever happens (web/auth.py); its id changes at login (no session fixation).
- CSRF (Litestar's double-submit token) guards every unsafe method of the pages. It is mounted on the pages'
  router only: the JSON API authenticates with bearer tokens, which a browser never sends by itself, so it
  needs none and its clients are unaffected.
- Every answer under `/app` carries a strict Content-Security-Policy (scripts and styles from the app itself:
  no inline script, no CDN, no eval), and the headers that keep it out of frames and caches.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, Scope

from marketplace.settings import Settings

PREFIX = "/app"
SESSION_COOKIE = "marketplace_session"
CSRF_COOKIE = "marketplace_csrf"
CSRF_HEADER = "x-csrftoken"
SESSION_STORE = "web_sessions"
IDLE_TIMEOUT = 30 * 60  # seconds without a request before the session ends (Redis expires it)
MAX_LIFETIME = 12 * 3600  # seconds from the login on, whatever the activity: a working day, then log in again

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# Set on the login exchange so that the session gets a new id (web/auth.py).
ROTATE_KEY = "marketplace.web.rotate_session"


def _derived(settings: Settings, purpose: str) -> str:
    """A key of its own for each use, derived from the one secret (the JWT key never signs CSRF tokens)."""
    return hmac.new(settings.secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend, except that a login drops the session id the browser came with and
    writes the session under a new one: an id planted before the login (session fixation) is worth nothing."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state = connection.scope.setdefault("state", {})
        if state.get(ROTATE_KEY):
            new_id = state.get(f"{ROTATE_KEY}.id")
            if not isinstance(new_id, str):
                new_id = state[f"{ROTATE_KEY}.id"] = self.generate_session_id()
            return new_id
        return super().get_session_id(connection)

    async def store_in_message(self, scope_session: Any, message: Message,
                               connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        old_id = connection.cookies.get(self.config.key)
        if not scope_session and scope_session is not Empty:
            # Nothing to keep (an anonymous visit, a failed login): no Redis entry and no cookie for it, so
            # that anonymous traffic can't fill the store; a cookie that came is dropped.
            if not old_id:
                return
            scope_session = Empty
        if connection.scope.get("state", {}).get(ROTATE_KEY) and old_id:
            await self.delete(old_id, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_config(settings: Settings) -> RotatingSessionConfig:
    return RotatingSessionConfig(
        key=SESSION_COOKIE, store=SESSION_STORE, path=PREFIX, secure=settings.web_cookie_secure, httponly=True,
        samesite="lax", max_age=IDLE_TIMEOUT, renew_on_access=True)


def csrf_config(settings: Settings) -> CSRFConfig:
    # The token reaches the page in the HTML (a hidden field, and `hx-headers` on <body> for htmx), so the
    # cookie needs no script access: HttpOnly.
    return CSRFConfig(secret=_derived(settings, "marketplace.web.csrf"), cookie_name=CSRF_COOKIE, cookie_path=PREFIX,
                      header_name=CSRF_HEADER, cookie_secure=settings.web_cookie_secure, cookie_httponly=True,
                      cookie_samesite="lax")


def _store_origin(scope: Scope) -> str:
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    endpoint = urlsplit(getattr(settings, "s3_endpoint", "") or "")
    return f"{endpoint.scheme}://{endpoint.netloc}" if endpoint.scheme in ("http", "https") and endpoint.netloc \
        else ""


async def security_headers(message: Message, scope: Scope) -> None:
    """App-wide `before_send` hook: it sees every answer, error pages raised by middleware included, and adds
    the headers to those under /app. HTML is never cached (it shows one user's work); assets may be."""
    path = scope.get("path", "")
    if message["type"] != "http.response.start" or not (path == PREFIX or path.startswith(f"{PREFIX}/")):
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    # The offer workspace's presigned uploads PUT a file straight to the object store (web/offers.py): its origin
    # is the one other place a page's script may connect to.
    s3 = _store_origin(scope)
    if s3:
        headers["content-security-policy"] = CONTENT_SECURITY_POLICY.replace(
            "connect-src 'self'", f"connect-src 'self' {s3}")
    if headers.get("content-type", "").startswith("text/html"):
        headers["cache-control"] = "no-store"
