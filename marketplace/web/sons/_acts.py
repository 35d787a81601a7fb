"""The parties' acts on a SONS order and what the order file shows of them (domain.md §5 with §12): the forms of
the OG's, the vendor's and the operator's acts, which of them a caller may do now (§12's machine, states.py, and the
API routes' role sets), what the order awaits next and from whom, and its timeline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar.datastructures import UploadFile

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_WRITERS, VENDOR_WRITERS
from marketplace.awards.contracts import SIGNATURE_TYPES
from marketplace.errors import RuleViolation
from marketplace.sons import schemas
from marketplace.sons.asp import INVOICE_TYPES, AspService
from marketplace.sons.states import AMENDABLE, AspStatus, MssCase, OrderStatus, RequestKind, asp_allows, order_allows
from marketplace.uploads import RawUpload
from marketplace.web.sons._labels import ASP_LABELS, METHOD_LABELS

SIGNATURE_ACCEPT = ",".join([".pdf", ".p7s", ".p7m", ".xml", *SIGNATURE_TYPES])
INVOICE_ACCEPT = ",".join([".pdf", *INVOICE_TYPES])


class StatusForm(msgspec.Struct):
    status: Annotated[str, msgspec.Meta(max_length=40)] = ""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    # DECIDED_PAID: what the ASP paid, in euros ("4 320,00"); empty: the request's amount.
    paye: Annotated[str, msgspec.Meta(max_length=40)] = ""


class CancellationForm(msgspec.Struct):
    sworn_statement: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    client_renunciation: str = ""


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


def signatory(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise RuleViolation("signatoryName: the signatory's name (1 to 200 characters)", field="signatoryName",
                            rule="§5.3")
    return name


def mss_case_of(value: str) -> MssCase | None:
    if not value:
        return None
    try:
        return MssCase(value)
    except ValueError:
        raise RuleViolation("mssCase: CAS_1 or CAS_2", field="mssCase", rule="SN6") from None


def attached(upload: UploadFile | None, what: str, rule: str) -> UploadFile:
    if upload is None or not upload.filename:
        raise RuleViolation(f"body: attach {what}", field="body", rule=rule)
    return upload


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 16):
        yield chunk


def raw_upload_of(upload: UploadFile) -> RawUpload:
    """The service's raw upload from a form's file: its declared type (judged by the service before a byte is
    read), its bytes streamed."""
    return RawUpload(declared_type=upload.content_type or "", declared_size=None, body=_chunks(upload))


_EUROS = re.compile(r"^(\d{1,11})(?:[,.](\d{1,2}))?$")


def cents_of(text: str) -> int | None:
    """A euro amount typed in French ("4 320,00", "4320.5") as cents; empty: None."""
    raw = text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").removesuffix("€")
    if not raw:
        return None
    match = _EUROS.match(raw)
    if match is None:
        raise RuleViolation("paidCents: an amount in euros, such as 4 320,00", field="paidCents", rule="SN5")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def converted(struct: type[msgspec.Struct], values: dict[str, Any], rule: str) -> Any:
    """The API's body for an act, decoded with the API's own constraints: what it refuses is refused by name."""
    try:
        return msgspec.convert(values, struct)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else "body"
        raise RuleViolation(f"{field}: {exc}", field=field, rule=rule) from exc


def status_choices(request: schemas.AspRequest) -> list[str]:
    """The statuses the operator may record next for a request, from the SN5 machine (states.py): a form never
    offers a move the machine forbids; the service still decides. A refile (back to REQUESTED) is the vendor's."""
    return [s.value for s in AspStatus if s is not AspStatus.REQUESTED and asp_allows(request.kind, request.status, s)]


async def awaiting_me(principal: Principal, orders: AspService) -> list[tuple[schemas.Order, list[str]]]:
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
