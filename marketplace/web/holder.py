"""Holders' self-service: the need as a step-by-step form checked as it is typed (N1-N19), filing to the funder's
call, the decision, the procedure, the contract and the grant tranches.

Every act calls the API's own service method: a draft is created (`POST /needs`, `NeedService.create`) then
replaced at each step (`PUT /needs/{id}`, `NeedService.update`: the page merges the step's fields into the need as
read, since a draft is replaced as a whole), submitted (`POST /needs/{id}/submit`), filed (`POST /needs/{id}/filing`,
`FilingService.file`). The checklist is the rule engine's judgement as submission runs it
(`NeedReviewService.own_checklist`); the facilities are picked from `GET /organisations/{id}/facilities`
(`OrganisationService.list_facilities`: the OG's, or every member OG's for a grappe), never typed. The calls offered
are `GET /funding-calls?open=true` for the need's campaign (`CallService.list_calls`); the decision and its tranches
are `GET /needs/{id}/funding` (`TrancheService.view`). Another holder's need: 404 (the services say so).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template

from marketplace.accounts.deps import provide_organisation_service
from marketplace.accounts.organisations import OrganisationService
from marketplace.accounts.roles import HOLDER_MEMBERS, HOLDER_WRITERS
from marketplace.errors import RuleViolation
from marketplace.funding.calls import CallService
from marketplace.funding.deps import provide_call_service, provide_filing_service, provide_tranche_service
from marketplace.funding.filing import FilingService
from marketplace.funding.schemas import FilingCreate
from marketplace.funding.tranches import TrancheService
from marketplace.lib.access import requires
from marketplace.tenders import schemas
from marketplace.tenders.campaigns import CoreService
from marketplace.tenders.deps import provide_need_review_service, provide_need_service
from marketplace.tenders.needs import NeedService
from marketplace.tenders.review import NeedReviewService
from marketplace.tenders.rules import Couloir
from marketplace.vendors.deps import provide_dps_service
from marketplace.vendors.dps import DpsService
from marketplace.web.funding import TRANCHE_KIND, TRANCHE_STATUS
from marketplace.web.needs import DELIVERY_LABELS, FUNDING_LABELS, SECTOR_LABELS, STATUS_LABELS
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/mes-besoins"
STEPS = ((1, "Projet"), (2, "Établissements"), (3, "Services socles et logiciel"), (4, "Financement"),
         (5, "Récapitulatif"))
LAST = len(STEPS)
PROJECT_TYPES = {1: "1 — acquisition d'un DUI (N2)", 2: "2 — mise en conformité d'un DUI (N3)",
                 3: "3 — équipement et infrastructure (N4)"}
CALLS = {"regional": "régional (ARS)", "national": "national (CNSA/DNS)"}
CORE_SERVICES = {"ins": "INS (obligatoire)", "mss": "MSSanté", "dmp": "DMP", "eprescription": "e-prescription"}
_MEMBERS = "Members of the need's holder organisation (another holder: 404), as GET /needs/{id}."
_WRITERS = "The holder's administrator or project lead, as POST/PUT /needs."

Needs = NamedDependency[NeedService]
Reviews = NamedDependency[NeedReviewService]
Organisations = NamedDependency[OrganisationService]
Calls = NamedDependency[CallService]
Filings = NamedDependency[FilingService]
Tranches = NamedDependency[TrancheService]
DpsList = NamedDependency[DpsService]
Form = RequestEncodingType.URL_ENCODED
Many = str | list[str]
Etape = Annotated[int, QueryParameter(name="etape", ge=1, le=LAST)]


class NeedForm(msgspec.Struct):
    """One step's fields, as the form posts them (`etape` says which; a box left unticked is absent)."""

    etape: int = 1
    titre: str = ""
    description: str = ""
    campagne: str = ""
    type: str = ""
    appel: str = ""
    candidature: str = ""
    sad: str = ""
    secteur: str = ""
    mode: str = ""
    esms: Many = []
    multiregional: str = ""
    socles: Many = []
    couloir: str = ""
    reference: str = ""
    guichet: str = ""
    rgpd: str = ""
    carte: str = ""
    continuite: str = ""
    dui: str = ""
    echeancier: Many = []
    cibles: str = ""
    cpv: str = ""


class FilingForm(msgspec.Struct):
    appel: str = ""


def _many(value: Many) -> list[str]:
    return [v for v in ([value] if isinstance(value, str) else value) if v.strip()]


