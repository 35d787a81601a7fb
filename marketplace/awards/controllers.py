"""Routes of the evaluation and the award (thin: each calls one method of a service of awards/)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import (
    BUYER_ADMINS,
    BUYER_WRITERS,
    HOLDER_MEMBERS,
    SIGNATORIES,
    VENDOR_MEMBERS,
    VENDOR_WRITERS,
)
from marketplace.awards import schemas
from marketplace.awards.abnormally_low import DOCUMENT_TYPES as JUSTIFICATION_TYPES
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.award import AwardService
from marketplace.awards.cancellation import CancellationService
from marketplace.awards.contracts import SIGNATURE_TYPES, ContractService
from marketplace.awards.deps import (
    provide_abnormally_low_service,
    provide_award_service,
    provide_cancellation_service,
    provide_contract_service,
    provide_dialogue_service,
    provide_evaluation_service,
    provide_reasons_service,
)
from marketplace.awards.dialogue import CLARIFICATION_TYPES, DialogueService, thread_path
from marketplace.awards.evaluation import EvaluationService
from marketplace.awards.reasons import ReasonsService
from marketplace.awards.states import SignatureSide
from marketplace.lib.access import requires
from marketplace.lib.http import created
from marketplace.lib.openapi import raw_body
from marketplace.tenders import schemas as tender_schemas
from marketplace.uploads import raw_upload

Caller = NamedDependency[Principal]


Evaluation = NamedDependency[EvaluationService]
Awards = NamedDependency[AwardService]
Reasons = NamedDependency[ReasonsService]
# Who the buying side is (domain.md §11.1): the holder itself in intermediation (HC2), the central purchasing body
# (or the buyer the holder named, D2) when centralised (HC3). The central purchasing body that follows a procedure
# in intermediation passes the role guard of these routes and is refused by the service (403 naming HC2).
ADMIN = ("An administrator of the contract's buying side: the holder's (intermediation) or the buying "
         "organisation's (centralised).")
EVALUATORS = ("An evaluator or administrator of the contract's buying side: the holder's (intermediation) or the "
              "buying organisation's (centralised).")
COMMITTEE = (EVALUATORS[:-1] + "; on a centralised contract, also the holder's evaluators and administrators once "
             "invited onto the evaluation committee (HC3).")
READERS_AFTER_OPENING = (EVALUATORS[:-1] + "; once the offers are opened, also the holder's members and the central "
                         "purchasing body following a procedure in intermediation (HC2, HC3).")


class AwardController(Controller):
    """Evaluation (declarations, scores, rejections, ranking), award and its notices (D16–D18, G8)."""

    tags = ["Evaluation and award"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "evaluation": Provide(provide_evaluation_service, sync_to_thread=False),
                    "awards": Provide(provide_award_service, sync_to_thread=False),
                    "reasons_requests": Provide(provide_reasons_service, sync_to_thread=False)}

    @post("/specific-contracts/{contract_id:uuid}/evaluation", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Start the evaluation of the opened offers (machine (c): CLOSED_FOR_OFFERS → EVALUATION)")
    async def start(self, contract_id: FromPath[uuid.UUID], evaluation: Evaluation,
                    principal: Caller) -> schemas.Ranking:
        return await evaluation.start_evaluation(principal, contract_id)

    @post("/specific-contracts/{contract_id:uuid}/conflict-declarations", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_WRITERS, reason=COMMITTEE),
          summary="File your conflict-of-interest declaration for the contract (before any score)")
    async def declare(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.DeclarationCreate],
                      evaluation: Evaluation, principal: Caller) -> Response[schemas.Declaration]:
        declaration = await evaluation.declare(principal, contract_id, data)
        return created(declaration, f"/specific-contracts/{contract_id}/ranking")

    @put("/offers/{offer_id:uuid}/scores", opt=requires(*BUYER_WRITERS, reason=COMMITTEE),
         summary="Give or replace your scores of an opened offer, 0–100 per award criterion, with comments")
    async def score(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.ScoresPut], evaluation: Evaluation,
                    principal: Caller) -> list[schemas.Score]:
        return await evaluation.score(principal, offer_id, data)

    @post("/offers/{offer_id:uuid}/rejection", status_code=HTTP_200_OK, opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Reject an opened offer as irregular, unacceptable or inappropriate (it leaves the ranking)")
    async def reject(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.RejectionCreate],
                     evaluation: Evaluation, principal: Caller) -> schemas.Rejection:
        return await evaluation.reject(principal, offer_id, data)

    @get("/specific-contracts/{contract_id:uuid}/ranking",
         opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, reason=READERS_AFTER_OPENING),
         summary="The ranking: weighted means of the evaluators' scores, ties broken deterministically")
    async def ranking(self, contract_id: FromPath[uuid.UUID], evaluation: Evaluation,
                      principal: Caller) -> schemas.Ranking:
        return await evaluation.ranking(principal, contract_id)

    @post("/specific-contracts/{contract_id:uuid}/award", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Award the contract (one award per contract) and send the rejection notices (D16)")
    async def award(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.AwardCreate], awards: Awards,
                    principal: Caller) -> Response[schemas.Award]:
        award = await awards.award(principal, contract_id, data)
        return created(award, f"/specific-contracts/{contract_id}/award")

    @get("/specific-contracts/{contract_id:uuid}/award",
         opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, reason=READERS_AFTER_OPENING),
         summary="The award as it stands now: a standstill that ended reads active (machine (e), D18)")
    async def show_award(self, contract_id: FromPath[uuid.UUID], awards: Awards, principal: Caller) -> schemas.Award:
        return await awards.get_award(principal, contract_id)

    @post("/specific-contracts/{contract_id:uuid}/committee", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason="An administrator of the buying organisation running a centralised "
                                             "contract on the holder's behalf (HC3)."),
          summary="Invite the holder onto the evaluation committee (HC3: its admins and evaluators declare their "
                  "interests and score), or take it off before any of them declared")
    async def committee(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.CommitteeUpdate],
                        evaluation: Evaluation, principal: Caller) -> tender_schemas.SpecificContract:
        return await evaluation.set_committee(principal, contract_id, data)

    @get("/specific-contracts/{contract_id:uuid}/my-evaluation",
         opt=requires(*VENDOR_MEMBERS, reason="Members of a vendor whose offer was opened: its own result."),
         summary="Your offer's result once awarded: your own scores and the awardee, nothing of the others")
    async def mine(self, contract_id: FromPath[uuid.UUID], reasons_requests: Reasons,
                   principal: Caller) -> schemas.MyEvaluation:
        return await reasons_requests.my_evaluation(principal, contract_id)

    @post("/specific-contracts/{contract_id:uuid}/reasons-requests", status_code=HTTP_201_CREATED,
          opt=requires(*VENDOR_WRITERS, reason="An administrator or bid manager of a vendor whose offer lost."),
          summary="Ask in writing for the reasons your offer was rejected (answer due within 15 days, D17)")
    async def request_reasons(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.ReasonsRequestCreate],
                              reasons_requests: Reasons, principal: Caller) -> Response[schemas.ReasonsRequest]:
        request = await reasons_requests.request_reasons(principal, contract_id, data)
        return created(request, f"/specific-contracts/{contract_id}/my-evaluation")

    @post("/reasons-requests/{reasons_request_id:uuid}/answer", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=ADMIN), summary="Answer a vendor's request for reasons (D17)")
    async def answer_reasons(self, reasons_request_id: FromPath[uuid.UUID], data: JSONBody[schemas.ReasonsAnswer],
                             reasons_requests: Reasons, principal: Caller) -> schemas.ReasonsRequest:
        return await reasons_requests.answer_reasons(principal, reasons_request_id, data)


class CancellationController(Controller):
    """A specific contract declared sans suite (machine (c): any pre-contract state → CANCELLED)."""

    tags = ["Evaluation and award"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "cancellations": Provide(provide_cancellation_service, sync_to_thread=False)}

    @post("/specific-contracts/{contract_id:uuid}/cancellation", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Declare the specific contract sans suite, with reasons: the award is cancelled, a pending "
                  "contract abandoned, every invitee told; nothing moves afterwards")
    async def cancel(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.SansSuiteCreate],
                     cancellations: NamedDependency[CancellationService], principal: Caller) -> schemas.SansSuite:
        return await cancellations.declare_sans_suite(principal, contract_id, data)


AbnormallyLow = NamedDependency[AbnormallyLowService]
JUSTIFIERS = "The administrator or bid manager of the offer's vendor."
PROCEDURE_READERS = "Members of the contract's buying side, and of the offer's vendor."
Filename = Annotated[str, HeaderParameter(
    name="X-Filename", min_length=1, max_length=1000,
    description="The file's name, UTF-8 percent-encoded (a header: URLs end up in access logs).")]


class AbnormallyLowController(Controller):
    """D15: an offer suspected abnormally low, the written request for its justification, the vendor's
    justification and the buyer's decision (machine (d))."""

    path = "/offers/{offer_id:uuid}/abnormally-low"
    tags = ["Evaluation and award"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "procedures": Provide(provide_abnormally_low_service, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt=requires(*BUYER_WRITERS, reason=EVALUATORS),
          summary="Suspect an opened offer of being abnormally low and ask its vendor in writing to justify it "
                  "by a due date (D15)")
    async def request(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.AbnormallyLowCreate],
                      procedures: AbnormallyLow, principal: Caller) -> Response[schemas.AbnormallyLow]:
        procedure = await procedures.request(principal, offer_id, data)
        return created(procedure, f"/offers/{offer_id}/abnormally-low")

    @get("/", opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=PROCEDURE_READERS),
         summary="The offer's abnormally-low procedure: request, justification, decision")
    async def show(self, offer_id: FromPath[uuid.UUID], procedures: AbnormallyLow,
                   principal: Caller) -> schemas.AbnormallyLow:
        return await procedures.get(principal, offer_id)

    @put("/justification/document", request_max_body_size=None,
         opt={**requires(*VENDOR_WRITERS, reason=JUSTIFIERS), **raw_body(*JUSTIFICATION_TYPES)},
         summary="Attach a PDF to your justification (raw body), before sending its text and its due date")
    async def attach(self, offer_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], procedures: AbnormallyLow,
                     principal: Caller, filename: Filename = "justification.pdf") -> schemas.AbnormallyLow:
        return await procedures.attach_document(principal, offer_id, filename=filename, **raw_upload(request))

    @get("/justification/document", opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=PROCEDURE_READERS),
         summary="Download the justification's PDF (redirect to a short-lived link)",
         responses={307: ResponseSpec(data_container=None, description="Redirect to the document.")})
    async def document(self, offer_id: FromPath[uuid.UUID], procedures: AbnormallyLow,
                       principal: Caller) -> Redirect:
        return Redirect(await procedures.document_url(principal, offer_id), status_code=307)

    @post("/justification", status_code=HTTP_200_OK, opt=requires(*VENDOR_WRITERS, reason=JUSTIFIERS),
          summary="Send your written justification, once, before its due date (D15)")
    async def justify(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.JustificationCreate],
                      procedures: AbnormallyLow, principal: Caller) -> schemas.AbnormallyLow:
        return await procedures.justify(principal, offer_id, data)

    @post("/decision", status_code=HTTP_200_OK, opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Accept the justification (the offer stays evaluated) or reject the offer, only once the "
                  "justification was received or its due date passed (D15)")
    async def decide(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.AbnormallyLowDecision],
                     procedures: AbnormallyLow, principal: Caller) -> schemas.AbnormallyLow:
        return await procedures.decide(principal, offer_id, data)


