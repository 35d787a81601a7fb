"""Routes of the funders' calls for projects, the filings, the decisions and the grants' tranches (thin: each calls
one method of a service of funding/)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS, FUNDER_WRITERS, HOLDER_MEMBERS, HOLDER_WRITERS, Role
from marketplace.funding import schemas
from marketplace.funding.base import DOCUMENT_TYPES
from marketplace.funding.calls import CallService
from marketplace.funding.decisions import DecisionService
from marketplace.funding.deps import (
    provide_call_service,
    provide_decision_service,
    provide_filing_service,
    provide_tranche_service,
)
from marketplace.funding.filing import FilingService
from marketplace.funding.states import FUNDING_SCHEDULE, CallScope
from marketplace.funding.tranches import TrancheService
from marketplace.lib.access import requires
from marketplace.lib.http import created
from marketplace.lib.openapi import raw_body
from marketplace.uploads import XFilename, given_filename, raw_upload

Caller = NamedDependency[Principal]
Calls = NamedDependency[CallService]
Filings = NamedDependency[FilingService]
Decisions = NamedDependency[DecisionService]
Tranches = NamedDependency[TrancheService]
# The tranche's place in the grant (N14: 1, 2, 3).
Position = Annotated[int, PathParameter(ge=1, le=len(FUNDING_SCHEDULE))]

FUNDER_ADMIN = "An administrator of the call's funder."
FUNDER_READERS = "Members of the call's funder (another funder: 404, FU6)."
INSTRUCTORS = "The call's funder's administrator or instructors (another funder: 404, FU6)."
HOLDER = "The need's holder's administrator or project lead."
BOTH = "Members of the need's holder and of its call's funder (anyone else: 404, FU6)."
_REDIRECT = {307: ResponseSpec(data_container=None, description="Redirect to the document.")}
_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
         "calls": Provide(provide_call_service, sync_to_thread=False),
         "filings": Provide(provide_filing_service, sync_to_thread=False),
         "decisions": Provide(provide_decision_service, sync_to_thread=False),
         "tranches": Provide(provide_tranche_service, sync_to_thread=False)}


def _call_path(call_id: uuid.UUID) -> str:
    return f"/funding-calls/{call_id}"


def _funding_path(need_id: uuid.UUID) -> str:
    return f"/needs/{need_id}/funding"


class FundingCallController(Controller):
    """Funders' calls for projects (FU2) and the projects filed to them, instructed by the funder (FU3, FU6)."""

    path = "/funding-calls"
    tags = ["Funding"]
    dependencies = _deps

    @post("/", opt=requires(Role.FUNDER_ADMIN, reason="A funder's administrator, for its own organisation."),
          summary="Open a call for projects: campaign, window (Paris time or with an offset), envelope (FU2)")
    async def create(self, data: JSONBody[schemas.FundingCallCreate], calls: Calls,
                     principal: Caller) -> Response[schemas.FundingCall]:
        call = await calls.create(principal, data)
        return created(call, _call_path(call.id))

    @get("/", opt=requires(reason="Anyone signed in: holders look for the call their need is routed to (N5)."),
         summary="List calls for projects (`open=true`: those receiving filings now, N17; "
                 "`sandbox=true`: the rehearsal calls instead of the real ones)")
    async def list_calls(
            self, calls: Calls, principal: Caller,
            open_only: Annotated[bool | None, QueryParameter(name="open")] = None,
            campaign: Annotated[int | None, QueryParameter(name="campaign", ge=2000, le=2100)] = None,
            call_scope: Annotated[CallScope | None, QueryParameter(name="scope")] = None,
            region: Annotated[str | None, QueryParameter(name="region", pattern=r"^\d{2}$")] = None,
            funder_id: Annotated[uuid.UUID | None, QueryParameter(name="funderOrganisationId")] = None,
            sandbox: Annotated[bool, QueryParameter(name="sandbox")] = False,
    ) -> list[schemas.FundingCall]:
        return await calls.list_calls(principal, open_only=open_only, campaign=campaign, scope=call_scope,
                                      region=region, funder_id=funder_id, sandbox=sandbox)

    @get("/{call_id:uuid}", opt=requires(reason="Anyone signed in."), summary="A call for projects and its versions")
    async def show(self, call_id: FromPath[uuid.UUID], calls: Calls, principal: Caller) -> schemas.FundingCall:
        return await calls.get(principal, call_id)

    @post("/{call_id:uuid}/versions", opt=requires(Role.FUNDER_ADMIN, reason=FUNDER_ADMIN),
          summary="Change a call's window or envelope: a new version, the previous ones kept (FU2)")
    async def amend(self, call_id: FromPath[uuid.UUID], data: JSONBody[schemas.FundingCallVersionCreate],
                    calls: Calls, principal: Caller) -> Response[schemas.FundingCall]:
        return created(await calls.amend(principal, call_id, data), _call_path(call_id))

    @get("/{call_id:uuid}/projects", opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS),
         summary="The projects (needs) filed to the call, with their decisions and tranches (never an offer)")
    async def projects(self, call_id: FromPath[uuid.UUID], decisions: Decisions,
                       principal: Caller) -> list[schemas.FundingProject]:
        return await decisions.projects(principal, call_id)

    @get("/{call_id:uuid}/projects/{need_id:uuid}", opt=requires(*FUNDER_MEMBERS, reason=FUNDER_READERS),
         summary="A project filed to the call")
    async def project(self, call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID], decisions: Decisions,
                      principal: Caller) -> schemas.FundingProject:
        return await decisions.project(principal, call_id, need_id)

    @post("/{call_id:uuid}/projects/{need_id:uuid}/selection", status_code=HTTP_201_CREATED,
          request_max_body_size=None, opt={**requires(*FUNDER_WRITERS, reason=INSTRUCTORS),
                                           **raw_body(*DOCUMENT_TYPES)},
          summary="Select the project: the funding decision (amount within the envelope left, date, reference) "
                  "with its signed document (raw PDF body); creates the grant's tranches 40/40/20 (FU3, N14)")
    async def select(
            self, call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID], request: Request[Any, Any, Any],
            decisions: Decisions, principal: Caller,
            amount_cents: Annotated[int, QueryParameter(name="amountCents", gt=0, le=10**15)],
            decided_on: Annotated[date, QueryParameter(name="decidedOn")],
            reference: Annotated[str, QueryParameter(name="reference", min_length=1, max_length=100)],
            x_filename: XFilename = None,
    ) -> Response[schemas.FundingProject]:
        project = await decisions.select(principal, call_id, need_id, amount_cents=amount_cents,
                                         decided_on=decided_on, reference=reference,
                                         filename=given_filename(x_filename, "decision.pdf"), **raw_upload(request))
        return created(project, _funding_path(need_id))

    @post("/{call_id:uuid}/projects/{need_id:uuid}/rejection", status_code=HTTP_201_CREATED,
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS), summary="Reject the project, with reasons (FU3)")
    async def reject(self, call_id: FromPath[uuid.UUID], need_id: FromPath[uuid.UUID],
                     data: JSONBody[schemas.RejectionCreate], decisions: Decisions,
                     principal: Caller) -> Response[schemas.FundingProject]:
        return created(await decisions.reject(principal, call_id, need_id, data), _funding_path(need_id))


