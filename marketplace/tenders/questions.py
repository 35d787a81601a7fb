"""Questions and answers on a specific contract (issue 5).

An invited vendor asks a question until the date questions close (set by the buyer, by default four days
before the tender deadline); the buying organisation answers it, and the answer is published at once to
every invitee, with the asker left out: equal treatment of the candidates, none learning who competes.

Object rule, as for the contract itself: the buying side sees every question with its asker, and so does the
central purchasing body that follows a procedure conducted in intermediation, which may answer them too (HC2:
it assists the holder); the holder that is not the buying side (centralised, HC3) reads the published questions
and answers, as an invitee does, never an asker; an invited vendor sees its own questions and the published
ones, never an asker; anyone else gets 404.
"""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS, Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.tenders import schemas
from marketplace.tenders.access import (
    buying_side,
    follows,
    for_buying_side,
    invited_vendors,
    visible_contract,
)
from marketplace.tenders.contracts import SpecificContractService, notify_invitees, questions_close_at
from marketplace.tenders.models import ContractQuestion, Need, SpecificContract
from marketplace.tenders.states import SpecificContractStatus
from marketplace.vendors.sandbox import clock_of, dps_of

QA_PUBLISHED_KIND = "tenders.qa_published"
_NOT_FOUND = "No specific contract has this id."


