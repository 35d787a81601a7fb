"""Evaluation and award of a specific contract: declarations, the score grid, clarifications, D15 requests, the
ranking, the award, the contract and its signatures.

Each act is the API's service method (awards/controllers.py, tenders/offer_controllers.py): the same role set on
the route, the same refusals. The pages read through the same services too: the opening record (refused, 404,
before the opening), the committee's evaluation sheet and the award file (awards/sheet.py, AwardService.award_file),
which add to the API's reads only the score matrix and the notices' delivery the buying side works from.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from marketplace.accounts.roles import BUYER_ADMINS, BUYER_WRITERS
from marketplace.awards import schemas
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.award import AwardService
from marketplace.awards.contracts import ContractService
from marketplace.awards.controllers import ADMIN, COMMITTEE, EVALUATORS, EVALUATORS_ASK
from marketplace.awards.deps import (
    provide_abnormally_low_service,
    provide_award_service,
    provide_contract_service,
    provide_dialogue_service,
    provide_evaluation_service,
    provide_sheet_service,
)
from marketplace.awards.dialogue import DialogueService
from marketplace.awards.evaluation import EvaluationService
from marketplace.awards.sheet import SheetService
from marketplace.errors import NotFound
from marketplace.lib.access import requires
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service as provide_specific_contract_service
from marketplace.tenders.deps import provide_opening_service
from marketplace.tenders.opening import OpeningService
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

T = TypeVar("T")
Form = RequestEncodingType.URL_ENCODED
Many = str | list[str]


def page(contract_id: uuid.UUID, what: str) -> str:
    return f"{PREFIX}/marches/{contract_id}/{what}"


def _many(value: Many) -> list[str]:
    """A repeated form field: one value arrives as a string, several as a list."""
    return [value] if isinstance(value, str) else value


def _paris_time(value: str) -> str:
    """`<input type="datetime-local">` sends no seconds; the API's schemas read a zone-less time as Paris time."""
    return f"{value}:00" if len(value) == 16 else value


def _body(data: dict[str, Any], into: type[T]) -> T:
    """A form's fields as the API's body, checked by the same schema (its bounds): a refusal is a 400 page."""
    try:
        return msgspec.convert(data, into, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationException(f"Formulaire incomplet ou invalide : {exc}") from None


def _cents(amount: str) -> int | str:
    """"12 345,67" (euros, French or plain notation) → 1234567 cents; anything else is left for the schema."""
    cleaned = amount.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "").replace(",", ".")
    try:
        cents = Decimal(cleaned) * 100
    except InvalidOperation:
        return amount
    return int(cents) if cents == cents.to_integral_value() else amount


class DeclarationForm(msgspec.Struct):
    conflit: str = ""       # "non" | "oui"
    declaration: str = ""


class ScoresForm(msgspec.Struct):
    critere: Many = []
    note: Many = []
    commentaire: Many = []


class ClarificationForm(msgspec.Struct):
    sujet: str = ""
    question: str = ""
    echeance: str = ""


class AbnormallyLowForm(msgspec.Struct):
    motifs: str = ""
    echeance: str = ""


class AwardForm(msgspec.Struct):
    offre: str = ""
    motifs: str = ""
    suspension: str = "non"  # D18: "oui" observes a standstill


class ContractForm(msgspec.Struct):
    montant: str = ""
    modalites: str = ""


class SignatureForm(msgspec.Struct):
    # Optional here so that the contract is found (or refused, 404) before the missing file is.
    document: UploadFile | None = None


_YES_NO = {"oui": True, "non": False}


