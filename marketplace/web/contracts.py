"""Specific contracts: the list of the buying side's contracts, the cockpit of one, and its opening ceremony.

Every read and every act goes through the service the JSON API uses for it (tenders/ and awards/): the list
(`SpecificContractService.list_for_buying_side`), the contract (`GET /specific-contracts/{id}`), its questions,
documents and amendments, the deposit journal and late admissions (D14b, D14c), the count of received offers
(`GET …/offers`: nothing before the deadline, then the count until the opening, D13), the cancellation
(`POST …/cancellation`) and the opening (`POST …/opening`, k openers, P6). A refusal is the service's, shown by
web/errors.py with its rule.

A section of the cockpit the caller may not read (the deposit journal for the central purchasing body that follows
a procedure, HC2; the holder in centralised mode, HC3) shows the service's refusal in place of its content. While a
contract reads `open` (HC6, as the service derives it), the offers and the deposit journal are not asked for at all:
the services would refuse them (D13) and audit each refusal, and a page view is not an attempt to read them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.roles import BUYER_ADMINS, BUYER_WRITERS, BUYING_SIDE, HOLDER_MEMBERS, OPENERS
from marketplace.awards.cancellation import CancellationService
from marketplace.awards.deps import provide_cancellation_service
from marketplace.awards.schemas import SansSuiteCreate
from marketplace.errors import DomainError
from marketplace.lib.access import requires
from marketplace.lib.clock import format_paris
from marketplace.lib.sealing import verify
from marketplace.tenders import schemas
from marketplace.tenders.amendments import AmendmentService
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deposits import DepositService
from marketplace.tenders.deps import (
    provide_amendment_service,
    provide_contract_service,
    provide_deposit_service,
    provide_opening_service,
    provide_question_service,
)
from marketplace.tenders.opening import OpeningService
from marketplace.tenders.questions import QuestionService
from marketplace.tenders.states import SpecificContractStatus
from marketplace.tenders.vault import Vault
from marketplace.vendors.deps import provide_register_service
from marketplace.vendors.register import RegisterService
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import csv_download, paris_cell

T = TypeVar("T")
BASE = f"{PREFIX}/marches"

# Machine (c) as a French reader names its states: words only (the service derives the status, HC6).
STATUS_LABELS = {
    "draft": "brouillon", "open": "ouvert aux offres", "closed_for_offers": "remise des offres close",
    "evaluation": "en évaluation", "award_decided": "attribution décidée", "standstill": "délai de suspension",
    "contracted": "marché signé", "unsuccessful": "infructueux", "cancelled": "sans suite",
}
# The main path of machine (c), for the cockpit's timeline; the two ends off it are shown apart.
TIMELINE = ("open", "closed_for_offers", "evaluation", "award_decided", "standstill", "contracted")
PAGE_SIZES = (20, 50, 100)

Contracts = NamedDependency[SpecificContractService]
Questions = NamedDependency[QuestionService]
Amendments = NamedDependency[AmendmentService]
Deposits = NamedDependency[DepositService]
Opening = NamedDependency[OpeningService]
Cancellations = NamedDependency[CancellationService]
Register = NamedDependency[RegisterService]
# Enough for every vendor admitted to one category of a DPS; beyond it a row shows the organisation's id.
REGISTER_NAMES = 500

StatusFilter = Annotated[SpecificContractStatus | None, QueryParameter(name="statut")]
Search = Annotated[str | None, QueryParameter(name="q", max_length=200)]
Limit = Annotated[int, QueryParameter(name="taille", ge=1, le=100)]
Offset = Annotated[int, QueryParameter(name="debut", ge=0, le=1_000_000)]

READERS = ("The contract's buying side, the central purchasing body following it (HC2) and the holder's members "
           "(HC3), as GET /specific-contracts/{id} (the vendors have no back-office).")
ADMIN = "An administrator of the contract's buying side: the holder's (intermediation) or the buying organisation's."


@dataclass
class Section(Generic[T]):
    """What a service gave for one part of a page, or its refusal (shown in place, with its rule)."""

    value: T | None = None
    refusal: DomainError | None = None
    asked: bool = True


async def section(call: Awaitable[T]) -> Section[T]:
    try:
        return Section(value=await call)
    except DomainError as exc:
        return Section(refusal=exc)


# -- forms -------------------------------------------------------------------------------------------------


class AnswerForm(msgspec.Struct):
    answer: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class DeadlineForm(msgspec.Struct):
    # A Paris wall-clock time from <input type="datetime-local">, as the API takes it.
    tender_deadline: datetime
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class SansSuiteForm(msgspec.Struct):
    reasons: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class LateAdmissionForm(msgspec.Struct):
    vendor_organisation_id: uuid.UUID
    reasons: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    deposit_until: datetime
    # One checkbox per journal row: one value arrives as a string, several as a list.
    attempt_ids: str | list[str] = msgspec.field(default_factory=list)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def opening_request(form: dict[str, Any]) -> schemas.OpeningRequest:
    """The form's `passphrase-<opener key id>` fields typed in (blank ones never arrive) as the API's body."""
    openers = [{"openerKeyId": name.removeprefix("passphrase-"), "passphrase": value}
               for name, value in form.items() if name.startswith("passphrase-") and isinstance(value, str)]
    try:
        return msgspec.convert({"openers": openers}, schemas.OpeningRequest)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            "Saisissez la phrase secrète d'au moins une clé d'ouvreur (la vôtre parmi elles)."
            if not openers else f"Formulaire d'ouverture invalide : {exc}") from exc


# -- the list ----------------------------------------------------------------------------------------------


def _list_url(status: SpecificContractStatus | None, q: str | None, limit: int, offset: int) -> str:
    from urllib.parse import urlencode

    query = {k: v for k, v in (("statut", status.value if status else None), ("q", q), ("taille", limit),
                               ("debut", offset)) if v not in (None, "")}
    return f"{BASE}?{urlencode(query)}" if query else BASE


CSV_HEADER = ("Identifiant", "Titre", "SAD", "Catégorie", "Statut", "Conduite",
              "Date limite (heure de Paris)", "Invitations", "Suivi HC2", "Bac à sable")


class ContractListController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES, "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @get("/", opt=requires(*BUYING_SIDE, reason="Members of a buying side (a buying organisation, or a holder "
                                                "buying in intermediation): its contracts, and those its central "
                                                "purchasing body follows (HC2)."), name="web.contracts.list")
    async def listing(self, principal: Caller, viewer: Viewer, contracts: Contracts, statut: StatusFilter = None,
                      q: Search = None, taille: Limit = 20, debut: Offset = 0) -> Template:
        page = await contracts.list_for_buying_side(principal, status=statut, search=q, limit=taille, offset=debut)
        return Template("contracts_list.html", context={
            "viewer": viewer, "title": "Marchés spécifiques", "page": page, "statut": statut.value if statut else "",
            "q": q or "", "statuses": STATUS_LABELS, "sizes": PAGE_SIZES,
            "previous": _list_url(statut, q, taille, max(0, debut - taille)) if debut else None,
            "next": _list_url(statut, q, taille, debut + taille) if debut + taille < page.total else None,
            "export": _list_url(statut, q, 100, 0).replace(BASE, f"{BASE}/export.csv", 1)})

    @get("/export.csv", opt=requires(*BUYING_SIDE, reason="As the list."), name="web.contracts.export")
    async def export(self, principal: Caller, contracts: Contracts, statut: StatusFilter = None,
                     q: Search = None) -> Stream:
        rows: list[tuple[object, ...]] = []
        offset = 0
        while True:  # every page of the current filter, through the same service method
            page = await contracts.list_for_buying_side(principal, status=statut, search=q, limit=100, offset=offset)
            rows += [(str(c.id), c.title, c.dps_title, c.category_title, STATUS_LABELS.get(c.status, c.status),
                      c.conduct_mode, paris_cell(c.tender_deadline), c.invitation_count, c.followed, c.sandbox)
                     for c in page.items]
            offset += 100
            if offset >= page.total:
                break
        return csv_download("marches-specifiques.csv", CSV_HEADER, rows)


# -- the cockpit and its acts ------------------------------------------------------------------------------


class ContractCockpitController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "contracts": Provide(provide_contract_service, sync_to_thread=False),
                    "questions": Provide(provide_question_service, sync_to_thread=False),
                    "amendments": Provide(provide_amendment_service, sync_to_thread=False),
                    "deposits": Provide(provide_deposit_service, sync_to_thread=False),
                    "opening": Provide(provide_opening_service, sync_to_thread=False),
                    "cancellations": Provide(provide_cancellation_service, sync_to_thread=False),
                    "register": Provide(provide_register_service, sync_to_thread=False)}

    @get("/{contract_id:uuid}", opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, reason=READERS),
         name="web.contracts.cockpit")
    async def cockpit(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                      contracts: Contracts, questions: Questions, amendments: Amendments, deposits: Deposits,
                      opening: Opening, register: Register) -> Template:
        contract = await contracts.get(principal, contract_id)
        # The invitees' names from the public register of the contract's category (GET /register, D8): who was
        # invited is no secret; a vendor no longer listed there (or a sandbox's) shows its organisation's id.
        names = {e.vendor_organisation_id: e.vendor_name for e in (await register.entries(
            dps_id=contract.dps_id, category_id=contract.category_id, siren=None, limit=REGISTER_NAMES,
            offset=0)).items}
        # D13: while it reads open (HC6), nothing of the offers nor of who deposits is asked for (see above).
        sealed = contract.status == SpecificContractStatus.OPEN
        received = Section[schemas.ReceivedOffers](asked=False) if sealed else \
            await section(opening.received(principal, contract_id))
        journal = Section[list[schemas.DepositAttempt]](asked=False) if sealed else \
            await section(deposits.every(principal, contract_id))
        return Template("contracts_cockpit.html", context={
            "viewer": viewer, "title": contract.title, "contract": contract, "statuses": STATUS_LABELS,
            "timeline": TIMELINE, "received": received, "journal": journal, "names": names,
            "late": await section(deposits.listed(principal, contract_id)),
            "questions": await section(questions.list_for(principal, contract_id)),
            "documents": await section(amendments.documents(principal, contract_id)),
            "amendments": await section(amendments.amendments(principal, contract_id)),
            "record": await section(opening.record(principal, contract_id))})

    @post("/{contract_id:uuid}/questions/{question_id:uuid}/reponse", status_code=303,
          opt=requires(*BUYER_WRITERS, reason="As POST …/questions/{id}/answer: the buying side, and the central "
                                              "purchasing body following it (HC2)."),
          name="web.contracts.answer")
    async def answer(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                     question_id: FromPath[uuid.UUID], principal: Caller, questions: Questions,
                     data: Annotated[AnswerForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        await questions.answer(principal, contract_id, question_id, schemas.QuestionAnswer(answer=data.answer))
        return done(request, f"{BASE}/{contract_id}#questions",
                    "Réponse publiée : chaque invité la reçoit, sans le nom de qui a posé la question.")

    @post("/{contract_id:uuid}/delai", status_code=303, opt=requires(*BUYER_ADMINS, reason=ADMIN),
          name="web.contracts.extend")
    async def extend(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                     amendments: Amendments,
                     data: Annotated[DeadlineForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        contract = await amendments.extend_deadline(principal, contract_id, schemas.DeadlineExtension(
            tender_deadline=data.tender_deadline, reason=data.reason))
        return done(request, f"{BASE}/{contract_id}",
                    f"Date limite reportée au {contract.tender_deadline_paris} : chaque invité en est informé.")

    @post("/{contract_id:uuid}/sans-suite", status_code=303, opt=requires(*BUYER_ADMINS, reason=ADMIN),
          name="web.contracts.sans_suite")
    async def sans_suite(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                         cancellations: Cancellations,
                         data: Annotated[SansSuiteForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        declared = await cancellations.declare_sans_suite(principal, contract_id,
                                                          SansSuiteCreate(reasons=data.reasons))
        return done(request, f"{BASE}/{contract_id}",
                    f"Marché déclaré sans suite ; {declared.notified} notification(s) envoyée(s) aux invités.")

    @post("/{contract_id:uuid}/admissions-tardives", status_code=303,
          opt=requires(*BUYER_ADMINS, reason=ADMIN + " After the deadline and before the opening (D14c)."),
          name="web.contracts.admit_late")
    async def admit_late(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                         deposits: Deposits,
                         data: Annotated[LateAdmissionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
                         ) -> Redirect:
        try:
            body = msgspec.convert({"vendorOrganisationId": str(data.vendor_organisation_id), "reasons": data.reasons,
                                    "attemptIds": _listed(data.attempt_ids),
                                    "depositUntil": data.deposit_until.isoformat()}, schemas.LateAdmissionCreate)
        except msgspec.ValidationError as exc:
            raise ValidationException(f"Cochez au moins une tentative du journal ({exc}).") from exc
        admission = await deposits.admit(principal, contract_id, body)
        return done(request, f"{BASE}/{contract_id}#admissions-tardives",
                    f"Dépôt tardif admis jusqu'au {admission.deposit_until_paris} (D14c).")


# -- the opening ceremony ----------------------------------------------------------------------------------


def paris_iso(at: str | None) -> str:
    """A time of the signed record (ISO 8601, as signed) as a French reader reads it, to the second (receipts)."""
    return format_paris(datetime.fromisoformat(at), seconds=True) if at else "—"


@dataclass
class Verified:
    record: schemas.OpeningRecord
    signature_valid: bool


class OpeningCeremonyController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES, "opening": Provide(provide_opening_service, sync_to_thread=False)}

    @get("/{contract_id:uuid}/ouverture",
         opt=requires(*BUYING_SIDE, *HOLDER_MEMBERS, reason="As GET …/opening: the buying side, its openers among "
                                                            "them; once opened, also the holder's members and the "
                                                            "central purchasing body following it (HC2, HC3)."),
         name="web.contracts.opening")
    async def ceremony(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                       opening: Opening, vault: NamedDependency[Vault]) -> Template:
        # Not `contracts.get`: an opener reads what the ceremony needs, never the rest of the contract.
        ceremony = await opening.ceremony(principal, contract_id)
        record = await opening.record(principal, contract_id) if ceremony.opened else None
        # The caller's own keys first: they open among the others (P6).
        keys = sorted(ceremony.opener_keys, key=lambda k: (k.user_id != principal.user_id, k.retired_at is not None))
        verified = Verified(record, verify(record.document, record.signature, vault.signer.public_jwk())) \
            if record else None
        return Template("contracts_opening.html", context={
            "viewer": viewer, "title": f"Ouverture des plis — {ceremony.title}", "contract": ceremony,
            "statuses": STATUS_LABELS, "verified": verified, "keys": keys, "me": principal.user_id,
            "paris_iso": paris_iso})

    @post("/{contract_id:uuid}/ouverture", status_code=303,
          opt=requires(*OPENERS, reason="As POST …/opening: openers of the contract's buying side (k of n), the "
                                        "holder's in intermediation (HC2), after the deadline."),
          name="web.contracts.open")
    async def open(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                   opening: Opening,
                   data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        record = await opening.open(principal, contract_id, opening_request(data))
        return done(request, f"{BASE}/{contract_id}/ouverture",
                    f"Plis ouverts le {record.opened_at_paris} : {len(record.document.get('offers', []))} offre(s). "
                    "Le procès-verbal signé est ci-dessous.")


CONTROLLERS: list[type[Controller]] = [ContractListController, ContractCockpitController, OpeningCeremonyController]
