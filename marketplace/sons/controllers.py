"""Routes of SONS purchase-for-account (domain.md §5 with §12): dispositifs, referenced solutions, the vendors' ASP
enrolment, orders and their requests to the ASP (thin: each calls one service method)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, MediaType, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import (
    HOLDER_WRITERS,
    SONS_OPERATORS,
    SONS_ORDER_READERS,
    VENDOR_MEMBERS,
    VENDOR_WRITERS,
    Role,
)
from marketplace.awards.contracts import SIGNATURE_TYPES
from marketplace.lib.access import public, requires
from marketplace.lib.http import created
from marketplace.lib.openapi import answers, raw_body
from marketplace.sons import schemas
from marketplace.sons.asp import INVOICE_TYPES, AspService
from marketplace.sons.deps import (
    provide_dispositif_service,
    provide_enrolment_service,
    provide_export_service,
    provide_order_imports,
    provide_order_service,
    provide_report_service,
    provide_solution_service,
)
from marketplace.sons.dispositifs import DispositifService
from marketplace.sons.exports import SCHEMA_PATH, ExportService, payment_request_schema
from marketplace.sons.imports import MEDIA_TYPES as IMPORT_TYPES
from marketplace.sons.imports import OrderImports
from marketplace.sons.reports import ReportDimension, ReportService, report_csv
from marketplace.sons.solutions import EnrolmentService, SolutionService
from marketplace.sons.states import AspStatus, MssCase, OrderStatus, RequestKind, SignatureMethod
from marketplace.uploads import raw_upload

Caller = NamedDependency[Principal]
Dispositifs = NamedDependency[DispositifService]
Solutions = NamedDependency[SolutionService]
Enrolments = NamedDependency[EnrolmentService]
Orders = NamedDependency[AspService]
Imports = NamedDependency[OrderImports]
Reports = NamedDependency[ReportService]
Exports = NamedDependency[ExportService]
Name = Annotated[str, QueryParameter(name="signatoryName", min_length=1, max_length=200)]

OPERATOR = "The platform operator: it keeps the dispositifs and records what the ASP decides (SN1, SN5)."
VENDOR = "The vendor's admin or bid manager, for its own vendor."
ORDER_READERS = ("Members of the order's vendor and OG, the operator, and read-only the members of the ARS of a "
                 "region where one of its sites is (anyone else: 404).")
ORDER_VENDOR = "The order's vendor's admin or bid manager (its OG's members: 403; anyone else: 404)."
ORDER_HOLDER = "The order's OG's admin or project lead (its vendor's members: 403; anyone else: 404)."
ORDER_OPERATOR = "The operator, recording the ASP's decision (SN5)."
_deps = {"principal": Provide(provide_principal, sync_to_thread=False),
         "dispositifs": Provide(provide_dispositif_service, sync_to_thread=False),
         "solutions": Provide(provide_solution_service, sync_to_thread=False),
         "enrolments": Provide(provide_enrolment_service, sync_to_thread=False),
         "orders": Provide(provide_order_service, sync_to_thread=False),
         "imports": Provide(provide_order_imports, sync_to_thread=False),
         "reports": Provide(provide_report_service, sync_to_thread=False),
         "exports": Provide(provide_export_service, sync_to_thread=False)}


def _order_path(order_id: uuid.UUID) -> str:
    return f"/sons/orders/{order_id}"


class SonsReferenceController(Controller):
    """The dispositifs with their calendars and ceilings (SN1), the referenced solutions and the ASP enrolment."""

    path = "/sons"
    tags = ["SONS"]
    dependencies = _deps

    @post("/dispositifs", opt=requires(*SONS_OPERATORS, reason=OPERATOR),
          summary="Create a dispositif with the first version of its calendar (SN1)")
    async def create_dispositif(self, data: JSONBody[schemas.DispositifCreate], dispositifs: Dispositifs,
                                principal: Caller) -> Response[schemas.Dispositif]:
        dispositif = await dispositifs.create(principal, data)
        return created(dispositif, f"/sons/dispositifs/{dispositif.id}")

    @get("/dispositifs", opt=requires(reason="Anyone signed in."),
         summary="The dispositifs, each with its calendar versions and its ceiling table in force")
    async def list_dispositifs(self, dispositifs: Dispositifs, principal: Caller) -> list[schemas.Dispositif]:
        return await dispositifs.list_all()

    @get("/dispositifs/{dispositif_id:uuid}", opt=requires(reason="Anyone signed in."), summary="A dispositif")
    async def show_dispositif(self, dispositif_id: FromPath[uuid.UUID], dispositifs: Dispositifs,
                              principal: Caller) -> schemas.Dispositif:
        return await dispositifs.get(dispositif_id)

    @post("/dispositifs/{dispositif_id:uuid}/calendars", opt=requires(*SONS_OPERATORS, reason=OPERATOR),
          summary="A calendar change (an arrêté): a new version with its reason, the previous ones kept (SN1)")
    async def amend_calendar(self, dispositif_id: FromPath[uuid.UUID], data: JSONBody[schemas.CalendarCreate],
                             dispositifs: Dispositifs, principal: Caller) -> Response[schemas.Dispositif]:
        return created(await dispositifs.amend_calendar(principal, dispositif_id, data),
                       f"/sons/dispositifs/{dispositif_id}")

    @post("/solutions", opt=requires(*VENDOR_WRITERS, reason=VENDOR),
          summary="List a solution version referenced by the ANS on a dispositif (or being referenced, SN3)")
    async def create_solution(self, data: JSONBody[schemas.SolutionCreate], solutions: Solutions,
                              principal: Caller) -> Response[schemas.Solution]:
        solution = await solutions.create(principal, data)
        return created(solution, f"/sons/solutions/{solution.id}")

    @get("/solutions", opt=requires(reason="Anyone signed in: an OG looks for a referenced solution."),
         summary="The active referenced solutions (by dispositif or vendor)")
    async def list_solutions(
            self, solutions: Solutions, principal: Caller,
            dispositif_id: Annotated[uuid.UUID | None, QueryParameter(name="dispositifId")] = None,
            vendor_id: Annotated[uuid.UUID | None, QueryParameter(name="vendorOrganisationId")] = None,
    ) -> list[schemas.Solution]:
        return await solutions.list_all(dispositif_id=dispositif_id, vendor_id=vendor_id)

    @get("/solutions/{solution_id:uuid}", opt=requires(reason="Anyone signed in."), summary="A solution")
    async def show_solution(self, solution_id: FromPath[uuid.UUID], solutions: Solutions,
                            principal: Caller) -> schemas.Solution:
        return await solutions.get(solution_id)

    @post("/solutions/{solution_id:uuid}/withdrawal", status_code=HTTP_200_OK,
          opt=requires(*VENDOR_WRITERS, Role.PLATFORM_ADMIN,
                       reason="Its vendor's admin or bid manager, or the operator."),
          summary="Withdraw a solution: it takes no new order (the orders made keep it)")
    async def withdraw_solution(self, solution_id: FromPath[uuid.UUID], solutions: Solutions,
                                principal: Caller) -> schemas.Solution:
        return await solutions.withdraw(principal, solution_id)

    @post("/enrolments", opt=requires(*VENDOR_WRITERS, reason=VENDOR),
          summary="Record the vendor's ASP enrolment: IBAN (and RIB key), VAT status, reference, ANS number (SN3)")
    async def enrol(self, data: JSONBody[schemas.EnrolmentCreate], enrolments: Enrolments,
                    principal: Caller) -> Response[schemas.Enrolment]:
        return created(await enrolments.enrol(principal, data), "/sons/enrolment")

    @get("/enrolment", opt={**requires(*VENDOR_MEMBERS, Role.PLATFORM_ADMIN,
                                       reason="The vendor's members, and the operator (naming the vendor)."),
                            **answers(404)},  # none recorded yet
         summary="The vendor's current ASP enrolment")
    async def enrolment(self, enrolments: Enrolments, principal: Caller,
                        vendor_id: Annotated[uuid.UUID | None, QueryParameter(name="vendorOrganisationId")] = None,
                        ) -> schemas.Enrolment:
        return await enrolments.current(principal, vendor_id)


class SonsOrderController(Controller):
    """Orders (bons de commande) and their requests to the ASP (SN2–SN7, G16)."""

    path = "/sons"
    tags = ["SONS"]
    dependencies = _deps

    @post("/orders", opt=requires(*VENDOR_WRITERS, reason=VENDOR),
          summary="Draft an order for an OG's sites: solution, scenario, tranche, HT ≤ ceiling, VAT, TTC (SN1–SN4)")
    async def create_order(self, data: JSONBody[schemas.OrderCreate], orders: Orders,
                           principal: Caller) -> Response[schemas.Order]:
        order = await orders.create(principal, data)
        return created(order, _order_path(order.id))

    @post("/order-imports", status_code=HTTP_200_OK, request_max_body_size=None,
          opt={**requires(*VENDOR_WRITERS, reason=VENDOR), **raw_body(*IMPORT_TYPES)},
          summary="Import the vendor's orders from CSV (raw body, one row per site; README \"SONS orders\"): the "
                  "guards of POST /sons/orders per order, refused rows reported by line; nothing created twice")
    async def import_orders(self, request: Request[Any, Any, Any], imports: Imports, principal: Caller,
                            vendor_id: Annotated[uuid.UUID | None, QueryParameter(name="vendorOrganisationId")]
                            = None) -> schemas.ImportReport:
        return await imports.upload(principal, vendor_id, **raw_upload(request))

    @get("/orders", opt=requires(*SONS_ORDER_READERS, reason=ORDER_READERS),
         summary="The orders of the caller's vendors and OGs (the operator: all)")
    async def list_orders(self, orders: Orders, principal: Caller,
                          status: Annotated[OrderStatus | None, QueryParameter(name="status")] = None,
                          ) -> list[schemas.Order]:
        return await orders.list_all(principal, status)

    @post("/orders/expiry", status_code=HTTP_200_OK, opt=requires(*SONS_OPERATORS, reason=OPERATOR),
          summary="Expire the deployed or accepted orders past their deployment deadline (§12); returns them")
    async def expire(self, orders: Orders, principal: Caller) -> list[schemas.Order]:
        return await orders.expire(principal)

    @get("/reports/orders", opt=requires(*SONS_ORDER_READERS, reason=ORDER_READERS + " Each reads its orders."),
         summary="Orders per dispositif, wave, region, vendor, status or ASP status: counts, HT/TTC, paid, at risk "
                 "(deployment deadline within 30 days); JSON, or CSV with ?format=csv or Accept: text/csv")
    async def report(self, request: Request[Any, Any, Any], reports: Reports, principal: Caller,
                     by: Annotated[ReportDimension, QueryParameter(name="by")] = ReportDimension.DISPOSITIF,
                     output: Annotated[Literal["json", "csv"] | None, QueryParameter(name="format")] = None,
                     ) -> Response[schemas.OrderReport]:
        report = await reports.report(principal, by)
        if output == "csv" or (output is None and request.accept.best_match(
                [MediaType.JSON, "text/csv"], default=MediaType.JSON) == "text/csv"):
            return Response(report_csv(report), media_type="text/csv; charset=utf-8",  # type: ignore[arg-type]
                            headers={"Content-Disposition": f'attachment; filename="sons-orders-by-{by.value}.csv"'})
        return Response(report)

    @get(SCHEMA_PATH.removeprefix("/sons"), opt=public("A published JSON Schema: documentation, no data."),
         summary="The JSON Schema (draft 2020-12) of an exported ASP payment request (GET /sons/payment-requests)",
         media_type="application/schema+json")
    async def payment_request_schema(self) -> dict[str, Any]:
        return payment_request_schema()

    @get("/payment-requests", opt=requires(*SONS_ORDER_READERS, reason=ORDER_READERS),
         summary="The ASP payment requests (advance, amendments, balance) of the caller's orders as JSON documents "
                 "of the published shape (GET /sons/schemas/payment-request.json)")
    async def payment_requests(
            self, exports: Exports, principal: Caller,
            order_id: Annotated[uuid.UUID | None, QueryParameter(name="orderId")] = None,
            kind: Annotated[RequestKind | None, QueryParameter(name="kind")] = None,
            status: Annotated[AspStatus | None, QueryParameter(name="status")] = None,
    ) -> list[schemas.PaymentRequestDocument]:
        return await exports.documents(principal, order_id=order_id, kind=kind, status=status)

    @get("/payment-requests/{request_id:uuid}", opt=requires(*SONS_ORDER_READERS, reason=ORDER_READERS),
         summary="One ASP payment request as a JSON document of the published shape")
    async def payment_request(self, request_id: FromPath[uuid.UUID], exports: Exports,
                              principal: Caller) -> schemas.PaymentRequestDocument:
        return await exports.document(principal, request_id)

    @get("/orders/{order_id:uuid}", opt=requires(*SONS_ORDER_READERS, reason=ORDER_READERS),
         summary="An order with its sites, signatures and ASP requests (with their status history)")
    async def show_order(self, order_id: FromPath[uuid.UUID], orders: Orders, principal: Caller) -> schemas.Order:
        return await orders.get(principal, order_id)

    @put("/orders/{order_id:uuid}/signature", status_code=HTTP_200_OK, request_max_body_size=None,
         opt={**requires(*HOLDER_WRITERS, reason=ORDER_HOLDER), **raw_body(*SIGNATURE_TYPES)},
         summary="The OG signs its order: the signed document (raw body: PAdES, CAdES or XAdES) checked as a "
                 "contract's (G16), by the order deadline (SN1), pre-referencing window (SN3)")
    async def sign(self, order_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], orders: Orders,
                   principal: Caller, signatory_name: Name,
                   method: Annotated[SignatureMethod, QueryParameter(name="method")],
                   signatory_role: Annotated[str | None, QueryParameter(name="signatoryRole", min_length=1,
                                                                        max_length=200)] = None) -> schemas.Order:
        return await orders.sign(principal, order_id, signatory_name=signatory_name, signatory_role=signatory_role,
                                 method=method, **raw_upload(request))

    @post("/orders/{order_id:uuid}/advance", status_code=HTTP_201_CREATED,
          opt=requires(*VENDOR_WRITERS, reason=ORDER_VENDOR),
          summary="File the signed order's advance at the ASP (its calendar's share of the TTC, SN1, SN5)")
    async def advance(self, order_id: FromPath[uuid.UUID], orders: Orders,
                      principal: Caller) -> Response[schemas.Order]:
        return created(await orders.file_advance(principal, order_id), _order_path(order_id))

    @post("/orders/{order_id:uuid}/amendments", status_code=HTTP_201_CREATED,
          opt=requires(*VENDOR_WRITERS, reason=ORDER_VENDOR),
          summary="File an amendment of the paid advance (SN5), never past the TTC")
    async def amendment(self, order_id: FromPath[uuid.UUID], data: JSONBody[schemas.AmendmentCreate],
                        orders: Orders, principal: Caller) -> Response[schemas.Order]:
        return created(await orders.file_amendment(principal, order_id, data), _order_path(order_id))

    @post("/orders/{order_id:uuid}/deployment", status_code=HTTP_200_OK,
          opt=requires(*VENDOR_WRITERS, reason=ORDER_VENDOR),
          summary="Declare the solution deployed (the advance paid), by the deployment deadline (SN1)")
    async def deploy(self, order_id: FromPath[uuid.UUID], orders: Orders, principal: Caller) -> schemas.Order:
        return await orders.deploy(principal, order_id)

    @put("/orders/{order_id:uuid}/acceptance", status_code=HTTP_200_OK, request_max_body_size=None,
         opt={**requires(*HOLDER_WRITERS, reason=ORDER_HOLDER), **raw_body(*SIGNATURE_TYPES)},
         summary="The OG signs its VA or MOM (raw body, checked as G16), with its MSS case for MS1/MS2 (SN6, SN7)")
    async def accept(self, order_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], orders: Orders,
                     principal: Caller, signatory_name: Name,
                     mss_case: Annotated[MssCase | None, QueryParameter(name="mssCase")] = None,
                     mss_address: Annotated[str | None, QueryParameter(name="mssAddress", min_length=3,
                                                                       max_length=300)] = None) -> schemas.Order:
        return await orders.accept(principal, order_id, signatory_name=signatory_name, mss_case=mss_case,
                                   mss_address=mss_address, **raw_upload(request))

    @put("/orders/{order_id:uuid}/balance", status_code=HTTP_201_CREATED, request_max_body_size=None,
         opt={**requires(*VENDOR_WRITERS, reason=ORDER_VENDOR), **raw_body(*INVOICE_TYPES)},
         summary="File the balance with the single 100 % invoice (raw Factur-X PDF): totals and buyer checked "
                 "(SN7), every amendment DECIDED_PAID (SN5), the VA's MSS case (SN6)")
    async def balance(self, order_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], orders: Orders,
                      principal: Caller, mss_case: Annotated[MssCase | None, QueryParameter(name="mssCase")] = None,
                      ) -> Response[schemas.Order]:
        return created(await orders.file_balance(principal, order_id, mss_case=mss_case, **raw_upload(request)),
                       _order_path(order_id))

    @post("/orders/{order_id:uuid}/cancellation", status_code=HTTP_200_OK,
          opt=requires(*SONS_OPERATORS, reason=ORDER_OPERATOR),
          summary="Record the ASP's cancellation on the vendor's sworn statement; what was paid is to be recovered")
    async def cancel(self, order_id: FromPath[uuid.UUID], data: JSONBody[schemas.CancellationCreate],
                     orders: Orders, principal: Caller) -> schemas.Order:
        return await orders.cancel(principal, order_id, data)

    @post("/asp-requests/{request_id:uuid}/statuses", status_code=HTTP_200_OK,
          opt=requires(*SONS_OPERATORS, reason=ORDER_OPERATOR),
          summary="Record a status the ASP gave a request (SN5: checked against its machine; nothing paid twice)")
    async def record_status(self, request_id: FromPath[uuid.UUID], data: JSONBody[schemas.AspStatusCreate],
                            orders: Orders, principal: Caller) -> schemas.Order:
        return await orders.record_status(principal, request_id, data)

    @post("/asp-requests/{request_id:uuid}/refile", status_code=HTTP_200_OK,
          opt=requires(*VENDOR_WRITERS, reason=ORDER_VENDOR),
          summary="File again a request the ASP found INCOMPLETE or TO_MODIFY (SN5)")
    async def refile(self, request_id: FromPath[uuid.UUID], orders: Orders, principal: Caller) -> schemas.Order:
        return await orders.refile(principal, request_id)
