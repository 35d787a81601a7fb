"""Vendors and their referencing: categories, status, expiring documents, Ségur referencing, ASP enrolment; suspend or
exclude.

For the buyers of a DPS (DPS_WRITERS of its buying organisation, as the API's admission routes). The list and the
file are `BuyerRegisterService` (vendors/register.py: the vendors who applied to a DPS the caller runs, scoped in
SQL), the Ségur solutions `SolutionService` (the same as `GET /sons/solutions`, public to anyone signed in), the ASP
enrolment `EnrolmentService.for_dps_buyer` (scoped to the same vendors, and carrying only the IBAN's last four
characters: the full IBAN never reaches a page). The acts on an admission are the API's living-admission routes
(`POST /admission-requests/{id}/suspend|reinstate|exclude`) through the same `DecisionService` methods, which check
the transition (§1.4), the DPS's validity and audit each act. No act here records a referencing certificate: the
SONS API has no such route (the vendor lists its referenced solution itself, `POST /sons/solutions`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.roles import DPS_WRITERS
from marketplace.lib.access import requires
from marketplace.sons.deps import provide_enrolment_service, provide_solution_service
from marketplace.sons.solutions import EnrolmentService, SolutionService
from marketplace.vendors import schemas
from marketplace.vendors.decisions import DecisionService
from marketplace.vendors.deps import provide_buyer_register_service, provide_decision_service, provide_dps_service
from marketplace.vendors.dps import DpsService
from marketplace.vendors.register import VENDORS_MAX, BuyerRegisterService
from marketplace.vendors.states import ADMISSION_TRANSITIONS, AdmissionStatus
from marketplace.web.admissions import STATUS_LABELS, ReasonsForm, _decoded
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import ListFilters, csv_download, paris_cell

BASE = f"{PREFIX}/editeurs"
PAGE_SIZES = (25, 50, 100)
_BUYERS = "The DPS's buying organisation (admins and evaluators), as the API's admission routes."
VIEW_LABELS = {"all": "Tous les statuts", "admitted": "admis", "suspended": "suspendu", "excluded": "exclu",
               "awaiting": "en cours d'évaluation ou pièces demandées", "decided": "décidées",
               "rejected": "rejetée", "withdrawn": "retirée", "closed": "close"}
SOLUTION_LABELS = {"active": "actif", "withdrawn": "retiré"}
VAT_LABELS = {"liable": "assujetti à la TVA", "not_liable": "non assujetti à la TVA"}

Register = NamedDependency[BuyerRegisterService]
Decisions = NamedDependency[DecisionService]
Dps = NamedDependency[DpsService]
Solutions = NamedDependency[SolutionService]
Enrolments = NamedDependency[EnrolmentService]
Form = RequestEncodingType.URL_ENCODED

class Filters(ListFilters, frozen=True):
    """The list's filters, as they stand in the URL (so a link, a reload or the export keeps them)."""

    base: ClassVar[str] = BASE
    dps: uuid.UUID | None = None
    categorie: uuid.UUID | None = None
    statut: str = "all"
    q: str = ""
    taille: int = 25
    page: int = 1


Dpsq = Annotated[uuid.UUID | None, QueryParameter(name="dps")]
Categorie = Annotated[uuid.UUID | None, QueryParameter(name="categorie")]
Statut = Annotated[str, QueryParameter(name="statut", max_length=40)]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]

CSV_HEADER = ("Éditeur", "SIREN", "SIRET", "SIRET valide", "SAD", "Catégorie", "Statut", "Logiciel", "Version",
              "Référencement", "Reçue le (heure de Paris)", "Décidée le (heure de Paris)",
              "Pièces expirant sous 30 j", "Pièces expirées", "Première expiration")


def csv_rows(items: list[schemas.VendorSummary]) -> Iterator[tuple[object, ...]]:
    """The register of the current filter, one line per vendor × category."""
    for vendor in items:
        for a in vendor.admissions:
            yield (vendor.vendor_name, vendor.siren, vendor.siret, vendor.siret_valid, a.dps_title,
                   a.category_title, STATUS_LABELS[a.status.value], a.software, a.version, a.referencing_id,
                   paris_cell(a.received_at), paris_cell(a.decided_at), vendor.documents_expiring,
                   vendor.documents_expired,
                   vendor.soonest_expiry.strftime("%d/%m/%Y") if vendor.soonest_expiry else "")


def _acts(admission: schemas.VendorAdmission) -> dict[str, bool]:
    """Which sanction forms an admission offers: read from the transition table (vendors/states.py); the service
    still decides (the DPS's validity, the initial window)."""
    moves = ADMISSION_TRANSITIONS[admission.status]
    return {"suspend": admission.status == AdmissionStatus.ADMITTED and AdmissionStatus.SUSPENDED in moves,
            "reinstate": admission.status == AdmissionStatus.SUSPENDED and AdmissionStatus.ADMITTED in moves,
            "exclude": admission.status in (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)
            and AdmissionStatus.EXCLUDED in moves}

class VendorPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "register": Provide(provide_buyer_register_service, sync_to_thread=False),
                    "decisions": Provide(provide_decision_service, sync_to_thread=False),
                    "dps_service": Provide(provide_dps_service, sync_to_thread=False),
                    "solutions": Provide(provide_solution_service, sync_to_thread=False),
                    "enrolments": Provide(provide_enrolment_service, sync_to_thread=False)}

    @get("/", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.vendors.list")
    async def index(self, principal: Caller, viewer: Viewer, register: Register, dps_service: Dps,
                    solutions: Solutions, dps: Dpsq = None, categorie: Categorie = None, statut: Statut = "all",
                    q: Search = "", taille: Taille = 25, page: Numero = 1) -> Template:
        filters = Filters(dps=dps, categorie=categorie, statut=statut, q=q, taille=taille, page=page)
        found = await register.vendors_for_buyer(principal, dps_id=dps, category_id=categorie, view=statut,
                                                 search=q, limit=taille, offset=(page - 1) * taille)
        dps_list = await dps_service.list_for_buyer(principal)
        return Template("vendors_list.html", context={
            "viewer": viewer, "title": "Éditeurs", "found": found, "filters": filters,
            "pages": max(1, -(-found.total // taille)), "dps_list": dps_list,
            "categories": [(d, c) for d in dps_list for c in d.categories if dps in (None, d.id)],
            "segur": await solutions.active_counts([v.vendor_organisation_id for v in found.items]),
            "labels": STATUS_LABELS, "views": VIEW_LABELS, "sizes": PAGE_SIZES})

    @get("/export.csv", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.vendors.export")
    async def export(self, principal: Caller, register: Register, dps: Dpsq = None, categorie: Categorie = None,
                     statut: Statut = "all", q: Search = "") -> Stream:
        # The whole filter, not the page on screen; read inside the request, encoded as it is sent.
        found = await register.vendors_for_buyer(principal, dps_id=dps, category_id=categorie, view=statut,
                                                 search=q, limit=VENDORS_MAX, offset=0)
        return csv_download("registre-editeurs.csv", CSV_HEADER, csv_rows(found.items))

    @get("/{organisation_id:uuid}", opt=requires(*DPS_WRITERS, reason=_BUYERS), name="web.vendors.show")
    async def show(self, organisation_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                   register: Register, solutions: Solutions, enrolments: Enrolments) -> Template:
        file = await register.vendor_for_buyer(principal, organisation_id)
        return Template("vendors_detail.html", context={
            "viewer": viewer, "title": f"Éditeur {file.vendor.vendor_name}", "file": file, "v": file.vendor,
            "solutions": await solutions.list_all(vendor_id=organisation_id, active=False),
            "enrolment": await enrolments.for_dps_buyer(principal, organisation_id),
            "acts": {a.request_id: _acts(a) for a in file.vendor.admissions}, "labels": STATUS_LABELS,
            "solution_labels": SOLUTION_LABELS, "vat_labels": VAT_LABELS, "base": f"{BASE}/{organisation_id}"})

    @post("/{organisation_id:uuid}/admissions/{request_id:uuid}/suspendre", opt=requires(*DPS_WRITERS, reason=_BUYERS),
          status_code=303, name="web.vendors.suspend")
    async def suspend(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                      request_id: FromPath[uuid.UUID], principal: Caller, decisions: Decisions,
                      data: Annotated[ReasonsForm, Body(media_type=Form)]) -> Redirect:
        # §1.4: ADMITTED --suspend(reasons)--> SUSPENDED; the reasons go to the vendor.
        await decisions.suspend(principal, request_id, _decoded(schemas.Reasons, "reasons", data.reasons, "§1.4"))
        return done(request, f"{BASE}/{organisation_id}", "L'admission est suspendue ; l'éditeur reçoit les motifs.")

    @post("/{organisation_id:uuid}/admissions/{request_id:uuid}/retablir", opt=requires(*DPS_WRITERS, reason=_BUYERS),
          status_code=303, name="web.vendors.reinstate")
    async def reinstate(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                        request_id: FromPath[uuid.UUID], principal: Caller, decisions: Decisions) -> Redirect:
        await decisions.reinstate(principal, request_id)
        return done(request, f"{BASE}/{organisation_id}", "La suspension est levée ; l'éditeur en est informé.")

    @post("/{organisation_id:uuid}/admissions/{request_id:uuid}/exclure", opt=requires(*DPS_WRITERS, reason=_BUYERS),
          status_code=303, name="web.vendors.exclude")
    async def exclude(self, request: Request[Any, Any, Any], organisation_id: FromPath[uuid.UUID],
                      request_id: FromPath[uuid.UUID], principal: Caller, decisions: Decisions,
                      data: Annotated[ReasonsForm, Body(media_type=Form)]) -> Redirect:
        # §1.4: ADMITTED or SUSPENDED --exclude(reasons)--> EXCLUDED (final); the reasons go to the vendor.
        await decisions.exclude(principal, request_id, _decoded(schemas.Reasons, "reasons", data.reasons, "§1.4"))
        return done(request, f"{BASE}/{organisation_id}", "L'éditeur est exclu de la catégorie ; il reçoit les motifs.")

CONTROLLERS: list[type[Controller]] = [VendorPagesController]
