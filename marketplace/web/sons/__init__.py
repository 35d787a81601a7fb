"""SONS orders (ui.md "SONS orders"; domain.md §5 with §12): the list with its filters, its counts by status and
its CSV export, headed for an OG or a vendor by the orders awaiting its own act; an order's file with its sites,
amounts, ASP requests and acceptance, its timeline and what is awaited next and from whom; the operator's acts on it
(record an ASP status, cancel on the vendor's sworn statement), the export of its payment requests as JSON, and the
parties' acts: the OG signs its order and its VA (or MOM), the vendor files the advance, its amendments and the
balance, declares the deployment and files again a request the ASP sent back.

The pages call the services the API's routes call (sons/controllers.py), with the same role sets: reading is
SONS_ORDER_READERS (the operator reads every order, a funder's members the orders of their region, an order's
vendor and OG their own; anyone else gets a 404 from the service), acting is SONS_OPERATORS. The list is
`OrderListService.search` (scoped by `access.visible_orders`, as GET /sons/orders), the chart
`ReportService.report` (GET /sons/reports/orders?by=status), the file `AspService.get` (GET /sons/orders/{id}),
the acts `AspService.record_status` and `AspService.cancel`, the JSON `ExportService.documents`
(GET /sons/payment-requests?orderId=…). The parties' acts call the services of the API's order routes under the same
role sets: HOLDER_WRITERS `sign` (PUT …/signature) and `accept` (PUT …/acceptance); VENDOR_WRITERS `file_advance`
(POST …/advance), `file_amendment` (POST …/amendments), `deploy` (POST …/deployment), `file_balance`
(PUT …/balance) and `refile` (POST /sons/asp-requests/{id}/refile). A form is offered only to who may do the act and
only in the states §12's machine allows it (states.py, `order_acts`); the service decides all the same, and what it
refuses is shown on the error page with its rule.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.roles import HOLDER_WRITERS, SONS_OPERATORS, SONS_ORDER_READERS, VENDOR_WRITERS
from marketplace.errors import RuleViolation
from marketplace.lib.access import requires
from marketplace.sons import schemas
from marketplace.sons.asp import AspService
from marketplace.sons.deps import (
    provide_export_service,
    provide_order_list_service,
    provide_order_service,
    provide_report_service,
)
from marketplace.sons.exports import ExportService
from marketplace.sons.listing import LIST_MAX, OrderListService
from marketplace.sons.reports import ReportDimension, ReportService, report_csv
from marketplace.sons.states import CANCELLABLE, AspStatus, MssCase, RequestKind, SignatureMethod
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.sons._acts import (
    ACT_LABELS,
    INVOICE_ACCEPT,
    SIGNATURE_ACCEPT,
    AcceptanceForm,
    AmendmentForm,
    BalanceForm,
    CancellationForm,
    SignatureForm,
    StatusForm,
    attached,
    awaited,
    awaiting_me,
    cents_of,
    converted,
    mss_case_of,
    order_acts,
    raw_upload_of,
    signatory,
    status_choices,
    timeline,
)
from marketplace.web.sons._labels import (
    ASP_LABELS,
    CATEGORY_LABELS,
    KIND_LABELS,
    METHOD_LABELS,
    ORDER_LABELS,
    REGION_LABELS,
    RISK_LABELS,
    SORT_LABELS,
    VERDICT_LABELS,
)
from marketplace.web.sons._listing import (
    BAR_GAP,
    BAR_HEIGHT,
    BASE,
    CHART_WIDTH,
    CSV_HEADER,
    PAGE_SIZES,
    Asp,
    Dispositif,
    Editeur,
    Filters,
    Numero,
    Og,
    Ordre,
    Region,
    Risque,
    Search,
    Taille,
    Tri,
    Vague,
    chart_bars,
    csv_rows,
)
from marketplace.web.tables import csv_download, euros_cell

_READERS = ("The operator (every order), a funder's members (read-only, the orders of their region), an order's "
            "vendor and OG, as GET /sons/orders; anyone else: 404.")
_OPERATOR = "The operator, recording what the ASP decides (SN5), as the API's route."
_HOLDER = ("The order's OG's admin or project lead, as PUT /sons/orders/{id}/signature and …/acceptance (its vendor's "
           "members: 403; anyone else: 404, from the service).")
_VENDOR = ("The order's vendor's admin or bid manager, as the API's advance, amendments, deployment, balance and "
           "refile routes (its OG's members: 403; anyone else: 404, from the service).")

Orders = NamedDependency[AspService]
Listing = NamedDependency[OrderListService]
Reports = NamedDependency[ReportService]
Exports = NamedDependency[ExportService]
Form = RequestEncodingType.URL_ENCODED


class SonsPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "orders": Provide(provide_order_service, sync_to_thread=False),
                    "listing": Provide(provide_order_list_service, sync_to_thread=False),
                    "reports": Provide(provide_report_service, sync_to_thread=False),
                    "exports": Provide(provide_export_service, sync_to_thread=False)}

    @get("/", opt=requires(*SONS_ORDER_READERS, reason=_READERS), name="web.sons.list")
    async def index(self, principal: Caller, viewer: Viewer, listing: Listing, reports: Reports, orders: Orders,
                    dispositif: Dispositif = "", vague: Vague = "", editeur: Editeur = "", og: Og = "",
                    region: Region = "", statut_asp: Asp = "", risque: Risque = "", q: Search = "",
                    tri: Tri = "deadline", ordre: Ordre = "asc", taille: Taille = 25, page: Numero = 1) -> Template:
        filters = Filters(dispositif=dispositif, vague=int(vague) if vague else None,
                          editeur=uuid.UUID(editeur) if editeur else None, og=uuid.UUID(og) if og else None,
                          region=region, statut_asp=statut_asp,
                          risque=risque, q=q, tri=tri, ordre=ordre, taille=taille, page=page)
        found = await listing.search(principal, **filters.service_args(), limit=taille, offset=(page - 1) * taille)
        todo = await awaiting_me(principal, orders)
        # The counts by status: GET /sons/reports/orders?by=status, the caller's orders (not the filter).
        by_status = await reports.report(principal, ReportDimension.STATUS)
        bars = chart_bars(by_status)
        return Template("sons_list.html", context={
            "viewer": viewer, "title": "Commandes SONS", "found": found, "filters": filters,
            "pages": max(1, -(-found.total // taille)), "choices": await listing.choices(principal),
            "report": by_status, "bars": bars, "chart": {"width": CHART_WIDTH, "bar": BAR_HEIGHT,
                                                         "height": max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP)},
            "labels": ORDER_LABELS, "asp_labels": ASP_LABELS, "risks": RISK_LABELS, "sorts": SORT_LABELS,
            "regions": REGION_LABELS, "sizes": PAGE_SIZES, "todo": todo, "act_labels": ACT_LABELS})

    @get("/export.csv", opt=requires(*SONS_ORDER_READERS, reason=_READERS), name="web.sons.export")
    async def export(self, principal: Caller, listing: Listing, dispositif: Dispositif = "", vague: Vague = "",
                     editeur: Editeur = "", og: Og = "", region: Region = "", statut_asp: Asp = "", risque: Risque = "",
                     q: Search = "", tri: Tri = "deadline", ordre: Ordre = "asc") -> Stream:
        filters = Filters(dispositif=dispositif, vague=int(vague) if vague else None,
                          editeur=uuid.UUID(editeur) if editeur else None, og=uuid.UUID(og) if og else None,
                          region=region, statut_asp=statut_asp,
                          risque=risque, q=q, tri=tri, ordre=ordre)
        # The whole filter, read inside the request, encoded as it is sent.
        found = await listing.search(principal, **filters.service_args(), limit=LIST_MAX, offset=0)
        return csv_download("commandes-sons.csv", CSV_HEADER, csv_rows(found.items))

    @get("/rapport.csv", opt=requires(*SONS_ORDER_READERS, reason=_READERS), name="web.sons.report")
    async def report(self, principal: Caller, reports: Reports,
                     by: Annotated[ReportDimension, QueryParameter(name="par")] = ReportDimension.STATUS,
                     ) -> Response[str]:
        # The same service and CSV as GET /sons/reports/orders?format=csv.
        found = await reports.report(principal, by)
        return Response(report_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="sons-orders-by-{by.value}.csv"'})

    @get("/commandes/{order_id:uuid}", opt=requires(*SONS_ORDER_READERS, reason=_READERS), name="web.sons.show")
    async def show(self, order_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, orders: Orders,
                   listing: Listing) -> Template:
        order = await orders.get(principal, order_id)  # another's order: 404, from the service
        listed = (await listing.search(principal, order_id=order_id, limit=1)).items[0]
        operator = principal.is_platform_admin
        acts = order_acts(principal, order, orders.clock.now())
        return Template("sons_order.html", context={
            "viewer": viewer, "title": f"Commande SONS {order.order_ref}", "order": order, "listed": listed,
            "labels": ORDER_LABELS, "asp_labels": ASP_LABELS, "kinds": KIND_LABELS, "regions": REGION_LABELS,
            "base": f"{BASE}/commandes/{order_id}",
            "status_choices": {r.id: status_choices(r) for r in order.requests} if operator else {},
            "can_cancel": operator and order.status in CANCELLABLE,
            "acts": acts, "awaited": awaited(order), "timeline": timeline(order), "methods": METHOD_LABELS,
            "verdicts": VERDICT_LABELS, "categories": CATEGORY_LABELS, "mss_cases": [c.value for c in MssCase],
            "signature_accept": SIGNATURE_ACCEPT, "invoice_accept": INVOICE_ACCEPT,
            "refilable": (AspStatus.INCOMPLETE, AspStatus.TO_MODIFY)})

    @get("/commandes/{order_id:uuid}/demandes-de-paiement.json", opt=requires(*SONS_ORDER_READERS, reason=_READERS),
         name="web.sons.payment_requests")
    async def payment_requests(self, order_id: FromPath[uuid.UUID], principal: Caller, orders: Orders,
                               exports: Exports,
                               kind: Annotated[RequestKind | None, QueryParameter(name="kind")] = None,
                               ) -> Response[list[schemas.PaymentRequestDocument]]:
        await orders.get(principal, order_id)  # 404 for an order the caller may not read, as GET /sons/orders/{id}
        documents = await exports.documents(principal, order_id=order_id, kind=kind)
        return Response(documents, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="demandes-de-paiement-{order_id}.json"'})

    @post("/demandes-asp/{request_id:uuid}/statuts", opt=requires(*SONS_OPERATORS, reason=_OPERATOR),
          status_code=303, name="web.sons.record_status")
    async def record_status(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID],
                            principal: Caller, orders: Orders,
                            data: Annotated[StatusForm, Body(media_type=Form)]) -> Redirect:
        body = converted(schemas.AspStatusCreate, {
            "status": data.status.strip(), "note": data.note.strip() or None, "paidCents": cents_of(data.paye)},
            "SN5")
        order = await orders.record_status(principal, request_id, body)
        return done(request, f"{BASE}/commandes/{order.id}",
                    f"Statut ASP enregistré : {ASP_LABELS[body.status.value]}.")

    @post("/commandes/{order_id:uuid}/annulation", opt=requires(*SONS_OPERATORS, reason=_OPERATOR),
          status_code=303, name="web.sons.cancel")
    async def cancel(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders, data: Annotated[CancellationForm, Body(media_type=Form)]) -> Redirect:
        body = converted(schemas.CancellationCreate, {
            "swornStatement": data.sworn_statement.strip(),
            "clientRenunciation": data.client_renunciation in ("on", "true", "1")}, "§5.3")
        order = await orders.cancel(principal, order_id, body)
        recovery = f" ; {order.recovery_cents / 100:.2f} € à recouvrer".replace(".", ",") \
            if order.recovery_cents else ""
        return done(request, f"{BASE}/commandes/{order_id}", f"La commande est annulée{recovery}.")

    # -- the parties' acts: each the service of its API route, under the same role set ------------------------

    @post("/commandes/{order_id:uuid}/signature", opt=requires(*HOLDER_WRITERS, reason=_HOLDER), status_code=303,
          request_max_body_size=None, name="web.sons.sign")
    async def sign(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                   orders: Orders, data: Annotated[SignatureForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                   ) -> Redirect:
        await orders.get(principal, order_id)  # another's order: 404 before the form is judged
        name = signatory(data.signataire)
        try:
            method = SignatureMethod(data.methode)
        except ValueError:
            raise RuleViolation("method: how the OG signed (CPx card, Pro Santé Connect, RGS certificate, eIDAS)",
                                field="method", rule="§5.3") from None
        role = data.qualite.strip()
        if len(role) > 200:
            raise RuleViolation("signatoryRole: at most 200 characters", field="signatoryRole", rule="§5.3")
        document = attached(data.document, "the signed order (PAdES PDF, CAdES or XAdES)", "G16")
        order = await orders.sign(principal, order_id, signatory_name=name, signatory_role=role or None,
                                  method=method, **raw_upload_of(document))
        verdict = VERDICT_LABELS.get(str((order.signature.verification or {}).get("verdict")), "vérifiée") \
            if order.signature else "vérifiée"
        return done(request, f"{BASE}/commandes/{order_id}",
                    f"Bon de commande signé : signature {verdict} (G16). L'éditeur peut déposer la demande d'avance.")

    @post("/commandes/{order_id:uuid}/avance", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          name="web.sons.advance")
    async def advance(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                      orders: Orders) -> Redirect:
        order = await orders.file_advance(principal, order_id)
        filed = next(r for r in reversed(order.requests) if r.kind is RequestKind.ADVANCE)
        return done(request, f"{BASE}/commandes/{order_id}",
                    f"Demande d'avance déposée à l'ASP : {euros_cell(filed.amount_cents)} €.")

    @post("/commandes/{order_id:uuid}/avenants", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          name="web.sons.amend")
    async def amend(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                    orders: Orders, data: Annotated[AmendmentForm, Body(media_type=Form)]) -> Redirect:
        cents = cents_of(data.montant.strip())
        body = converted(schemas.AmendmentCreate, {"amountCents": 0 if cents is None else cents}, "SN5")
        order = await orders.file_amendment(principal, order_id, body)
        filed = max((r for r in order.requests if r.kind is RequestKind.AMENDMENT), key=lambda r: r.position)
        return done(request, f"{BASE}/commandes/{order_id}", f"Avenant n° {filed.position} déposé à l'ASP.")

    @post("/commandes/{order_id:uuid}/deploiement", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          name="web.sons.deploy")
    async def deploy(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders) -> Redirect:
        await orders.deploy(principal, order_id)
        return done(request, f"{BASE}/commandes/{order_id}",
                    "Déploiement déclaré : l'OG peut signer la vérification d'aptitude.")

    @post("/commandes/{order_id:uuid}/va", opt=requires(*HOLDER_WRITERS, reason=_HOLDER), status_code=303,
          request_max_body_size=None, name="web.sons.accept")
    async def accept(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders, data: Annotated[AcceptanceForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                     ) -> Redirect:
        await orders.get(principal, order_id)
        name = signatory(data.signataire)
        address = data.adresse_mss.strip() or None
        if address is not None and not 3 <= len(address) <= 300:
            raise RuleViolation("mssAddress: 3 to 300 characters", field="mssAddress", rule="SN6")
        document = attached(data.document, "the signed VA or MOM (PAdES PDF, CAdES or XAdES)", "G16")
        await orders.accept(principal, order_id, signatory_name=name, mss_case=mss_case_of(data.cas_mss),
                            mss_address=address, **raw_upload_of(document))
        return done(request, f"{BASE}/commandes/{order_id}",
                    "Vérification d'aptitude signée (G16) : l'éditeur peut déposer la demande de solde.")

    @post("/commandes/{order_id:uuid}/solde", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          request_max_body_size=None, name="web.sons.balance")
    async def balance(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                      orders: Orders, data: Annotated[BalanceForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                      ) -> Redirect:
        await orders.get(principal, order_id)
        invoice = attached(data.facture, "the single 100 % Factur-X invoice (PDF)", "SN7")
        await orders.file_balance(principal, order_id, mss_case=mss_case_of(data.cas_mss), **raw_upload_of(invoice))
        return done(request, f"{BASE}/commandes/{order_id}", "Demande de solde déposée à l'ASP avec sa facture.")

    @post("/demandes-asp/{request_id:uuid}/nouveau-depot", opt=requires(*VENDOR_WRITERS, reason=_VENDOR),
          status_code=303, name="web.sons.refile")
    async def refile(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders) -> Redirect:
        order = await orders.refile(principal, request_id)
        return done(request, f"{BASE}/commandes/{order.id}", "Demande déposée à nouveau à l'ASP.")


CONTROLLERS: list[type[Controller]] = [SonsPagesController]
