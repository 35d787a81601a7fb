"""A vendor's contract after the opening: clarifications, D15 justifications, its result, D17 request, signature.

One page, "Suite de la procédure" (/app/offres/{id}/suite, linked from the offer workspace), reads what the vendor
is asked and what it is told once its offer is opened, each through the JSON API's own service method:

- the clarifications asked of its offer (`GET /offers/{id}/clarifications`), answered by text and/or a PDF
  (`POST /clarifications/{id}/messages`, `PUT …/attachments`) before their due date;
- the D15 request to justify an abnormally low price (`GET /offers/{id}/abnormally-low`), answered with an
  optional PDF (`PUT …/justification/document`) and the text, which sends it (`POST …/justification`);
- its result once the award is decided (`GET /specific-contracts/{id}/my-evaluation`, D16) and the award notice
  it received (its inbox, `GET /my/notifications`);
- its written requests for the reasons of the rejection and their answers (`POST …/reasons-requests`, D17);
- the contract, for the awardee (`GET /contracts/{id}`): the signed documents, its own signature
  (`POST /contracts/{id}/signatures`) and each signature's verification report (G16).

The services decide who sees what and refuse what the rules refuse (another vendor's contract is their 404, a
late justification their 409 naming D15); this module only reads forms and shows pages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Template

from marketplace.accounts.roles import VENDOR_MEMBERS, VENDOR_SIGNATORIES, VENDOR_WRITERS
from marketplace.awards import schemas as award_schemas
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.contracts import ContractService
from marketplace.awards.deps import (
    provide_abnormally_low_service,
    provide_contract_service,
    provide_dialogue_service,
    provide_reasons_service,
)
from marketplace.awards.dialogue import DialogueService
from marketplace.awards.reasons import REASONS_DUE, ReasonsService
from marketplace.awards.states import SignatureSide
from marketplace.errors import NotFound
from marketplace.lib.access import requires
from marketplace.notifications.inbox import InboxService
from marketplace.tenders import schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service as provide_specific_contract_service
from marketplace.tenders.deps import provide_offer_service
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.offers import OfferService
from marketplace.tenders.states import OfferStatus
from marketplace.web.contracts import STATUS_LABELS
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/offres"
CHUNK = 1 << 16
# The award notices (D16) a vendor's writers receive in their inbox (awards/award.py).
NOTICE_KINDS = ("award.awarded", "award.rejection_notice")
INBOX_SCAN = 200  # the most recent notifications searched for the notice

Specific = NamedDependency[SpecificContractService]
Offers = NamedDependency[OfferService]
Dialogue = NamedDependency[DialogueService]
Procedures = NamedDependency[AbnormallyLowService]
Reasons = NamedDependency[ReasonsService]
Contracts = NamedDependency[ContractService]
Inbox = NamedDependency[InboxService]

READERS = ("Members of an invited vendor, as GET /specific-contracts/{id}, …/my-offers, …/my-evaluation and the "
           "offer's clarifications and abnormally-low procedure (the services' 404 for anyone else).")
CLARIFIERS = ("As POST /clarifications/{id}/messages and PUT …/attachments, the vendor's side: its administrator or "
              "bid manager, before the answer is due.")
JUSTIFIERS = "As PUT/POST /offers/{id}/abnormally-low/justification…: the offer's vendor's admin or bid manager."
REQUESTERS = "As POST /specific-contracts/{id}/reasons-requests: an admin or bid manager of a vendor whose offer lost."
SIGNER = ("As POST /contracts/{id}/signatures for the awardee's side (HC4): its administrator; the buyer's side signs "
          "on its own page (web/evaluation.py).")
DOCUMENT_READERS = "As GET /contracts/{id}/signatures/{side}/document: the awardee's members (a party, HC4)."


class AnswerForm(msgspec.Struct):
    body: str = ""
    file: UploadFile | None = None


class DocumentForm(msgspec.Struct):
    # Optional here so that the offer is found (or refused, 404) before the missing file is.
    document: UploadFile | None = None


class JustificationForm(msgspec.Struct):
    texte: str = ""


class ReasonsForm(msgspec.Struct):
    demande: str = ""


def suite(contract_id: uuid.UUID, anchor: str = "") -> str:
    return f"{BASE}/{contract_id}/suite{'#' + anchor if anchor else ''}"


def _body(data: dict[str, Any], into: type[Any]) -> Any:
    """A form's fields as the API's body, checked by the same schema (its bounds): a refusal is a 400 page."""
    try:
        return msgspec.convert(data, into, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationException(f"Formulaire incomplet ou invalide : {exc}") from None


def _has_file(upload: UploadFile | None) -> bool:
    """A file input left empty still sends a part, with no name."""
    return upload is not None and bool(upload.filename)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


def _opened(offers: list[schemas.Offer]) -> schemas.Offer | None:
    """The vendor's offer in the competition: the opened one after the opening, else its submitted one."""
    for status in (OfferStatus.OPENED, OfferStatus.SUBMITTED):
        found = next((o for o in offers if o.status == status), None)
        if found is not None:
            return found
    return None


