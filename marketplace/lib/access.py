"""Who may call a route: every handler declares it, and the route inventory test enforces that.

A handler states its audience in `opt={"access": ...}` (use the `public()` / `requires()` helpers);
guards (added with accounts) read the same declaration, so what the inventory lists is what runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPI

ACCESS_KEY = "access"


@dataclass(frozen=True, slots=True)
class Access:
    """`audience` is "public" (anyone, anonymous included) or "authenticated"; `roles` narrows it."""

    audience: str
    roles: tuple[str, ...] = ()
    reason: str = ""
    # The handler reads the caller in its own statement and applies this declaration itself (accounts/
    # principal.py `Claim`); the guard and the authentication middleware leave a signed-in token to it.
    caller_in_statement: bool = False

    def describe(self) -> str:
        if self.audience == "public":
            return "Public: anyone, without authentication." + (f" {self.reason}" if self.reason else "")
        who = ", ".join(self.roles) if self.roles else "any authenticated user"
        return f"Requires: {who}." + (f" {self.reason}" if self.reason else "")


def public(reason: str = "") -> dict[str, Any]:
    return {ACCESS_KEY: Access("public", reason=reason)}


def requires(*roles: str, reason: str = "", caller_in_statement: bool = False) -> dict[str, Any]:
    """Audiences may overlap (a holder's admin is of the holder's members and of a buying side): each role once."""
    return {ACCESS_KEY: Access("authenticated", roles=tuple(dict.fromkeys(roles)), reason=reason,
                               caller_in_statement=caller_in_statement)}


# Routes the framework itself mounts (the OpenAPI documents and their viewers): public by design.
FRAMEWORK_PREFIXES = ("/schema",)


def route_inventory(app: Litestar) -> list[tuple[str, str, Access | None]]:
    """(method, path, declared access) for every HTTP route of the app."""
    rows: list[tuple[str, str, Access | None]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            access = handler.opt.get(ACCESS_KEY)
            if access is None and route.path.startswith(FRAMEWORK_PREFIXES):
                access = Access("public", reason="OpenAPI document.")
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"} and access is None:
                    # Litestar adds these automatically beside declared handlers.
                    continue
                rows.append((method, route.path, access if isinstance(access, Access) else None))
    return rows


def unclassified_routes(app: Litestar) -> list[str]:
    return [f"{method} {path}" for method, path, access in route_inventory(app) if access is None]


def publish_access(app: Litestar, schema: OpenAPI) -> None:
    """Write each route's declaration into its OpenAPI description, so API users read who may call it."""
    for method, path, access in route_inventory(app):
        if access is None or path.startswith(FRAMEWORK_PREFIXES):
            continue
        item = (schema.paths or {}).get(re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path))
        operation = getattr(item, method.lower(), None) if item is not None else None
        if operation is not None and "**Access.**" not in (operation.description or ""):
            operation.description = f"{operation.description or ''}\n\n**Access.** {access.describe()}".strip()