def _step_fields(data: NeedForm, current: dict[str, Any]) -> dict[str, Any]:
    """The API's fields (camelCase) this step fills in; the others stay as the need has them."""
    if data.etape == 1:
        return {"title": data.titre, "description": data.description, "campaign": data.campagne or None,
                "projectType": data.type or None, "requestedCall": data.appel or None,
                "appliedOn": data.candidature or None, "dpsId": data.sad or None, "sector": data.secteur or None,
                "deliveryMode": data.mode or None}
    if data.etape == 2:
        budgets = {f["finessEt"]: f.get("equipmentBudgetCents", 0) for f in current.get("facilities", [])}
        return {"facilities": [{"finessEt": et, "equipmentBudgetCents": budgets.get(et, 0)}
                               for et in dict.fromkeys(_many(data.esms))],
                "multiregional": bool(data.multiregional)}
    if data.etape == 3:
        return {"coreServices": _many(data.socles),
                "software": {"couloir": data.couloir, "referenced": bool(data.reference),
                             "registeredAtDesk": bool(data.guichet)} if data.couloir else None,
                "gdprCompliance": bool(data.rgpd), "targetMapConvergence": bool(data.carte),
                "businessContinuity": bool(data.continuite), "companionDuiAcquisition": bool(data.dui)}
    if data.etape == 4:
        return {"fundingSchedule": _many(data.echeancier), "usageTargetsDeclared": bool(data.cibles),
                "cpvCodes": [c.strip() for c in data.cpv.replace(";", ",").split(",") if c.strip()]}
    return {}


def _decode(body: dict[str, Any], kind: type[schemas.NeedFields]) -> Any:
    """The API's body decoded with the API's own constraints (strings from the form, as JSON would carry them);
    what they refuse is named by its field."""
    try:
        return msgspec.convert(body, kind, strict=False)
    except msgspec.ValidationError as exc:
        path = str(exc).rpartition("at `$.")[2].rstrip("`") or "title"
        raise RuleViolation(f"{path}: {exc}", field=path.split("[")[0]) from exc


def _as_fields(need: schemas.Need) -> dict[str, Any]:
    """The need as read, as the body of `PUT /needs/{id}` (its fields only)."""
    read = msgspec.to_builtins(need)
    names = schemas.NeedUpdate.__struct_encode_fields__
    return {name: read[name] for name in names if name in read}


