from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from marketplace.accounts.deps import provide_access, provide_caller, provide_principal
from marketplace.accounts.principal import Claim, Principal
from marketplace.accounts.roles import (
    BUYER_ADMINS,
    BUYER_WRITERS,
    DPS_WRITERS,
    HOLDER_MEMBERS,
    HOLDER_WRITERS,
    VENDOR_MEMBERS,
    VENDOR_WRITERS,
)
from marketplace.lib.access import Access, public, requires
from marketplace.lib.database import LAGGING_READS
from marketplace.lib.http import created
from marketplace.lib.openapi import raw_body
from marketplace.tenders import schemas
from marketplace.tenders.amendments import DOCUMENT_TYPES, AmendmentService
from marketplace.tenders.contracts import NoticeReader, SpecificContractService
from marketplace.tenders.deps import (
    provide_amendment_service,
    provide_contract_service,
    provide_need_service,
    provide_notice_reader,
    provide_question_service,
    provide_search_service,
)
from marketplace.tenders.errors import InvalidSearch
from marketplace.tenders.needs import NeedService
from marketplace.tenders.questions import QuestionService
from marketplace.tenders.search import NeedSearchService
from marketplace.tenders.states import SpecificContractStatus
from marketplace.uploads import QueryFilename, XFilename, given_filename, raw_upload
from marketplace.vendors.models import DeliveryMode, Sector

Service = NamedDependency[NeedService]
Caller = NamedDependency[Principal]
WRITERS = "The holder's administrator or project lead."
# The buying side of a specific contract (domain.md §11.1): the holder itself in intermediation (HC2), the buying
# organisation when centralised (HC3). Who follows or holds a contract passes the role guard of its writes and is
# refused by the service with a 403 naming HC2 or HC3.
BUYING_ADMIN = ("An administrator of the contract's buying side: the holder's (intermediation) or the buying "
                "organisation's (centralised).")
NOTICE_READERS = ("The contract's buying side, the central purchasing body following it (intermediation, HC2), the "
                  "holder's members (HC3), and the vendors invited (their own invitations).")


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


Contracts = NamedDependency[SpecificContractService]


class SpecificContractController(Controller):
    """Specific contracts: a submitted need published on an active DPS, and its invitations (§1.5, D8–D10)."""

    tags = ["Specific contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False)}

    @post("/needs/{need_id:uuid}/publish", status_code=HTTP_201_CREATED,
          opt=requires(*BUYER_ADMINS, reason="On a DPS conducted in intermediation, the holder's administrator (or the "
                                             "DPS's buying organisation's, on its behalf), and the holder buys (HC2); "
                                             "centralised, an administrator of the buying organisation, which buys "
                                             "(HC3)."),
          summary="Publish a submitted need on an active DPS: every vendor admitted to its category is invited "
                  "at once (D8); deadline ≥ 10 days (D9); weights within the DPS's ranges (D10); the contract keeps "
                  "the DPS's conduct mode (HC1)")
    async def publish(self, need_id: FromPath[uuid.UUID], data: JSONBody[schemas.NeedPublish],
                      contracts: Contracts, principal: Caller) -> Response[schemas.SpecificContract]:
        contract = await contracts.publish(principal, need_id, data)
        return created(contract, f"/specific-contracts/{contract.id}")

    @get("/dps/{dps_id:uuid}/needs",
         opt=requires(*DPS_WRITERS, reason="The DPS's buying organisation (on a DPS usable by other buyers, another "
                                         "buying organisation sees the needs naming it)."),
         summary="The needs filed to a DPS, submitted or published (D2), oldest submission first")
    async def filed_needs(self, dps_id: FromPath[uuid.UUID], contracts: Contracts,
                          principal: Caller) -> list[schemas.Need]:
        return await contracts.filed_needs(principal, dps_id)

    @get("/specific-contracts/{contract_id:uuid}",
         opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, *VENDOR_MEMBERS, reason=NOTICE_READERS,
                      caller_in_statement=True),
         summary="Show a specific contract",
         dependencies={"notices": Provide(provide_notice_reader, sync_to_thread=False),
                       "caller": Provide(provide_caller, sync_to_thread=False),
                       "access": Provide(provide_access, sync_to_thread=False)})
    async def show(self, contract_id: FromPath[uuid.UUID], notices: NamedDependency[NoticeReader],
                   caller: NamedDependency[Principal | Claim],
                   access: NamedDependency[Access]) -> schemas.SpecificContract:
        # The caller is read with the notice, and this route's access applied to it there.
        return await notices.get(caller, contract_id, access)

    @get("/my/invitations", opt=requires(*VENDOR_MEMBERS, reason="Members of a vendor: its invitations."),
         summary="The invitations to tender of your vendor organisations")
    async def my_invitations(self, contracts: Contracts, principal: Caller) -> list[schemas.MyInvitation]:
        return await contracts.my_invitations(principal)


