"""Evaluation and award of a specific contract (machines (c), (d), (e); D16–D18; G8).

The evaluation starts after the opening. Each evaluator (a buyer:evaluator or buyer:admin of the buying
organisation) first files a conflict-of-interest declaration for the contract, then scores every admissible
opened offer on every award criterion, 0–100 with a comment; a score is replaced until the award freezes
the ranking. Offers rejected as irregular, unacceptable or inappropriate leave the ranking.

Ranking: for each offer and criterion, the mean of the evaluators' scores; the total is the sum of those
means weighted by the contract's weights (which add up to 100, D10), so it is on 0–100 too. Computed with
exact fractions; ties are broken by the exact total, then the earlier receipt, then the offer id, so the
same scores always give the same order.

The award locks the contract row (`FOR UPDATE`), so concurrent awards queue and every loser finds the
contract decided (409); a partial unique index on live awards backs it at the database (G8). The notices
go out in the same transaction (D16), with the earliest signature date: now, or 11 days later when the
buyer observes a standstill (D18, off by default for DPS specific contracts).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_MEMBERS, VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.conflicts import stay_out
from marketplace.awards.errors import AbnormallyLowConflict, AlreadyAwarded, DeclarationRequired, RankingIncomplete
from marketplace.awards.models import (
    AbnormallyLowProcedure,
    Award,
    ConflictDeclaration,
    EvaluationScore,
    OfferRejection,
    ReasonsRequest,
)
from marketplace.awards.states import (
    AFTER_AWARD,
    AbnormallyLowStatus,
    AwardStatus,
    RejectionGround,
    allowed,
    award_status,
    offer_outcome,
    owes_winning_characteristics,
)
from marketplace.awards.unsuccessful import any_admissible, end_unsuccessful
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, format_paris
from marketplace.notifications.models import Notification
from marketplace.notifications.sending import NotificationService
from marketplace.tenders.access import buying_side, for_buying_side
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, move, require_move
from marketplace.vendors.sandbox import clock_of, dps_of

STANDSTILL = timedelta(days=11)       # D18, electronic notices, counted date to date
REASONS_DUE = timedelta(days=15)      # D17
_NOT_FOUND = "No specific contract has this id."
_CENT = Decimal("0.01")
_GROUNDS_FR = {RejectionGround.IRREGULAR: "irrégulière", RejectionGround.UNACCEPTABLE: "inacceptable",
               RejectionGround.INAPPROPRIATE: "inappropriée", RejectionGround.ABNORMALLY_LOW: "anormalement basse"}


def rounded(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_CENT, rounding=ROUND_HALF_UP)


class AwardService:
    def __init__(self, session: AsyncSession, clock: Clock,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.side_sessions = side_sessions  # to audit a refusal apart: the request's transaction rolls back
        self.notifications = NotificationService(session, clock)

    # -- loading and checks --------------------------------------------------------------------------

    async def _contract(self, principal: Principal, contract_id: uuid.UUID, *,
                        lock: bool = False) -> SpecificContract:
        query = select(SpecificContract).where(SpecificContract.id == contract_id)
        if lock:
            # Re-read after the wait: a concurrent award that committed meanwhile must be seen (G8).
            query = query.with_for_update().execution_options(populate_existing=True)
        return for_buying_side(principal, await self.session.scalar(query))

    @staticmethod
    def _admin(principal: Principal, contract: SpecificContract, what: str) -> None:
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden(f"Only an administrator of the buying organisation {what}.")

    @staticmethod
    def _stage(action: str, contract: SpecificContract, detail: str) -> None:
        if not allowed(action, contract.status):
            raise WrongStage(f"status: the contract is {contract.status.value}; {detail}", field="status",
                             rule="G8")

    async def _offer(self, principal: Principal, offer_id: uuid.UUID) -> tuple[Offer, SpecificContract]:
        offer = await self.session.get(Offer, offer_id)
        if offer is None:
            raise NotFound("No offer has this id.")
        try:
            contract = await self._contract(principal, offer.specific_contract_id)
        except NotFound:
            raise NotFound("No offer has this id.") from None
        return offer, contract

    async def _stay_out(self, principal: Principal, contract: SpecificContract, what: str, *,
                        target_type: str = "specific_contract", target_id: uuid.UUID | None = None) -> None:
        """403 to whoever declared a conflict of interest for the contract (awards/conflicts.py)."""
        await stay_out(self.session, self.clock, principal, contract.id, contract.buyer_organisation_id, what,
                       target_type=target_type, target_id=target_id or contract.id, side_sessions=self.side_sessions)

    async def _now(self, contract: SpecificContract) -> datetime:
        """Business time on the contract's clock: its DPS's (a sandbox's runs faster, vendors/sandbox.py)."""
        return (await clock_of(self.session, self.clock, contract.dps_id)).now()

    async def _sandbox(self, contract: SpecificContract) -> bool:
        return (await dps_of(self.session, contract.dps_id)).is_sandbox

    async def _rejection(self, offer_id: uuid.UUID) -> OfferRejection | None:
        return await self.session.scalar(select(OfferRejection).where(OfferRejection.offer_id == offer_id))

    async def _live_award(self, contract_id: uuid.UUID) -> Award | None:
        return await self.session.scalar(select(Award).where(Award.specific_contract_id == contract_id,
                                                             Award.status != AwardStatus.CANCELLED))

    async def _pending_abnormally_low(self, contract_id: uuid.UUID,
                                      offer_id: uuid.UUID | None = None) -> list[AbnormallyLowProcedure]:
        query = select(AbnormallyLowProcedure).where(
            AbnormallyLowProcedure.specific_contract_id == contract_id,
            AbnormallyLowProcedure.status == AbnormallyLowStatus.JUSTIFICATION_REQUESTED)
        if offer_id is not None:
            query = query.where(AbnormallyLowProcedure.offer_id == offer_id)
        return list((await self.session.scalars(query.order_by(AbnormallyLowProcedure.offer_id))).all())

    async def _audit(self, principal: Principal, contract: SpecificContract, action: str, target_type: str,
                     target_id: uuid.UUID, **details: Any) -> None:
        await audit.record(self.session, self.clock, action, actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type=target_type,
                           target_id=target_id, details={"specific_contract": str(contract.id), **details})

    # -- machine (c): CLOSED_FOR_OFFERS --start_evaluation--> EVALUATION -----------------------------

    async def start_evaluation(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Ranking:
        contract = await self._contract(principal, contract_id, lock=True)
        self._admin(principal, contract, "starts the evaluation")
        move(contract, SpecificContractStatus.EVALUATION, "the evaluation starts once the offers are opened")
        await self.session.flush()
        await self._audit(principal, contract, "specific_contract.evaluation_started", "specific_contract",
                          contract.id)
        return (await self._ranking(contract))[0]

    # -- declarations, scores, rejections ------------------------------------------------------------

    async def declare(self, principal: Principal, contract_id: uuid.UUID,
                      data: schemas.DeclarationCreate) -> schemas.Declaration:
        contract = await self._contract(principal, contract_id)
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
        offer, contract = await self._offer(principal, offer_id)
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
        return self._rejection_schema(row, offer)

    async def unsuccessful_if_none_left(self, principal: Principal, contract: SpecificContract) -> None:
        """Machine (c) EVALUATION --no_valid_offer--> UNSUCCESSFUL at the rejection of the last admissible
        offer (awards/unsuccessful.py says why automatic). The caller holds the contract's row lock."""
        if not await any_admissible(self.session, contract):
            await end_unsuccessful(self.session, self.clock, contract, actor=principal.label,
                                   cause="toutes les offres reçues ont été écartées, aucune offre valable ne reste")

    @staticmethod
    def _rejection_schema(row: OfferRejection, offer: Offer) -> schemas.Rejection:
        return schemas.Rejection(offer_id=offer.id, vendor_organisation_id=offer.vendor_organisation_id,
                                 grounds=row.grounds, reasons=row.reasons, rejected_at=row.rejected_at)

    # -- the ranking ---------------------------------------------------------------------------------

    async def ranking(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Ranking:
        contract = await self._contract(principal, contract_id)
        await self._stay_out(principal, contract, "its ranking")
        if contract.status not in (SpecificContractStatus.EVALUATION, *AFTER_AWARD,
                                   SpecificContractStatus.UNSUCCESSFUL):
            raise WrongStage(f"status: the contract is {contract.status.value}; there is no ranking before the "
                             "evaluation", field="status", rule="G8")
        ranking = (await self._ranking(contract))[0]
        award = await self._live_award(contract.id)
        if award is None:
            return ranking
        return msgspec.structs.replace(ranking, offers=[
            msgspec.structs.replace(r, outcome=offer_outcome(r.offer_id, award.offer_id, rejected=False))
            for r in ranking.offers])

    async def _ranking(self, contract: SpecificContract) -> tuple[schemas.Ranking, dict[uuid.UUID, Offer]]:
        offers = (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.status == OfferStatus.OPENED)
            .order_by(Offer.received_at, Offer.id))).all()
        by_id = {o.id: o for o in offers}
        rejections = {r.offer_id: r for r in (await self.session.scalars(select(OfferRejection).where(
            OfferRejection.specific_contract_id == contract.id))).all()}
        admissible = [o for o in offers if o.id not in rejections]
        scores = (await self.session.scalars(select(EvaluationScore).where(
            EvaluationScore.specific_contract_id == contract.id,
            EvaluationScore.offer_id.in_([o.id for o in admissible])))).all() if admissible else []
        names = dict((await self.session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id.in_([o.vendor_organisation_id for o in offers])))).tuples().all()) if offers else {}
        given: dict[tuple[uuid.UUID, str], dict[uuid.UUID, int]] = defaultdict(dict)
        for s in scores:
            given[s.offer_id, s.criterion][s.evaluator_id] = s.score
        # Who must score: every evaluator who declared no conflict for this contract.
        evaluators = sorted((await self.session.scalars(select(ConflictDeclaration.evaluator_id).where(
            ConflictDeclaration.specific_contract_id == contract.id, ConflictDeclaration.has_conflict.is_(False),
        ))).all())
        complete = bool(admissible) and bool(evaluators)
        entries: list[tuple[Fraction, Offer, list[schemas.CriterionResult]]] = []
        for offer in admissible:
            total = Fraction(0)
            results = []
            for criterion in contract.award_criteria:
                marks = given[offer.id, criterion["name"]]
                complete = complete and set(marks) == set(evaluators)
                mean = Fraction(sum(marks.values()), len(marks)) if marks else None
                if mean is not None:
                    total += mean * int(criterion["weight"]) / 100
                results.append(schemas.CriterionResult(name=criterion["name"], weight=int(criterion["weight"]),
                                                       mean=None if mean is None else rounded(mean),
                                                       scores=len(marks)))
            entries.append((total, offer, results))
        far = datetime.max.replace(tzinfo=contract.tender_deadline.tzinfo)
        entries.sort(key=lambda e: (-e[0], e[1].received_at or far, e[1].id))
        ranked = [schemas.RankedOffer(rank=i, offer_id=o.id, vendor_organisation_id=o.vendor_organisation_id,
                                      vendor_name=names.get(o.vendor_organisation_id, ""), criteria=results,
                                      total=rounded(total), received_at=o.received_at)
                  for i, (total, o, results) in enumerate(entries, start=1)]
        rejected = [self._rejection_schema(rejections[o.id], o) for o in offers if o.id in rejections]
        # Ties on the exact total are all first: receipt order is no award criterion (D10), so it only orders
        # the display; the award may go to any of them, its reasons saying which and why (D16).
        first = [o.id for total, o, _ in entries if total == entries[0][0]] if entries else []
        return schemas.Ranking(specific_contract_id=contract.id, status=contract.status.value, complete=complete,
                               evaluators=evaluators, offers=ranked, rejected=rejected,
                               first_offer_ids=first), by_id

    # -- machine (e): the award ----------------------------------------------------------------------

    async def award(self, principal: Principal, contract_id: uuid.UUID, data: schemas.AwardCreate) -> schemas.Award:
        contract = await self._contract(principal, contract_id, lock=True)
        self._admin(principal, contract, "awards the contract")
        await self._stay_out(principal, contract, "its award")
        if contract.status in AFTER_AWARD or await self._live_award(contract.id) is not None:
            raise AlreadyAwarded("This contract is awarded already: one award per specific contract.",
                                 field="status", rule="G8")
        require_move(contract, SpecificContractStatus.AWARD_DECIDED, "the award follows the evaluation")
        # D15: no award while an offer awaits the decision on its justification, whichever offer is chosen: the
        # suspected offer, if its justification convinces, may rank first and must still be able to win.
        pending = await self._pending_abnormally_low(contract.id)
        if pending:
            raise AbnormallyLowConflict(
                "D15: the award waits for the decision on every abnormally-low procedure of the contract; pending "
                f"for offer(s) {', '.join(str(p.offer_id) for p in pending)}.", field="abnormallyLow", rule="D15",
                offers=[str(p.offer_id) for p in pending])
        ranking, offers = await self._ranking(contract)
        if not ranking.offers:
            raise RankingIncomplete("No admissible offer is left to award.", field="offers")
        if not ranking.complete:
            raise RankingIncomplete("The ranking is incomplete: every evaluator scores every criterion of every "
                                    "admissible offer before the award.", field="complete")
        chosen = next((r for r in ranking.offers if r.offer_id == data.offer_id), None)
        if chosen is None:
            rejected = any(r.offer_id == data.offer_id for r in ranking.rejected)
            raise RuleViolation("offerId: " + ("this offer was rejected and left the ranking" if rejected else
                                               "not an opened offer of this contract"), field="offerId")
        if chosen.offer_id not in ranking.first_offer_ids:
            # D10, R2162-51: the award goes to the most economically advantageous offer on the notice's criteria,
            # the first of the weighted ranking; a better-ranked offer leaves it only by a reasoned rejection
            # (POST /offers/{id}/rejection, or the D15 procedure), never by a free-text reason here.
            first = next(r for r in ranking.offers if r.offer_id == ranking.first_offer_ids[0])
            raise RuleViolation(
                f"offerId: the award goes to the first offer of the weighted ranking, {first.offer_id} "
                f"({first.vendor_name}, {first.total} / 100); this offer ranks {chosen.rank} ({chosen.total} / 100). "
                "A better-ranked offer leaves the ranking only by a reasoned rejection.", field="offerId",
                rule="D10", firstOfferIds=[str(i) for i in ranking.first_offer_ids])
        now = await self._now(contract)  # D18's 11 days on the contract's clock
        earliest = now + STANDSTILL if data.standstill_required else now
        award = Award(specific_contract_id=contract.id, offer_id=chosen.offer_id,
                      vendor_organisation_id=chosen.vendor_organisation_id,
                      status=AwardStatus.STANDSTILL if data.standstill_required else AwardStatus.ACTIVE,
                      reasons=data.reasons,
                      standstill_required=data.standstill_required, decided_by=principal.label, decided_at=now,
                      notices_sent_at=now, earliest_signature_at=earliest,
                      ranking=msgspec.json.decode(msgspec.json.encode(ranking)))
        self.session.add(award)
        # Machine (c): AWARD_DECIDED, and STANDSTILL at once when one is observed (the notices leave now).
        move(contract, SpecificContractStatus.STANDSTILL if data.standstill_required
             else SpecificContractStatus.AWARD_DECIDED)
        await self.session.flush()
        notices = await self._notify(contract, award, ranking, offers, chosen.vendor_name)
        await self._audit(principal, contract, "specific_contract.awarded", "award", award.id,
                          offer=str(chosen.offer_id), rank=chosen.rank, tied=len(ranking.first_offer_ids) > 1,
                          standstill_required=data.standstill_required, notices=notices)
        return schemas.Award(id=award.id, specific_contract_id=contract.id, offer_id=award.offer_id,
                             vendor_organisation_id=award.vendor_organisation_id, vendor_name=chosen.vendor_name,
                             status=award.status, reasons=award.reasons, departure_reason=award.departure_reason,
                             standstill_required=award.standstill_required, decided_at=now, notices_sent_at=now,
                             earliest_signature_at=earliest, notices=notices,
                             sandbox=await self._sandbox(contract))

    async def get_award(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Award:
        """The contract's award as it stands now: the live one, else the last cancelled one; its status read on
        the contract's clock (a standstill that ended reads ACTIVE, states.award_status)."""
        contract = await self._contract(principal, contract_id)
        award = await self.session.scalar(select(Award).where(Award.specific_contract_id == contract.id).order_by(
            (Award.status == AwardStatus.CANCELLED).asc(), Award.decided_at.desc()).limit(1))
        if award is None:
            raise NotFound("This specific contract has no award.")
        ranking = msgspec.json.decode(msgspec.json.encode(award.ranking), type=schemas.Ranking)
        name = next((r.vendor_name for r in ranking.offers if r.offer_id == award.offer_id), "")
        notices = await self.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.about_id == contract.id, Notification.kind.in_(("award.awarded", "award.rejection_notice"))))
        return schemas.Award(id=award.id, specific_contract_id=contract.id, offer_id=award.offer_id,
                             vendor_organisation_id=award.vendor_organisation_id, vendor_name=name,
                             status=award_status(award.status, award.earliest_signature_at, await self._now(contract)),
                             reasons=award.reasons, departure_reason=award.departure_reason,
                             standstill_required=award.standstill_required, decided_at=award.decided_at,
                             notices_sent_at=award.notices_sent_at, earliest_signature_at=award.earliest_signature_at,
                             notices=int(notices or 0), sandbox=await self._sandbox(contract))


    async def _notify(self, contract: SpecificContract, award: Award, ranking: schemas.Ranking,
                      offers: dict[uuid.UUID, Offer], awardee: str) -> int:
        """D16: every other vendor that submitted an offer learns the awardee, the reasons, its own scores
        (or why its offer was rejected) and the earliest signature date; the awardee learns it won."""
        need = await self.session.get(Need, contract.need_id)
        title = need.title if need else str(contract.id)
        entries = {r.offer_id: r for r in ranking.offers}
        rejected = {r.offer_id: r for r in ranking.rejected}
        sign = format_paris(award.earliest_signature_at)
        sandbox = await self._sandbox(contract)
        sent = 0
        for offer in offers.values():
            if offer.id == award.offer_id:
                kind, subject = "award.awarded", f"Marché spécifique attribué à votre offre : {title}"
                body = (f"Votre offre sur le marché spécifique « {title} » est retenue.\n"
                        f"Motifs du choix : {award.reasons}\n"
                        f"Le marché peut être signé à partir du {sign}.")
            else:
                kind, subject = "award.rejection_notice", f"Marché spécifique : votre offre n'est pas retenue ({title})"
                lines = [f"Votre offre sur le marché spécifique « {title} » n'est pas retenue.",
                         f"Attributaire : {awardee}", f"Motifs du choix : {award.reasons}"]
                if offer.id in rejected:
                    r = rejected[offer.id]
                    lines.append(f"Votre offre a été écartée comme {_GROUNDS_FR[r.grounds]} : {r.reasons}")
                else:
                    mine = entries[offer.id]
                    lines.append("Vos notes (sur 100) :")
                    lines += [f"- {c.name} (pondération {c.weight} %) : {c.mean}" for c in mine.criteria]
                    lines.append(f"Note globale : {mine.total} / 100")
                lines += [f"Le marché peut être signé à partir du {sign}.",
                          "Vous pouvez demander par écrit les motifs du rejet ; la réponse vous est due sous 15 jours."]
                body = "\n".join(lines)
            for email in await member_emails(self.session, offer.vendor_organisation_id, VENDOR_WRITERS):
                await self.notifications.notify(recipient_email=email, kind=kind, subject=subject, body=body,
                                                about=contract.id, sandbox=sandbox)
                sent += 1
        return sent

    # -- what a vendor reads, D17 --------------------------------------------------------------------

    async def _own_offer(self, principal: Principal, contract_id: uuid.UUID,
                         roles: tuple[Role, ...]) -> tuple[Offer, SpecificContract]:
        vendors = principal.organisations_with(*roles)
        offer = await self.session.scalar(select(Offer).where(
            Offer.specific_contract_id == contract_id, Offer.status == OfferStatus.OPENED,
            Offer.vendor_organisation_id.in_(vendors))) if vendors else None
        contract = await self.session.get(SpecificContract, contract_id) if offer else None
        if offer is None or contract is None:
            raise NotFound("Your vendor has no opened offer on a specific contract with this id.")
        return offer, contract

    async def _decided(self, contract: SpecificContract) -> Award:
        award = await self._live_award(contract.id)
        if award is None and contract.status == SpecificContractStatus.CANCELLED:
            raise WrongStage("status: the contract was declared sans suite: no offer was retained",
                             field="status", rule="G8")
        if award is None and contract.status == SpecificContractStatus.UNSUCCESSFUL:
            raise WrongStage("status: the contract is unsuccessful: no valid offer was left, none was retained",
                             field="status", rule="G8")
        if award is None:
            raise WrongStage(f"status: the contract is {contract.status.value}; the award is not decided yet",
                             field="status", rule="D16")
        return award

    async def my_evaluation(self, principal: Principal, contract_id: uuid.UUID) -> schemas.MyEvaluation:
        offer, contract = await self._own_offer(principal, contract_id, VENDOR_MEMBERS)
        award = await self._decided(contract)
        ranking = msgspec.json.decode(msgspec.json.encode(award.ranking), type=schemas.Ranking)
        mine = next((r for r in ranking.offers if r.offer_id == offer.id), None)
        rejection = next((r for r in ranking.rejected if r.offer_id == offer.id), None)
        awardee = next(r.vendor_name for r in ranking.offers if r.offer_id == award.offer_id)
        outcome = offer_outcome(offer.id, award.offer_id, rejected=rejection is not None)
        requests = (await self.session.scalars(select(ReasonsRequest).where(
            ReasonsRequest.specific_contract_id == contract.id,
            ReasonsRequest.vendor_organisation_id == offer.vendor_organisation_id)
            .order_by(ReasonsRequest.requested_at))).all()
        return schemas.MyEvaluation(
            specific_contract_id=contract.id, offer_id=offer.id, outcome=outcome,
            criteria=[schemas.OwnCriterion(name=c.name, weight=c.weight, mean=c.mean)
                      for c in (mine.criteria if mine else [])],
            total=mine.total if mine else None, rejection_grounds=rejection.grounds if rejection else None,
            rejection_reasons=rejection.reasons if rejection else None, awardee_name=awardee,
            award_reasons=award.reasons, earliest_signature_at=award.earliest_signature_at,
            reasons_requests=[self._request_schema(r) for r in requests])

    @staticmethod
    def _request_schema(row: ReasonsRequest) -> schemas.ReasonsRequest:
        return schemas.ReasonsRequest(id=row.id, specific_contract_id=row.specific_contract_id,
                                      vendor_organisation_id=row.vendor_organisation_id, request=row.request,
                                      requested_at=row.requested_at, due_at=row.due_at, answer=row.answer,
                                      answered_at=row.answered_at)

    async def request_reasons(self, principal: Principal, contract_id: uuid.UUID,
                              data: schemas.ReasonsRequestCreate) -> schemas.ReasonsRequest:
        offer, contract = await self._own_offer(principal, contract_id, VENDOR_WRITERS)
        award = await self._decided(contract)
        if award.offer_id == offer.id:
            raise Conflict("Your offer won this contract: there is no rejection to explain.", field="offerId")
        now = await self._now(contract)  # D17's 15 days on the contract's clock
        row = ReasonsRequest(specific_contract_id=contract.id, vendor_organisation_id=offer.vendor_organisation_id,
                             requested_by=principal.label, request=data.request, requested_at=now,
                             due_at=now + REASONS_DUE)
        self.session.add(row)
        await self.session.flush()
        rejection = await self._rejection(offer.id)
        grounds = rejection.grounds if rejection else None
        # D17: what the answer owes depends on why the offer lost; the buyer is told which answer is due.
        owed = ("La réponse comprend aussi les caractéristiques et avantages de l'offre retenue et le nom de "
                "l'attributaire (D17)" if owes_winning_characteristics(grounds) else
                "La réponse donne les motifs du rejet de l'offre (D17)")
        lost = f"offre écartée comme {_GROUNDS_FR[grounds]}" if grounds else "offre classée, non retenue"
        for email in await member_emails(self.session, contract.buyer_organisation_id, [Role.BUYER_ADMIN.value]):
            await self.notifications.notify(
                recipient_email=email, kind="award.reasons_requested", about=row.id,
                subject="Demande des motifs de rejet d'une offre",
                body=f"Un soumissionnaire demande les motifs du rejet de son offre ({lost}) : réponse due le "
                     f"{format_paris(row.due_at)}.\n{owed}.\n\n{row.request}", sandbox=await self._sandbox(contract))
        await self._audit(principal, contract, "award.reasons_requested", "reasons_request", row.id,
                          due_at=row.due_at.isoformat())
        return self._request_schema(row)

    async def answer_reasons(self, principal: Principal, request_id: uuid.UUID,
                             data: schemas.ReasonsAnswer) -> schemas.ReasonsRequest:
        missing = "No request for reasons has this id."
        row = await self.session.get(ReasonsRequest, request_id, with_for_update=True)
        if row is None:
            raise NotFound(missing)
        contract = for_buying_side(principal, await self.session.get(SpecificContract, row.specific_contract_id),
                                   Role.BUYER_ADMIN, missing=missing)
        if row.answer is not None:
            raise Conflict("This request was answered already.", field="answer")
        row.answer, row.answered_by, row.answered_at = data.answer, principal.label, await self._now(contract)
        await self.session.flush()
        for email in await member_emails(self.session, row.vendor_organisation_id, VENDOR_WRITERS):
            await self.notifications.notify(recipient_email=email, kind="award.reasons_answered",
                                            about=contract.id, subject="Motifs du rejet de votre offre",
                                            body=data.answer, sandbox=await self._sandbox(contract))
        await self._audit(principal, contract, "award.reasons_answered", "reasons_request", row.id,
                          late=row.answered_at > row.due_at)
        return self._request_schema(row)
