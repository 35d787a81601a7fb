"""Funding: funders' calls, filed projects, selections and grant tranches (FU2-FU5).

The funder's screens, over the services of `GET /funding-calls`, `GET /funding-calls/{id}/projects…`, the
selection and the rejection, and a need's tranches (`/needs/{id}/funding/tranches/{position}/…`): the same
methods, the same role sets, the same object checks (FU6: another funder's call or project is a 404, raised by the
service). Nothing here decides: a tranche acted on out of its order or stage is refused by `TrancheService` (FU5)
and the refusal page names the rule and the field.

Every act on a project first reads it as its page does (`_project`, a dependency resolved before the form is
validated): so another funder's project is a 404 whatever the form carries, as through the API.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS, FUNDER_WRITERS
from marketplace.errors import RuleViolation
from marketplace.funding import schemas
from marketplace.funding.base import DOCUMENT_MAX_BYTES
from marketplace.funding.calls import CallService
from marketplace.funding.decisions import DecisionService
from marketplace.funding.deps import provide_call_service, provide_decision_service, provide_tranche_service
from marketplace.funding.states import FUNDING_SCHEDULE
from marketplace.funding.tranches import TrancheService
from marketplace.lib.access import requires
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import csv_download, euros_cell, paris_cell

BASE = f"{PREFIX}/financements"
Calls = NamedDependency[CallService]
Decisions = NamedDependency[DecisionService]
Tranches = NamedDependency[TrancheService]
Project = NamedDependency[schemas.FundingProject]
S = TypeVar("S", bound=msgspec.Struct)

ANYONE = "Anyone signed in, as GET /funding-calls; the list shows the calls of the caller's own funder."
FUNDER_READERS = "Members of the call's funder (another funder: 404, FU6), as GET /funding-calls/{id}/projects."
INSTRUCTORS = "The call's funder's administrator or instructors (another funder: 404, FU6), as the API's act."

# Words for the states (funding/states.py): no rule, only how a French reader names them.
FUNDING_STATUS = {"filed": ("déposé, à instruire", "warn"), "selected": ("retenu", "ok"),
                  "rejected": ("non retenu", "alert")}
TRANCHE_STATUS = {"pending": ("non demandée", ""), "requested": ("demandée, à valider ou refuser", "warn"),
                  "validated": ("validée, versement à enregistrer", "ok"), "refused": ("refusée", "alert"),
                  "paid": ("versée", "ok")}
TRANCHE_KIND = {"start": ("Démarrage", "le contrat signé par les deux parties et le compte rendu de lancement"),
                "acceptance_testing": ("Recette", "le procès-verbal de recette signé"),
                "usage_verified": ("Constat des usages", "les indicateurs d'usage (N15) et leur justificatif")}
REQUEST_STATUS = {"draft": "en préparation", "requested": "en attente de décision", "validated": "validée",
                  "refused": "refusée"}
NEED_STATUS = {"draft": "brouillon", "submitted": "déposé", "published": "publié", "closed_for_offers":
               "remise des offres close", "in_dialogue": "offres ouvertes", "chosen": "attribué",
               "contracted": "contrat signé", "unsuccessful": "infructueux", "cancelled": "sans suite"}
SCOPE = {"regional": "régional", "national": "national"}
WORDS = {"funding_status": FUNDING_STATUS, "tranche_status": TRANCHE_STATUS, "tranche_kind": TRANCHE_KIND,
         "request_status": REQUEST_STATUS, "need_status": NEED_STATUS, "scope": SCOPE}
_EUROS = re.compile(r"^(\d+)(?:[.,](\d{1,2}))?$")
_AT_FIELD = re.compile(r"at `\$\.(\w+)`")


# -- forms ---------------------------------------------------------------------------------------------------
# Every field has a default, so that a form missing one reaches the service (after the object check) and the
# refusal names it, rather than a bare 400 before anyone checked whose project it is.


class SelectionForm(msgspec.Struct):
    montant: Annotated[str, msgspec.Meta(max_length=40)] = ""
    decide_le: date | None = None
    reference: Annotated[str, msgspec.Meta(max_length=100)] = ""
    decision: UploadFile | None = None


class ReasonsForm(msgspec.Struct):
    motifs: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    decide_le: date | None = None


class PaymentForm(msgspec.Struct):
    verse_le: date | None = None
    montant: Annotated[str, msgspec.Meta(max_length=40)] = ""
    reference: Annotated[str, msgspec.Meta(max_length=100)] = ""


def cents_of(text: str, field: str) -> int:
    """Euros as typed in French ("20 000,00", "20000", "20000.5 €") → cents; anything else names the field."""
    cleaned = re.sub(r"[\s\u00a0\u202f€]", "", text)
    match = _EUROS.match(cleaned)
    if match is None:
        raise RuleViolation(f"{field}: un montant en euros, par exemple 20 000,00", field=field)
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def to_schema(schema: type[S], **values: Any) -> S:
    """The API's own body for an act, checked by the API's constraints; a value they refuse names its field."""
    try:
        return msgspec.convert(values, schema)
    except msgspec.ValidationError as exc:
        found = _AT_FIELD.search(str(exc))
        field = found.group(1) if found else None
        raise RuleViolation(f"{field or 'formulaire'}: {exc}", field=field) from exc


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


def euros_field(cents: int) -> str:
    """A form's prefilled amount, in the form `cents_of` reads back (20000,00)."""
    return f"{cents // 100},{cents % 100:02d}"


