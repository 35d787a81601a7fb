"""The evaluation of a specific contract's offers (machines (c), (d); G8).

The evaluation starts after the opening. Each evaluator (an evaluator or admin of the buying side: of the buying
organisation, or of the holder buying in intermediation, HC2; and, on a contract the central purchasing body
runs, of the holder it invited onto the committee, HC3) first files a conflict-of-interest declaration for the
contract, then scores every admissible opened offer on every award criterion, 0–100 with a comment; a score is
replaced until the award freezes the ranking (`ranking.py`). Offers rejected as irregular, unacceptable or
inappropriate leave the ranking. The award that ends the evaluation is in `award.py`.
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from marketplace.accounts.members import member_emails
from marketplace.accounts.models import Membership
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_EVALUATORS
from marketplace.awards import schemas
from marketplace.awards.base import ServiceBase
from marketplace.awards.errors import AbnormallyLowConflict, DeclarationRequired
from marketplace.awards.models import ConflictDeclaration, EvaluationScore, OfferRejection
from marketplace.awards.ranking import rank, rejection_schema
from marketplace.awards.states import AFTER_AWARD, COMMITTEE_STATES, RejectionGround, offer_outcome
from marketplace.awards.unsuccessful import any_admissible, end_unsuccessful
from marketplace.errors import Conflict, Forbidden, RuleViolation
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, move
from marketplace.vendors.models import ConductMode


class EvaluationService(ServiceBase):
    """The evaluation: its start, the evaluators' declarations and scores, the rejections, the ranking."""

    # -- machine (c): CLOSED_FOR_OFFERS --start_evaluation--> EVALUATION -----------------------------

    async def start_evaluation(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Ranking:
        contract = await self._contract(principal, contract_id, lock=True)
        self._admin(principal, contract, "starts the evaluation")
        move(contract, SpecificContractStatus.EVALUATION, "the evaluation starts once the offers are opened")
        await self.session.flush()
        await self._audit(principal, contract, "specific_contract.evaluation_started", "specific_contract",
                          contract.id)
        return (await rank(self.session, contract))[0]

    # -- HC3: the holder on the evaluation committee ---------------------------------------------------

    async def set_committee(self, principal: Principal, contract_id: uuid.UUID,
                            data: schemas.CommitteeUpdate) -> tender_schemas.SpecificContract:
        """HC3: the central purchasing body's admin invites the holder onto the evaluation committee of a contract
        it runs on the holder's behalf (the holder's admins and evaluators then declare their interests, read the
        opened offers and score them), or takes it off before any of them declared. Audited; the holder told."""
        contract = await self._contract(principal, contract_id, lock=True)
        self._admin(principal, contract, "sets up the evaluation committee")
        if contract.conduct_mode != ConductMode.CENTRALISED:
            raise Conflict("holderInvited: HC3: the holder is invited onto the committee of a contract the central "
                           "purchasing body runs; in intermediation it is the buying side itself (HC2)",
                           field="holderInvited", rule="HC3")
        if contract.status not in COMMITTEE_STATES:
            raise WrongStage(f"status: the contract is {contract.status.value}; the committee is set up until the "
                             "award", field="status", rule="G8")
        if contract.holder_on_committee == data.holder_invited:
            raise Conflict("holderInvited: the holder " + ("sits on the committee already" if data.holder_invited
                                                           else "is not on the committee"), field="holderInvited")
        if not data.holder_invited and await self.session.scalar(select(ConflictDeclaration.id).join(
                Membership, Membership.user_id == ConflictDeclaration.evaluator_id).where(
                ConflictDeclaration.specific_contract_id == contract.id,
                Membership.organisation_id == contract.holder_organisation_id).limit(1)) is not None:
            raise Conflict("holderInvited: the holder's people declared their interests for this contract already: "
                           "their declarations and scores are on record, the holder stays on the committee",
                           field="holderInvited", rule="HC3")
        contract.holder_on_committee = data.holder_invited
        await self.session.flush()
        await self._audit(principal, contract, "specific_contract.committee_holder_" + (
            "invited" if data.holder_invited else "withdrawn"), "specific_contract", contract.id,
                          holder=str(contract.holder_organisation_id))
        if data.holder_invited:
            title = await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or ""
            for email in await member_emails(self.session, contract.holder_organisation_id, HOLDER_EVALUATORS):
                await self.notifications.notify(
                    recipient_email=email, kind="evaluation.committee_invitation", about=contract.id,
                    subject=f"Commission d'évaluation — {title}",
                    body=f"La centrale d'achat vous invite à la commission d'évaluation du marché spécifique "
                         f"{contract.id} ({title}) : après l'ouverture des plis, chaque membre dépose sa "
                         "déclaration d'intérêts puis note les offres.", sandbox=await self._sandbox(contract))
        return await SpecificContractService(self.session, self.clock).get(principal, contract.id)

    # -- declarations, scores, rejections ------------------------------------------------------------

    async def declare(self, principal: Principal, contract_id: uuid.UUID,
                      data: schemas.DeclarationCreate) -> schemas.Declaration:
        contract = await self._contract(principal, contract_id, committee=True)  # HC3: the invited holder too
        self._stage("evaluate", contract, "declarations are filed during the evaluation")
        if principal.user_id is None:
            raise Forbidden("A declaration of interests is a person's: an API key can't file one.")
        if await self._declaration(contract.id, principal.user_id) is not None:
            raise Conflict("You have already filed your declaration for this contract; it is on record.",
                           field="evaluatorId")
        row = ConflictDeclaration(specific_contract_id=contract.id, evaluator_id=principal.user_id,
                                  has_conflict=data.has_conflict, statement=data.statement,
                                  declared_at=await self._now(contract))
        self.session.add(row)
        await self.session.flush()
        await self._audit(principal, contract, "evaluation.interests_declared", "conflict_declaration", row.id,
                          has_conflict=data.has_conflict)
        return schemas.Declaration(id=row.id, specific_contract_id=contract.id, evaluator_id=row.evaluator_id,
                                   has_conflict=row.has_conflict, statement=row.statement,
                                   declared_at=row.declared_at)

    async def check_evaluator(self, principal: Principal, contract: SpecificContract, what: str) -> None:
        """The caller may judge the contract's offers: a person who declared no conflict of interest for it."""
        declaration = None if principal.user_id is None else await self._declaration(contract.id, principal.user_id)
        if declaration is None:
            raise DeclarationRequired("An evaluator files a conflict-of-interest declaration for the contract "
                                      f"before {what}.", rule="conflict-of-interest-declaration",
                                      field="declaration")
        if declaration.has_conflict:
            raise DeclarationRequired("You declared a conflict of interest for this contract: you stay out of "
                                      f"{what}.", rule="conflict-of-interest-declaration", field="declaration")

    async def _declaration(self, contract_id: uuid.UUID, user_id: uuid.UUID) -> ConflictDeclaration | None:
        return await self.session.scalar(select(ConflictDeclaration).where(
            ConflictDeclaration.specific_contract_id == contract_id, ConflictDeclaration.evaluator_id == user_id))

    async def _admissible(self, offer: Offer, contract: SpecificContract) -> None:
        if offer.status != OfferStatus.OPENED:
            raise Conflict(f"status: this offer is {offer.status.value}; only opened offers are evaluated",
                           field="status")
        if await self._rejection(offer.id) is not None:
            raise Conflict("This offer was rejected: it left the ranking.", field="offerId")

    async def score(self, principal: Principal, offer_id: uuid.UUID, data: schemas.ScoresPut) -> list[schemas.Score]:
        offer, contract = await self._offer(principal, offer_id, committee=True)  # HC3: the invited holder too
        self._stage("evaluate", contract, "offers are scored during the evaluation, until the award")
        await self._admissible(offer, contract)
        await self.check_evaluator(principal, contract, "scoring its offers")
        names = [c["name"] for c in contract.award_criteria]
        seen: set[str] = set()
        for index, given in enumerate(data.scores):
            if given.criterion not in names:
                raise RuleViolation(f"scores[{index}].criterion: {given.criterion!r} is not an award criterion of "
                                    f"this contract ({', '.join(names)})", field=f"scores[{index}].criterion",
                                    rule="D10")
            if given.criterion in seen:
                raise RuleViolation(f"scores[{index}].criterion: {given.criterion!r} is scored twice",
                                    field=f"scores[{index}].criterion")
            seen.add(given.criterion)
        now, real = await self._now(contract), self.clock.now()
        statement = insert(EvaluationScore).values([
            {"id": uuid.uuid4(), "specific_contract_id": contract.id, "offer_id": offer.id,
             "evaluator_id": principal.user_id, "criterion": g.criterion, "score": g.score, "comment": g.comment,
             "scored_at": now, "created_at": real, "updated_at": real} for g in data.scores])
        # One score per evaluator × offer × criterion: a new one replaces the old (until the award).
        statement = statement.on_conflict_do_update(
            index_elements=["offer_id", "evaluator_id", "criterion"],
            set_={"score": statement.excluded.score, "comment": statement.excluded.comment,
                  "scored_at": statement.excluded.scored_at, "updated_at": statement.excluded.updated_at})
        await self.session.execute(statement)
        await self._audit(principal, contract, "evaluation.scored", "offer", offer.id,
                          scores={g.criterion: g.score for g in data.scores})
        rows = (await self.session.scalars(select(EvaluationScore).where(
            EvaluationScore.offer_id == offer.id, EvaluationScore.evaluator_id == principal.user_id)
            .order_by(EvaluationScore.criterion).execution_options(populate_existing=True))).all()
        return [schemas.Score(offer_id=r.offer_id, evaluator_id=r.evaluator_id, criterion=r.criterion, score=r.score,
                              comment=r.comment, scored_at=r.scored_at) for r in rows]

    async def reject(self, principal: Principal, offer_id: uuid.UUID,
                     data: schemas.RejectionCreate) -> schemas.Rejection:
        offer, contract = await self._offer(principal, offer_id)
        self._admin(principal, contract, "rejects an offer")
        await self._stay_out(principal, contract, "judging its offers", target_type="offer", target_id=offer.id)
        if data.grounds == RejectionGround.ABNORMALLY_LOW:
            # D15: an offer is rejected as abnormally low only after its vendor was asked in writing to justify
            # it and the justification was found insufficient; that procedure (awards/abnormally_low.py) writes
            # the rejection itself, so this route never takes the ground.
            raise RuleViolation(
                "grounds: an offer is rejected as abnormally low only through the abnormally-low procedure, after "
                f"asking its vendor for a written justification: POST /offers/{offer.id}/abnormally-low, then "
                f"POST /offers/{offer.id}/abnormally-low/decision", field="grounds", rule="D15")
        # Locked, as the award and the D15 decision lock it: two last rejections at once queue, and the second
        # sees the first (no valid offer left: UNSUCCESSFUL, exactly once).
        contract = await self._contract(principal, contract.id, lock=True)
        self._stage("evaluate", contract, "offers are rejected during the evaluation")
        await self._admissible(offer, contract)
        # Machine (d): from JUSTIFICATION_REQUESTED the only ways out are the D15 decision's.
        if await self._pending_abnormally_low(contract.id, offer.id):
            raise AbnormallyLowConflict("D15: this offer awaits the decision on its justification as an abnormally "
                                        "low offer; decide it first (POST /offers/{id}/abnormally-low/decision).",
                                        field="offerId", rule="D15")
        row = OfferRejection(specific_contract_id=contract.id, offer_id=offer.id, grounds=data.grounds,
                             reasons=data.reasons, rejected_by=principal.label, rejected_at=await self._now(contract))
        self.session.add(row)
        await self.session.flush()
        await self._audit(principal, contract, "offer.rejected", "offer", offer.id, grounds=data.grounds.value)
        await self.unsuccessful_if_none_left(principal, contract)
        return rejection_schema(row, offer)

    async def unsuccessful_if_none_left(self, principal: Principal, contract: SpecificContract) -> None:
        """Machine (c) EVALUATION --no_valid_offer--> UNSUCCESSFUL at the rejection of the last admissible
        offer (awards/unsuccessful.py says why automatic). The caller holds the contract's row lock."""
        if not await any_admissible(self.session, contract):
            await end_unsuccessful(self.session, self.clock, contract, actor=principal.label,
                                   cause="toutes les offres reçues ont été écartées, aucune offre valable ne reste")

    # -- the ranking ---------------------------------------------------------------------------------

    async def ranking(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Ranking:
        contract = await self._readable(principal, contract_id)  # HC2, HC3: read after the opening too
        await self._stay_out(principal, contract, "its ranking")
        if contract.status not in (SpecificContractStatus.EVALUATION, *AFTER_AWARD,
                                   SpecificContractStatus.UNSUCCESSFUL):
            raise WrongStage(f"status: the contract is {contract.status.value}; there is no ranking before the "
                             "evaluation", field="status", rule="G8")
        ranking = (await rank(self.session, contract))[0]
        award = await self._live_award(contract.id)
        if award is None:
            return ranking
        return msgspec.structs.replace(ranking, offers=[
            msgspec.structs.replace(r, outcome=offer_outcome(r.offer_id, award.offer_id, rejected=False))
            for r in ranking.offers])