Contracts = NamedDependency[ContractService]
PARTIES = ("Members of the contract's parties (HC4): its buyer (the holder in intermediation) and the awardee; "
           "the central purchasing body following a procedure in intermediation reads it too (HC2).")


class ContractController(Controller):
    """The contract after the award: its payment terms (FU7), signatures, modifications (machine (e))."""

    tags = ["Contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @post("/specific-contracts/{contract_id:uuid}/contract", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Create the contract from the award: PENDING, with its amount and its payment terms (FU7)")
    async def create(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.ContractCreate],
                     contracts: Contracts, principal: Caller) -> Response[schemas.Contract]:
        contract = await contracts.create(principal, contract_id, data)
        return created(contract, f"/contracts/{contract.id}")

    @get("/contracts/{contract_id:uuid}/signatures/{side:str}/document", status_code=307,
         opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=PARTIES),
         summary="Download the document a side signed (redirect to a short-lived link, as an attachment)",
         responses={307: ResponseSpec(data_container=None, description="Redirect to the document.")})
    async def signed_document(self, contract_id: FromPath[uuid.UUID], side: FromPath[SignatureSide],
                              contracts: Contracts, principal: Caller) -> Redirect:
        return Redirect(await contracts.signed_document_url(principal, contract_id, side), status_code=307)

    @get("/contracts/{contract_id:uuid}", opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=PARTIES),
         summary="A contract: status, amounts, payment terms, signatures, modifications and transitions")
    async def get(self, contract_id: FromPath[uuid.UUID], contracts: Contracts,
                  principal: Caller) -> schemas.Contract:
        return await contracts.get(principal, contract_id)

    @post("/contracts/{contract_id:uuid}/signatures", status_code=HTTP_201_CREATED, request_max_body_size=None,
          opt={**requires(*SIGNATORIES,
                          reason="An administrator of each party (HC4): the buyer (the holder in intermediation, "
                                 "the buying organisation when centralised) and the awardee."),
               **raw_body(*SIGNATURE_TYPES)},
          summary="Sign for your side with the signed document (raw body: PAdES PDF, CAdES .p7s/.p7m enveloping "
                  "the document, or XAdES enveloped XML), checked offline (G16); both sides → ACTIVE (D18)")
    async def sign(self, contract_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], contracts: Contracts,
                   principal: Caller) -> schemas.Contract:
        return await contracts.sign(principal, contract_id, **raw_upload(request))

    @post("/contracts/{contract_id:uuid}/modifications", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Append a modification (avenant) with its reason and new amount; the signed amount stays")
    async def modify(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.ModificationCreate],
                     contracts: Contracts, principal: Caller) -> Response[schemas.Contract]:
        contract = await contracts.modify(principal, contract_id, data)
        return created(contract, f"/contracts/{contract.id}")

    @post("/contracts/{contract_id:uuid}/cancellation", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="Abandon a contract awaiting its signatures, with reasons (machine (e): PENDING → CANCELLED)")
    async def cancel(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.ContractCancellation],
                     contracts: Contracts, principal: Caller) -> schemas.Contract:
        return await contracts.cancel(principal, contract_id, data)

    @post("/contracts/{contract_id:uuid}/termination", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=ADMIN),
          summary="End an active contract: completed or terminated early, with reasons (machine (e): ACTIVE → "
                  "TERMINATED)")
    async def terminate(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.ContractTermination],
                        contracts: Contracts, principal: Caller) -> schemas.Contract:
        return await contracts.terminate(principal, contract_id, data)