class EvaluationController(Controller):
    path = f"{PREFIX}/marches/{{contract_id:uuid}}"
    dependencies = {**BASE_DEPENDENCIES,
                    "specific_contracts": Provide(provide_specific_contract_service, sync_to_thread=False),
                    "opening": Provide(provide_opening_service, sync_to_thread=False),
                    "sheets": Provide(provide_sheet_service, sync_to_thread=False),
                    "evaluation": Provide(provide_evaluation_service, sync_to_thread=False),
                    "dialogue": Provide(provide_dialogue_service, sync_to_thread=False),
                    "procedures": Provide(provide_abnormally_low_service, sync_to_thread=False),
                    "awards": Provide(provide_award_service, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    # -- the evaluation --------------------------------------------------------------------------------

    @get("/evaluation", opt=requires(*BUYER_WRITERS, reason=COMMITTEE + " After the opening only."),
         name="web.evaluation.sheet")
    async def sheet(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                    specific_contracts: NamedDependency[SpecificContractService],
                    opening: NamedDependency[OpeningService], sheets: NamedDependency[SheetService]) -> Template:
        record = await opening.record(principal, contract_id)  # 404 until the offers are opened (D13)
        contract = await specific_contracts.get(principal, contract_id)
        sheet = await sheets.sheet(principal, contract_id)
        return Template("evaluation_sheet.html", context={
            "viewer": viewer, "title": f"Évaluation — {contract.title}", "active": "contracts",
            "contract": contract, "record": record, "sheet": sheet, "me": principal.user_id})

    @post("/evaluation/demarrer", opt=requires(*BUYER_ADMINS, reason=ADMIN), status_code=303,
          name="web.evaluation.start")
    async def start(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                    evaluation: NamedDependency[EvaluationService]) -> Redirect:
        await evaluation.start_evaluation(principal, contract_id)
        return done(request, page(contract_id, "evaluation"), "L'évaluation des offres est ouverte.")

    @post("/evaluation/declaration", opt=requires(*BUYER_WRITERS, reason=COMMITTEE), status_code=303,
          name="web.evaluation.declare")
    async def declare(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                      evaluation: NamedDependency[EvaluationService],
                      data: Annotated[DeclarationForm, Body(media_type=Form)]) -> Redirect:
        if data.conflit not in _YES_NO:
            raise ValidationException("Indiquez si vous avez un conflit d'intérêts (oui ou non).")
        body = _body({"hasConflict": _YES_NO[data.conflit], "statement": data.declaration},
                     schemas.DeclarationCreate)
        declaration = await evaluation.declare(principal, contract_id, body)
        if declaration.has_conflict:
            # From now on the evaluation's pages refuse this person (awards/conflicts.py): back to the contract.
            return done(request, f"{PREFIX}/marches/{contract_id}",
                        "Déclaration enregistrée : vous avez déclaré un conflit d'intérêts, vous ne participez "
                        "pas à l'évaluation de ce marché.")
        return done(request, page(contract_id, "evaluation"),
                    "Déclaration d'absence de conflit d'intérêts enregistrée : vous pouvez noter les offres.")

    @post("/evaluation/offres/{offer_id:uuid}/notes", opt=requires(*BUYER_WRITERS, reason=COMMITTEE),
          status_code=303, name="web.evaluation.score")
    async def score(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                    offer_id: FromPath[uuid.UUID], principal: Caller, evaluation: NamedDependency[EvaluationService],
                    data: Annotated[ScoresForm, Body(media_type=Form)]) -> Redirect:
        criteria, marks, comments = _many(data.critere), _many(data.note), _many(data.commentaire)
        if not len(criteria) == len(marks) == len(comments):
            raise ValidationException("Chaque critère a une note et un commentaire.")
        body = _body({"scores": [{"criterion": c, "score": m, "comment": t}
                                 for c, m, t in zip(criteria, marks, comments, strict=True)]}, schemas.ScoresPut)
        await evaluation.score(principal, offer_id, body)
        return done(request, f"{page(contract_id, 'evaluation')}#offre-{offer_id}", "Notes enregistrées.")

    @post("/evaluation/offres/{offer_id:uuid}/eclaircissements", opt=requires(*BUYER_WRITERS, reason=EVALUATORS_ASK),
          status_code=303, name="web.evaluation.clarify")
    async def clarify(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                      offer_id: FromPath[uuid.UUID], principal: Caller, dialogue: NamedDependency[DialogueService],
                      data: Annotated[ClarificationForm, Body(media_type=Form)]) -> Redirect:
        body = _body({"subject": data.sujet, "body": data.question, "answerDueAt": _paris_time(data.echeance)},
                     schemas.ClarificationCreate)
        await dialogue.open(principal, offer_id, body)
        return done(request, f"{page(contract_id, 'evaluation')}#offre-{offer_id}",
                    "Demande d'éclaircissements envoyée au soumissionnaire.")

    @post("/evaluation/offres/{offer_id:uuid}/offre-anormalement-basse",
          opt=requires(*BUYER_WRITERS, reason=EVALUATORS), status_code=303, name="web.evaluation.abnormally_low")
    async def abnormally_low(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                             offer_id: FromPath[uuid.UUID], principal: Caller,
                             procedures: NamedDependency[AbnormallyLowService],
                             data: Annotated[AbnormallyLowForm, Body(media_type=Form)]) -> Redirect:
        body = _body({"reasons": data.motifs, "justificationDueAt": _paris_time(data.echeance)},
                     schemas.AbnormallyLowCreate)
        await procedures.request(principal, offer_id, body)
        return done(request, f"{page(contract_id, 'evaluation')}#offre-{offer_id}",
                    "Justification demandée par écrit au soumissionnaire (D15).")

    # -- the award and the contract ----------------------------------------------------------------------

    @get("/attribution", opt=requires(*BUYER_WRITERS, reason=EVALUATORS), name="web.evaluation.award_file")
    async def award_file(self, contract_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                         specific_contracts: NamedDependency[SpecificContractService],
                         awards: NamedDependency[AwardService],
                         contracts: NamedDependency[ContractService]) -> Template:
        contract = await specific_contracts.get(principal, contract_id)
        file = await awards.award_file(principal, contract_id)
        signed = await contracts.get(principal, file.contract_id) if file.contract_id else None
        return Template("evaluation_award.html", context={
            "viewer": viewer, "title": f"Attribution — {contract.title}", "active": "contracts",
            "contract": contract, "file": file, "signed": signed})

    @post("/attribution", opt=requires(*BUYER_ADMINS, reason=ADMIN), status_code=303, name="web.evaluation.award")
    async def award(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                    awards: NamedDependency[AwardService],
                    data: Annotated[AwardForm, Body(media_type=Form)]) -> Redirect:
        if data.suspension not in _YES_NO:
            raise ValidationException("Indiquez si un délai de suspension est observé (oui ou non).")
        body = _body({"offerId": data.offre, "reasons": data.motifs,
                      "standstillRequired": _YES_NO[data.suspension]}, schemas.AwardCreate)
        award = await awards.award(principal, contract_id, body)
        return done(request, page(contract_id, "attribution"),
                    f"Marché attribué à {award.vendor_name} ; {award.notices} notification(s) envoyée(s).")

    @post("/contrat", opt=requires(*BUYER_ADMINS, reason=ADMIN), status_code=303, name="web.evaluation.contract")
    async def create_contract(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID],
                              principal: Caller, contracts: NamedDependency[ContractService],
                              data: Annotated[ContractForm, Body(media_type=Form)]) -> Redirect:
        body = _body({"amountCents": _cents(data.montant), "paymentTerms": data.modalites or None},
                     schemas.ContractCreate)
        await contracts.create(principal, contract_id, body)
        return done(request, page(contract_id, "attribution"), "Contrat créé : il attend les signatures des parties.")

    @post("/contrat/signatures", status_code=303, name="web.evaluation.sign", request_max_body_size=None,
          opt=requires(*BUYER_ADMINS, reason="The buyer's administrator signs for its side (HC4); the awardee signs "
                                             "through POST /contracts/{id}/signatures."))
    async def sign(self, request: Request[Any, Any, Any], contract_id: FromPath[uuid.UUID], principal: Caller,
                   awards: NamedDependency[AwardService], contracts: NamedDependency[ContractService],
                   data: Annotated[SignatureForm, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Redirect:
        file = await awards.award_file(principal, contract_id)
        if file.contract_id is None:
            raise NotFound("This specific contract has no contract to sign yet.")
        document = data.document
        if document is None:
            raise ValidationException("Joignez le document signé.")

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await document.read(1 << 16):
                yield chunk

        await contracts.sign(principal, file.contract_id, declared_type=document.content_type,
                             declared_size=None, body=chunks())
        return done(request, page(contract_id, "attribution"), "Signature enregistrée et vérifiée (G16).")


CONTROLLERS: list[type[Controller]] = [EvaluationController]
