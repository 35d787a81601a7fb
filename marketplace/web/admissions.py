"""Admissions: the requests awaiting a decision on the DPS the caller runs, and the decision (D6).

The list, the file and the acts call the services the API's routes call (vendors/controllers.py): the list is
`AdmissionService.for_buyer` (scoped to the DPS of the caller's buying organisations, like the admission queue;
filtered, sorted and paged in SQL), the file `AdmissionService.file_for_buyer`, and each act the same
`DecisionService` method as its API route, which checks the transition, the D4/D6 clock and audits it.
Who may call: DPS_WRITERS (the buying organisation's admins and evaluators), as every API admission-decision route.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.roles import DPS_WRITERS
from marketplace.errors import RuleViolation
from marketplace.lib.access import requires
from marketplace.vendors import schemas
from marketplace.vendors.admissions import LIST_MAX, LIST_SORTS, LIST_VIEWS, AdmissionService
from marketplace.vendors.decisions import DecisionService
from marketplace.vendors.deps import (
    provide_admission_document_service,
    provide_admission_service,
    provide_decision_service,
    provide_dps_service,
)
from marketplace.vendors.documents import AdmissionDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.states import ADMISSION_TRANSITIONS, EVALUATION_STATES, AdmissionStatus
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import ListFilters, csv_download, paris_cell

BASE = f"{PREFIX}/admissions"
PAGE_SIZES = (25, 50, 100)
_BUYERS = "The DPS's buying organisation (admins and evaluators), as the API's admission routes."

# The request's states as a French reader names them (words, never colour alone).
STATUS_LABELS = {
    "draft": "brouillon", "under_evaluation": "en cours d'évaluation", "awaiting_documents": "pièces demandées",
    "admitted": "admis", "rejected": "rejetée", "suspended": "suspendu", "excluded": "exclu",
    "withdrawn": "retirée", "closed": "close"}
VIEW_LABELS = {"awaiting": "À décider", "decided": "Décidées", "all": "Toutes",
               **{s: STATUS_LABELS[s] for s in LIST_VIEWS if s in STATUS_LABELS}}
SORT_LABELS = {"vendor": "Éditeur", "category": "Catégorie", "dps": "SAD", "received": "Reçue le",
               "due": "Échéance (D6)", "status": "Statut"}
assert SORT_LABELS.keys() == LIST_SORTS.keys()

Admissions = NamedDependency[AdmissionService]
Decisions = NamedDependency[DecisionService]
Documents = NamedDependency[AdmissionDocumentService]
Dps = NamedDependency[DpsService]
Form = RequestEncodingType.URL_ENCODED


class ReasonsForm(msgspec.Struct):
    reasons: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class MessageForm(msgspec.Struct):
    message: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


def _decoded(struct: type[msgspec.Struct], field: str, value: str, rule: str) -> Any:
    """The API's body for an act (schemas.Reasons, schemas.DocumentsRequest), decoded with the API's own
    constraints: a blank text is refused by name (field and rule), as the API refuses it, never sent on."""
    try:
        return msgspec.convert({field: value.strip()}, struct)
    except msgspec.ValidationError as exc:
        raise RuleViolation(f"{field}: required, 1 to 20,000 characters ({exc})", field=field, rule=rule) from exc


class Filters(ListFilters, frozen=True):
    """The list's filters, as they stand in the URL (so a link, a reload or the export keeps them)."""

    base: ClassVar[str] = BASE
    dps: uuid.UUID | None = None
    statut: str = "awaiting"
    q: str = ""
    tri: str = "due"
    ordre: str = "asc"
    taille: int = 25
    page: int = 1


Dpsq = Annotated[uuid.UUID | None, QueryParameter(name="dps")]
Statut = Annotated[str, QueryParameter(name="statut", max_length=40)]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Tri = Annotated[str, QueryParameter(name="tri", max_length=20)]
Ordre = Annotated[str, QueryParameter(name="ordre", pattern="^(asc|desc)$")]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


CSV_HEADER = ("Identifiant", "Éditeur", "SIRET", "SAD", "Catégorie", "Statut", "Reçue le (heure de Paris)",
              "Échéance D6 (heure de Paris)", "En retard", "Délai prolongé", "Décidée le (heure de Paris)")


def csv_rows(items: list[schemas.AdmissionListItem]) -> Iterator[tuple[object, ...]]:
    for item in items:
        yield (str(item.id), item.vendor_name, item.vendor_siret, item.dps_title, item.category_title,
               STATUS_LABELS[item.status.value], paris_cell(item.received_at), paris_cell(item.due_at),
               item.overdue, item.extended, paris_cell(item.decided_at))


def _acts(file: schemas.AdmissionFile) -> dict[str, bool]:
    """Which act forms the file offers: read from the transition table (vendors/states.py), so a form is never
    shown for a move the state machine forbids; the service still decides (the clock, the documents)."""
    status = file.request.status
    moves = ADMISSION_TRANSITIONS[status]
    deciding = status in EVALUATION_STATES
    return {"admit": deciding and AdmissionStatus.ADMITTED in moves,
            "reject": deciding and AdmissionStatus.REJECTED in moves,
            "documents": deciding and AdmissionStatus.AWAITING_DOCUMENTS in moves,
            "extend": deciding and not file.request.extension_reason,
            "declaration": status in (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)}


class AdmissionPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "admissions": Provide(provide_admission_service, sync_to_thread=False),
                    "decisions": Provide(provide_decision_service, sync_to_thread=False),
                    "admission_documents": Provide(provide_admission_document_service, sync_to_thread=False),
                    "dps_service": Provide(provide_dps_service, sync_to_thread=False)}

    @get("/", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.admissions.list")
    async def index(self, principal: Caller, viewer: Viewer, admissions: Admissions, dps_service: Dps,
                   dps: Dpsq = None, statut: Statut = "awaiting", q: Search = "", tri: Tri = "due",
                   ordre: Ordre = "asc", taille: Taille = 25, page: Numero = 1) -> Template:
        filters = Filters(dps=dps, statut=statut, q=q, tri=tri, ordre=ordre, taille=taille, page=page)
        found = await admissions.for_buyer(principal, dps_id=dps, view=statut, search=q, sort=tri,
                                           descending=ordre == "desc", limit=taille, offset=(page - 1) * taille)
        pages = max(1, -(-found.total // taille))
        return Template("admissions_list.html", context={
            "viewer": viewer, "title": "Demandes d'admission", "found": found, "filters": filters, "pages": pages,
            "dps_list": await dps_service.list_for_buyer(principal), "labels": STATUS_LABELS,
            "views": VIEW_LABELS, "sorts": SORT_LABELS, "sizes": PAGE_SIZES})

    @get("/export.csv", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.admissions.export")
    async def export(self, principal: Caller, admissions: Admissions, dps: Dpsq = None,
                     statut: Statut = "awaiting", q: Search = "", tri: Tri = "due", ordre: Ordre = "asc") -> Stream:
        # The whole filter, not the page on screen. The rows are read inside the request (its database session
        # ends when the response starts), then encoded as they are sent.
        found = await admissions.for_buyer(principal, dps_id=dps, view=statut, search=q, sort=tri,
                                           descending=ordre == "desc", limit=LIST_MAX, offset=0)
        return csv_download("demandes-admission.csv", CSV_HEADER, csv_rows(found.items))

    @get("/{request_id:uuid}", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.admissions.show")
    async def show(self, request_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                   admissions: Admissions) -> Template:
        file = await admissions.file_for_buyer(principal, request_id)
        return Template("admissions_detail.html", context={
            "viewer": viewer, "title": f"Demande d'admission de {file.vendor_name}", "file": file,
            "labels": STATUS_LABELS, "acts": _acts(file), "base": f"{BASE}/{request_id}"})

    @get("/{request_id:uuid}/documents/{document_id:uuid}", opt=requires(*DPS_WRITERS, reason=_BUYERS),
         name="web.admissions.document", status_code=307)
    async def document(self, request_id: FromPath[uuid.UUID], document_id: FromPath[uuid.UUID], principal: Caller,
                       admission_documents: Documents) -> Redirect:
        # As GET /admission-requests/{id}/documents/{id}/download: a short-lived link, each one audited.
        return Redirect(await admission_documents.admission_document_url(principal, request_id, document_id),
                        status_code=307)

    @post("/{request_id:uuid}/admettre", opt=requires(*DPS_WRITERS, reason=_BUYERS), status_code=303,
          name="web.admissions.admit")
    async def admit(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                    decisions: Decisions) -> Redirect:
        await decisions.admit(principal, request_id)
        return done(request, f"{BASE}/{request_id}", "L'éditeur est admis dans la catégorie ; il en est informé.")

    @post("/{request_id:uuid}/rejeter", opt=requires(*DPS_WRITERS, reason=_BUYERS), status_code=303,
          name="web.admissions.reject")
    async def reject(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                     decisions: Decisions, data: Annotated[ReasonsForm, Body(media_type=Form)]) -> Redirect:
        # §1.4: UNDER_EVALUATION --reject(reasons)--> REJECTED; the reasons go to the vendor.
        await decisions.reject(principal, request_id, _decoded(schemas.Reasons, "reasons", data.reasons, "§1.4"))
        return done(request, f"{BASE}/{request_id}", "La demande est rejetée ; l'éditeur reçoit les motifs.")

    @post("/{request_id:uuid}/prolonger", opt=requires(*DPS_WRITERS, reason=_BUYERS), status_code=303,
          name="web.admissions.extend")
    async def extend(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                     decisions: Decisions, data: Annotated[ReasonsForm, Body(media_type=Form)]) -> Redirect:
        await decisions.extend(principal, request_id, _decoded(schemas.Reasons, "reasons", data.reasons, "D6"))
        return done(request, f"{BASE}/{request_id}", "Le délai d'évaluation est porté à 15 jours ouvrés (D6).")

    @post("/{request_id:uuid}/pieces", opt=requires(*DPS_WRITERS, reason=_BUYERS), status_code=303,
          name="web.admissions.request_documents")
    async def request_documents(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID],
                                principal: Caller, decisions: Decisions,
                                data: Annotated[MessageForm, Body(media_type=Form)]
                                ) -> Redirect:
        await decisions.request_documents(
            principal, request_id, _decoded(schemas.DocumentsRequest, "message", data.message, "D6"))
        return done(request, f"{BASE}/{request_id}", "Les pièces complémentaires sont demandées à l'éditeur.")

    @post("/{request_id:uuid}/dume", opt=requires(*DPS_WRITERS, reason=_BUYERS), status_code=303,
          name="web.admissions.request_declaration")
    async def request_declaration(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID],
                                  principal: Caller, decisions: Decisions,
                                  data: Annotated[MessageForm, Body(media_type=Form)]) -> Redirect:
        await decisions.request_declaration(
            principal, request_id, _decoded(schemas.DocumentsRequest, "message", data.message, "D11"))
        return done(request, f"{BASE}/{request_id}",
                    "La mise à jour du DUME est demandée ; l'éditeur a 5 jours ouvrés (D11).")


CONTROLLERS: list[type[Controller]] = [AdmissionPagesController]
