from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_WRITERS, Role
from marketplace.lib.access import public, requires
from marketplace.lib.http import created
from marketplace.lib.openapi import answers, raw_body
from marketplace.lib.schemas import Page
from marketplace.uploads import QueryFilename, XFilename, given_filename, raw_upload
from marketplace.vendors import schemas
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.decisions import DecisionService
from marketplace.vendors.deps import (
    provide_admission_document_service,
    provide_admission_service,
    provide_decision_service,
    provide_dps_document_service,
    provide_dps_service,
    provide_optional_principal,
    provide_register_service,
)
from marketplace.vendors.documents import DPS_DOCUMENT_TYPES, AdmissionDocumentService, DpsDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.register import RegisterService

_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
         "maybe_principal": Provide(provide_optional_principal, sync_to_thread=False),
         "dps": Provide(provide_dps_service, sync_to_thread=False),
         "dps_documents": Provide(provide_dps_document_service, sync_to_thread=False),
         "admissions": Provide(provide_admission_service, sync_to_thread=False),
         "admission_documents": Provide(provide_admission_document_service, sync_to_thread=False),
         "decisions": Provide(provide_decision_service, sync_to_thread=False),
         "register": Provide(provide_register_service, sync_to_thread=False)}

Dps = NamedDependency[DpsService]
DpsDocuments = NamedDependency[DpsDocumentService]
Admissions = NamedDependency[AdmissionService]
AdmissionDocuments = NamedDependency[AdmissionDocumentService]
Decisions = NamedDependency[DecisionService]
Register = NamedDependency[RegisterService]
Caller = NamedDependency[Principal]
MaybeCaller = NamedDependency[Principal | None]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=200)]
Offset = Annotated[int, QueryParameter(name="offset", ge=0, le=1_000_000)]


