"""What a vendor reads of the award, and the reasons owed to a rejected vendor (D16, D17; G8).

Once the award is decided, a vendor whose offer was opened reads its own result (its scores or its rejection,
the awardee, the reasons), nothing of the others'. A vendor whose offer lost asks in writing for the reasons;
the buyer's administrators answer within 15 days, and what the answer owes depends on why the offer lost (D17).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
from sqlalchemy import select

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS, VENDOR_MEMBERS, VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.base import GROUNDS_FR, ServiceBase
from marketplace.awards.models import Award, ReasonsRequest
from marketplace.awards.states import offer_outcome, owes_winning_characteristics
from marketplace.errors import Conflict, NotFound
from marketplace.lib.clock import format_paris
from marketplace.tenders.access import for_buying_side
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import listing_now

REASONS_DUE = timedelta(days=15)      # D17


class ReasonsService(ServiceBase):
    """A vendor's own result once the award is decided, and its requests for the reasons (D17)."""

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
            reasons_requests=[self.request_schema(r) for r in requests])

    @staticmethod
    def request_schema(row: ReasonsRequest) -> schemas.ReasonsRequest:
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
        lost = f"offre écartée comme {GROUNDS_FR[grounds]}" if grounds else "offre classée, non retenue"
        for email in await member_emails(self.session, contract.buyer_organisation_id, BUYER_ADMINS):
            await self.notifications.notify(
                recipient_email=email, kind="award.reasons_requested", about=row.id,
                subject="Demande des motifs de rejet d'une offre",
                body=f"Un soumissionnaire demande les motifs du rejet de son offre ({lost}) : réponse due le "
                     f"{format_paris(row.due_at)}.\n{owed}.\n\n{row.request}", sandbox=await self._sandbox(contract))
        await self._audit(principal, contract, "award.reasons_requested", "reasons_request", row.id,
                          due_at=row.due_at.isoformat())
        return self.request_schema(row)

    async def pending_for_buying_side(self, principal: Principal) -> list[schemas.PendingItem]:
        """D17 on the work queue, in one query: the requests for reasons not answered yet on the contracts of the
        caller's buying side, for its administrators (who answer them, as `answer_reasons`), soonest due first,
        each due date with the contract's present (its own clock)."""
        organisations = principal.organisations_with(*BUYER_ADMINS)
        if not organisations:
            return []
        rows = (await self.session.execute(
            select(ReasonsRequest.specific_contract_id, ReasonsRequest.due_at, Need.title, Dps)
            .join(SpecificContract, SpecificContract.id == ReasonsRequest.specific_contract_id)
            .join(Need, Need.id == SpecificContract.need_id).join(Dps, Dps.id == SpecificContract.dps_id)
            .where(SpecificContract.buyer_organisation_id.in_(organisations), ReasonsRequest.answer.is_(None))
            .order_by(ReasonsRequest.due_at, ReasonsRequest.id))).all()
        return [schemas.PendingItem(specific_contract_id=contract_id, contract_title=title, due_at=due,
                                    now=listing_now(self.clock, dps), sandbox=dps.is_sandbox)
                for contract_id, due, title, dps in rows]

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
        return self.request_schema(row)
