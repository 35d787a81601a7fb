"""Everyone's inbox: notifications with unread counts.

The same service methods as `GET /my/notifications`, `POST /my/notifications/{id}/read` and
`POST /my/notifications/read-all` (notifications/inbox.py, behind accounts/controllers.py), under the same
declaration: anyone signed in reads and marks their own notifications; someone else's is a 404 (the service
says so). The filter (all / unread) and the page live in the URL; the acts are plain forms that come back to the
same filter and page. The header's unread count is web/pages.py's `provide_viewer`.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template

from marketplace.lib.access import requires
from marketplace.notifications.inbox import InboxService
from marketplace.notifications.schemas import InboxNotification
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, PageViewer, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/notifications"
Inbox = NamedDependency[InboxService]
_OWN = "Any person signed in: their own notifications only, as GET /my/notifications."
PAGE_SIZES = (25, 50, 100)


class Filtre(enum.StrEnum):
    ALL = "toutes"
    UNREAD = "non-lues"


FiltreParam = Annotated[Filtre, QueryParameter(name="filtre")]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


class Back(msgspec.Struct):
    """Where an act comes back to: the list as the reader left it (the same bounds as the page's parameters)."""

    filtre: Filtre = Filtre.ALL
    taille: Annotated[int, msgspec.Meta(ge=1, le=max(PAGE_SIZES))] = PAGE_SIZES[0]
    page: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1

    def link(self, **more: object) -> str:
        values: dict[str, object] = {"filtre": self.filtre.value, "taille": self.taille, "page": self.page, **more}
        defaults = {"filtre": Filtre.ALL.value, "taille": PAGE_SIZES[0], "page": 1}
        query = urlencode({k: v for k, v in values.items() if v is not None and defaults.get(k) != v})
        return f"{BASE}?{query}" if query else BASE


Form = Annotated[Back, Body(media_type=RequestEncodingType.URL_ENCODED)]

# Where a notification's object is read, by what it is about (its kind names the object: `tender.*` is about a
# specific contract, `admission.*` about an admission request, `funding.*` about a funded need), for the first of
# the reader's kinds of organisation that has a page for it. Words and places only: the page reached still checks
# who may read it. Kinds not listed here link nowhere.
_CONTRACT_KINDS = ("tender.", "tenders.", "evaluation.committee_invitation", "award.awarded", "award.rejection_notice")
_MARCHE = ("/app/marches/{id}", "Voir le marché spécifique")
_LINKS: dict[str, tuple[tuple[str, tuple[str, str]], ...]] = {
    "contract": (("buyer", _MARCHE), ("holder", _MARCHE), ("vendor", ("/app/offres/{id}", "Voir la consultation"))),
    "admission": (("buyer", ("/app/admissions/{id}", "Voir la demande d'admission")),
                  ("vendor", ("/app/candidatures", "Voir vos candidatures"))),
    "need": (("holder", ("/app/mes-besoins/{id}", "Voir le besoin")),
             ("funder", ("/app/financements", "Voir les appels à projets"))),
}


def _about(kind: str) -> str | None:
    if kind.startswith(_CONTRACT_KINDS):
        return "contract"
    if kind.startswith("admission."):
        return "admission"
    if kind.startswith("funding."):
        return "need"
    return None


def object_link(item: InboxNotification, viewer: PageViewer) -> tuple[str, str] | None:
    """(href, label) of the page of what `item` is about, for this viewer's side, or None."""
    about = _about(item.kind)
    if about is None or item.about_id is None:
        return None
    kinds = {str(m.kind) for m in viewer.memberships}
    for side, (href, label) in _LINKS[about]:
        if side in kinds:
            return href.format(id=item.about_id), label
    return None


class InboxPagesController(Controller):
    path = BASE
    dependencies = BASE_DEPENDENCIES

    @get("/", opt=requires(reason=_OWN), name="web.inbox.list")
    async def index(self, principal: Caller, viewer: Viewer, inbox: Inbox, filtre: FiltreParam = Filtre.ALL,
                    taille: Taille = PAGE_SIZES[0], page: Numero = 1) -> Template:
        back = Back(filtre=filtre, taille=taille, page=page)
        found = await inbox.list(principal.email, limit=taille, offset=(page - 1) * taille,
                                 unread_only=filtre is Filtre.UNREAD)
        return Template("inbox_list.html", context={
            "viewer": viewer, "title": "Notifications", "active": "notifications", "found": found, "back": back,
            "pages": max(1, -(-found.total // taille)), "sizes": PAGE_SIZES, "filtres": Filtre,
            "links": {item.id: object_link(item, viewer) for item in found.items}})

    @post("/{notification_id:uuid}/lue", opt=requires(reason=_OWN + " Someone else's is a 404."),
          name="web.inbox.read", status_code=303)
    async def read(self, request: Request[Any, Any, Any], notification_id: FromPath[uuid.UUID], principal: Caller,
                   inbox: Inbox, data: Form) -> Redirect:
        await inbox.mark_read(principal.email, notification_id)
        return done(request, data.link(), "Notification marquée comme lue.")

    @post("/lues", opt=requires(reason=_OWN), name="web.inbox.read_all", status_code=303)
    async def read_all(self, request: Request[Any, Any, Any], principal: Caller, inbox: Inbox,
                       data: Form) -> Redirect:
        marked = await inbox.mark_all_read(principal.email)
        return done(request, data.link(page=1),
                    f"{marked.marked} notification(s) marquée(s) comme lue(s)." if marked.marked
                    else "Aucune notification non lue.")


CONTROLLERS: list[type[Controller]] = [InboxPagesController]