Dialogue = NamedDependency[DialogueService]
EVALUATORS_ASK = EVALUATORS[:-1] + ", after the opening (D13)."
BOTH_SIDES = "The contract's buying side (admins, evaluators: the holder's in intermediation) and the offer's vendor."
WRITERS = ("The buying side's admins and evaluators (the holder's in intermediation); the vendor's admin or bid "
           "manager before the answer is due.")


class ClarificationController(Controller):
    """Clarifications on an opened offer: the buying side asks one vendor, the vendor answers by a due date;
    private to the two, beside the offer, never changing it (D13, domain.md §8 item 3)."""

    tags = ["Clarifications"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "dialogue": Provide(provide_dialogue_service, sync_to_thread=False)}

    @post("/offers/{offer_id:uuid}/clarifications", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_WRITERS, reason=EVALUATORS_ASK),
          summary="Ask the offer's vendor for clarifications: a subject, the question and when the answer is due")
    async def open(self, offer_id: FromPath[uuid.UUID], data: JSONBody[schemas.ClarificationCreate],
                   dialogue: Dialogue, principal: Caller) -> Response[schemas.ClarificationThread]:
        thread = await dialogue.open(principal, offer_id, data)
        return created(thread, thread_path(thread.id))

    @get("/offers/{offer_id:uuid}/clarifications", opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=BOTH_SIDES),
         summary="The clarification threads of an offer, with their messages")
    async def for_offer(self, offer_id: FromPath[uuid.UUID], dialogue: Dialogue,
                        principal: Caller) -> list[schemas.ClarificationThread]:
        return await dialogue.for_offer(principal, offer_id)

    @get("/clarifications/{thread_id:uuid}", opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=BOTH_SIDES),
         summary="A clarification thread with its messages")
    async def show(self, thread_id: FromPath[uuid.UUID], dialogue: Dialogue,
                   principal: Caller) -> schemas.ClarificationThread:
        return await dialogue.get(principal, thread_id)

    @post("/clarifications/{thread_id:uuid}/messages", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_WRITERS, *VENDOR_WRITERS, reason=WRITERS),
          summary="Post a message: the vendor's answer (before the due date), or another question of the buyer")
    async def write(self, thread_id: FromPath[uuid.UUID], data: JSONBody[schemas.ClarificationPost],
                    dialogue: Dialogue, principal: Caller) -> Response[schemas.ClarificationThread]:
        return created(await dialogue.post(principal, thread_id, data), thread_path(thread_id))

    @put("/clarifications/{thread_id:uuid}/attachments", status_code=HTTP_201_CREATED, request_max_body_size=None,
         opt={**requires(*BUYER_WRITERS, *VENDOR_WRITERS, reason=WRITERS), **raw_body(*CLARIFICATION_TYPES)},
         summary="Post a message carrying one file (raw PDF body), under the same rules as a text message")
    async def attach(
            self, thread_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], dialogue: Dialogue,
            principal: Caller,
            filename: Annotated[str, HeaderParameter(
                name="X-Filename", min_length=1, max_length=1000,
                description="The file's name, UTF-8 percent-encoded (a header: URLs end up in access logs).")],
    ) -> Response[schemas.ClarificationThread]:
        thread = await dialogue.attach(principal, thread_id, filename=filename, **raw_upload(request))
        return created(thread, thread_path(thread_id))

    @get("/clarifications/{thread_id:uuid}/attachments/{attachment_id:uuid}/download", status_code=307,
         opt=requires(*BUYER_WRITERS, *VENDOR_MEMBERS, reason=BOTH_SIDES),
         summary="Download a clarification's file (redirect to a short-lived link, as an attachment)",
         responses={307: ResponseSpec(data_container=None, description="Redirect to the file.")})
    async def download(self, thread_id: FromPath[uuid.UUID], attachment_id: FromPath[uuid.UUID],
                       dialogue: Dialogue, principal: Caller) -> Redirect:
        return Redirect(await dialogue.download_url(principal, thread_id, attachment_id), status_code=307)

    @post("/clarifications/{thread_id:uuid}/close", status_code=HTTP_200_OK,
          opt=requires(*BUYER_WRITERS, reason=EVALUATORS),
          summary="Close the thread: nothing more is posted to it")
    async def close(self, thread_id: FromPath[uuid.UUID], dialogue: Dialogue,
                    principal: Caller) -> schemas.ClarificationThread:
        return await dialogue.close(principal, thread_id)