class ResultsController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "specific": Provide(provide_specific_contract_service, sync_to_thread=False),
                    "offers": Provide(provide_offer_service, sync_to_thread=False),
                    "dialogue": Provide(provide_dialogue_service, sync_to_thread=False),
                    "procedures": Provide(provide_abnormally_low_service, sync_to_thread=False),
                    "reasons": Provide(provide_reasons_service, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @get("/{contract_id:uuid}/suite", opt=requires(*VENDOR_MEMBERS, reason=READERS),
         name="web.results.page")
    async def page(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, specific: Specific,
                   offers: Offers, dialogue: Dialogue, procedures: Procedures, reasons: Reasons,
                   contracts: Contracts, inbox: Inbox) -> Template:
        contract = await specific.get(principal, contract_id)  # 404 unless invited
        offer = _opened(await offers.mine(principal, contract_id))
        threads = await dialogue.for_offer(principal, offer.id) if offer else []
        procedure = None
        if offer is not None:
            try:
                procedure = await procedures.get(principal, offer.id)
            except NotFound:  # no D15 procedure on this offer: nothing asked
                procedure = None
        result, pending = None, None
        if offer is not None and offer.status == OfferStatus.OPENED:
            try:
                result = await reasons.my_evaluation(principal, contract_id)
            except WrongStage as exc:  # not decided yet (D16), or no award at all (G8): said on the page
                pending = exc.extra.get("rule")
        notices = []
        if result is not None and principal.email:
            page = await inbox.list(principal.email, limit=INBOX_SCAN, offset=0)
            notices = [n for n in page.items if n.about_id == contract_id and n.kind in NOTICE_KINDS]
        signed = await contracts.of_specific_contract(principal, contract_id) if result is not None else None
        clock = contract.sandbox_clock.now if contract.sandbox_clock else None
        return Template("results_page.html", context={
            "viewer": viewer, "title": f"Suite de la procédure : {contract.title}", "active": "invitations",
            "contract": contract, "statuses": STATUS_LABELS, "offer": offer, "threads": threads,
            "procedure": procedure, "result": result, "pending": pending, "notices": notices, "signed": signed,
            "reasons_days": REASONS_DUE.days, "clock_now": clock,
            "can_write": bool(principal.organisations_with(*VENDOR_WRITERS)),
            "can_sign": bool(principal.organisations_with(*VENDOR_SIGNATORIES))})

    @post("/{contract_id:uuid}/suite/eclaircissements/{thread_id:uuid}", status_code=303,
          opt=requires(*VENDOR_WRITERS, reason=CLARIFIERS), request_max_body_size=None, name="web.results.clarify")
    async def clarify(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                      thread_id: FromPath[uuid.UUID], principal: Caller, dialogue: Dialogue,
                      data: Annotated[AnswerForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        text, upload = data.body.strip(), data.file
        if not text and not _has_file(upload):
            raise ValidationException("Écrivez votre réponse ou joignez un fichier PDF.")
        said = []
        if text:
            await dialogue.post(principal, thread_id, _body({"body": text}, award_schemas.ClarificationPost))
            said.append("réponse")
        if upload is not None and _has_file(upload):
            await dialogue.attach(principal, thread_id, filename=quote(upload.filename or "reponse.pdf"),
                                  declared_type=upload.content_type or "", declared_size=None,
                                  body=_chunks(upload))
            said.append(f"pièce « {upload.filename} »")
        thread = await dialogue.get(principal, thread_id)
        return done(request, suite(thread.specific_contract_id, f"fil-{thread_id}"),
                    f"Envoyé à l'acheteur : {' et '.join(said)}.")

    @post("/offre/{offer_id:uuid}/justification/document", status_code=303, request_max_body_size=None,
          opt=requires(*VENDOR_WRITERS, reason=JUSTIFIERS), name="web.results.justification_document")
    async def justification_document(
            self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
            procedures: Procedures,
            data: Annotated[DocumentForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        procedure = await procedures.get(principal, offer_id)  # 404 for anyone but the offer's vendor
        upload = data.document
        if upload is None or not _has_file(upload):
            raise ValidationException("Joignez le document de justification (PDF).")
        procedure = await procedures.attach_document(
            principal, offer_id, filename=quote(upload.filename or "justification.pdf"),
            declared_type=upload.content_type or "", declared_size=None, body=_chunks(upload))
        return done(request, suite(procedure.specific_contract_id, "justification"),
                    "Document de justification reçu ; envoyez maintenant le texte de votre justification.")

    @post("/offre/{offer_id:uuid}/justification", status_code=303, opt=requires(*VENDOR_WRITERS, reason=JUSTIFIERS),
          name="web.results.justify")
    async def justify(self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
                      procedures: Procedures,
                      data: Annotated[JustificationForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        procedure = await procedures.justify(principal, offer_id,
                                             _body({"text": data.texte}, award_schemas.JustificationCreate))
        return done(request, suite(procedure.specific_contract_id, "justification"),
                    "Justification envoyée à l'acheteur (D15) : elle est enregistrée et ne peut plus être modifiée.")

    @post("/{contract_id:uuid}/suite/motifs", status_code=303, opt=requires(*VENDOR_WRITERS, reason=REQUESTERS),
          name="web.results.reasons")
    async def request_reasons(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                              principal: Caller, reasons: Reasons,
                              data: Annotated[ReasonsForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
                              ) -> Redirect:
        asked = await reasons.request_reasons(principal, contract_id,
                                              _body({"request": data.demande}, award_schemas.ReasonsRequestCreate))
        return done(request, suite(contract_id, "motifs"),
                    f"Demande des motifs envoyée : la réponse de l'acheteur vous est due sous {REASONS_DUE.days} "
                    f"jours (D17), au plus tard le {asked.due_at:%d/%m/%Y}.")

    @post("/{contract_id:uuid}/suite/signature", status_code=303, request_max_body_size=None,
          opt=requires(*VENDOR_SIGNATORIES, reason=SIGNER), name="web.results.sign")
    async def sign(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                   contracts: Contracts,
                   data: Annotated[DocumentForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        signed = await contracts.of_specific_contract(principal, contract_id)
        if signed is None:
            raise NotFound("This specific contract has no contract of yours to sign.")
        upload = data.document
        if upload is None or not _has_file(upload):
            raise ValidationException("Joignez le contrat signé.")
        await contracts.sign(principal, signed.id, declared_type=upload.content_type or "", declared_size=None,
                             body=_chunks(upload))
        return done(request, suite(contract_id, "contrat"),
                    "Signature enregistrée et vérifiée (G16) : le rapport de vérification est ci-dessous.")

    @get("/{contract_id:uuid}/suite/signature/document", status_code=307,
         opt=requires(*VENDOR_MEMBERS, reason=DOCUMENT_READERS), name="web.results.signed_document")
    async def signed_document(self, contract_id: FromPath[uuid.UUID], principal: Caller, contracts: Contracts,
                              partie: Annotated[SignatureSide, QueryParameter(name="partie")] = SignatureSide.VENDOR,
                              ) -> Redirect:
        signed = await contracts.of_specific_contract(principal, contract_id)
        if signed is None:
            raise NotFound("This specific contract has no contract of yours.")
        return Redirect(await contracts.signed_document_url(principal, signed.id, partie), status_code=307)


CONTROLLERS: list[type[Controller]] = [ResultsController]