class HolderNeedsController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "needs": Provide(provide_need_service, sync_to_thread=False),
                    "reviews": Provide(provide_need_review_service, sync_to_thread=False),
                    "organisations": Provide(provide_organisation_service, sync_to_thread=False),
                    "dps_list": Provide(provide_dps_service, sync_to_thread=False),
                    "calls": Provide(provide_call_service, sync_to_thread=False),
                    "filings": Provide(provide_filing_service, sync_to_thread=False),
                    "tranches": Provide(provide_tranche_service, sync_to_thread=False)}

    @get("/", opt=requires(*HOLDER_MEMBERS,
                           reason="Members of a holder: their own organisations' needs, as GET /needs."),
         name="web.holder.list")
    async def index(self, principal: Caller, viewer: Viewer, needs: Needs) -> Template:
        return Template("holder_needs.html", context={
            "viewer": viewer, "title": "Mes besoins", "needs": await needs.list_own(principal),
            "labels": STATUS_LABELS, "funding": FUNDING_LABELS,
            "may_write": bool(principal.organisations_with(*HOLDER_WRITERS))})

    async def _form(self, principal: Caller, viewer: Viewer, step: int, need: schemas.Need | None,
                    reviews: Reviews, organisations: Organisations, dps_list: DpsList) -> Template:
        context: dict[str, Any] = {
            "viewer": viewer, "title": f"{'Modifier' if need else 'Nouveau'} besoin — étape {step} sur {LAST} : "
                                       f"{STEPS[step - 1][1]}",
            "need": need, "step": step, "steps": STEPS, "last": LAST, "types": PROJECT_TYPES, "calls": CALLS,
            "sectors": SECTOR_LABELS, "deliveries": DELIVERY_LABELS, "core": CORE_SERVICES,
            "couloirs": [(c.value, c.value) for c in Couloir], "labels": STATUS_LABELS, "base": BASE,
            "checklist": await reviews.own_checklist(principal, need.id) if need else [], "facilities": [],
            "dps": []}
        if step == 1:
            context["dps"] = (await dps_list.list_public(200, 0)).items
        if step == 2 and need is not None:
            context["facilities"] = await organisations.list_facilities(principal, need.holder_organisation_id)
        return Template("holder_need_form.html", context=context)

    @get("/nouveau", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), name="web.holder.new")
    async def new(self, principal: Caller, viewer: Viewer, reviews: Reviews, organisations: Organisations,
                  dps_list: DpsList) -> Template:
        return await self._form(principal, viewer, 1, None, reviews, organisations, dps_list)

    @post("/nouveau", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), status_code=303, name="web.holder.create")
    async def create(self, request: Request[Any, Any, Any], principal: Caller, needs: Needs,
                     data: Annotated[NeedForm, Body(media_type=Form)]) -> Redirect:
        data.etape = 1
        need = await needs.create(principal, _decode(_step_fields(data, {}), schemas.NeedCreate))
        return done(request, f"{BASE}/{need.id}/modifier?etape=2", "Brouillon enregistré.")

    @get("/{need_id:uuid}/modifier", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), name="web.holder.edit")
    async def edit(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, needs: Needs,
                   reviews: Reviews, organisations: Organisations, dps_list: DpsList, etape: Etape = 1) -> Template:
        need = await needs.get(principal, need_id)
        return await self._form(principal, viewer, etape, need, reviews, organisations, dps_list)

    async def _save(self, principal: Caller, needs: Needs, need_id: uuid.UUID, data: NeedForm) -> schemas.Need:
        current = _as_fields(await needs.get(principal, need_id))
        body = {**current, **_step_fields(data, current)}
        return await needs.update(principal, need_id, _decode(body, schemas.NeedUpdate))

    @post("/{need_id:uuid}/modifier", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), status_code=303,
          name="web.holder.update")
    async def update(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], principal: Caller,
                     needs: Needs, data: Annotated[NeedForm, Body(media_type=Form)]) -> Redirect:
        await self._save(principal, needs, need_id, data)
        following = min(data.etape + 1, LAST)
        return done(request, f"{BASE}/{need_id}/modifier?etape={following}", "Brouillon enregistré.")

    @post("/{need_id:uuid}/verifier", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), status_code=200,
          name="web.holder.check")
    async def check(self, need_id: FromPath[uuid.UUID], principal: Caller, needs: Needs, reviews: Reviews,
                    data: Annotated[NeedForm, Body(media_type=Form)]) -> Template:
        """htmx: the draft saved as typed so far, and the checklist fragment it now earns. A value refused while
        being typed (a date half entered) is not an error of the page: the checklist says which field was not
        saved and why, and the draft keeps what it had (the form's own submit still answers 422)."""
        unsaved = None
        try:
            await self._save(principal, needs, need_id, data)
        except RuleViolation as exc:
            unsaved = {"field": exc.extra.get("field"), "detail": exc.detail}
        return Template("holder_checklist.html", context={
            "checklist": await reviews.own_checklist(principal, need_id), "unsaved": unsaved})

    @post("/{need_id:uuid}/soumettre", opt=requires(*HOLDER_WRITERS, reason=_WRITERS), status_code=303,
          name="web.holder.submit")
    async def submit(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], principal: Caller,
                     needs: Needs) -> Redirect:
        await needs.submit(principal, need_id)
        return done(request, f"{BASE}/{need_id}", "Le besoin est soumis : les règles du programme sont respectées.")

    @get("/{need_id:uuid}", opt=requires(*HOLDER_MEMBERS, reason=_MEMBERS), name="web.holder.show")
    async def show(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, needs: Needs,
                   reviews: Reviews, calls: Calls, tranches: Tranches) -> Template:
        need = await needs.get(principal, need_id)
        open_calls = (await calls.list_calls(principal, open_only=True, campaign=need.campaign, sandbox=need.sandbox,
                                             limit=200)).items if need.funding_status is None else []
        return Template("holder_need.html", context={
            "viewer": viewer, "title": f"Besoin : {need.title}", "need": need, "base": BASE,
            "checklist": await reviews.own_checklist(principal, need_id),
            "funding": await tranches.view(principal, need_id), "open_calls": open_calls,
            "labels": STATUS_LABELS, "funding_labels": FUNDING_LABELS, "types": PROJECT_TYPES,
            "tranche_status": TRANCHE_STATUS, "tranche_kind": TRANCHE_KIND,
            "may_write": bool(principal.organisations_with(*HOLDER_WRITERS)),
            "core": {CoreService(k): v for k, v in CORE_SERVICES.items()}})

    @post("/{need_id:uuid}/depot", opt=requires(*HOLDER_WRITERS, reason="The need's holder's administrator or "
                                                                         "project lead, as POST /needs/{id}/filing."),
          status_code=303, name="web.holder.file")
    async def file(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], principal: Caller,
                   filings: Filings, data: Annotated[FilingForm, Body(media_type=Form)]) -> Redirect:
        try:
            call_id = uuid.UUID(data.appel)
        except ValueError:
            # No call chosen: the service still checks the need first (another holder's: 404), then names callId.
            call_id = uuid.UUID(int=0)
        project = await filings.file(principal, need_id, FilingCreate(call_id=call_id))
        call = project.call.title if project.call else ""
        return done(request, f"{BASE}/{need_id}", f"Le besoin est déposé à l'appel à projets « {call} ».")


CONTROLLERS: list[type[Controller]] = [HolderNeedsController]