class NeedFundingController(Controller):
    """A need's funding, for its holder and its call's funder: the filing (FU3), the decision, and the grant's
    tranches (FU5)."""

    path = "/needs/{need_id:uuid}"
    tags = ["Funding"]
    dependencies = _deps

    @post("/filing", status_code=HTTP_201_CREATED, opt=requires(*HOLDER_WRITERS, reason=HOLDER),
          summary="File the submitted need to the call N5 routes it to, within its window (FU3, N5, N17)")
    async def file(self, need_id: FromPath[uuid.UUID], data: JSONBody[schemas.FilingCreate], filings: Filings,
                   principal: Caller) -> Response[schemas.FundingProject]:
        return created(await filings.file(principal, need_id, data), _funding_path(need_id))

    @get("/funding", opt=requires(*HOLDER_MEMBERS, *FUNDER_MEMBERS, reason=BOTH),
         summary="The need's funding: its call, status, decision and the grant's tranches")
    async def funding(self, need_id: FromPath[uuid.UUID], tranches: Tranches,
                      principal: Caller) -> schemas.FundingProject:
        return await tranches.view(principal, need_id)

    @get("/funding/decision-document", status_code=307, opt=requires(*HOLDER_MEMBERS, *FUNDER_MEMBERS, reason=BOTH),
         summary="Download the signed funding decision (redirect to a short-lived link)", responses=_REDIRECT)
    async def decision_document(self, need_id: FromPath[uuid.UUID], decisions: Decisions,
                                principal: Caller) -> Redirect:
        return Redirect(await decisions.document_url(principal, need_id), status_code=307)

    @put("/funding/tranches/{position:int}/evidence", status_code=HTTP_200_OK, request_max_body_size=None,
          opt={**requires(*HOLDER_WRITERS, reason=HOLDER), **raw_body(*DOCUMENT_TYPES)},
          summary="Give a tranche's evidence (raw PDF body: the kick-off report, the signed acceptance report, the "
                  "usage evidence), before requesting it; a new one replaces the draft's (FU5)")
    async def evidence(self, need_id: FromPath[uuid.UUID], position: Position, request: Request[Any, Any, Any],
                       tranches: Tranches, principal: Caller, x_filename: XFilename = None) -> schemas.FundingProject:
        return await tranches.attach_evidence(principal, need_id, position,
                                               filename=given_filename(x_filename, "preuve.pdf"),
                                               **raw_upload(request))

    @get("/funding/tranches/{position:int}/evidence", status_code=307,
         opt=requires(*HOLDER_MEMBERS, *FUNDER_MEMBERS, reason=BOTH),
         summary="Download a tranche's latest evidence (redirect to a short-lived link)", responses=_REDIRECT)
    async def evidence_document(self, need_id: FromPath[uuid.UUID], position: Position, tranches: Tranches,
                                principal: Caller) -> Redirect:
        return Redirect(await tranches.evidence_url(principal, need_id, position), status_code=307)

    @post("/funding/tranches/{position:int}/request", status_code=HTTP_200_OK,
          opt=requires(*HOLDER_WRITERS, reason=HOLDER),
          summary="Request a tranche with its evidence, in order; the first once the contract is signed, the last "
                  "with the usage indicators (FU5, N15)")
    async def request_tranche(self, need_id: FromPath[uuid.UUID], position: Position,
                              data: JSONBody[schemas.TrancheRequestCreate], tranches: Tranches,
                              principal: Caller) -> schemas.FundingProject:
        return await tranches.request(principal, need_id, position, data)

    @post("/funding/tranches/{position:int}/validation", status_code=HTTP_200_OK,
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS), summary="Validate a requested tranche (FU5)")
    async def validate(self, need_id: FromPath[uuid.UUID], position: Position, tranches: Tranches,
                       principal: Caller) -> schemas.FundingProject:
        return await tranches.validate(principal, need_id, position)

    @post("/funding/tranches/{position:int}/refusal", status_code=HTTP_200_OK,
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS),
          summary="Refuse a requested tranche, with reasons: the holder may request it again (FU5)")
    async def refuse(self, need_id: FromPath[uuid.UUID], position: Position, data: JSONBody[schemas.TrancheRefusal],
                     tranches: Tranches, principal: Caller) -> schemas.FundingProject:
        return await tranches.refuse(principal, need_id, position, data)

    @post("/funding/tranches/{position:int}/payment", status_code=HTTP_200_OK,
          opt=requires(*FUNDER_WRITERS, reason=INSTRUCTORS),
          summary="Record a validated tranche's payment: date, exactly its amount, reference (FU5)")
    async def pay(self, need_id: FromPath[uuid.UUID], position: Position, data: JSONBody[schemas.TranchePayment],
                  tranches: Tranches, principal: Caller) -> schemas.FundingProject:
        return await tranches.pay(principal, need_id, position, data)