Questions = NamedDependency[QuestionService]


class ContractQuestionController(Controller):
    """Questions of the invited vendors and the buyer's answers, published to every invitee anonymised."""

    path = "/specific-contracts/{contract_id:uuid}"
    tags = ["Specific contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "questions": Provide(provide_question_service, sync_to_thread=False)}

    @post("/questions-deadline", status_code=HTTP_200_OK,
          opt=requires(*BUYER_ADMINS, reason=BUYING_ADMIN),
          summary="Set when questions close (a Paris time without a zone; before the tender deadline)")
    async def set_questions_deadline(self, contract_id: FromPath[uuid.UUID],
                                     data: JSONBody[schemas.QuestionsDeadline], questions: Questions,
                                     principal: Caller) -> schemas.SpecificContract:
        return await questions.set_deadline(principal, contract_id, data)

    @post("/questions", status_code=HTTP_201_CREATED,
          opt=requires(*VENDOR_WRITERS, reason="An administrator or bid manager of an invited vendor."),
          summary="Ask a question on the contract (until questions close); only the buyer learns who asked")
    async def ask(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.QuestionAsk],
                  questions: Questions, principal: Caller) -> schemas.ContractQuestion:
        return await questions.ask(principal, contract_id, data)

    @post("/questions/{question_id:uuid}/answer", status_code=HTTP_200_OK,
          opt=requires(*BUYER_WRITERS, reason="The contract's buying side (administrator or evaluator: the holder's in "
                                              "intermediation), and the central purchasing body following it, which "
                                              "assists the holder (HC2)."),
          summary="Answer a question: the question and its answer are published to every invited vendor, "
                  "without the asker")
    async def answer(self, contract_id: FromPath[uuid.UUID], question_id: FromPath[uuid.UUID],
                     data: JSONBody[schemas.QuestionAnswer], questions: Questions,
                     principal: Caller) -> schemas.ContractQuestion:
        return await questions.answer(principal, contract_id, question_id, data)

    @get("/questions", opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, *VENDOR_MEMBERS,
                                    reason="The buying side and the central purchasing body following it (every "
                                           "question, with askers); the holder that is not the buying side, and the "
                                           "invited vendors (their own and the published ones, anonymised)."),
         summary="The questions and answers of a specific contract")
    async def list_questions(self, contract_id: FromPath[uuid.UUID], questions: Questions,
                             principal: Caller) -> list[schemas.ContractQuestion]:
        return await questions.list_for(principal, contract_id)


Amendments = NamedDependency[AmendmentService]
ADMIN_AMENDS = BUYING_ADMIN[:-1] + ", before the tender deadline."
READERS = NOTICE_READERS


class ContractAmendmentController(Controller):
    """Amendments of an open specific contract: its documents and its deadline (machine (c))."""

    path = "/specific-contracts/{contract_id:uuid}"
    tags = ["Specific contracts"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "amendments": Provide(provide_amendment_service, sync_to_thread=False)}

    @post("/deadline", status_code=HTTP_200_OK, opt=requires(*BUYER_ADMINS, reason=ADMIN_AMENDS),
          summary="Extend the tender deadline (never shortened), with a reason: every invitee is told")
    async def extend_deadline(self, contract_id: FromPath[uuid.UUID], data: JSONBody[schemas.DeadlineExtension],
                              amendments: Amendments, principal: Caller) -> schemas.SpecificContract:
        return await amendments.extend_deadline(principal, contract_id, data)

    @put("/documents", opt={**requires(*BUYER_ADMINS, reason=ADMIN_AMENDS), **raw_body(*DOCUMENT_TYPES)},
         request_max_body_size=None,
         status_code=HTTP_201_CREATED,
         summary="Publish a consultation document or a new version of one (raw body, PDF or zip): every "
                 "invitee is told")
    async def add_document(
            self, contract_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], amendments: Amendments,
            principal: Caller,
            title: Annotated[str, QueryParameter(name="title", min_length=1, max_length=300)],
            reason: Annotated[str, QueryParameter(name="reason", min_length=1, max_length=2000)],
            replaces: Annotated[uuid.UUID | None, QueryParameter(name="replaces")] = None,
            x_filename: XFilename = None, filename: QueryFilename = None,
    ) -> Response[schemas.ContractDocument]:
        document = await amendments.add_document(
            principal, contract_id, title=title, filename=given_filename(x_filename, filename), reason=reason,
            replaces=replaces, **raw_upload(request))
        return created(document, document.download_path)

    @get("/documents", opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, *VENDOR_MEMBERS, reason=READERS),
         summary="The consultation documents, every version")
    async def documents(self, contract_id: FromPath[uuid.UUID], amendments: Amendments,
                        principal: Caller) -> list[schemas.ContractDocument]:
        return await amendments.documents(principal, contract_id)

    @get("/documents/{document_id:uuid}/download",
         opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, *VENDOR_MEMBERS, reason=READERS),
         status_code=307, summary="Download a consultation document (redirect to a short-lived link)",
         responses={307: ResponseSpec(data_container=None, description="Redirect to the document.")})
    async def download(self, contract_id: FromPath[uuid.UUID], document_id: FromPath[uuid.UUID],
                       amendments: Amendments, principal: Caller) -> Redirect:
        return Redirect(await amendments.document_url(principal, contract_id, document_id), status_code=307)

    @get("/amendments", opt=requires(*BUYER_WRITERS, *HOLDER_MEMBERS, *VENDOR_MEMBERS, reason=READERS),
         summary="Every amendment of the contract, with its old and new values")
    async def amendments(self, contract_id: FromPath[uuid.UUID], amendments: Amendments,
                         principal: Caller) -> list[schemas.ContractAmendment]:
        return await amendments.amendments(principal, contract_id)

