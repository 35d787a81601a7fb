"""Vendors' SONS catalogue (domain.md §5 with §12): their Ségur-referenced solutions, their ASP enrolment, an order
drafted for an OG, the CSV import of orders with its per-row errors, and their ASP payment requests as exported.

The pages call the services the API's routes call (sons/controllers.py), with the same role sets: reading is for the
vendor's members (VENDOR_MEMBERS, as GET /sons/enrolment), every act for its admins and bid managers
(VENDOR_WRITERS, as POST /sons/solutions, /sons/solutions/{id}/withdrawal, /sons/enrolments, /sons/orders and
/sons/order-imports). The solutions are `SolutionService.list_all` (withdrawn ones too, so the vendor sees them),
the enrolment `EnrolmentService.current` (its IBAN shown by its last four characters only), the orders
`AspService.list_all` (GET /sons/orders), the OGs and their facilities the order form picks from
`AspService.og_choices`, the import `OrderImports.upload` (its report: refused rows by line, column and rule), the
payment requests `ExportService.documents` (GET /sons/payment-requests) and the report `ReportService.report`
(GET /sons/reports/orders?format=csv). An order's own file is the SONS orders screen's (/app/sons/commandes/{id}).

A person who belongs to several vendors chooses the one the page is for (`?editeur=`); the forms carry it, and the
service checks that they act for it (`vendor_acting`).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template
from stdnum import bic as stdnum_bic
from stdnum.exceptions import ValidationError as StdnumError

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_MEMBERS, VENDOR_WRITERS
from marketplace.errors import NotFound, RuleViolation
from marketplace.lib.access import requires
from marketplace.sons import schemas
from marketplace.sons.asp import AspService
from marketplace.sons.checks import PRE_REFERENCING_MENTION, ttc_of
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
from marketplace.sons.exports import ExportService
from marketplace.sons.imports import COLUMNS, MAX_BYTES, OrderImports
from marketplace.sons.reports import ReportDimension, ReportService, report_csv
from marketplace.sons.solutions import EnrolmentService, SolutionService
from marketplace.sons.states import SolutionStatus, VatStatus
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, PageViewer, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.sons._labels import ASP_LABELS, KIND_LABELS, ORDER_LABELS
from marketplace.web.tables import csv_download

BASE = f"{PREFIX}/solutions"
ORDER_FILE = f"{PREFIX}/sons/commandes"
_READERS = "The vendor's members (admin, bid manager, member), as GET /sons/enrolment; anyone else: 403."
_WRITERS = "The vendor's admin or bid manager, as the API's route (VENDOR_WRITERS)."
VAT_LABELS = {VatStatus.LIABLE.value: "assujetti à la TVA", VatStatus.NOT_LIABLE.value: "non assujetti à la TVA"}
SOLUTION_LABELS = {SolutionStatus.ACTIVE.value: "active", SolutionStatus.WITHDRAWN.value: "retirée"}
# The sub-pages of the vendor's SONS space: (path, label).
TABS = ((BASE, "Solutions et inscription ASP"), (f"{BASE}/commandes", "Bons de commande"),
        (f"{BASE}/import", "Import CSV"), (f"{BASE}/paiements", "Demandes de paiement ASP"))

Solutions = NamedDependency[SolutionService]
Enrolments = NamedDependency[EnrolmentService]
Dispositifs = NamedDependency[DispositifService]
Orders = NamedDependency[AspService]
Imports = NamedDependency[OrderImports]
Exports = NamedDependency[ExportService]
Reports = NamedDependency[ReportService]
Form = RequestEncodingType.URL_ENCODED
_UUID = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
Editeur = Annotated[str, QueryParameter(name="editeur", pattern=_UUID)]
Og = Annotated[str, QueryParameter(name="og", pattern=_UUID)]
SolutionParam = Annotated[str, QueryParameter(name="solution", pattern=_UUID)]
Text = Annotated[str, msgspec.Meta(max_length=300)]
Many = str | list[str]


# Every field has a default: a form missing one reaches the service, whose refusal names it.
class SolutionForm(msgspec.Struct):
    editeur: Text = ""
    dispositif: Text = ""
    nom: Text = ""
    version: Text = ""
    scenarios: Annotated[str, msgspec.Meta(max_length=5_000)] = ""
    numero_ans: Text = ""
    reference_le: Text = ""
    dossier_le: Text = ""
    saas: str = ""


class EditeurForm(msgspec.Struct):
    editeur: Text = ""


class EnrolmentForm(msgspec.Struct):
    editeur: Text = ""
    iban: Text = ""
    bic: Text = ""
    cle_rib: Text = ""
    tva: Text = ""
    reference_asp: Text = ""
    numero_ans: Text = ""


class OrderForm(msgspec.Struct):
    editeur: Text = ""
    reference: Text = ""
    og: Text = ""
    solution: Text = ""
    scenario: Text = ""
    tranche: Text = ""
    montant_ht: Text = ""
    tva: Text = ""
    sites: Many = ""
    abonnement_exclu: str = ""
    mention: Annotated[str, msgspec.Meta(max_length=2_000)] = ""


class ImportForm(msgspec.Struct):
    editeur: Text = ""
    fichier: UploadFile | None = None


@dataclass(frozen=True)
class Vendor:
    """The vendor the page is for, and whether the caller may act for it."""

    id: uuid.UUID
    name: str
    can_write: bool
    choices: list[tuple[uuid.UUID, str]]


def _vendor(principal: Principal, viewer: PageViewer, chosen: str) -> Vendor:
    """The caller's vendor named by `?editeur=` (one of theirs), else their first."""
    names = {m.organisation_id: m.organisation_name for m in viewer.memberships}
    readable = principal.organisations_with(*VENDOR_MEMBERS)
    if not readable:
        raise NotFound("You are a member of no vendor.")
    wanted = uuid.UUID(chosen) if chosen else readable[0]
    vendor = wanted if wanted in readable else readable[0]
    return Vendor(id=vendor, name=names.get(vendor, str(vendor)),
                  can_write=principal.has_role_in(vendor, *VENDOR_WRITERS),
                  choices=[(v, names.get(v, str(v))) for v in readable])


