from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.lib.access import requires
from marketplace.lib.clock import Clock
from marketplace.lib.http import created
from marketplace.tenders import schemas
from marketplace.tenders.contracts import BUYER_ROLES, VENDOR_ROLES, SpecificContractService
from marketplace.tenders.questions import ASKING_ROLES, QuestionService
from marketplace.tenders.services import HOLDER_MEMBERS, HOLDER_WRITERS, NeedService


def provide_need_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> NeedService:
    return NeedService(db_session, clock)


Service = NamedDependency[NeedService]
Caller = NamedDependency[Principal]
WRITERS = "The holder's administrator or project lead."


class NeedController(Controller):
    """Expressions of need of a project holder (domain.md §6)."""

    path = "/needs"
    tags = ["Needs"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "needs": Provide(provide_need_service, sync_to_thread=False)}

    @post("/", opt=requires(*HOLDER_WRITERS, reason=WRITERS), summary="Create an expression of need (draft)")
    async def create(self, data: JSONBody[schemas.NeedCreate], needs: Service,
                     principal: Caller) -> Response[schemas.Need]:
        need = await needs.create(principal, data)
        return created(need, f"{self.path}/{need.id}")

    @get("/", opt=requires(*HOLDER_MEMBERS, reason="Members of a holder: their own organisations' needs."),
         summary="List the needs of your holder organisations")
    async def list_own(self, needs: Service, principal: Caller) -> list[schemas.Need]:
        return await needs.list_own(principal)

    @get("/{need_id:uuid}", opt=requires(*HOLDER_MEMBERS, reason="Members of the need's holder organisation."),
         summary="Show an expression of need")
    async def show(self, need_id: FromPath[uuid.UUID], needs: Service, principal: Caller) -> schemas.Need:
        return await needs.get(principal, need_id)

    @put("/{need_id:uuid}", opt=requires(*HOLDER_WRITERS, reason=WRITERS),
         summary="Replace a draft need (basic checks only; the programme rules run on submission)")
    async def update(self, need_id: FromPath[uuid.UUID], data: JSONBody[schemas.NeedUpdate], needs: Service,
                     principal: Caller) -> schemas.Need:
        return await needs.update(principal, need_id, data)

    @post("/{need_id:uuid}/submit", opt=requires(*HOLDER_WRITERS, reason=WRITERS), status_code=HTTP_200_OK,
          summary="Submit for check: the programme rules N1–N19 run; 422 lists every violation")
    async def submit(self, need_id: FromPath[uuid.UUID], needs: Service, principal: Caller) -> schemas.Need:
        return await needs.submit(principal, need_id)


def provide_contract_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> SpecificContractService:
    return SpecificContractService(db_session, clock)


Contracts = NamedDependency[SpecificContractService]


class SpecificContractController(Controller):
    """Specific contracts: a submitted need published on an active DPS, and its invitations (§1.5, D8–D10)."""

    tags = ["Specific contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @post("/needs/{need_id:uuid}/publish", status_code=HTTP_201_CREATED,
          opt=requires(Role.BUYER_ADMIN, reason="An administrator of the DPS's buying organisation."),
          summary="Publish a submitted need on an active DPS: every vendor admitted to its category is invited "
                  "at once (D8); deadline ≥ 10 days (D9); weights within the DPS's ranges (D10)")
    async def publish(self, need_id: FromPath[uuid.UUID], data: JSONBody[schemas.NeedPublish],
                      contracts: Contracts, principal: Caller) -> Response[schemas.SpecificContract]:
        contract = await contracts.publish(principal, need_id, data)
        return created(contract, f"/specific-contracts/{contract.id}")

    @get("/specific-contracts/{contract_id:uuid}",
         opt=requires(*BUYER_ROLES, *VENDOR_ROLES,
                      reason="The buying organisation, and the vendors invited (their own invitations)."),
         summary="Show a specific contract")
    async def show(self, contract_id: FromPath[uuid.UUID], contracts: Contracts,
                   principal: Caller) -> schemas.SpecificContract:
        return await contracts.get(principal, contract_id)

    @get("/my/invitations", opt=requires(*VENDOR_ROLES, reason="Members of a vendor: its invitations."),
         summary="The invitations to tender of your vendor organisations")
    async def my_invitations(self, contracts: Contracts, principal: Caller) -> list[schemas.MyInvitation]:
        return await contracts.my_invitations(principal)


def provide_question_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> QuestionService:
    return QuestionService(db_session, clock)


Questions = NamedDependency[QuestionService]


class ContractQuestionController(Controller):
    """Questions of the invited vendors and the buyer's answers, published to every invitee anonymised."""

    path = "/specific-contracts/{contract_id:uuid}"
    tags = ["Specific contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "questions": Provide(provide_question_service, sync_to_thread=False)}

    @post("/questions-deadline", status_code=HTTP_200_OK,
          opt=requires(Role.BUYER_ADMIN, reason="An administrator of the contract's buying organisation."),
          summary="Set when questions close (a Paris time without a zone; before the tender deadline)")
    async def set_questions_deadline(self, contract_id: FromPath[uuid.UUID],
                                     data: JSONBody[schemas.QuestionsDeadline], questions: Questions,
                                     principal: Caller) -> schemas.SpecificContract:
        return await questions.set_deadline(principal, contract_id, data)

    @post("/questions", status_code=HTTP_201_CREATED,
          opt=requires(*ASKING_ROLES, reason="An administrator or bid manager of an invited vendor."),
          summary="Ask a question on the contract (until questions close); only the buyer learns who asked")
    async def ask(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.QuestionAsk],
                  questions: Questions, principal: Caller) -> schemas.ContractQuestion:
        return await questions.ask(principal, contract_id, data)

    @post("/questions/{question_id:uuid}/answer", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ROLES, reason="The contract's buying organisation (administrator or evaluator)."),
          summary="Answer a question: the question and its answer are published to every invited vendor, "
                  "without the asker")
    async def answer(self, contract_id: FromPath[uuid.UUID], question_id: FromPath[uuid.UUID],
                     data: JSONBody[schemas.QuestionAnswer], questions: Questions,
                     principal: Caller) -> schemas.ContractQuestion:
        return await questions.answer(principal, contract_id, question_id, data)

    @get("/questions", opt=requires(*BUYER_ROLES, *VENDOR_ROLES,
                                    reason="The buying organisation (every question, with askers), and the "
                                           "invited vendors (their own and the published ones, anonymised)."),
         summary="The questions and answers of a specific contract")
    async def list_questions(self, contract_id: FromPath[uuid.UUID], questions: Questions,
                             principal: Caller) -> list[schemas.ContractQuestion]:
        return await questions.list_for(principal, contract_id)
