"""A holder's published need: its procedure, contract and grant tranches with their evidence.

Three pages for the holder's members, under its need (`/app/mes-besoins/{need_id}/…`), each over the services the
JSON API uses, with the same role sets on its acts:

- the procedure: the funding decision followed (FU3, `GET /needs/{id}/funding`, its signed PDF as
  `GET …/funding/decision-document`), the specific contract the need was published as (`GET /specific-contracts/
  {id}`, found from the need by `SpecificContractService.of_need`), its states and deadline (HC5, HC6), its
  questions and answers (`QuestionService.list_for`), the award once made (`GET …/award`, read after the opening,
  HC3), and, in intermediation (HC2), the links to the buying side's screens the caller's roles open;
- the contract (HC4): its parties, amounts, payment terms (FU7) and signatures with their G16 report
  (`GET /contracts/{id}`, found by `ContractService.of_specific_contract`: none for who is no party, the holder of a
  centralised procedure, HC3), and the holder's signature when it is
  the buyer of its contract (intermediation) and its side has not signed yet (`POST /contracts/{id}/signatures`);
- the grant's tranches (FU5, N14, N15): each tranche's state and amount, the evidence it asks for
  (`PUT …/funding/tranches/{position}/evidence`) and its request (`POST …/request`, the third with its usage
  indicators). Nothing here decides: a tranche requested out of order, without its evidence or its indicators, is
  refused by `TrancheService`, and the error page names the rule (FU5, N15) and the field.

Another holder's need is a 404 (the services say so); a section the caller's roles don't read shows the service's
refusal in place of its content (web/contracts.py `section`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_WRITERS, HOLDER_MEMBERS, HOLDER_WRITERS, SIGNATORIES, Role
from marketplace.awards.award import AwardService
from marketplace.awards.contracts import ContractService
from marketplace.awards.deps import provide_award_service
from marketplace.awards.deps import provide_contract_service as provide_signed_contract_service
from marketplace.awards.schemas import Award, Contract
from marketplace.awards.states import ContractStatus, SignatureSide
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.funding import schemas as funding_schemas
from marketplace.funding.decisions import DecisionService
from marketplace.funding.deps import provide_decision_service, provide_tranche_service
from marketplace.funding.states import FUNDING_SCHEDULE, TrancheKind
from marketplace.funding.tranches import TrancheService
from marketplace.lib.access import requires
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service, provide_need_service, provide_question_service
from marketplace.tenders.needs import NeedService
from marketplace.tenders.questions import QuestionService
from marketplace.vendors.models import ConductMode
from marketplace.web.contracts import STATUS_LABELS, TIMELINE, Section, section
from marketplace.web.funding import WORDS, to_schema
from marketplace.web.needs import FUNDING_LABELS
from marketplace.web.needs import STATUS_LABELS as NEED_LABELS
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX

BASE = f"{PREFIX}/mes-besoins"
Needs = NamedDependency[NeedService]
Specifics = NamedDependency[SpecificContractService]
Questions = NamedDependency[QuestionService]
Awards = NamedDependency[AwardService]
Contracts = NamedDependency[ContractService]
Decisions = NamedDependency[DecisionService]
Tranches = NamedDependency[TrancheService]
# The tranche's place in the grant (N14: 1, 2, 3), as the API's path parameter.
Position = Annotated[int, PathParameter(ge=1, le=len(FUNDING_SCHEDULE))]
Multipart = RequestEncodingType.MULTI_PART
# Whose signed document: the buyer's (the holder's, in intermediation) or the awardee's.
Side = Annotated[SignatureSide, QueryParameter(name="partie")]

MEMBERS = "Members of the need's holder (another holder: 404), as GET /needs/{id} and GET /needs/{id}/funding."
CONTRACT_READERS = ("As GET /contracts/{id}: the contract's parties' members, the holder's administrators and "
                    "evaluators when it buys in intermediation (HC2, HC4); another holder's need: 404.")
WRITERS = "The need's holder's administrator or project lead, as the API's tranche routes (FU5)."
SIGNERS = ("As POST /contracts/{id}/signatures: an administrator of each party (HC4), the holder's when it buys in "
           "intermediation; another holder's need: 404.")

CONTRACT_STATUS = {"pending": ("en attente des signatures", "warn"), "signed": ("signé par les deux parties", "ok"),
                   "active": ("signé et notifié, en cours", "ok"), "cancelled": ("abandonné", "alert"),
                   "terminated": ("terminé", "")}
AWARD_STATUS = {"pending": "proposée", "standstill": "délai de suspension en cours", "active": "définitive",
                "cancelled": "annulée", "unsuccessful": "infructueuse"}
VERDICT = {"valid": ("valide", "ok"), "invalid": ("invalide", "alert"),
           "unsupported": ("format non pris en charge", "alert")}
CHECKS = {"integrity": "intégrité", "timestamp": "heure de signature", "validity": "validité du certificat",
          "chain": "chaîne de confiance", "revocation": "révocation", "category": "catégorie (qualifiée)"}
CHECK_STATUS = {"passed": "réussi", "failed": "échoué", "unknown": "indéterminé"}
SIDE = {"buyer": "acheteur", "vendor": "titulaire"}
SIDE_OF = {"buyer": "de l'acheteur", "vendor": "du titulaire"}


# -- forms ---------------------------------------------------------------------------------------------------
# Every field has a default, so that a form missing one reaches the service (after the object check) and the
# refusal names it, rather than a bare 400 before anyone checked whose need it is.


class EvidenceForm(msgspec.Struct):
    preuve: UploadFile | None = None


class RequestForm(msgspec.Struct):
    """N15: the usage indicators, for the third tranche only (left empty, they are not sent)."""

    utilisateurs_actifs: str = ""
    essms_utilisateurs: str = ""
    releve_le: str = ""
    commentaire: str = ""


class SignatureForm(msgspec.Struct):
    document: UploadFile | None = None


def _usage(data: RequestForm) -> dict[str, Any] | None:
    """The form's indicators as the API's `usageIndicators`, or None when none is typed (the service then says
    whether the tranche needs them, N15)."""
    if not any(v.strip() for v in (data.utilisateurs_actifs, data.essms_utilisateurs, data.releve_le,
                                   data.commentaire)):
        return None
    values: dict[str, Any] = {"activeDuiUsers": _count(data.utilisateurs_actifs, "utilisateurs_actifs")}
    if data.essms_utilisateurs.strip():
        values["esmsUsing"] = _count(data.essms_utilisateurs, "essms_utilisateurs")
    if data.releve_le.strip():
        values["measuredOn"] = data.releve_le.strip()
    if data.commentaire.strip():
        values["comment"] = data.commentaire.strip()
    return values


def _count(text: str, field: str) -> int:
    cleaned = text.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    if not cleaned.isdigit():
        raise RuleViolation(f"{field}: N15: un nombre entier, par exemple 148", field=field, rule="N15")
    return int(cleaned)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(1 << 20):
        yield chunk


def _page(need_id: uuid.UUID, what: str) -> str:
    return f"{BASE}/{need_id}/{what}"


async def _award(awards: AwardService, principal: Principal, contract_id: uuid.UUID) -> Section[Award]:
    """The award, once made and readable (HC3: after the opening); none yet is no refusal."""
    read = await section(awards.get_award(principal, contract_id))
    return Section() if isinstance(read.refusal, NotFound) else read


def _back_office(principal: Principal, contract: tender_schemas.SpecificContract) -> list[tuple[str, str]]:
    """The buying side's screens of this contract the caller's roles in its holder open (words and places only:
    each page still checks who may read it). In intermediation the holder is the buying side (HC2): its
    administrators and evaluators evaluate and award; centralised (HC3), its members read the contract and the
    opening record."""
    holder = contract.holder_organisation_id
    base = f"{PREFIX}/marches/{contract.id}"
    links = [(base, "Le marché spécifique (état, invités, questions, documents)"),
             (f"{base}/ouverture", "L'ouverture des plis et son procès-verbal")]
    if contract.conduct_mode == ConductMode.INTERMEDIATION and principal.has_role_in(holder, *BUYER_WRITERS):
        links += [(f"{base}/evaluation", "L'évaluation et le classement des offres"),
                  (f"{base}/attribution", "L'attribution et le contrat")]
    return links


def _holder_signs(principal: Principal, need: tender_schemas.Need, contract: Contract | None) -> bool:
    """Whether it is the holder's turn to sign, and the caller signs for it (HC4): the holder is the contract's
    buyer (intermediation, HC2), the contract awaits its signatures, its buyer's side has not signed, and the caller
    is the holder's administrator. The service still decides (D18: not before the earliest date; G16)."""
    return (contract is not None and contract.status == ContractStatus.PENDING
            and contract.buyer_organisation_id == need.holder_organisation_id
            and all(s.side != SignatureSide.BUYER for s in contract.signatures)
            and principal.has_role_in(need.holder_organisation_id, Role.HOLDER_ADMIN))