def _form_vendor(value: str) -> str | None:
    """The `editeur` a form sends, for the API's `vendorOrganisationId` (the service checks it)."""
    return value.strip() or None


def _many(value: Many) -> list[str]:
    return [v for v in ([value] if isinstance(value, str) else value) if v]


def _converted(struct: type[msgspec.Struct], values: dict[str, Any]) -> Any:
    """The API's body, decoded with the API's own constraints: what it refuses is refused by name."""
    try:
        return msgspec.convert(values, struct)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else "body"
        raise RuleViolation(f"{field}: {exc}", field=field) from exc


_EUROS = re.compile(r"^(\d{1,11})(?:[,.](\d{1,2}))?$")


def _cents(text: str, field: str) -> int | None:
    """A euro amount typed in French ("12 000,00", "12000.5") as cents; empty: None."""
    raw = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").removesuffix("€")
    if not raw:
        return None
    match = _EUROS.match(raw)
    if match is None:
        raise RuleViolation(f"{field}: an amount in euros, such as 12 000,00", field=field)
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


_FRENCH_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _day(text: str, field: str) -> str | None:
    """A date typed as the French write it (15/03/2026) or in ISO 8601 (2026-03-15): a text field rather than the
    browser's date picker, whose segments' order follows the browser's language, not the page's."""
    value = text.strip()
    if not value:
        return None
    try:
        french = _FRENCH_DAY.match(value)
        if french:
            return date(int(french.group(3)), int(french.group(2)), int(french.group(1))).isoformat()
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise RuleViolation(f"{field}: a date (JJ/MM/AAAA)", field=field) from exc


def masked_iban(iban: str) -> str:
    """The IBAN by its last four characters only (as the audit log keeps it)."""
    return f"•••• •••• •••• {iban[-4:]}"


