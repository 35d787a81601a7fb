"""Public pages: the DPS notices with their documents and categories, the register of admitted vendors, the search of
published needs, a published specific contract's public view (D3, D14a).

Anyone reads them, signed in or not (`public(...)`, as the API routes they mirror), through the same service methods:
`DpsService.list_public` / `.get` and `DpsDocumentService.documents` (`GET /dps`, `/dps/{id}`, `/dps/{id}/documents`:
drafts never, sandboxes never listed), `RegisterService.entries` (`GET /register`: admitted vendors of real DPS only,
public data only), `NeedSearchService.search` (`GET /discovery/needs`: only published needs have a search document,
sandboxes never) and `.published_contract` (the same search row for one contract: anything else is a 404). The
documents' links are the API's own public download route (a redirect to a short-lived link, D3).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream, Template

from marketplace.accounts import schemas as account_schemas
from marketplace.accounts.deps import provide_session_service
from marketplace.accounts.principal import Principal
from marketplace.lib.access import public
from marketplace.lib.database import LAGGING_READS
from marketplace.lib.geography import REGIONS
from marketplace.notifications.inbox import InboxService
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.controllers import _iso_dates
from marketplace.tenders.deps import provide_search_service
from marketplace.tenders.errors import InvalidSearch
from marketplace.tenders.search import NeedSearchService
from marketplace.vendors import schemas
from marketplace.vendors.deps import (
    provide_dps_document_service,
    provide_dps_service,
    provide_optional_principal,
    provide_register_service,
)
from marketplace.vendors.documents import DpsDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.register import VENDORS_MAX, RegisterService
from marketplace.web.contracts import STATUS_LABELS as CONTRACT_STATUS_LABELS
from marketplace.web.needs import SECTOR_LABELS
from marketplace.web.pages import BASE_DEPENDENCIES, PageViewer, Sessions, provide_viewer
from marketplace.web.security import PREFIX
from marketplace.web.tables import ListFilters, csv_download, paris_cell

DPS_BASE = f"{PREFIX}/sad"
REGISTER_BASE = f"{PREFIX}/registre"
SEARCH_BASE = f"{PREFIX}/consultations"
PAGE_SIZES = (25, 50, 100)
SEARCH_SIZES = (20, 50, 100)
# The public DPS a filter offers (the notices are few; the API's page bound).
DPS_CHOICES = 200
DELIVERY_LABELS = {"saas": "logiciel en ligne (SaaS)", "on_premise": "installé sur site", "hosted": "hébergé"}
# Accepted types as the file extensions a reader knows; a type without one is shown as it is.
EXTENSIONS = {
    "application/pdf": ".pdf", "application/zip": ".zip", "application/x-7z-compressed": ".7z",
    "application/x-rar-compressed": ".rar", "image/png": ".png", "image/jpeg": ".jpg",
    "application/msword": ".doc", "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.oasis.opendocument.text": ".odt", "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "text/csv": ".csv", "text/plain": ".txt", "application/xml": ".xml", "application/json": ".json",
}

Dps = NamedDependency[DpsService]
DpsDocuments = NamedDependency[DpsDocumentService]
Register = NamedDependency[RegisterService]
Search = NamedDependency[NeedSearchService]
MaybeViewer = NamedDependency[PageViewer | None]

Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]
Dpsq = Annotated[uuid.UUID | None, QueryParameter(name="dps")]
Categorie = Annotated[uuid.UUID | None, QueryParameter(name="categorie")]
Text = Annotated[str, QueryParameter(name="q", max_length=200)]
# NeedSearchParams' fields → the API's query parameters (tenders/controllers.py PublicSearchController).
SEARCH_PARAMS = {"q": "q", "category_id": "categoryId", "sector": "sector", "delivery_mode": "deliveryMode",
                 "departement": "departement", "region": "region", "cpv": "cpv", "status": "status",
                 "deadline_from": "deadlineFrom", "deadline_to": "deadlineTo", "cursor": "cursor", "limit": "limit"}
SEARCH_MAX_LENGTH = 200  # the API's longest (q, cursor)


async def provide_optional_viewer(request: Request[Any, Any, Any], sessions: Sessions,
                                  inbox: NamedDependency[InboxService]) -> PageViewer | None:
    """The header's user when someone is signed in (as every page's: `provide_viewer`); None for an anonymous
    visitor."""
    principal = provide_optional_principal(request)
    return await provide_viewer(sessions, principal, inbox) if principal is not None else None


_DEPENDENCIES: dict[str, Provide] = {
    "maybe_principal": Provide(provide_optional_principal, sync_to_thread=False),
    "sessions": Provide(provide_session_service, sync_to_thread=False),
    "inbox": BASE_DEPENDENCIES["inbox"],
    "viewer": Provide(provide_optional_viewer),
    "dps_service": Provide(provide_dps_service, sync_to_thread=False),
    "dps_documents": Provide(provide_dps_document_service, sync_to_thread=False),
    "register": Provide(provide_register_service, sync_to_thread=False),
    "search": Provide(provide_search_service, sync_to_thread=False),
    # Every page here shows published notices: an anonymous visitor reads them from the replica (lib/database.py).
    **LAGGING_READS,
}


def _page(template: str, viewer: account_schemas.Me | None, **context: Any) -> Template:
    # base.html shows the signed-in header only when `viewer` is given; an anonymous visitor gets "Se connecter".
    return Template(template, context={**context, **({"viewer": viewer} if viewer is not None else {})})


def megabytes(size: int) -> str:
    """A size in Mo (1 Mo = 1 048 576 octets, as the limits are set), French decimals."""
    value = size / 1024**2
    text = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
    return f"{text} Mo"


def extensions(types: list[str]) -> list[str]:
    return [EXTENSIONS.get(t, t) for t in types]


class RegisterFilters(ListFilters, frozen=True):
    """The register's filters, as they stand in the URL (a link, a reload or the export keeps them)."""

    base: ClassVar[str] = REGISTER_BASE
    dps: uuid.UUID | None = None
    categorie: uuid.UUID | None = None
    q: str = ""
    taille: int = 25
    page: int = 1