SearchService = NamedDependency[NeedSearchService]
# The search's query string; what these types can't say is checked by `search.check_params`.
Q = Annotated[str | None, QueryParameter(
    name="q", max_length=200, description='French free text (stems, accents ignored): logiciels dossier usager, '
                                          '"aide à domicile", EHPAD -domicile')]
CategoryId = Annotated[uuid.UUID | None, QueryParameter(name="categoryId", description="A DPS category")]
SectorParam = Annotated[Sector | None, QueryParameter(name="sector")]
ModeParam = Annotated[DeliveryMode | None, QueryParameter(name="deliveryMode")]
Departement = Annotated[str | None, QueryParameter(name="departement", max_length=3,
                                                   description="A facility's département: 75, 2A, 971…")]
Region = Annotated[str | None, QueryParameter(name="region", max_length=2,
                                              description="A facility's INSEE region (COG 2024): 11, 84…")]
CpvParam = Annotated[str | None, QueryParameter(name="cpv", max_length=10,
                                                description="48000000 or 48000000-8; codes below it match too")]
StatusParam = Annotated[SpecificContractStatus | None, QueryParameter(
    name="status", description="As read now: past its deadline an unopened contract is closed_for_offers, not open")]
DeadlineFrom = Annotated[datetime | None, QueryParameter(
    name="deadlineFrom", description="Tender deadline at or after (without a zone: Paris time)")]
DeadlineTo = Annotated[datetime | None, QueryParameter(
    name="deadlineTo", description="Tender deadline at or before (without a zone: Paris time)")]
Cursor = Annotated[str | None, QueryParameter(name="cursor", max_length=200,
                                              description="`nextCursor` of the previous page")]
PageSize = Annotated[int, QueryParameter(name="limit", ge=1, le=100)]


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_dates(request: Request[Any, Any, Any], *names: str) -> None:
    """The framework's lax decoding takes a number for a Unix time (`deadlineTo=0.5` is 1970): the document
    promises an ISO 8601 date-time, so anything else is the 400 it announces (found by fuzzing)."""
    for name in names:
        value = request.query_params.get(name)
        if value is not None and not _ISO_DATE.match(value):
            raise InvalidSearch(f"{name}: not an ISO 8601 date-time (2026-02-17T09:00:00)", field=name)


class PublicSearchController(Controller):
    """Discovery: anyone searches the published needs and their specific contracts."""

    path = "/discovery/needs"
    tags = ["Discovery"]
    dependencies = {"search": Provide(provide_search_service, sync_to_thread=False)}

    # The same for every caller, and lag-tolerant: kept Settings.public_cache_seconds in Redis (app.py).
    @get("/", opt=public("Published needs are public notices; drafts and submitted needs are never listed."),
         summary="Search the published needs: French full text, filters, and a cursor for the next page",
         cache=True, dependencies=LAGGING_READS)
    # Parameters named as on the wire: a 400 from the framework names the parameter by its Python name.
    async def search(self, request: Request[Any, Any, Any], search: SearchService, q: Q = None,
                     categoryId: CategoryId = None, sector: SectorParam = None, deliveryMode: ModeParam = None,
                     departement: Departement = None, region: Region = None, cpv: CpvParam = None,
                     status: StatusParam = None, deadlineFrom: DeadlineFrom = None, deadlineTo: DeadlineTo = None,
                     cursor: Cursor = None, limit: PageSize = 20) -> schemas.PublicNeedPage:
        _iso_dates(request, "deadlineFrom", "deadlineTo")
        return await search.search(schemas.NeedSearchParams(
            q=q, category_id=categoryId, sector=sector, delivery_mode=deliveryMode, departement=departement,
            region=region, cpv=cpv, status=status, deadline_from=deadlineFrom, deadline_to=deadlineTo,
            cursor=cursor, limit=limit))