class QuestionService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    # -- access ------------------------------------------------------------------------------------

    async def _contract(self, contract_id: uuid.UUID, *, lock: bool = False) -> SpecificContract:
        contract = await self.session.get(SpecificContract, contract_id, with_for_update=lock or None)
        if contract is None:
            raise NotFound(_NOT_FOUND)
        return contract

    # -- the buyer sets the closing date -----------------------------------------------------------

    async def set_deadline(self, principal: Principal, contract_id: uuid.UUID,
                           data: schemas.QuestionsDeadline) -> schemas.SpecificContract:
        contract = for_buying_side(principal, await self._contract(contract_id, lock=True))
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation sets when questions close.")
        try:
            closes_at = paris_instant(data.closes_at)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"closesAt: {exc}", field="closesAt") from exc
        if closes_at >= contract.tender_deadline:
            raise RuleViolation("closesAt: questions close before the tender deadline "
                                f"({format_paris(contract.tender_deadline)})", field="closesAt")
        previous = questions_close_at(contract)
        contract.questions_close_at = closes_at
        await self.session.flush()
        await audit.record(self.session, self.clock, "specific_contract.questions_deadline_set",
                           actor=principal.label, organisation_id=contract.buyer_organisation_id,
                           target_type="specific_contract", target_id=contract.id,
                           details={"from": previous.isoformat(), "to": closes_at.isoformat()})
        return await SpecificContractService(self.session, self.clock).get(principal, contract.id)

    # -- asking --------------------------------------------------------------------------------------

    async def ask(self, principal: Principal, contract_id: uuid.UUID,
                  data: schemas.QuestionAsk) -> schemas.ContractQuestion:
        contract = await self._contract(contract_id)
        invited = await invited_vendors(self.session, principal, contract, *VENDOR_WRITERS)
        if not invited:
            if await invited_vendors(self.session, principal, contract):
                raise Forbidden("Only an administrator or bid manager of an invited vendor asks questions.")
            raise NotFound(_NOT_FOUND)
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        closes_at = questions_close_at(contract)
        if contract.status != SpecificContractStatus.OPEN:
            raise Conflict(f"status: questions are asked while the contract is open; it is {contract.status.value}",
                           field="status")
        if now >= closes_at:
            raise Conflict(f"Questions on this contract closed on {format_paris(closes_at)}.",
                           field="questionsCloseAt")
        question = ContractQuestion(specific_contract_id=contract.id, vendor_organisation_id=invited[0],
                                    asked_by=principal.label, question=data.question, asked_at=now,
                                    published=False)
        self.session.add(question)
        await self.session.flush()
        await audit.record(self.session, self.clock, "contract_question.asked", actor=principal.label,
                           organisation_id=invited[0], target_type="contract_question", target_id=question.id,
                           details={"specific_contract": str(contract.id)})
        return _vendor_view(question, set(invited))

    # -- answering -----------------------------------------------------------------------------------

    async def answer(self, principal: Principal, contract_id: uuid.UUID, question_id: uuid.UUID,
                     data: schemas.QuestionAnswer) -> schemas.ContractQuestion:
        contract = await self._contract(contract_id)
        assisting = follows(principal, contract)  # HC2: the central purchasing body answers for the holder too
        if not assisting:
            contract = for_buying_side(principal, contract)
        question = await self.session.scalar(
            select(ContractQuestion).where(ContractQuestion.id == question_id,
                                           ContractQuestion.specific_contract_id == contract.id)
            .with_for_update())
        if question is None:
            raise NotFound("No question of this contract has this id.")
        if question.answer is not None:
            raise Conflict("This question has already been answered and published.", field="answer")
        question.answer = data.answer
        question.answered_at = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        question.answered_by = principal.label
        question.published = True
        await self.session.flush()
        notified = await self._publish(contract, question)
        await audit.record(self.session, self.clock, "contract_question.answered", actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type="contract_question",
                           target_id=question.id,
                           details={"specific_contract": str(contract.id), "notified": notified,
                                    "by_the_central_purchasing_body": assisting})
        return _buyer_view(question)

    async def _publish(self, contract: SpecificContract, question: ContractQuestion) -> int:
        """One notification per admin or bid manager of every invited vendor; none names the asker."""
        title = await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or ""
        return await notify_invitees(
            self.session, self.clock, contract.id, kind=QA_PUBLISHED_KIND,
            subject=f"Question-réponse publiée — {title}",
            body=(f"Une réponse a été publiée pour le marché spécifique {contract.id} ({title}).\n\n"
                  f"Question :\n{question.question}\n\nRéponse :\n{question.answer}\n"),
            sandbox=(await dps_of(self.session, contract.dps_id)).is_sandbox)

    # -- reading -------------------------------------------------------------------------------------

    async def list_for(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.ContractQuestion]:
        contract, invitations = await visible_contract(self.session, principal, await self._contract(contract_id))
        query = select(ContractQuestion).where(ContractQuestion.specific_contract_id == contract.id).order_by(
            ContractQuestion.asked_at, ContractQuestion.id)
        if invitations is None and (buying_side(principal, contract) or follows(principal, contract)):
            return [_buyer_view(q) for q in (await self.session.scalars(query)).all()]
        if invitations is None:
            # The holder of a contract the central purchasing body runs (HC3): what every invitee reads.
            return [_vendor_view(q, set()) for q in (await self.session.scalars(
                query.where(ContractQuestion.published))).all()]
        invited = [i.vendor_organisation_id for i in invitations]
        query = query.where(or_(ContractQuestion.published,
                                ContractQuestion.vendor_organisation_id.in_(invited)))
        return [_vendor_view(q, set(invited)) for q in (await self.session.scalars(query)).all()]


def _buyer_view(question: ContractQuestion) -> schemas.ContractQuestion:
    return schemas.ContractQuestion(
        id=question.id, question=question.question, asked_at=question.asked_at, published=question.published,
        answer=question.answer, answered_at=question.answered_at,
        vendor_organisation_id=question.vendor_organisation_id, asked_by=question.asked_by,
        answered_by=question.answered_by)


def _vendor_view(question: ContractQuestion, mine: set[uuid.UUID]) -> schemas.ContractQuestion:
    # No asker, no answerer: only whether the caller's own organisation asked it.
    return schemas.ContractQuestion(
        id=question.id, question=question.question, asked_at=question.asked_at, published=question.published,
        answer=question.answer, answered_at=question.answered_at,
        mine=question.vendor_organisation_id in mine)
