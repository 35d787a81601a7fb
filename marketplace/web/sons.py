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

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_WRITERS, SONS_OPERATORS, SONS_ORDER_READERS, VENDOR_WRITERS
from marketplace.awards.contracts import SIGNATURE_TYPES
from marketplace.errors import RuleViolation
from marketplace.lib.access import requires
from marketplace.lib.clock import to_paris
from marketplace.lib.geography import REGIONS
from marketplace.sons import schemas
from marketplace.sons.asp import AspService
from marketplace.sons.deps import (
    provide_export_service,
    provide_order_list_service,
    provide_order_service,
    provide_report_service,
)
from marketplace.sons.exports import ExportService
from marketplace.sons.listing import LIST_MAX, LIST_SORTS, OrderListService, Risk
from marketplace.sons.reports import NO_REQUEST, UNKNOWN_REGION, ReportDimension, ReportService, report_csv
from marketplace.sons.asp import INVOICE_TYPES
from marketplace.sons.states import (
    AMENDABLE,
    CANCELLABLE,
    AspStatus,
    MssCase,
    OrderStatus,
    RequestKind,
    SignatureMethod,
    asp_allows,
    order_allows,
)
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/sons"
PAGE_SIZES = (25, 50, 100)
_READERS = ("The operator (every order), a funder's members (read-only, the orders of their region), an order's "
            "vendor and OG, as GET /sons/orders; anyone else: 404.")
_OPERATOR = "The operator, recording what the ASP decides (SN5), as the API's route."
_HOLDER = ("The order's OG's admin or project lead, as PUT /sons/orders/{id}/signature and …/acceptance (its vendor's "
           "members: 403; anyone else: 404, from the service).")
_VENDOR = ("The order's vendor's admin or bid manager, as the API's advance, amendments, deployment, balance and "
           "refile routes (its OG's members: 403; anyone else: 404, from the service).")

# Words a French reader uses (never colour alone).
ORDER_LABELS = {
    "draft": "brouillon", "signed": "signée", "advance_requested": "avance demandée",
    "advance_incomplete": "avance incomplète", "advance_to_modify": "avance à modifier",
    "advance_validated": "avance validée", "advance_paid": "avance payée", "rejected": "rejetée",
    "deployed": "déployée", "accepted": "VA/MOM signée", "balance_requested": "solde demandé",
    "balance_incomplete": "solde incomplet", "balance_to_modify": "solde à modifier",
    "balance_validated": "solde validé", "balance_rejected": "solde rejeté", "paid": "payée",
    "cancelled": "annulée", "expired": "expirée"}
assert ORDER_LABELS.keys() == {s.value for s in OrderStatus}
ASP_LABELS = {"REQUESTED": "déposée", "INCOMPLETE": "incomplète", "TO_MODIFY": "à modifier",
              "VALIDATED": "validée", "DECIDED_PAID": "décidée et payée", "REJECTED": "rejetée",
              NO_REQUEST: "aucune demande"}
assert ASP_LABELS.keys() == {s.value for s in AspStatus} | {NO_REQUEST}
KIND_LABELS = {"advance": "Avance", "amendment": "Avenant à l'avance", "balance": "Solde"}
# The risk filter's values in the URL (the work queue's tiles link to them, web/templates/queue.html).
RISKS = {"tous": Risk.ANY, "echeance": Risk.DEADLINE, "a-modifier": Risk.TO_MODIFY}
RISK_LABELS = {"": "Toutes", "tous": "À risque (échéance ou à modifier)",
               "echeance": "Déploiement dans les 30 jours", "a-modifier": "Une demande à modifier"}
SORT_LABELS = {"ref": "Commande", "vendor": "Éditeur", "og": "OG", "dispositif": "Dispositif", "status": "Statut",
               "deadline": "Échéance de déploiement", "ttc": "Montant TTC", "created": "Créée le"}
assert SORT_LABELS.keys() == LIST_SORTS.keys()
REGION_LABELS = {**{code: name for code, (name, _) in REGIONS.items()}, UNKNOWN_REGION: "inconnue (sites par SIRET)"}

