"""Vendors' offer workspace: structured parts, attachments (limits shown first, progress, presigned uploads),
receipts, withdrawal and new versions, its own refused deposits.

Every read and every act is the JSON API's own service method: the contract as an invited vendor reads it
(`GET /specific-contracts/{id}`, with its deposit limits, D14a), its own offers (`…/my-offers`) and their receipts
(`GET /offers/{id}/receipt`, `…/receipt.pdf`), its refused deposit attempts (`…/my-deposit-attempts`, D14b), the
questions (`…/questions`) and the clarifications asked of it (`GET /offers/{id}/clarifications`). The services
decide who sees what: another vendor's contract or offer is their 404, a sealed offer's content is never given
back (its author sees names, sizes and hashes only).

A file is added two ways, both through the offer service: a plain multipart form (no JavaScript; up to
FORM_MAX_BYTES), or, with static/js/offers.js, a presigned PUT straight to the object store bound to the file's
size and SHA-256 (`POST /offers/{id}/uploads`, then `…/complete`), with a progress bar.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect, Template

from marketplace.accounts.roles import VENDOR_MEMBERS, VENDOR_WRITERS
from marketplace.awards import schemas as award_schemas
from marketplace.awards.deps import provide_dialogue_service
from marketplace.awards.dialogue import DialogueService
from marketplace.errors import DomainError
from marketplace.lib.access import requires
from marketplace.lib.http import DOWNLOAD_HEADERS, download
from marketplace.tenders import schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deposits import DepositService
from marketplace.tenders.deps import (
    provide_contract_service,
    provide_deposit_service,
    provide_offer_service,
    provide_question_service,
)
from marketplace.tenders.offers import OfferService
from marketplace.tenders.questions import QuestionService
from marketplace.tenders.states import OfferStatus
from marketplace.web.contracts import STATUS_LABELS, paris_iso
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/offres"
# The no-JavaScript form's body (the file and a few fields): larger files go by the presigned way.
FORM_MAX_BYTES = 20 * 1024 * 1024
PRICE_ROWS = 5
CHUNK = 256 * 1024

Contracts = NamedDependency[SpecificContractService]
Offers = NamedDependency[OfferService]
Deposits = NamedDependency[DepositService]
Questions = NamedDependency[QuestionService]
Dialogue = NamedDependency[DialogueService]

OFFER_STATUS = {"draft": "brouillon", "submitted": "déposée", "superseded": "remplacée par une version suivante",
                "withdrawn": "retirée", "opened": "ouverte"}
AUTHOR = "As the API's offer route: an administrator or bid manager of the offer's vendor (the service's 404 else)."
AUTHOR_READS = "As the API's offer route: the offer's vendor, any member (the service's 404 for anyone else)."
INVITED_WRITERS = "As the API: an administrator or bid manager of an invited vendor."


class QuestionForm(msgspec.Struct):
    question: Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class ClarificationAnswerForm(msgspec.Struct):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class AttachmentForm(msgspec.Struct):
    file: UploadFile


def _cents(raw: str, field: str) -> int:
    """A price typed in euros ("4 800,50") as integer cents."""
    try:
        value = Decimal(raw.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", "."))
    except InvalidOperation as exc:
        raise ValidationException(f"{field} : un montant en euros, par exemple 4800,50") from exc
    if not value.is_finite() or value < 0:
        raise ValidationException(f"{field} : un montant en euros positif, par exemple 4800,50")
    return int((value * 100).to_integral_value())


def offer_parts(form: dict[str, Any]) -> schemas.OfferParts:
    """The parts form (price rows `ligne-N-*`, one `reponse-N` per criterion `critere-N`) as the API's body;
    blank rows are left out, the service's schema judges the rest."""
    lines, answers = [], []
    for n in range(PRICE_ROWS):
        item = str(form.get(f"ligne-{n}-item", "")).strip()
        if not item:
            continue
        quantity = str(form.get(f"ligne-{n}-quantite", "")).strip() or "1"
        if not quantity.isdigit():
            raise ValidationException(f"Ligne {n + 1} : la quantité est un nombre entier")
        lines.append({"item": item, "quantity": int(quantity),
                      "unitPriceCents": _cents(str(form.get(f"ligne-{n}-prix", "")), f"Ligne {n + 1}, prix")})
    n = 0
    while f"critere-{n}" in form:
        answer = str(form.get(f"reponse-{n}", "")).strip()
        if answer:
            answers.append({"criterion": str(form[f"critere-{n}"]), "answer": answer})
        n += 1
    try:
        return msgspec.convert({"priceSchedule": lines, "answers": answers}, schemas.OfferParts)
    except msgspec.ValidationError as exc:
        raise ValidationException(f"Parties de l'offre incomplètes : {exc} (au moins une ligne de prix et une "
                                  "réponse)") from exc


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def _receipt(offers: OfferService, principal: Any, offer: schemas.Offer) -> schemas.SignedReceipt | None:
    if offer.status == OfferStatus.DRAFT:
        return None
    try:
        return await offers.receipt(principal, offer.id)
    except DomainError:  # withdrawn before any submission: no receipt (the service's 404)
        return None


