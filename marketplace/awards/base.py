"""What every service of the evaluation and the award shares: loading the contract for its buying side, the
stage and role checks, the contract's clock, the live award, the pending D15 procedures, the audit (G8).

The evaluation (`evaluation.py`, its ranking in `ranking.py`), the award and its notices (`award.py`), the
reasons owed to a rejected vendor (`reasons.py`) and the abnormally-low procedure (`abnormally_low.py`) build
on it, so the same contract is loaded, locked and refused the same way by each.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.awards.conflicts import stay_out
from marketplace.awards.models import AbnormallyLowProcedure, Award, OfferRejection
from marketplace.awards.states import AbnormallyLowStatus, AwardStatus, RejectionGround, allowed
from marketplace.errors import Forbidden, NotFound
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.notifications.notify import NotificationService
from marketplace.tenders.access import buying_side, for_buying_side, for_evaluation, for_procedure_reader
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import Offer, SpecificContract
from marketplace.vendors.sandbox import clock_of, dps_of

# How a rejection's ground reads in the notices and requests for reasons (D16, D17).
GROUNDS_FR = {RejectionGround.IRREGULAR: "irrégulière", RejectionGround.UNACCEPTABLE: "inacceptable",
              RejectionGround.INAPPROPRIATE: "inappropriée", RejectionGround.ABNORMALLY_LOW: "anormalement basse"}


class ServiceBase:
    """The session, the clock, the side sessions (a refusal audited apart) and the notifications of every
    evaluation and award act."""

    def __init__(self, session: AsyncSession, clock: Clock,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.side_sessions = side_sessions  # to audit a refusal apart: the request's transaction rolls back
        self.notifications = NotificationService(session, clock)

    # -- loading and checks --------------------------------------------------------------------------

    async def _contract(self, principal: Principal, contract_id: uuid.UUID, *,
                        lock: bool = False, committee: bool = False) -> SpecificContract:
        """The contract for its buying side (else 404, or 403 naming HC2 or HC3 to who follows or holds it);
        with `committee`, also for the holder's people on its evaluation committee (HC3: declarations, scores)."""
        query = select(SpecificContract).where(SpecificContract.id == contract_id)
        if lock:
            # Re-read after the wait: a concurrent award that committed meanwhile must be seen (G8).
            query = query.with_for_update().execution_options(populate_existing=True)
        contract = await self.session.scalar(query)
        return for_evaluation(principal, contract) if committee else for_buying_side(principal, contract)

    async def _readable(self, principal: Principal, contract_id: uuid.UUID) -> SpecificContract:
        """The contract for its buying side, and, once the offers are opened, for who follows it (HC2) or holds it
        (HC3): they read the ranking and the award."""
        return await for_procedure_reader(self.session, principal,
                                          await self.session.get(SpecificContract, contract_id))

    @staticmethod
    def _admin(principal: Principal, contract: SpecificContract, what: str) -> None:
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden(f"Only an administrator of the buying organisation {what}.")

    @staticmethod
    def _stage(action: str, contract: SpecificContract, detail: str) -> None:
        if not allowed(action, contract.status):
            raise WrongStage(f"status: the contract is {contract.status.value}; {detail}", field="status",
                             rule="G8")

    async def _offer(self, principal: Principal, offer_id: uuid.UUID, *,
                     committee: bool = False) -> tuple[Offer, SpecificContract]:
        offer = await self.session.get(Offer, offer_id)
        if offer is None:
            raise NotFound("No offer has this id.")
        try:
            contract = await self._contract(principal, offer.specific_contract_id, committee=committee)
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