METHOD_LABELS = {"cpx_card": "Carte CPx", "pro_sante_connect": "Pro Santé Connect",
                 "rgs_certificate": "Certificat logiciel RGS", "eidas": "Autre signature électronique (eIDAS simple au moins)"}
assert METHOD_LABELS.keys() == {m.value for m in SignatureMethod}
VERDICT_LABELS = {"valid": "valide", "invalid": "invalide", "unsupported": "format non pris en charge"}
CATEGORY_LABELS = {"qualified": "certificat qualifié", "not_qualified": "certificat non qualifié"}
SIGNATURE_ACCEPT = ",".join([".pdf", ".p7s", ".p7m", ".xml", *SIGNATURE_TYPES])
INVOICE_ACCEPT = ",".join([".pdf", *INVOICE_TYPES])

Orders = NamedDependency[AspService]
Listing = NamedDependency[OrderListService]
Reports = NamedDependency[ReportService]
Exports = NamedDependency[ExportService]
Form = RequestEncodingType.URL_ENCODED


class Filters(msgspec.Struct, frozen=True):
    """The list's filters as they stand in the URL (a link, a reload and the export keep them)."""

    dispositif: str = ""
    vague: int | None = None
    editeur: uuid.UUID | None = None
    og: uuid.UUID | None = None
    region: str = ""
    statut_asp: str = ""
    risque: str = ""
    q: str = ""
    tri: str = "deadline"
    ordre: str = "asc"
    taille: int = 25
    page: int = 1

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {**msgspec.structs.asdict(self), **changes}
        defaults = Filters()
        return {k: v for k, v in values.items() if v not in (None, "") and v != getattr(defaults, k)}

    def link(self, path: str = BASE, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"{path}?{query}" if query else path

    def sort_link(self, key: str) -> str:
        flip = "desc" if self.tri == key and self.ordre == "asc" else "asc"
        return self.link(tri=key, ordre=flip, page=1)

    def aria_sort(self, key: str) -> str:
        return ("ascending" if self.ordre == "asc" else "descending") if self.tri == key else "none"

    def service_args(self) -> dict[str, Any]:
        return {"dispositif": self.dispositif or None, "wave": self.vague, "vendor": self.editeur,
                "holder": self.og, "region": self.region or None, "asp_status": self.statut_asp or None,
                "risk": RISKS[self.risque] if self.risque else None, "search": self.q,
                "sort": self.tri, "descending": self.ordre == "desc"}


Dispositif = Annotated[str, QueryParameter(name="dispositif", max_length=60)]
# The form sends every select, its "Tous" empty: an empty value is no filter (not a 400).
_UUID = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
Vague = Annotated[str, QueryParameter(name="vague", pattern=r"^([1-9]|1[0-9]|20)?$")]
Editeur = Annotated[str, QueryParameter(name="editeur", pattern=_UUID)]
Og = Annotated[str, QueryParameter(name="og", pattern=_UUID)]
Region = Annotated[str, QueryParameter(name="region", pattern=r"^([0-9]{2}|unknown)?$")]
Asp = Annotated[str, QueryParameter(name="statut_asp", pattern=r"^(" + "|".join(ASP_LABELS) + ")?$")]
Risque = Annotated[str, QueryParameter(name="risque", pattern=r"^(" + "|".join(RISKS) + ")?$")]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Tri = Annotated[str, QueryParameter(name="tri", pattern=r"^(" + "|".join(LIST_SORTS) + ")$")]
Ordre = Annotated[str, QueryParameter(name="ordre", pattern="^(asc|desc)$")]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


class StatusForm(msgspec.Struct):
    status: Annotated[str, msgspec.Meta(max_length=40)] = ""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    # DECIDED_PAID: what the ASP paid, in euros ("4 320,00"); empty: the request's amount.
    paye: Annotated[str, msgspec.Meta(max_length=40)] = ""


class CancellationForm(msgspec.Struct):
    sworn_statement: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    client_renunciation: str = ""


_EUROS = re.compile(r"^(\d{1,11})(?:[,.](\d{1,2}))?$")


def _cents(text: str) -> int | None:
    """A euro amount typed in French ("4 320,00", "4320.5") as cents; empty: None."""
    raw = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").removesuffix("€")
    if not raw:
        return None
    match = _EUROS.match(raw)
    if match is None:
        raise RuleViolation("paidCents: an amount in euros, such as 4 320,00", field="paidCents", rule="SN5")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def _converted(struct: type[msgspec.Struct], values: dict[str, Any], rule: str) -> Any:
    """The API's body for an act, decoded with the API's own constraints: what it refuses is refused by name."""
    try:
        return msgspec.convert(values, struct)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else "body"
        raise RuleViolation(f"{field}: {exc}", field=field, rule=rule) from exc


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: int


CHART_WIDTH, BAR_AREA, BAR_HEIGHT, BAR_GAP = 560, 300, 22, 8


def chart_bars(report: schemas.OrderReport) -> list[Bar]:
    """The horizontal bars of the counts by status (an inline SVG; its hidden table carries the same numbers)."""
    peak = max((row.orders for row in report.rows), default=0) or 1
    return [Bar(label=ORDER_LABELS.get(row.key, row.key), count=row.orders, y=i * (BAR_HEIGHT + BAR_GAP),
                width=max(2, round(BAR_AREA * row.orders / peak)))
            for i, row in enumerate(report.rows)]


def _paris_cell(at: datetime | None) -> str:
    return to_paris(at).strftime("%d/%m/%Y %H:%M") if at else ""


def _cell(text: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    text = text or ""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _euros_cell(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def csv_lines(items: list[schemas.OrderListItem]) -> Iterator[bytes]:
    """The export of the current filter: UTF-8 with a BOM, `;`, CRLF (what Excel in French opens as is), amounts in
    euros with a decimal comma."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Identifiant", "Référence", "Éditeur", "OG", "FINESS EJ", "Dispositif", "Vague", "Tranche",
                     "Statut", "Statut ASP", "Montant HT (€)", "Montant TTC (€)", "Payé (€)",
                     "Échéance de déploiement (heure de Paris)", "Déploiement dans les 30 jours",
                     "Demande à modifier", "Régions", "Créée le (heure de Paris)"])
    yield ("\ufeff" + out.getvalue()).encode()
    for item in items:
        out.seek(0)
        out.truncate()
        writer.writerow([str(item.id), _cell(item.order_ref), _cell(item.vendor_name), _cell(item.holder_name),
                         item.og_finess_ej, item.dispositif_code, item.wave, _cell(item.tranche),
                         ORDER_LABELS[item.status.value], ASP_LABELS.get(item.asp_status, item.asp_status),
                         _euros_cell(item.amount_ht_cents), _euros_cell(item.amount_ttc_cents),
                         _euros_cell(item.paid_cents), _paris_cell(item.deployment_deadline),
                         "oui" if item.deadline_risk else "non", "oui" if item.to_modify else "non",
                         ", ".join(REGION_LABELS.get(r, r) for r in item.regions), _paris_cell(item.created_at)])
        yield out.getvalue().encode()


def _status_choices(request: schemas.AspRequest) -> list[str]:
    """The statuses the operator may record next for a request, from the SN5 machine (states.py): a form never
    offers a move the machine forbids; the service still decides. A refile (back to REQUESTED) is the vendor's."""
    return [s.value for s in AspStatus if s is not AspStatus.REQUESTED and asp_allows(request.kind, request.status, s)]


# -- the parties' acts ------------------------------------------------------------------------------------------


class SignatureForm(msgspec.Struct):
    # Optional here so that the order is found (or refused, 404) before a missing file is.
    document: UploadFile | None = None
    signataire: str = ""
    qualite: str = ""
    methode: str = ""


class AcceptanceForm(msgspec.Struct):
    document: UploadFile | None = None
    signataire: str = ""
    cas_mss: str = ""
    adresse_mss: str = ""


class BalanceForm(msgspec.Struct):
    facture: UploadFile | None = None
    cas_mss: str = ""


class AmendmentForm(msgspec.Struct):
    montant: str = ""


def order_acts(principal: Principal, order: schemas.Order, now: datetime) -> frozenset[str]:
    """The acts `principal` may do on `order` now, from §12's machine (states.py) and the API routes' role sets: the
    OG's admin or project lead signs the draft (by the order deadline, SN1) and the VA of the deployed order (SN7);
    the vendor's admin or bid manager files the advance of the signed order, declares the deployment once the advance
    is paid (by the deployment deadline, SN1), files the balance once the VA is signed and amends the paid advance
    until then (SN5). The page offers these forms only; the service decides all the same."""
    holder = principal.has_role_in(order.holder_organisation_id, *HOLDER_WRITERS)
    vendor = principal.has_role_in(order.vendor_organisation_id, *VENDOR_WRITERS)
    acts = set()
    if holder and order_allows("sign", order.status) and now < order.order_deadline:
        acts.add("sign")
    if holder and order_allows("accept", order.status):
        acts.add("accept")
    if vendor and order_allows("file_advance", order.status):
        acts.add("advance")
    if vendor and order_allows("deploy", order.status) and now < order.deployment_deadline:
        acts.add("deploy")
    if vendor and order_allows("file_balance", order.status):
        acts.add("balance")
    if vendor and order.status in AMENDABLE:
        acts.add("amend")
    if vendor and any(r.status in (AspStatus.INCOMPLETE, AspStatus.TO_MODIFY) for r in order.requests):
        acts.add("refile")
    return frozenset(acts)


# Acts that wait on the OG, then the vendor's: the OG's list is headed by its signatures.
HOLDER_ACTS = ("sign", "accept")
ACT_LABELS = {"sign": "signer le bon de commande", "accept": "signer la vérification d'aptitude (VA/MOM)",
              "advance": "déposer la demande d'avance", "deploy": "déclarer le déploiement",
              "balance": "déposer la demande de solde", "refile": "déposer à nouveau une demande",
              "amend": "déposer un avenant à l'avance"}


@dataclass(frozen=True)
class Awaited:
    """What the order waits for next, from whom, and by when where the calendar says it (SN1)."""

    who: str
    what: str
    by: datetime | None = None


_ASP = "l'ASP (statut enregistré par l'opérateur)"
AWAITED: dict[OrderStatus, tuple[str, str]] = {
    OrderStatus.DRAFT: ("l'OG", "la signature du bon de commande"),
    OrderStatus.SIGNED: ("l'éditeur", "le dépôt de la demande d'avance à l'ASP"),
    OrderStatus.ADVANCE_REQUESTED: (_ASP, "l'instruction de la demande d'avance"),
    OrderStatus.ADVANCE_INCOMPLETE: ("l'éditeur", "les pièces manquantes de la demande d'avance, déposée à nouveau"),
    OrderStatus.ADVANCE_TO_MODIFY: ("l'éditeur", "la demande d'avance corrigée et déposée à nouveau"),
    OrderStatus.ADVANCE_VALIDATED: (_ASP, "la décision et le paiement de l'avance"),
    OrderStatus.ADVANCE_PAID: ("l'éditeur", "le déploiement de la solution"),
    OrderStatus.DEPLOYED: ("l'OG", "la signature de la vérification d'aptitude (VA) ou de la mise en ordre de marche"),
    OrderStatus.ACCEPTED: ("l'éditeur", "le dépôt de la demande de solde avec sa facture"),
    OrderStatus.BALANCE_REQUESTED: (_ASP, "l'instruction de la demande de solde"),
    OrderStatus.BALANCE_INCOMPLETE: ("l'éditeur", "les pièces manquantes de la demande de solde, déposée à nouveau"),
    OrderStatus.BALANCE_TO_MODIFY: ("l'éditeur", "la demande de solde corrigée et déposée à nouveau"),
    OrderStatus.BALANCE_VALIDATED: (_ASP, "la décision et le paiement du solde"),
}


def awaited(order: schemas.Order) -> Awaited | None:
    """None once the order is ended (paid, cancelled, expired or rejected)."""
    found = AWAITED.get(order.status)
    if found is None:
        return None
    by = order.order_deadline if order.status is OrderStatus.DRAFT else (
        order.deployment_deadline if order.status in (OrderStatus.ADVANCE_PAID, OrderStatus.DEPLOYED,
                                                      OrderStatus.ACCEPTED) else None)
    return Awaited(who=found[0], what=found[1], by=by)


@dataclass(frozen=True)
class Step:
    at: datetime
    who: str
    what: str


def timeline(order: schemas.Order) -> list[Step]:
    """The order's acts in time order: drafted, signed, each request's statuses at the ASP, deployed, accepted,
    cancelled or expired."""
    steps: list[Step] = []
    if order.signature:
        steps.append(Step(order.signature.signed_at, "l'OG",
                          f"bon de commande signé par {order.signature.signatory_name} "
                          f"({METHOD_LABELS[order.signature.method.value]})"))
    for r in order.requests:
        name = {RequestKind.ADVANCE: "demande d'avance", RequestKind.BALANCE: "demande de solde"}.get(
            r.kind, f"avenant n° {r.position} à l'avance")
        for e in r.history:
            if e.status is AspStatus.REQUESTED:
                again = " à nouveau" if e.previous is not None else ""
                filed = "déposé" if r.kind is RequestKind.AMENDMENT else "déposée"
                steps.append(Step(e.recorded_at, "l'éditeur", f"{name} {filed}{again} à l'ASP"))
            else:
                steps.append(Step(e.recorded_at, "l'ASP", f"{name} : {ASP_LABELS[e.status.value]}"))
    if order.deployed_at:
        steps.append(Step(order.deployed_at, "l'éditeur", "solution déclarée déployée"))
    if order.acceptance:
        kind = "vérification d'aptitude (VA)" if order.acceptance.kind.value == "VA" else "mise en ordre de marche"
        steps.append(Step(order.acceptance.accepted_at, "l'OG",
                          f"{kind} signée par {order.acceptance.signatory_name}"))
    if order.cancelled_at:
        steps.append(Step(order.cancelled_at, "l'opérateur", "commande annulée (déclaration sur l'honneur)"))
    if order.expired_at:
        steps.append(Step(order.expired_at, "la plateforme", "commande expirée : échéance de déploiement dépassée"))
    # The draft comes first whatever its instant says (created_at is the database's, the acts the service clock's).
    return [Step(order.created_at, "l'éditeur", "bon de commande rédigé"), *sorted(steps, key=lambda s: s.at)]


def _signatory(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise RuleViolation("signatoryName: the signatory's name (1 to 200 characters)", field="signatoryName",
                            rule="§5.3")
    return name


def _mss_case(value: str) -> MssCase | None:
    if not value:
        return None
    try:
        return MssCase(value)
    except ValueError:
        raise RuleViolation("mssCase: CAS_1 or CAS_2", field="mssCase", rule="SN6") from None


def _file(upload: UploadFile | None, what: str, rule: str) -> UploadFile:
    if upload is None or not upload.filename:
        raise RuleViolation(f"body: attach {what}", field="body", rule=rule)
    return upload


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 16):
        yield chunk


def _upload(upload: UploadFile) -> dict[str, Any]:
    """The service's raw upload (uploads.RawUpload) from a form's file: its declared type, its bytes streamed."""
    return {"declared_type": upload.content_type or "", "declared_size": None, "body": _chunks(upload)}


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
        todo = await _awaiting_me(principal, orders)
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
        return Stream(csv_lines(found.items), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": 'attachment; filename="commandes-sons.csv"'})

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
            "status_choices": {r.id: _status_choices(r) for r in order.requests} if operator else {},
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
        body = _converted(schemas.AspStatusCreate, {
            "status": data.status.strip(), "note": data.note.strip() or None, "paidCents": _cents(data.paye)},
            "SN5")
        order = await orders.record_status(principal, request_id, body)
        return done(request, f"{BASE}/commandes/{order.id}",
                    f"Statut ASP enregistré : {ASP_LABELS[body.status.value]}.")

    @post("/commandes/{order_id:uuid}/annulation", opt=requires(*SONS_OPERATORS, reason=_OPERATOR),
          status_code=303, name="web.sons.cancel")
    async def cancel(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders, data: Annotated[CancellationForm, Body(media_type=Form)]) -> Redirect:
        body = _converted(schemas.CancellationCreate, {
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
        name = _signatory(data.signataire)
        try:
            method = SignatureMethod(data.methode)
        except ValueError:
            raise RuleViolation("method: how the OG signed (CPx card, Pro Santé Connect, RGS certificate, eIDAS)",
                                field="method", rule="§5.3") from None
        role = data.qualite.strip()
        if len(role) > 200:
            raise RuleViolation("signatoryRole: at most 200 characters", field="signatoryRole", rule="§5.3")
        document = _file(data.document, "the signed order (PAdES PDF, CAdES or XAdES)", "G16")
        order = await orders.sign(principal, order_id, signatory_name=name, signatory_role=role or None,
                                  method=method, **_upload(document))
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
                    f"Demande d'avance déposée à l'ASP : {_euros_cell(filed.amount_cents)} €.")

    @post("/commandes/{order_id:uuid}/avenants", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          name="web.sons.amend")
    async def amend(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                    orders: Orders, data: Annotated[AmendmentForm, Body(media_type=Form)]) -> Redirect:
        cents = _cents(data.montant.strip())
        body = _converted(schemas.AmendmentCreate, {"amountCents": 0 if cents is None else cents}, "SN5")
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
        name = _signatory(data.signataire)
        address = data.adresse_mss.strip() or None
        if address is not None and not 3 <= len(address) <= 300:
            raise RuleViolation("mssAddress: 3 to 300 characters", field="mssAddress", rule="SN6")
        document = _file(data.document, "the signed VA or MOM (PAdES PDF, CAdES or XAdES)", "G16")
        await orders.accept(principal, order_id, signatory_name=name, mss_case=_mss_case(data.cas_mss),
                            mss_address=address, **_upload(document))
        return done(request, f"{BASE}/commandes/{order_id}",
                    "Vérification d'aptitude signée (G16) : l'éditeur peut déposer la demande de solde.")

    @post("/commandes/{order_id:uuid}/solde", opt=requires(*VENDOR_WRITERS, reason=_VENDOR), status_code=303,
          request_max_body_size=None, name="web.sons.balance")
    async def balance(self, request: Request[Any, Any, Any], order_id: FromPath[uuid.UUID], principal: Caller,
                      orders: Orders, data: Annotated[BalanceForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                      ) -> Redirect:
        await orders.get(principal, order_id)
        invoice = _file(data.facture, "the single 100 % Factur-X invoice (PDF)", "SN7")
        await orders.file_balance(principal, order_id, mss_case=_mss_case(data.cas_mss), **_upload(invoice))
        return done(request, f"{BASE}/commandes/{order_id}", "Demande de solde déposée à l'ASP avec sa facture.")

    @post("/demandes-asp/{request_id:uuid}/nouveau-depot", opt=requires(*VENDOR_WRITERS, reason=_VENDOR),
          status_code=303, name="web.sons.refile")
    async def refile(self, request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID], principal: Caller,
                     orders: Orders) -> Redirect:
        order = await orders.refile(principal, request_id)
        return done(request, f"{BASE}/commandes/{order.id}", "Demande déposée à nouveau à l'ASP.")


async def _awaiting_me(principal: Principal, orders: AspService) -> list[tuple[schemas.Order, list[str]]]:
    """The orders awaiting an act of the caller, as an OG's or a vendor's writer (GET /sons/orders, its own): those
    awaiting its signature or its VA first, then by order deadline."""
    if not principal.organisations_with(*HOLDER_WRITERS, *VENDOR_WRITERS):
        return []
    now = orders.clock.now()
    mine = [(o, sorted(order_acts(principal, o, now) - {"amend"}, key=list(ACT_LABELS).index))
            for o in await orders.list_all(principal)]
    todo = [(o, acts) for o, acts in mine if acts]
    return sorted(todo, key=lambda item: (not any(a in HOLDER_ACTS for a in item[1]), item[0].order_deadline,
                                          item[0].order_ref))


CONTROLLERS: list[type[Controller]] = [SonsPagesController]