def project_url(call_id: uuid.UUID, need_id: uuid.UUID) -> str:
    return f"{BASE}/{call_id}/projets/{need_id}"


async def _project(call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID], principal: Caller,
                   decisions: Decisions) -> schemas.FundingProject:
    """The project as its funder reads it (GET /funding-calls/{id}/projects/{need_id}): 404 for anyone else."""
    return await decisions.project(principal, call_id, need_id)


# -- the list of calls ---------------------------------------------------------------------------------------


class CallFilters(msgspec.Struct):
    organisation: uuid.UUID | None
    campagne: int | None
    etat: str | None
    bac_a_sable: bool
    limite: int
    decalage: int

    def query(self, **changes: Any) -> str:
        values = {name: getattr(self, name) for name in self.__struct_fields__} | changes
        kept = {name: ("true" if value is True else value) for name, value in values.items()
                if value not in (None, "", False) and not (name == "decalage" and value == 0)
                and not (name == "limite" and value == 50)}
        return urlencode(kept)


def _funders(viewer: Any, principal: Principal) -> list[tuple[uuid.UUID, str]]:
    """The caller's funder organisations (id, name), as its memberships name them."""
    mine = set(principal.organisations_with(*FUNDER_MEMBERS))
    return [(m.organisation_id, m.organisation_name) for m in viewer.memberships if m.organisation_id in mine]


async def list_calls(principal: Principal, viewer: Any, calls: CallService, filters: CallFilters, *,
                     limit: int, offset: int) -> dict[str, Any]:
    """The calls of the caller's funder (the one chosen, or its first), through `CallService.list_calls` as
    GET /funding-calls?funderOrganisationId=…; with what was filed to each."""
    funders = _funders(viewer, principal)
    chosen = filters.organisation if filters.organisation in {f for f, _ in funders} else (
        funders[0][0] if funders else None)
    if chosen is None:
        return {"funders": funders, "chosen": None, "page": None, "counts": {}}
    open_only = {"ouverts": True, "clos": False}.get(filters.etat or "")
    page = await calls.list_calls(principal, open_only=open_only, campaign=filters.campagne, funder_id=chosen,
                                  sandbox=filters.bac_a_sable, limit=limit, offset=offset)
    return {"funders": funders, "chosen": chosen, "page": page,
            "counts": await calls.project_counts(principal, page.items)}


Organisation = Annotated[uuid.UUID | None, QueryParameter(name="organisation")]
Campaign = Annotated[int | None, QueryParameter(name="campagne", ge=2000, le=2100)]
State = Annotated[str | None, QueryParameter(name="etat", pattern=r"^(ouverts|clos)$")]
Sandbox = Annotated[bool, QueryParameter(name="bac_a_sable")]
Limit = Annotated[int, QueryParameter(name="limite", ge=1, le=200)]
Offset = Annotated[int, QueryParameter(name="decalage", ge=0, le=1_000_000)]

CSV_COLUMNS = ["reference", "titre", "financeur", "campagne", "portee", "region", "ouverture", "cloture", "ouvert",
               "bac_a_sable", "enveloppe_euros", "accorde_euros", "reste_euros", "projets_deposes",
               "projets_retenus", "projets_non_retenus"]


