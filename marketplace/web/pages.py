"""What every back-office page shares: its dependencies (the caller, the header's viewer), the one-shot messages
shown after an act (kept in the server-side session), and the answer to an act.

An act is a plain HTML form posted to the page (no JavaScript needed): the controller calls the same service
method as the API, then redirects to the page it came from with a message (Post/Redirect/Get, so a reload never
repeats it). A refusal by a rule (a `DomainError`) is the error page with the rule's status, its id and the field
it names (web/errors.py): the same refusal the API answers as problem+json, nothing decided in the page.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect

from marketplace.accounts import schemas as account_schemas
from marketplace.accounts.deps import provide_principal, provide_session_service
from marketplace.accounts.principal import Principal
from marketplace.accounts.sessions import SessionService
from marketplace.notifications.deps import provide_inbox_service
from marketplace.notifications.inbox import InboxService


class PageViewer(account_schemas.Me):
    """The header's user (`GET /auth/me`) and how many of their notifications are unread (`GET
    /my/notifications/unread-count`), shown beside their name on every page."""

    unread: int | None = 0  # None: not counted (an error page, which reads nothing: see `viewer_of`)


def viewer_of(principal: Principal) -> PageViewer:
    """The header of a page rendered without reading the database (the error page: exception handlers are
    synchronous): the person's address and their organisations' kinds from their roles, which is what the
    navigation needs; no names, no unread count."""
    return PageViewer(
        id=principal.user_id, email=principal.email, full_name=None, api_key_id=None, unread=None,
        memberships=[account_schemas.MembershipView(organisation_id=org_id, organisation_name="",
                                                    kind=next(iter(roles)).kind, roles=sorted(roles))
                     for org_id, roles in principal.roles_by_organisation.items() if roles])


Sessions = NamedDependency[SessionService]
Caller = NamedDependency[Principal]
Viewer = NamedDependency[PageViewer]

_MESSAGES = "messages"

# The navigation, by the kinds of organisation the viewer belongs to (words and places only: each page still
# declares and checks who may call it). (key, path, label, kinds); an empty kinds tuple is for everyone.
_B, _H, _V, _F, _P = "buyer", "holder", "vendor", "funder", "platform"
NAVIGATION = (
    ("queue", "/app/", "File de travail", (_B, _H, _F, _P)),
    ("admissions", "/app/admissions", "Admissions", (_B,)),
    ("needs", "/app/besoins", "Besoins", (_B, _H)),
    ("my-needs", "/app/mes-besoins", "Mes besoins", (_H,)),
    ("contracts", "/app/marches", "Marchés spécifiques", (_B, _H)),
    ("vendors", "/app/editeurs", "Éditeurs", (_B,)),
    ("applications", "/app/candidatures", "Candidatures", (_V,)),
    ("invitations", "/app/invitations", "Consultations et offres", (_V,)),
    ("funding", "/app/financements", "Financements", (_F,)),
    ("sons", "/app/sons", "SONS", (_F, _P, _H, _V)),
    ("solutions", "/app/solutions", "Solutions Ségur", (_V,)),
    ("notifications", "/app/notifications", "Notifications", ()),
    ("accounts", "/app/organisations", "Organisations", ()),
    ("audit", "/app/journal", "Journal d'audit", (_B, _H, _V, _F, _P)),
)


async def provide_viewer(sessions: Sessions, principal: Caller,
                         inbox: NamedDependency[InboxService]) -> PageViewer:
    """The header's user and organisations, through the same method as `GET /auth/me`, and their unread count
    through the same as `GET /my/notifications/unread-count`: one indexed count per page
    (`ix_notification_unread`)."""
    me = await sessions.me(principal)
    # A page's caller is a person (signed in through the form); an API key has no inbox, and no page session.
    unread = (await inbox.unread_count(principal.email)).unread if principal.email else 0
    return PageViewer(**msgspec.structs.asdict(me), unread=unread)


# Every page controller starts from these; add the services it calls beside them.
BASE_DEPENDENCIES: dict[str, Provide] = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "sessions": Provide(provide_session_service, sync_to_thread=False),
    "inbox": Provide(provide_inbox_service, sync_to_thread=False),
    "viewer": Provide(provide_viewer),
}


def navigation(viewer: account_schemas.Me | None) -> list[tuple[str, str, str]]:
    """The main navigation's links for this viewer: (key, path, label)."""
    kinds = {str(m.kind) for m in viewer.memberships} if viewer else set()
    # The audit log is read by organisations' admins and operators only (accounts/audit_log.py).
    admin = any(str(r).endswith(":admin") for m in (viewer.memberships if viewer else []) for r in m.roles)
    return [(key, path, label) for key, path, label, only in NAVIGATION
            if (not only or kinds & set(only)) and (key != "audit" or admin)]


def flash(request: Request[Any, Any, Any], message: str) -> None:
    """A message for the next page this session shows (after the redirect of an act)."""
    session = request.scope.get("session")
    if isinstance(session, dict):
        session.setdefault(_MESSAGES, []).append(message)


def take_messages(request: Request[Any, Any, Any]) -> list[str]:
    session = request.scope.get("session")
    if not isinstance(session, dict):
        return []
    messages = session.pop(_MESSAGES, [])
    return [m for m in messages if isinstance(m, str)]


def done(request: Request[Any, Any, Any], target: str, message: str) -> Redirect:
    """The answer to an act that went through: back to `target` (a back-office path), with `message` shown."""
    flash(request, message)
    return Redirect(target, status_code=303)