async def _threads(dialogue: DialogueService, principal: Any,
                   offer: schemas.Offer) -> list[award_schemas.ClarificationThread]:
    if offer.status not in (OfferStatus.OPENED, OfferStatus.SUBMITTED):
        return []
    return await dialogue.for_offer(principal, offer.id)


def workspace(contract_id: uuid.UUID, anchor: str = "") -> str:
    return f"{BASE}/{contract_id}{'#' + anchor if anchor else ''}"


class OfferWorkspaceController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "contracts": Provide(provide_contract_service, sync_to_thread=False),
                    "offers": Provide(provide_offer_service, sync_to_thread=False),
                    "deposits": Provide(provide_deposit_service, sync_to_thread=False),
                    "questions": Provide(provide_question_service, sync_to_thread=False),
                    "dialogue": Provide(provide_dialogue_service, sync_to_thread=False)}

    @get("/{contract_id:uuid}", opt=requires(*VENDOR_MEMBERS, reason="Members of an invited vendor, as "
                                                                     "GET /specific-contracts/{id} and …/my-offers."),
         name="web.offers.workspace")
    async def page(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, contracts: Contracts,
                   offers: Offers, deposits: Deposits, questions: Questions, dialogue: Dialogue) -> Template:
        contract = await contracts.get(principal, contract_id)
        mine = sorted(await offers.mine(principal, contract_id), key=lambda o: o.version, reverse=True)
        receipts = {o.id: await _receipt(offers, principal, o) for o in mine}
        threads = [t for o in mine for t in await _threads(dialogue, principal, o)]
        return Template("offers_workspace.html", context={
            "viewer": viewer, "title": f"Mon offre : {contract.title}", "contract": contract,
            "statuses": STATUS_LABELS, "offer_statuses": OFFER_STATUS, "offers": mine, "receipts": receipts,
            "draft": next((o for o in mine if o.status == OfferStatus.DRAFT), None),
            "attempts": await deposits.mine(principal, contract_id), "threads": threads,
            "questions": await questions.list_for(principal, contract_id), "price_rows": range(PRICE_ROWS),
            "form_max_bytes": FORM_MAX_BYTES, "paris_iso": paris_iso,
            "clock_now": contract.sandbox_clock.now if contract.sandbox_clock else None})

    @post("/{contract_id:uuid}/offre", status_code=303, opt=requires(*VENDOR_WRITERS, reason=INVITED_WRITERS),
          name="web.offers.create")
    async def create(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                     offers: Offers) -> Redirect:
        offer = await offers.create(principal, contract_id)
        return done(request, workspace(contract_id, "brouillon"),
                    f"Version {offer.version} de votre offre créée (brouillon) : complétez-la puis déposez-la.")

    @post("/{contract_id:uuid}/questions", status_code=303, opt=requires(*VENDOR_WRITERS, reason=INVITED_WRITERS),
          name="web.offers.ask")
    async def ask(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                  questions: Questions,
                  data: Annotated[QuestionForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        await questions.ask(principal, contract_id, schemas.QuestionAsk(question=data.question))
        return done(request, workspace(contract_id, "questions"),
                    "Question envoyée : l'acheteur seul sait qu'elle vient de vous ; sa réponse sera publiée à "
                    "tous les invités.")

    @post("/offre/{offer_id:uuid}/parties", status_code=303, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          name="web.offers.parts")
    async def parts(self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
                    offers: Offers,
                    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        offer = await offers.set_parts(principal, offer_id, offer_parts(data))
        return done(request, workspace(offer.specific_contract_id, "brouillon"),
                    "Bordereau de prix et réponses aux critères enregistrés (scellés).")

    @post("/offre/{offer_id:uuid}/pieces", status_code=303, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          request_max_body_size=FORM_MAX_BYTES, name="web.offers.attach")
    async def attach(self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
                     offers: Offers,
                     data: Annotated[AttachmentForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        upload = data.file
        received = await offers.add_attachment(
            principal, offer_id, filename=quote(upload.filename or "piece"),
            declared_type=upload.content_type or "", declared_size=None, body=_chunks(upload))
        offer = await offers.get(principal, offer_id)
        return done(request, workspace(offer.specific_contract_id, "brouillon"),
                    f"Pièce « {received.filename} » reçue et scellée ({received.size} octets).")

    @post("/offre/{offer_id:uuid}/televersements", status_code=201, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          name="web.offers.presign")
    async def presign(self, offer_id: FromPath[uuid.UUID], principal: Caller, offers: Offers,
                      data: JSONBody[schemas.UploadRequest]) -> schemas.PresignedUpload:
        """For static/js/offers.js: the same presigned upload as POST /offers/{id}/uploads."""
        upload = await offers.request_upload(principal, offer_id, data)
        return msgspec.structs.replace(
            upload, complete_path=f"{BASE}/offre/{offer_id}/televersements/{upload.attachment_id}/fin")

    @post("/offre/{offer_id:uuid}/televersements/{attachment_id:uuid}/fin", status_code=200,
          opt=requires(*VENDOR_WRITERS, reason=AUTHOR), name="web.offers.complete")
    async def complete(self, offer_id: FromPath[uuid.UUID], attachment_id: FromPath[uuid.UUID], principal: Caller,
                       offers: Offers, data: JSONBody[schemas.UploadCompletion]) -> schemas.AttachmentReceipt:
        return await offers.complete_upload(principal, offer_id, attachment_id, data)

    @post("/offre/{offer_id:uuid}/depot", status_code=303, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          name="web.offers.submit")
    async def submit(self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
                     offers: Offers) -> Redirect:
        signed = await offers.submit(principal, offer_id, None)
        return done(request, workspace(uuid.UUID(signed.receipt["specificContract"]), f"offre-{offer_id}"),
                    f"Offre déposée le {paris_iso(signed.receipt['receivedEnd'])} : votre accusé de réception "
                    "signé est ci-dessous.")

    @post("/offre/{offer_id:uuid}/retrait", status_code=303, opt=requires(*VENDOR_WRITERS, reason=AUTHOR),
          name="web.offers.withdraw")
    async def withdraw(self, request: Request[Any, Any, Any], offer_id: FromPath[uuid.UUID], principal: Caller,
                       offers: Offers) -> Redirect:
        offer = await offers.withdraw(principal, offer_id)
        return done(request, workspace(offer.specific_contract_id, f"offre-{offer_id}"),
                    f"Version {offer.version} retirée : elle ne sera pas ouverte. Vous pouvez en déposer une "
                    "nouvelle avant la date limite.")

    @get("/offre/{offer_id:uuid}/accuse.pdf", opt=requires(*VENDOR_MEMBERS, reason=AUTHOR_READS),
         media_type="application/pdf", response_headers=DOWNLOAD_HEADERS, name="web.offers.receipt_pdf")
    async def receipt_pdf(self, offer_id: FromPath[uuid.UUID], principal: Caller, offers: Offers) -> Response[bytes]:
        pdf = await offers.receipt_pdf(principal, offer_id)
        return download(pdf, f"accuse-de-reception-{offer_id}.pdf", "application/pdf")

    @post("/eclaircissements/{thread_id:uuid}/reponse", status_code=303,
          opt=requires(*VENDOR_WRITERS, reason="As POST /clarifications/{id}/messages, the vendor's side: its "
                                               "administrator or bid manager, before the answer is due."),
          name="web.offers.clarify")
    async def clarify(self, request: Request[Any, Any, Any], thread_id: FromPath[uuid.UUID], principal: Caller,
                      dialogue: Dialogue,
                      data: Annotated[ClarificationAnswerForm,
                                      Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Redirect:
        thread = await dialogue.post(principal, thread_id, award_schemas.ClarificationPost(body=data.body))
        return done(request, workspace(thread.specific_contract_id, "eclaircissements"),
                    "Réponse envoyée à l'acheteur.")


CONTROLLERS: list[type[Controller]] = [OfferWorkspaceController]