REGISTER_HEADER = ("Éditeur", "SIREN", "SAD", "Catégorie", "Logiciel", "Version", "Référencement",
                   "Admis le (heure de Paris)")


def register_rows(items: list[schemas.RegisterEntry], titles: dict[uuid.UUID, str]) -> Iterator[tuple[object, ...]]:
    for e in items:
        yield (e.vendor_name, e.siren, titles.get(e.dps_id, ""), e.category_title, e.software, e.version,
               e.referencing_id, paris_cell(e.admitted_at))


class PublicPagesController(Controller):
    path = PREFIX
    dependencies = _DEPENDENCIES

    @get("/sad", opt=public("The DPS notices are public (drafts and sandboxes are not listed), as GET /dps."),
         name="web.public.dps_list")
    async def dps_list(self, viewer: MaybeViewer, dps_service: Dps, taille: Taille = 25, page: Numero = 1) -> Template:
        found = await dps_service.list_public(taille, (page - 1) * taille)
        return _page("public_pages_dps_list.html", viewer, title="Systèmes d'acquisition dynamiques publiés",
                     active="public-dps", found=found, taille=taille, page=page, sizes=PAGE_SIZES,
                     pages=max(1, -(-found.total // taille)))

    @get("/sad/{dps_id:uuid}", opt=public("Public once published, as GET /dps/{id} and its documents (D3)."),
         name="web.public.dps")
    async def dps_notice(self, dps_id: FromPath[uuid.UUID], viewer: MaybeViewer, dps_service: Dps,
                         dps_documents: DpsDocuments, maybe_principal: NamedDependency[Principal | None]) -> Template:
        notice = await dps_service.get(dps_id, maybe_principal)
        documents = await dps_documents.documents(dps_id, maybe_principal)
        return _page("public_pages_dps.html", viewer, title=f"Avis : {notice.title}", active="public-dps",
                     d=notice, documents=documents, sectors=SECTOR_LABELS, deliveries=DELIVERY_LABELS,
                     megabytes=megabytes, extensions=extensions)

    @get("/registre", opt=public("The register of admitted vendors is public, as GET /register."),
         name="web.public.register")
    async def register_page(self, viewer: MaybeViewer, register: Register, dps_service: Dps, dps_id: Dpsq = None,
                            categorie: Categorie = None, q: Text = "", taille: Taille = 25,
                            page: Numero = 1) -> Template:
        filters = RegisterFilters(dps=dps_id, categorie=categorie, q=q, taille=taille, page=page)
        found = await register.entries(dps_id=dps_id, category_id=categorie, siren=None, search=q, limit=taille,
                                       offset=(page - 1) * taille)
        choices = (await dps_service.list_public(DPS_CHOICES, 0)).items
        return _page("public_pages_register.html", viewer, title="Registre des éditeurs admis",
                     active="public-register", found=found, filters=filters, dps_list=choices,
                     titles={d.id: d.title for d in choices},
                     categories=[(d, c) for d in choices for c in d.categories if dps_id in (None, d.id)],
                     sizes=PAGE_SIZES, pages=max(1, -(-found.total // taille)))

    @get("/registre/export.csv", opt=public("The register of admitted vendors is public, as GET /register."),
         name="web.public.register_export")
    async def register_export(self, register: Register, dps_service: Dps, dps_id: Dpsq = None,
                              categorie: Categorie = None, q: Text = "") -> Stream:
        found = await register.entries(dps_id=dps_id, category_id=categorie, siren=None, search=q,
                                       limit=VENDORS_MAX, offset=0)
        titles = {d.id: d.title for d in (await dps_service.list_public(DPS_CHOICES, 0)).items}
        return csv_download("registre-public.csv", REGISTER_HEADER, register_rows(found.items, titles))

    @get("/consultations", opt=public("Published needs are public notices, as GET /discovery/needs."),
         name="web.public.search")
    # The query string as the API takes it (its names), so a search URL reads the same on both doors; a form sends
    # every field, the empty ones as "": those are "no filter", then each value is read as the API's type.
    async def search_page(self, request: Request[Any, Any, Any], viewer: MaybeViewer, search: Search,
                          dps_service: Dps) -> Template:
        _iso_dates(request, "deadlineFrom", "deadlineTo")
        given: dict[str, str] = {name: value for name, wire in SEARCH_PARAMS.items()
                                 if (value := request.query_params.get(wire))}
        try:
            params = msgspec.convert(given, tender_schemas.NeedSearchParams, strict=False)
        except msgspec.ValidationError as exc:
            field = str(exc).rsplit("$.", 1)[-1].rstrip("`")
            wire = SEARCH_PARAMS.get(field, field)
            raise InvalidSearch(f"{wire}: {str(exc).split(' - at', 1)[0]}", field=wire) from exc
        for name, value in given.items():
            if len(value) > SEARCH_MAX_LENGTH:
                raise InvalidSearch(f"{SEARCH_PARAMS[name]}: {SEARCH_MAX_LENGTH} characters at most",
                                    field=SEARCH_PARAMS[name])
        if not 1 <= params.limit <= max(SEARCH_SIZES):
            raise InvalidSearch(f"limit: between 1 and {max(SEARCH_SIZES)}", field="limit")
        found = await search.search(params)
        cursor = params.cursor
        kept = {k: v for k, v in request.query_params.items() if k != "cursor" and v not in ("",)}
        choices = (await dps_service.list_public(DPS_CHOICES, 0)).items
        return _page("public_pages_search.html", viewer, title="Consultations publiées", active="public-search",
                     found=found, params=kept, first=f"{SEARCH_BASE}?{urlencode(kept)}" if kept else SEARCH_BASE,
                     next=(f"{SEARCH_BASE}?{urlencode({**kept, 'cursor': found.next_cursor})}"
                           if found.next_cursor else None),
                     paged=cursor is not None, categories=[(d, c) for d in choices for c in d.categories],
                     sectors=SECTOR_LABELS, deliveries=DELIVERY_LABELS, statuses=CONTRACT_STATUS_LABELS,
                     regions={code: name for code, (name, _) in REGIONS.items()}, sizes=SEARCH_SIZES)

    @get("/consultations/{contract_id:uuid}",
         opt=public("A published specific contract as the discovery search shows it, with its deposit limits "
                    "(D14a); anything unpublished is a 404."), name="web.public.contract")
    async def contract(self, contract_id: FromPath[uuid.UUID], viewer: MaybeViewer, search: Search) -> Template:
        need = await search.published_contract(contract_id)
        return _page("public_pages_contract.html", viewer, title=need.title, active="public-search", n=need,
                     sectors=SECTOR_LABELS, deliveries=DELIVERY_LABELS, statuses=CONTRACT_STATUS_LABELS,
                     region_names=[REGIONS[r][0] for r in need.regions if r in REGIONS], megabytes=megabytes,
                     extensions=extensions)


CONTROLLERS: list[type[Controller]] = [PublicPagesController]