def checked_bic(value: str) -> str | None:
    """The BIC (ISO 9362) checked by python-stdnum, as the service checks the IBAN (ISO 13616); empty: None. The
    ASP reads the bank from the IBAN: the BIC is checked for the vendor's sake, not kept."""
    if not value.strip():
        return None
    try:
        return str(stdnum_bic.validate(value))
    except StdnumError as exc:
        raise RuleViolation(f"bic: {exc} (ISO 9362)", field="bic", rule="ISO 9362") from None


@dataclass(frozen=True)
class FileRow:
    """A data row of an imported file as read: its line (the header is line 1), its order and its site."""

    line: int
    order_ref: str
    site: str


def file_rows(data: bytes) -> list[FileRow]:
    """The file's data rows with their line numbers, as the import counts them (imports.py `parse`), for the
    report's accepted rows; the service has refused the file as a whole already if it cannot be read."""
    text = data.decode("utf-8-sig", errors="replace")
    header = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";" if header.count(";") > header.count(",")
                            else ",")
    reader.fieldnames = [c.strip() for c in (reader.fieldnames or [])]
    rows, line = [], 1
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            finess, siret = (row.get("finessEt") or "").strip(), (row.get("siret") or "").strip()
            site = f"FINESS ET {finess}" if finess else (f"SIRET {siret}" if siret else "—")
            rows.append(FileRow(line=start, order_ref=(row.get("orderRef") or "").strip(), site=site))
    except csv.Error:
        pass
    return rows


def model_rows(solutions: list[schemas.Solution]) -> list[list[str]]:
    """The model file's one example row under the import's columns (imports.py `COLUMNS`), with the vendor's first
    active referenced solution when it has one."""
    solution = next((s for s in solutions if s.status is SolutionStatus.ACTIVE and s.referencing_number), None)
    example = {"orderRef": "BDC-2026-0001", "ogFinessEj": "750000001",
               "solution": solution.referencing_number if solution else "ANS-NUMERO-DE-REFERENCEMENT",
               "installationScenario": solution.installation_scenarios[0] if solution else "on-premise",
               "tranche": "T1", "amountHtCents": "1200000", "vatRateBp": "2000", "amountTtcCents": "1440000",
               "subscriptionExcluded": "false", "preReferencingMention": "", "finessEt": "750000010", "siret": "",
               "category": ""}
    return [[example[c] or "" for c in COLUMNS]]


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1024 * 1024):
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - an empty body


def _context(viewer: PageViewer, vendor: Vendor, title: str, path: str, **more: Any) -> dict[str, Any]:
    return {"viewer": viewer, "title": title, "active": "solutions", "vendor": vendor, "sections": TABS,
            "here": path, "base": BASE, **more}


class VendorSonsPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "solutions": Provide(provide_solution_service, sync_to_thread=False),
                    "enrolments": Provide(provide_enrolment_service, sync_to_thread=False),
                    "dispositifs": Provide(provide_dispositif_service, sync_to_thread=False),
                    "orders": Provide(provide_order_service, sync_to_thread=False),
                    "imports": Provide(provide_order_imports, sync_to_thread=False),
                    "exports": Provide(provide_export_service, sync_to_thread=False),
                    "reports": Provide(provide_report_service, sync_to_thread=False)}

    # -- solutions and the ASP enrolment -------------------------------------------------------------------------

    @get("/", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.index")
    async def index(self, principal: Caller, viewer: Viewer, solutions: Solutions, enrolments: Enrolments,
                    dispositifs: Dispositifs, editeur: Editeur = "") -> Template:
        vendor = _vendor(principal, viewer, editeur)
        try:
            enrolment: schemas.Enrolment | None = await enrolments.current(principal, vendor.id)
        except NotFound:
            enrolment = None
        listed = await solutions.list_all(vendor_id=vendor.id, active=False)
        return Template("vendor_sons_solutions.html", context=_context(
            viewer, vendor, "Solutions Ségur", BASE, solutions=listed, enrolment=enrolment,
            iban=masked_iban(enrolment.iban) if enrolment else "", dispositifs=await dispositifs.list_all(),
            numbers=[s.referencing_number for s in listed
                     if s.status is SolutionStatus.ACTIVE and s.referencing_number],
            statuses=SOLUTION_LABELS, vat=VAT_LABELS))

    @post("/", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303, name="web.vendor_sons.add")
    async def add(self, request: Request[Any, Any, Any], principal: Caller, solutions: Solutions,
                  data: Annotated[SolutionForm, Body(media_type=Form)]) -> Redirect:
        """As POST /sons/solutions: a solution version referenced (or being referenced, SN3) on a dispositif."""
        body = _converted(schemas.SolutionCreate, {
            "dispositifId": data.dispositif.strip() or None, "name": data.nom.strip(), "version": data.version.strip(),
            "installationScenarios": [s.strip() for s in re.split(r"[\n,;]", data.scenarios) if s.strip()],
            "referencingNumber": data.numero_ans.strip() or None,
            "referencedOn": _day(data.reference_le, "referencedOn"),
            "proofFileSubmittedOn": _day(data.dossier_le, "proofFileSubmittedOn"), "saas": bool(data.saas),
            "vendorOrganisationId": _form_vendor(data.editeur)})
        solution = await solutions.create(principal, body)
        return done(request, f"{BASE}?editeur={solution.vendor_organisation_id}#solutions",
                    f"Solution ajoutée : {solution.name} {solution.version} sur {solution.dispositif_code}.")

    @post("/{solution_id:uuid}/retrait", opt=requires(*VENDOR_WRITERS, reason=_WRITERS + " Another vendor's: 403."),
          status_code=303, name="web.vendor_sons.withdraw")
    async def withdraw(self, request: Request[Any, Any, Any], solution_id: FromPath[uuid.UUID], principal: Caller,
                       solutions: Solutions) -> Redirect:
        """As POST /sons/solutions/{id}/withdrawal: it takes no new order; the orders made keep it (§5.2)."""
        solution = await solutions.withdraw(principal, solution_id)
        return done(request, f"{BASE}?editeur={solution.vendor_organisation_id}#solutions",
                    f"Solution retirée : {solution.name} {solution.version} ne prend plus de nouvelle commande.")

    @post("/inscription-asp", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303,
          name="web.vendor_sons.enrol")
    async def enrol(self, request: Request[Any, Any, Any], principal: Caller, enrolments: Enrolments,
                    data: Annotated[EnrolmentForm, Body(media_type=Form)]) -> Redirect:
        """As POST /sons/enrolments: IBAN checked by python-stdnum (ISO 13616) with its RIB key (§2.6) by the
        service, the ANS number one of the vendor's referenced solutions (SN3); the BIC checked here (ISO 9362)."""
        checked_bic(data.bic)
        body = _converted(schemas.EnrolmentCreate, {
            "iban": re.sub(r"\s", "", data.iban), "vatStatus": data.tva.strip() or None,
            "enrolmentReference": data.reference_asp.strip(), "referencingNumber": data.numero_ans.strip(),
            "ribKey": data.cle_rib.strip() or None, "vendorOrganisationId": _form_vendor(data.editeur)})
        enrolment = await enrolments.enrol(principal, body)
        return done(request, f"{BASE}?editeur={enrolment.vendor_organisation_id}#inscription",
                    f"Inscription ASP enregistrée : IBAN se terminant par {enrolment.iban[-4:]}, référence "
                    f"{enrolment.enrolment_reference}.")

    # -- orders ------------------------------------------------------------------------------------------------

    @get("/commandes", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.orders")
    async def orders_page(self, principal: Caller, viewer: Viewer, solutions: Solutions, dispositifs: Dispositifs,
                          orders: Orders, editeur: Editeur = "", og: Og = "", solution: SolutionParam = "") -> Template:
        vendor = _vendor(principal, viewer, editeur)
        active = [s for s in await solutions.list_all(vendor_id=vendor.id) if s.status is SolutionStatus.ACTIVE]
        ogs = await orders.og_choices()
        chosen_og = next((o for o in ogs if str(o.id) == og), None)
        chosen_solution = next((s for s in active if str(s.id) == solution), None)
        ceilings: list[schemas.Ceiling] = []
        if chosen_solution is not None:
            table = (await dispositifs.get(chosen_solution.dispositif_id)).ceiling_table
            ceilings = table.ceilings if table else []
        mine = [o for o in await orders.list_all(principal) if o.vendor_organisation_id == vendor.id]
        return Template("vendor_sons_orders.html", context=_context(
            viewer, vendor, "Bons de commande SONS", f"{BASE}/commandes", solutions=active, ogs=ogs,
            og=chosen_og, solution=chosen_solution, ceilings=ceilings, orders=mine, labels=ORDER_LABELS,
            order_file=ORDER_FILE, mention=PRE_REFERENCING_MENTION))

    @post("/commandes", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=303,
          name="web.vendor_sons.create_order")
    async def create_order(self, request: Request[Any, Any, Any], principal: Caller, orders: Orders,
                           data: Annotated[OrderForm, Body(media_type=Form)]) -> Redirect:
        """As POST /sons/orders: the guards of §5.3 and SN1–SN4 are the service's; the page computes the TTC from
        the HT and the rate to the cent, as the order states it (checks.py `ttc_of`)."""
        ht = _cents(data.montant_ht, "amountHtCents")
        rate = int(data.tva) if data.tva.strip().isdigit() else None
        body = _converted(schemas.OrderCreate, {
            "orderRef": data.reference.strip(), "holderOrganisationId": data.og.strip() or None,
            "solutionId": data.solution.strip() or None, "installationScenario": data.scenario.strip(),
            "tranche": data.tranche.strip(), "amountHtCents": ht, "vatRateBp": rate,
            "amountTtcCents": ttc_of(ht, rate) if ht is not None and rate is not None else None,
            "sites": [{"finessEt": finess} for finess in _many(data.sites)],
            "subscriptionExcluded": bool(data.abonnement_exclu),
            "preReferencingMention": data.mention.strip() or None})
        order = await orders.create(principal, body)
        return done(request, f"{ORDER_FILE}/{order.id}",
                    f"Bon de commande {order.order_ref} créé en brouillon : l'OG le signe ensuite.")

    # -- the CSV import ------------------------------------------------------------------------------------------

    @get("/import", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.import_form")
    async def import_form(self, principal: Caller, viewer: Viewer, editeur: Editeur = "") -> Template:
        vendor = _vendor(principal, viewer, editeur)
        return Template("vendor_sons_import.html", context=_context(
            viewer, vendor, "Import de bons de commande", f"{BASE}/import", columns=COLUMNS, report=None,
            accepted=[], created={}, filename="", max_mb=MAX_BYTES // (1024 * 1024)))

    @post("/import", opt=requires(*VENDOR_WRITERS, reason=_WRITERS), status_code=200,
          name="web.vendor_sons.import", request_max_body_size=MAX_BYTES + 1024 * 1024)
    async def import_orders(self, principal: Caller, viewer: Viewer, imports: Imports, orders: Orders,
                            data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Template:
        """As POST /sons/order-imports: the report is the answer (not a redirect): importing the same file again
        creates nothing twice, orders being keyed by (vendor, orderRef)."""
        upload = data.fichier
        chosen = upload is not None and bool(upload.filename)
        content = await upload.read() if upload is not None and chosen else b""
        if upload is not None and chosen:
            await upload.seek(0)
        vendor_id = _form_vendor(data.editeur)
        report = await imports.upload(
            principal, uuid.UUID(vendor_id) if vendor_id and re.fullmatch(_UUID, vendor_id) else None,
            declared_type=(upload.content_type or "text/csv") if upload and chosen else "", declared_size=None,
            body=_chunks(upload) if upload and chosen else _nothing())
        vendor = _vendor(principal, viewer, vendor_id or "")
        refused = {e.line for e in report.errors}
        accepted = [row for row in file_rows(content) if row.line not in refused]
        references = {row.order_ref for row in accepted}
        created = {o.order_ref: o.id for o in await orders.list_all(principal)
                   if o.vendor_organisation_id == vendor.id and o.order_ref in references}
        return Template("vendor_sons_import.html", context=_context(
            viewer, vendor, "Import de bons de commande", f"{BASE}/import", columns=COLUMNS, report=report,
            accepted=accepted, created=created, filename=upload.filename if upload and chosen else "",
            order_file=ORDER_FILE, max_mb=MAX_BYTES // (1024 * 1024)))

    @get("/import/modele.csv", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.model")
    async def model(self, principal: Caller, viewer: Viewer, solutions: Solutions,
                    editeur: Editeur = "") -> Stream:
        """The import's columns and an example row, as the list screens' exports are written (web/tables.py: `;`,
        a BOM, CRLF; Excel in French opens it as is, and the import reads it back)."""
        vendor = _vendor(principal, viewer, editeur)
        return csv_download("modele-bons-de-commande-sons.csv", list(COLUMNS),
                            model_rows(await solutions.list_all(vendor_id=vendor.id)))

    # -- ASP payment requests and exports ------------------------------------------------------------------------

    @get("/paiements", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.payments")
    async def payments(self, principal: Caller, viewer: Viewer, exports: Exports,
                       editeur: Editeur = "") -> Template:
        vendor = _vendor(principal, viewer, editeur)
        documents = [d for d in await exports.documents(principal) if d.vendor.organisation_id == vendor.id]
        return Template("vendor_sons_payments.html", context=_context(
            viewer, vendor, "Demandes de paiement ASP", f"{BASE}/paiements", documents=documents,
            kinds=KIND_LABELS, asp_labels=ASP_LABELS, labels=ORDER_LABELS, order_file=ORDER_FILE,
            dimensions=[(d.value, label) for d, label in _REPORT_LABELS.items()]))

    @get("/paiements/demandes.json", opt=requires(*VENDOR_MEMBERS, reason=_READERS),
         name="web.vendor_sons.payments_json")
    async def payments_json(self, principal: Caller, viewer: Viewer, exports: Exports,
                            editeur: Editeur = "") -> Response[list[schemas.PaymentRequestDocument]]:
        """As GET /sons/payment-requests, the vendor's: the documents it deposits at the ASP (one published
        shape, GET /sons/schemas/payment-request.json)."""
        vendor = _vendor(principal, viewer, editeur)
        documents = [d for d in await exports.documents(principal) if d.vendor.organisation_id == vendor.id]
        return Response(documents, media_type="application/json", headers={
            "Content-Disposition": 'attachment; filename="demandes-de-paiement-asp.json"'})

    @get("/paiements/{request_id:uuid}/document.json",
         opt=requires(*VENDOR_MEMBERS, reason=_READERS + " Another vendor's request: 404, as the API's."),
         name="web.vendor_sons.payment_json")
    async def payment_json(self, request_id: FromPath[uuid.UUID], principal: Caller,
                           exports: Exports) -> Response[schemas.PaymentRequestDocument]:
        """As GET /sons/payment-requests/{id}: one request's document."""
        document = await exports.document(principal, request_id)
        return Response(document, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="demande-asp-{request_id}.json"'})

    @get("/paiements/rapport.csv", opt=requires(*VENDOR_MEMBERS, reason=_READERS), name="web.vendor_sons.report")
    async def report(self, principal: Caller, reports: Reports,
                     by: Annotated[ReportDimension, QueryParameter(name="par")] = ReportDimension.STATUS,
                     ) -> Response[str]:
        """As GET /sons/reports/orders?format=csv: the caller's orders, counted."""
        found = await reports.report(principal, by)
        return Response(report_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="sons-orders-by-{by.value}.csv"'})


_REPORT_LABELS = {ReportDimension.STATUS: "par statut", ReportDimension.DISPOSITIF: "par dispositif",
                  ReportDimension.ASP_STATUS: "par statut ASP"}

CONTROLLERS: list[type[Controller]] = [VendorSonsPagesController]
