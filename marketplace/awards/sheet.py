"""The evaluation sheet of a specific contract: what one member of its committee works from (the back-office's
evaluation page). A read, scoped as the acts it prepares are (declarations and scores, `evaluation.py`): the
buying side and, when invited, the holder's people on the committee (HC3); 404 to another organisation; 403 to
whoever declared a conflict of interest (they read nothing of the offers, `conflicts.py`).

It gathers in one read what the API spreads over several routes, plus the score matrix (criterion × evaluator)
that only the committee reads: every evaluator's scores of every opened offer, with their comments.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from marketplace.accounts.models import Organisation, User
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.awards import schemas
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.base import ServiceBase
from marketplace.awards.dialogue import clarification_summaries
from marketplace.awards.evaluation import EvaluationService
from marketplace.awards.models import AbnormallyLowProcedure, ConflictDeclaration, EvaluationScore, OfferRejection
from marketplace.awards.ranking import rejection_schema
from marketplace.awards.states import AFTER_AWARD, allowed
from marketplace.tenders.access import buying_side
from marketplace.tenders.models import Offer
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, can_move

# The stages with a ranking to show (as EvaluationService.ranking answers).
RANKED = (SpecificContractStatus.EVALUATION, *AFTER_AWARD, SpecificContractStatus.UNSUCCESSFUL)


class SheetService(ServiceBase):
    """The committee's sheet of a contract's evaluation."""

    async def sheet(self, principal: Principal, contract_id: uuid.UUID) -> schemas.EvaluationSheet:
        contract = await self._contract(principal, contract_id, committee=True)
        await self._stay_out(principal, contract, "its evaluation")
        offers = (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.status == OfferStatus.OPENED)
            .order_by(Offer.received_at, Offer.id))).all()
        ids = [o.id for o in offers]
        names = dict((await self.session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id.in_([o.vendor_organisation_id for o in offers])))).all()) if offers else {}
        rejections = {r.offer_id: r for r in (await self.session.scalars(select(OfferRejection).where(
            OfferRejection.specific_contract_id == contract.id))).all()}
        procedures = {p.offer_id: p for p in (await self.session.scalars(select(AbnormallyLowProcedure).where(
            AbnormallyLowProcedure.specific_contract_id == contract.id))).all()}
        scores: dict[uuid.UUID, list[schemas.EvaluatorScore]] = {i: [] for i in ids}
        for score, name in (await self.session.execute(
                select(EvaluationScore, User.full_name).join(User, User.id == EvaluationScore.evaluator_id)
                .where(EvaluationScore.specific_contract_id == contract.id)
                .order_by(User.full_name, EvaluationScore.evaluator_id, EvaluationScore.criterion))).all():
            if score.offer_id in scores:
                scores[score.offer_id].append(schemas.EvaluatorScore(
                    evaluator_id=score.evaluator_id, evaluator_name=name, criterion=score.criterion,
                    score=score.score, comment=score.comment, scored_at=score.scored_at))
        declarations = (await self.session.execute(
            select(ConflictDeclaration, User.full_name).join(User, User.id == ConflictDeclaration.evaluator_id)
            .where(ConflictDeclaration.specific_contract_id == contract.id)
            .order_by(ConflictDeclaration.declared_at, ConflictDeclaration.id))).all()
        mine = next((d for d, _ in declarations if d.evaluator_id == principal.user_id), None)
        clarifications = await clarification_summaries(self.session, ids)
        ranking = (await EvaluationService(self.session, self.clock, self.side_sessions).ranking(principal, contract.id)
                   if contract.status in RANKED else None)
        return schemas.EvaluationSheet(
            specific_contract_id=contract.id, status=contract.status.value,
            evaluating=allowed("evaluate", contract.status),
            clarifying=allowed("clarify", contract.status),
            startable=(can_move(contract.status, SpecificContractStatus.EVALUATION)
                       and buying_side(principal, contract, Role.BUYER_ADMIN)),
            criteria=[schemas.SheetCriterion(name=c["name"], weight=int(c["weight"])) for c in contract.award_criteria],
            my_declaration=None if mine is None else schemas.Declaration(
                id=mine.id, specific_contract_id=contract.id, evaluator_id=mine.evaluator_id,
                has_conflict=mine.has_conflict, statement=mine.statement, declared_at=mine.declared_at),
            declarations=[schemas.EvaluatorDeclaration(evaluator_id=d.evaluator_id, evaluator_name=name,
                                                       has_conflict=d.has_conflict, declared_at=d.declared_at)
                          for d, name in declarations],
            offers=[schemas.SheetOffer(
                offer_id=o.id, vendor_organisation_id=o.vendor_organisation_id,
                vendor_name=names.get(o.vendor_organisation_id, ""), received_at=o.received_at,
                rejection=rejection_schema(rejections[o.id], o) if o.id in rejections else None,
                abnormally_low=AbnormallyLowService.schema(procedures[o.id]) if o.id in procedures else None,
                scores=scores[o.id], clarifications=clarifications.get(o.id, [])) for o in offers],
            ranking=ranking)