class HolderContractsController(Controller):
    path = f"{BASE}/{{need_id:uuid}}"
    dependencies = {**BASE_DEPENDENCIES,
                    "needs": Provide(provide_need_service, sync_to_thread=False),
                    "specifics": Provide(provide_contract_service, sync_to_thread=False),
                    "questions": Provide(provide_question_service, sync_to_thread=False),
                    "awards": Provide(provide_award_service, sync_to_thread=False),
                    "contracts": Provide(provide_signed_contract_service, sync_to_thread=False),
                    "decisions": Provide(provide_decision_service, sync_to_thread=False),
                    "tranches": Provide(provide_tranche_service, sync_to_thread=False)}

    # -- the procedure ---------------------------------------------------------------------------------------

    @get("/procedure", opt=requires(*HOLDER_MEMBERS, reason=MEMBERS), name="web.holder_contracts.procedure")
    async def procedure(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, needs: Needs,
                        specifics: Specifics, questions: Questions, awards: Awards, contracts: Contracts,
                        tranches: Tranches) -> Template:
        need = await needs.get(principal, need_id)
        funding = await tranches.view(principal, need_id)
        contract = await specifics.of_need(principal, need_id)
        context: dict[str, Any] = {
            "viewer": viewer, "title": f"Procédure : {need.title}", "active": "my-needs", "need": need,
            "funding": funding, "contract": contract, "statuses": STATUS_LABELS, "timeline": TIMELINE,
            "need_labels": NEED_LABELS, "funding_labels": FUNDING_LABELS, "award_status": AWARD_STATUS,
            "contract_status": CONTRACT_STATUS, "words": WORDS, "links": [], "questions": Section[Any](asked=False),
            "award": Section[Any](asked=False), "signed": None,
            "reads_contract": principal.has_role_in(need.holder_organisation_id, *BUYER_WRITERS)}
        if contract is not None:
            context |= {"links": _back_office(principal, contract),
                        "questions": await section(questions.list_for(principal, contract.id)),
                        "award": await _award(awards, principal, contract.id),
                        "signed": await contracts.of_specific_contract(principal, contract.id)}
        return Template("holder_contracts_procedure.html", context=context)

    @get("/financement/decision", status_code=307, opt=requires(*HOLDER_MEMBERS, reason=MEMBERS),
         name="web.holder_contracts.decision")
    async def decision(self, need_id: FromPath[uuid.UUID], principal: Caller, decisions: Decisions) -> Redirect:
        """The signed funding decision: a short-lived link, as GET /needs/{id}/funding/decision-document
        (audited)."""
        return Redirect(await decisions.document_url(principal, need_id), status_code=307)

    # -- the contract ----------------------------------------------------------------------------------------

    @get("/contrat", opt=requires(*BUYER_WRITERS, reason=CONTRACT_READERS), name="web.holder_contracts.contract")
    async def contract(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, needs: Needs,
                       specifics: Specifics, awards: Awards, contracts: Contracts) -> Template:
        need = await needs.get(principal, need_id)
        specific = await specifics.of_need(principal, need_id)
        signed: Contract | None = None
        award: Section[Award] = Section(asked=False)
        if specific is not None:
            award = await _award(awards, principal, specific.id)
            signed = await contracts.of_specific_contract(principal, specific.id)
        return Template("holder_contracts_contract.html", context={
            "viewer": viewer, "title": f"Contrat : {need.title}", "active": "my-needs", "need": need,
            "specific": specific, "award": award, "signed": signed, "award_status": AWARD_STATUS,
            "contract_status": CONTRACT_STATUS, "verdict": VERDICT, "checks": CHECKS, "check_status": CHECK_STATUS,
            "side": SIDE, "side_of": SIDE_OF, "may_sign": _holder_signs(principal, need, signed)})

    @get("/contrat/signatures/document", status_code=307, opt=requires(*BUYER_WRITERS, reason=CONTRACT_READERS),
         name="web.holder_contracts.signed_document")
    async def signed_document(self, need_id: FromPath[uuid.UUID], principal: Caller, specifics: Specifics,
                              contracts: Contracts, partie: Side = SignatureSide.BUYER) -> Redirect:
        """The document a party signed: a short-lived link, as GET /contracts/{id}/signatures/{side}/document
        (audited)."""
        specific = await specifics.of_need(principal, need_id)
        contract = await contracts.of_specific_contract(principal, specific.id) if specific else None
        if contract is None:
            raise NotFound("This need has no contract yet.")
        return Redirect(await contracts.signed_document_url(principal, contract.id, partie), status_code=307)

    @post("/contrat/signature", status_code=303, request_max_body_size=None,
          opt=requires(*SIGNATORIES, reason=SIGNERS), name="web.holder_contracts.sign")
    async def sign(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], principal: Caller,
                   specifics: Specifics, contracts: Contracts,
                   data: Annotated[SignatureForm, Body(media_type=Multipart)]) -> Redirect:
        """As POST /contracts/{id}/signatures: the signed document checked offline (G16), not before the earliest
        signature date (D18); the contract is found from the need first (another holder's: 404)."""
        specific = await specifics.of_need(principal, need_id)
        contract = await contracts.of_specific_contract(principal, specific.id) if specific else None
        centralised = specific is not None and specific.buyer_organisation_id != specific.holder_organisation_id
        if contract is None and centralised:
            # HC3, HC4: the central purchasing body buys and signs; to the holder, as through the API, there is no
            # contract of its own to sign here.
            raise NotFound("No contract of this need is the holder's to sign (HC4).")
        if contract is None:
            # The need is the caller's own (else 404 above): what it lacks is a state, not an access.
            raise Conflict("contract: HC4: this need has no contract to sign yet; it is made from the award",
                           field="contract", rule="HC4")
        document = data.document
        if document is None or not document.filename:
            raise RuleViolation("document: G16: joignez le contrat signé (PDF PAdES, .p7s/.p7m CAdES ou XML XAdES)",
                                field="document", rule="G16")
        await contracts.sign(principal, contract.id, declared_type=document.content_type, declared_size=None,
                             body=_chunks(document))
        return done(request, _page(need_id, "contrat"), "Signature du porteur enregistrée et vérifiée (G16).")

    # -- the grant's tranches ----------------------------------------------------------------------------------

    @get("/financement", opt=requires(*HOLDER_MEMBERS, reason=MEMBERS), name="web.holder_contracts.tranches")
    async def tranches_page(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer,
                            tranches: Tranches) -> Template:
        funding = await tranches.view(principal, need_id)
        return Template("holder_contracts_tranches.html", context={
            "viewer": viewer, "title": f"Subvention : {funding.title}", "active": "my-needs", "funding": funding,
            "words": WORDS, "usage_kind": TrancheKind.USAGE_VERIFIED.value,
            "may_write": principal.has_role_in(funding.holder_organisation_id, *HOLDER_WRITERS)})

    @get("/financement/tranches/{position:int}/preuve", status_code=307, opt=requires(*HOLDER_MEMBERS, reason=MEMBERS),
         name="web.holder_contracts.evidence_document")
    async def evidence_document(self, need_id: FromPath[uuid.UUID], position: Position, principal: Caller,
                                tranches: Tranches) -> Redirect:
        """A tranche's latest evidence, as GET /needs/{id}/funding/tranches/{position}/evidence (audited)."""
        return Redirect(await tranches.evidence_url(principal, need_id, position), status_code=307)

    @post("/financement/tranches/{position:int}/preuve", status_code=303, request_max_body_size=None,
          opt=requires(*HOLDER_WRITERS, reason=WRITERS), name="web.holder_contracts.evidence")
    async def evidence(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], position: Position,
                       principal: Caller, tranches: Tranches,
                       data: Annotated[EvidenceForm, Body(media_type=Multipart)]) -> Redirect:
        """As PUT /needs/{id}/funding/tranches/{position}/evidence: a PDF, before the request (FU5)."""
        upload = data.preuve
        if upload is None or not upload.filename:
            await tranches.view(principal, need_id)  # another holder's need: 404 before the missing file
            raise RuleViolation("preuve: FU5: une tranche se demande avec son justificatif ; joignez-le (PDF)",
                                field="preuve", rule="FU5")
        await tranches.attach_evidence(principal, need_id, position, filename=upload.filename,
                                       declared_type=upload.content_type, declared_size=None, body=_chunks(upload))
        return done(request, f"{_page(need_id, 'financement')}#tranche-{position}",
                    f"Justificatif de la tranche {position} enregistré : la tranche peut être demandée.")

    @post("/financement/tranches/{position:int}/demande", status_code=303,
          opt=requires(*HOLDER_WRITERS, reason=WRITERS), name="web.holder_contracts.request")
    async def request_tranche(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID],
                              position: Position, principal: Caller, tranches: Tranches,
                              data: Annotated[RequestForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
                              ) -> Redirect:
        """As POST /needs/{id}/funding/tranches/{position}/request: in order, with its evidence; the first once the
        contract is signed, the third with the usage indicators (FU5, N15): the service refuses otherwise."""
        await tranches.view(principal, need_id)  # another holder's need: 404 before the form is judged
        usage = _usage(data)
        body = to_schema(funding_schemas.TrancheRequestCreate,
                         **({"usageIndicators": usage} if usage is not None else {}))
        await tranches.request(principal, need_id, position, body)
        return done(request, f"{_page(need_id, 'financement')}#tranche-{position}",
                    f"Tranche {position} demandée : le financeur la valide ou la refuse avec motifs.")


CONTROLLERS: list[type[Controller]] = [HolderContractsController]