class FundingController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "calls": Provide(provide_call_service, sync_to_thread=False),
                    "decisions": Provide(provide_decision_service, sync_to_thread=False),
                    "tranches": Provide(provide_tranche_service, sync_to_thread=False)}

    # -- reading -----------------------------------------------------------------------------------------

    @get("/", opt=requires(reason=ANYONE), name="web.funding.calls")
    async def calls_page(self, principal: Caller, viewer: Viewer, calls: Calls, organisation: Organisation = None,
                         campagne: Campaign = None, etat: State = None, bac_a_sable: Sandbox = False,
                         limite: Limit = 50, decalage: Offset = 0) -> Template:
        filters = CallFilters(organisation, campagne, etat, bac_a_sable, limite, decalage)
        found = await list_calls(principal, viewer, calls, filters, limit=limite, offset=decalage)
        return Template("funding_calls.html", context={
            "viewer": viewer, "title": "Appels à projets", "filters": filters, **found, "words": WORDS})

    @get("/export", opt=requires(reason=ANYONE), name="web.funding.export")
    async def export(self, principal: Caller, viewer: Viewer, calls: Calls, organisation: Organisation = None,
                     campagne: Campaign = None, etat: State = None, bac_a_sable: Sandbox = False) -> Stream:
        """The list under the current filter, every page of it, as CSV (UTF-8 with BOM, for spreadsheets)."""
        filters = CallFilters(organisation, campagne, etat, bac_a_sable, 200, 0)
        rows: list[schemas.FundingCall] = []
        counts: dict[uuid.UUID, Any] = {}
        while True:
            found = await list_calls(principal, viewer, calls, filters, limit=200, offset=len(rows))
            if found["page"] is None:
                break
            rows += found["page"].items
            counts |= found["counts"]
            if not found["page"].items or len(rows) >= found["page"].total:
                break
        return csv_download("appels-a-projets.csv", CSV_COLUMNS, [
            (call.reference, call.title, call.funder_name, call.campaign, SCOPE[call.scope], call.region,
             paris_cell(call.opens_at), paris_cell(call.closes_at), call.is_open, call.sandbox,
             euros_cell(call.envelope_cents), euros_cell(call.granted_cents), euros_cell(call.envelope_left_cents),
             count.filed if count else None, count.selected if count else None, count.rejected if count else None)
            for call in rows for count in (counts.get(call.id),)])

    @get("/{call_id:uuid}", opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS), name="web.funding.call")
    async def call_page(self, call_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, calls: Calls,
                        decisions: Decisions) -> Template:
        projects = await decisions.projects(principal, call_id)  # 404 unless the caller's funder's (FU6)
        call = await calls.get(principal, call_id)
        counts = (await calls.project_counts(principal, [call])).get(call.id)
        return Template("funding_call.html", context={
            "viewer": viewer, "title": call.title, "call": call, "projects": projects, "counts": counts,
            "words": WORDS, "today": decisions.today().isoformat(), "project_url": project_url})

    @get("/{call_id:uuid}/projets/{need_id:uuid}", opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS),
         name="web.funding.project")
    async def project_page(self, call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID], principal: Caller,
                           viewer: Viewer,
                           decisions: Decisions) -> Template:
        project = await decisions.project(principal, call_id, need_id)
        return Template("funding_project.html", context={
            "viewer": viewer, "title": project.title, "project": project, "call_id": call_id, "words": WORDS,
            "today": decisions.today().isoformat(), "base": project_url(call_id, need_id),
            "euros_field": euros_field, "schedule": FUNDING_SCHEDULE})

    @get("/{call_id:uuid}/projets/{need_id:uuid}/decision", status_code=307,
         opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS), name="web.funding.decision_document",
         dependencies={"project": Provide(_project)})
    async def decision_document(self, need_id: FromPath[uuid.UUID], principal: Caller, decisions: Decisions,
                                project: Project) -> Redirect:
        """The signed decision: a short-lived link, as GET /needs/{id}/funding/decision-document (audited)."""
        return Redirect(await decisions.document_url(principal, need_id), status_code=307)

    @get("/{call_id:uuid}/projets/{need_id:uuid}/tranches/{position:int}/preuve", status_code=307,
         opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS), name="web.funding.evidence",
         dependencies={"project": Provide(_project)})
    async def evidence(self, need_id: FromPath[uuid.UUID], position: FromPath[int], principal: Caller,
                       tranches: Tranches,
                       project: Project) -> Redirect:
        """A tranche's latest evidence, as GET /needs/{id}/funding/tranches/{position}/evidence (audited)."""
        return Redirect(await tranches.evidence_url(principal, need_id, position), status_code=307)

    # -- deciding on a project (FU3) -----------------------------------------------------------------------

    @post("/{call_id:uuid}/projets/{need_id:uuid}/selection", opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS),
          name="web.funding.select", dependencies={"project": Provide(_project)},
          request_max_body_size=DOCUMENT_MAX_BYTES + 1024 * 1024)
    async def select(self, request: Request[Any, Any, Any], call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID],
                     principal: Caller, decisions: Decisions, project: Project,
                     data: Annotated[SelectionForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        """As POST /funding-calls/{id}/projects/{need_id}/selection, the signed decision sent as a file field."""
        upload = data.decision
        if upload is None or not upload.filename:
            raise RuleViolation("decision: FU3: a selection carries its signed decision (PDF)", field="decision",
                                rule="FU3")
        await decisions.select(principal, call_id, need_id, amount_cents=cents_of(data.montant, "montant"),
                               decided_on=data.decide_le, reference=data.reference,
                               filename=quote(upload.filename), declared_type=upload.content_type,
                               declared_size=None, body=_chunks(upload))
        return done(request, project_url(call_id, need_id), f"Projet « {project.title} » retenu : décision "
                                                            f"{data.reference.strip()} enregistrée.")

    @post("/{call_id:uuid}/projets/{need_id:uuid}/rejet", opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS),
          name="web.funding.reject", dependencies={"project": Provide(_project)})
    async def reject(self, request: Request[Any, Any, Any], call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID],
                     principal: Caller, decisions: Decisions, project: Project,
                     data: Annotated[ReasonsForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        """As POST /funding-calls/{id}/projects/{need_id}/rejection (blank reasons: refused by the service)."""
        await decisions.reject(principal, call_id, need_id,
                               schemas.RejectionCreate(reasons=data.motifs, decided_on=data.decide_le))
        return done(request, f"{BASE}/{call_id}", f"Projet « {project.title} » non retenu : motifs enregistrés.")

    # -- the grant's tranches (FU5) ------------------------------------------------------------------------

    @post("/{call_id:uuid}/projets/{need_id:uuid}/tranches/{position:int}/validation",
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS), name="web.funding.validate",
          dependencies={"project": Provide(_project)})
    async def validate(self, request: Request[Any, Any, Any], call_id: FromPath[uuid.UUID],
                       need_id: FromPath[uuid.UUID],
                       position: FromPath[int], principal: Caller, tranches: Tranches, project: Project) -> Redirect:
        """As POST /needs/{id}/funding/tranches/{position}/validation: FU5's order and stage are the service's."""
        await tranches.validate(principal, need_id, position)
        return done(request, project_url(call_id, need_id), f"Tranche {position} validée.")

    @post("/{call_id:uuid}/projets/{need_id:uuid}/tranches/{position:int}/refus",
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS), name="web.funding.refuse",
          dependencies={"project": Provide(_project)})
    async def refuse(self, request: Request[Any, Any, Any], call_id: FromPath[uuid.UUID],
                     need_id: FromPath[uuid.UUID], position: FromPath[int],
                     principal: Caller, tranches: Tranches, project: Project,
                     data: Annotated[ReasonsForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        """As POST /needs/{id}/funding/tranches/{position}/refusal (blank reasons: refused by the service, FU5)."""
        await tranches.refuse(principal, need_id, position, schemas.TrancheRefusal(reasons=data.motifs))
        return done(request, project_url(call_id, need_id),
                    f"Tranche {position} refusée : le porteur est informé des motifs.")

    @post("/{call_id:uuid}/projets/{need_id:uuid}/tranches/{position:int}/versement",
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS), name="web.funding.pay",
          dependencies={"project": Provide(_project)})
    async def pay(self, request: Request[Any, Any, Any], call_id: FromPath[uuid.UUID],
                  need_id: FromPath[uuid.UUID], position: FromPath[int],
                  principal: Caller, tranches: Tranches, project: Project,
                  data: Annotated[PaymentForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        """As POST /needs/{id}/funding/tranches/{position}/payment: exactly the tranche's amount (FU5)."""
        payment = to_schema(schemas.TranchePayment, paidOn=data.verse_le.isoformat() if data.verse_le else None,
                            amountCents=cents_of(data.montant, "montant"), reference=data.reference)
        await tranches.pay(principal, need_id, position, payment)
        return done(request, project_url(call_id, need_id), f"Versement de la tranche {position} enregistré.")


CONTROLLERS: list[type[Controller]] = [FundingController]