class DpsController(Controller):
    path = "/dps"
    tags = ["DPS"]
    dependencies = _deps

    @post("/", opt=requires(Role.BUYER_ADMIN, reason="An administrator of a buying organisation."),
          summary="Create a DPS (draft) with its categories")
    async def create(self, data: JSONBody[schemas.DpsCreate], dps: Dps,
                     principal: Caller) -> Response[schemas.Dps]:
        created_dps = await dps.create(principal, data)
        return created(created_dps, f"{self.path}/{created_dps.id}")

    # The same for every caller, and lag-tolerant: kept Settings.public_cache_seconds in Redis (app.py).
    @get("/", opt=public("The DPS notices are public (drafts are not listed)."), summary="List DPS", cache=True)
    async def list_all(self, dps: Dps, limit: Limit = 50, offset: Offset = 0) -> Page[schemas.Dps]:
        return await dps.list_public(limit, offset)

    @get("/{dps_id:uuid}", opt=public("Public once published; a draft only to its buying organisation."),
         summary="Show a DPS and its categories")
    async def show(self, dps_id: FromPath[uuid.UUID], dps: Dps, maybe_principal: MaybeCaller) -> schemas.Dps:
        return await dps.get(dps_id, maybe_principal)

    @put("/{dps_id:uuid}/conduct-mode",
         opt=requires(Role.BUYER_ADMIN, reason="An administrator of the DPS's buying organisation, while the DPS is "
                                               "a draft."),
         summary="Set how the DPS's specific contracts are conducted (HC1): intermediation, the holder buys its "
                 "own; centralised, this buying organisation does. Fixed once the DPS is published (409)")
    async def set_conduct_mode(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.DpsConductMode], dps: Dps,
                               principal: Caller) -> schemas.Dps:
        return await dps.set_conduct_mode(principal, dps_id, data)

    @post("/{dps_id:uuid}/publish", opt=requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Send the notice: opens the initial window (≥ 30 days, D4)")
    async def publish(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.DpsPublish], dps: Dps,
                      principal: Caller) -> schemas.Dps:
        return await dps.publish(principal, dps_id, data)

    @post("/{dps_id:uuid}/activate", opt=requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Activate the DPS once its initial window has ended")
    async def activate(self, dps_id: FromPath[uuid.UUID], dps: Dps, principal: Caller) -> schemas.Dps:
        return await dps.activate(principal, dps_id)

    @post("/{dps_id:uuid}/cancel", opt=requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Cancel a DPS before it starts (draft or pending), with reasons")
    async def cancel(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons], dps: Dps,
                     principal: Caller) -> schemas.Dps:
        return await dps.cancel(principal, dps_id, data)

    @post("/{dps_id:uuid}/terminate", opt=requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Terminate an active DPS, with reasons: admissions close")
    async def terminate(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons], dps: Dps,
                        principal: Caller) -> schemas.Dps:
        return await dps.terminate(principal, dps_id, data)

    @put("/{dps_id:uuid}/documents", opt={**requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
                                          **raw_body(*DPS_DOCUMENT_TYPES)},
         request_max_body_size=None, status_code=201,
         summary="Publish a procurement document (raw body; a new version never replaces the old one)")
    async def add_document(self, dps_id: FromPath[uuid.UUID], request: Request[Any, Any, Any],
                           dps_documents: DpsDocuments, principal: Caller,
                           title: Annotated[str, QueryParameter(name="title", min_length=1, max_length=300)],
                           x_filename: XFilename = None, filename: QueryFilename = None,
                           ) -> Response[schemas.DpsDocument]:
        document = await dps_documents.add_document(
            principal, dps_id, title=title, filename=given_filename(x_filename, filename), **raw_upload(request))
        return created(document, document.download_path)

    @get("/{dps_id:uuid}/documents", opt=public("The DPS's documents are public for its whole validity (D3)."),
         summary="List the DPS's documents")
    async def documents(self, dps_id: FromPath[uuid.UUID], dps_documents: DpsDocuments,
                        maybe_principal: MaybeCaller) -> list[schemas.DpsDocument]:
        return await dps_documents.documents(dps_id, maybe_principal)

    @get("/{dps_id:uuid}/documents/{document_id:uuid}/download",
         opt={**public("The DPS's documents are public for its whole validity (D3)."), **answers(410)},
         summary="Download a document (redirect to a short-lived link)", status_code=307,
         responses={307: ResponseSpec(data_container=None, description="Redirect to the document.")})
    async def download(self, dps_id: FromPath[uuid.UUID], document_id: FromPath[uuid.UUID],
                       dps_documents: DpsDocuments, maybe_principal: MaybeCaller) -> Redirect:
        return Redirect(await dps_documents.document_url(dps_id, document_id, maybe_principal), status_code=307)

    @get("/{dps_id:uuid}/admission-queue", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
         summary="Requests awaiting a decision: overdue first, then by due date")
    async def queue(self, dps_id: FromPath[uuid.UUID], admissions: Admissions,
                    principal: Caller) -> list[schemas.AdmissionRequest]:
        return await admissions.queue(principal, dps_id)


class RegisterController(Controller):
    path = "/register"
    tags = ["DPS"]
    dependencies = _deps

    # The same for every caller, and lag-tolerant: kept Settings.public_cache_seconds in Redis (app.py).
    @get("/", opt=public("The register of admitted vendors is public."),
         summary="Vendors admitted to each category (public data only)", cache=True)
    async def register(self, register: Register,
                       dps_id: Annotated[uuid.UUID | None, QueryParameter(name="dpsId")] = None,
                       category_id: Annotated[uuid.UUID | None, QueryParameter(name="categoryId")] = None,
                       siren: Annotated[str | None, QueryParameter(name="siren", pattern=r"^\d{9}$")] = None,
                       limit: Limit = 50, offset: Offset = 0) -> Page[schemas.RegisterEntry]:
        return await register.entries(dps_id=dps_id, category_id=category_id, siren=siren, limit=limit,
                                      offset=offset)


class AdmissionController(Controller):
    path = "/admission-requests"
    tags = ["Admission"]
    dependencies = _deps

    @post("/", opt=requires(*VENDOR_WRITERS, reason="A vendor's admin or bid manager."),
          summary="Apply for admission to a category (draft)")
    async def apply(self, data: JSONBody[schemas.AdmissionCreate], admissions: Admissions,
                    principal: Caller) -> Response[schemas.AdmissionRequest]:
        request = await admissions.apply(principal, data)
        return created(request, f"{self.path}/{request.id}")

    @get("/{request_id:uuid}", opt=requires(reason="The vendor, and buyers of the DPS's organisation."),
         summary="Show an admission request")
    async def show(self, request_id: FromPath[uuid.UUID], admissions: Admissions,
                   principal: Caller) -> schemas.AdmissionRequest:
        return await admissions.show(principal, request_id)

    @put("/{request_id:uuid}/documents/{kind:str}",
         opt={**requires(*VENDOR_WRITERS, reason="The applying vendor."), **raw_body(
             "application/pdf", description="The document itself, as the raw body: a PDF, or another type "
                                            "where the category's rule for this kind lists it (`contentTypes`).")},
         request_max_body_size=None, status_code=201,
         summary="Upload a required document (raw body; streamed, hashed, checked against the category's rules)")
    async def upload(self, request_id: FromPath[uuid.UUID], kind: FromPath[str], request: Request[Any, Any, Any],
                     admission_documents: AdmissionDocuments, principal: Caller,
                     x_filename: XFilename = None, filename: QueryFilename = None,
                     valid_until: Annotated[date | None, QueryParameter(name="validUntil")] = None,
                     ) -> Response[schemas.AdmissionDocument]:
        document = await admission_documents.upload_document(
            principal, request_id, kind, filename=given_filename(x_filename, filename), valid_until=valid_until,
            **raw_upload(request))
        return created(document, f"{self.path}/{request_id}")

    @get("/{request_id:uuid}/documents/{document_id:uuid}/download",
         opt=requires(reason="The buyers of the DPS's organisation, who judge the request, and the vendor's people."),
         summary="Download a document of the request (redirect to a short-lived link; audited)", status_code=307,
         responses={307: ResponseSpec(data_container=None, description="Redirect to the document.")})
    async def download(self, request_id: FromPath[uuid.UUID], document_id: FromPath[uuid.UUID],
                       admission_documents: AdmissionDocuments, principal: Caller) -> Redirect:
        return Redirect(await admission_documents.admission_document_url(principal, request_id, document_id),
                        status_code=307)

    @post("/{request_id:uuid}/submit", opt=requires(*VENDOR_WRITERS, reason="The applying vendor."),
          status_code=HTTP_200_OK, summary="Submit (or resubmit after a documents request): returns the receipt")
    async def submit(self, request_id: FromPath[uuid.UUID], admissions: Admissions,
                     principal: Caller) -> schemas.Receipt:
        return await admissions.submit(principal, request_id)

    @post("/{request_id:uuid}/withdraw", opt=requires(*VENDOR_WRITERS, reason="The applying vendor."),
          status_code=HTTP_200_OK, summary="Withdraw the request or the admission")
    async def withdraw(self, request_id: FromPath[uuid.UUID], admissions: Admissions,
                       principal: Caller) -> schemas.AdmissionRequest:
        return await admissions.withdraw(principal, request_id)

    @post("/{request_id:uuid}/request-documents", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Ask the vendor for missing documents (suspends the clock)")
    async def request_documents(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.DocumentsRequest],
                                decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.request_documents(principal, request_id, data)

    @post("/{request_id:uuid}/extend", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Extend the evaluation to 15 working days, with a reason (D6)")
    async def extend(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons],
                     decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.extend(principal, request_id, data)

    @post("/{request_id:uuid}/admit", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Admit the vendor to the category")
    async def admit(self, request_id: FromPath[uuid.UUID], decisions: Decisions,
                    principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.admit(principal, request_id)

    @post("/{request_id:uuid}/reject", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Reject the request, with reasons")
    async def reject(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons],
                     decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.reject(principal, request_id, data)


class LivingAdmissionController(Controller):
    """After admission: sanctions by the buyer, updated self-declarations (D11)."""

    path = "/admission-requests"
    tags = ["Admission"]
    dependencies = _deps

    @post("/{request_id:uuid}/suspend", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Suspend an admitted vendor, with reasons")
    async def suspend(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons],
                      decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.suspend(principal, request_id, data)

    @post("/{request_id:uuid}/reinstate", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Lift a suspension")
    async def reinstate(self, request_id: FromPath[uuid.UUID], decisions: Decisions,
                        principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.reinstate(principal, request_id)

    @post("/{request_id:uuid}/exclude", opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK, summary="Exclude an admitted vendor, with reasons")
    async def exclude(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.Reasons],
                      decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.exclude(principal, request_id, data)

    @post("/{request_id:uuid}/declaration-request",
          opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation."), status_code=HTTP_200_OK,
          summary="Ask an admitted vendor for an updated self-declaration (due in 5 working days, D11)")
    async def request_declaration(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.DocumentsRequest],
                                  decisions: Decisions, principal: Caller) -> schemas.AdmissionRequest:
        return await decisions.request_declaration(principal, request_id, data)

    @put("/{request_id:uuid}/self-declaration", opt=requires(*VENDOR_WRITERS, reason="The applying vendor."),
         summary="Update the self-declaration (before submission, or when the buyer asked for it)")
    async def update_declaration(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.SelfDeclaration],
                                 admissions: Admissions, principal: Caller) -> schemas.AdmissionRequest:
        return await admissions.update_declaration(principal, request_id, data)
