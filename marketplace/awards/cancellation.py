"""A specific contract declared sans suite (machine (c): any pre-contract state --declare_sans_suite(reasons)-->
CANCELLED).

The buying organisation's admin abandons the procedure, with reasons, at any stage before the contract is
signed: DRAFT, OPEN, CLOSED_FOR_OFFERS, EVALUATION, AWARD_DECIDED or STANDSTILL (CONTRACTED, UNSUCCESSFUL
and CANCELLED are final: 409). In the same transaction the live award, if any, is cancelled and a pending
contract abandoned (machine (e): PENDING --abandon--> CANCELLED); every invitee is told, set-based, with the
reasons; the act is on record (`sans_suite_declaration`) and in the audit log.

Afterwards nothing moves (G8: a cancelled need makes no further transition): every door checks the
contract's state — offers are neither prepared, submitted nor withdrawn (tenders/offers/: open contracts
only), nor opened (tenders/opening/), nor scored, rejected, examined for D15 or awarded (the "evaluate" and
"award" moves), and no contract is created (no live award) nor signed (the abandoned contract is CANCELLED).

Cancelled while OPEN, the offers received stay sealed: the opening needs an OPEN contract, so nobody ever
opens them and the buyer never reads their content (D13); their vendors were only told of the cancellation.

The specific contract row is locked first, then the contract row, the order the award, the D15 decisions and
the signature (awards/contracts/) follow too, so two of them at once queue instead of deadlocking.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.awards import schemas
from marketplace.awards.contracts import ContractService
from marketplace.awards.errors import ContractStage
from marketplace.awards.models import Award, Contract, SansSuiteDeclaration
from marketplace.awards.states import AwardStatus, ContractStatus
from marketplace.errors import Forbidden
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.tenders.access import buying_side, for_buying_side
from marketplace.tenders.contracts import notify_invitees
from marketplace.tenders.models import Need, SpecificContract
from marketplace.tenders.states import SpecificContractStatus, move, require_move, status_at
from marketplace.vendors.sandbox import dps_clock, dps_of

CANCELLED_KIND = "tender.cancelled"


class CancellationService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def declare_sans_suite(self, principal: Principal, contract_id: uuid.UUID,
                                 data: schemas.SansSuiteCreate) -> schemas.SansSuite:
        specific = await self.session.scalar(select(SpecificContract).where(SpecificContract.id == contract_id)
                                             .with_for_update().execution_options(populate_existing=True))
        specific = for_buying_side(principal, specific)
        if not buying_side(principal, specific, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation declares the contract sans suite.")
        require_move(specific, SpecificContractStatus.CANCELLED,
                     "only a contract not yet signed, nor already ended, is declared sans suite")
        dps = await dps_of(self.session, specific.dps_id)
        now = dps_clock(self.clock, dps).now()  # a sandbox's runs faster (vendors/sandbox.py)
        # What it leaves, as everyone read it: closed_for_offers once its deadline passed, opened or not (HC6).
        previous = status_at(specific, now)
        move(specific, SpecificContractStatus.CANCELLED)
        award = await self.session.scalar(select(Award).where(
            Award.specific_contract_id == specific.id, Award.status != AwardStatus.CANCELLED).with_for_update())
        if award is not None:
            award.status = AwardStatus.CANCELLED
        contract = await self.session.scalar(select(Contract).where(Contract.specific_contract_id == specific.id)
                                             .with_for_update().execution_options(populate_existing=True))
        abandoned = None
        if contract is not None and contract.status != ContractStatus.CANCELLED:
            if contract.status != ContractStatus.PENDING:
                # Unreachable while the signature moves both rows in one transaction; refused all the same.
                raise ContractStage(f"status: the contract is {contract.status.value}; a signed contract is "
                                    "terminated, not declared sans suite", field="status", rule="G8")
            await ContractService(self.session, self.clock).abandon(principal, contract, data.reasons,
                                                                    sans_suite=True)
            abandoned = contract.id
        await self.session.flush()
        title = await self.session.scalar(select(Need.title).where(Need.id == specific.need_id)) or ""
        notified = await notify_invitees(
            self.session, self.clock, specific.id, kind=CANCELLED_KIND,
            subject=f"Marché spécifique déclaré sans suite — {title}",
            body=(f"Le marché spécifique {specific.id} ({title}) est déclaré sans suite : la procédure est "
                  "abandonnée et aucun marché ne sera conclu.\n\n"
                  f"Motifs : {data.reasons}\n"), sandbox=dps.is_sandbox)
        row = SansSuiteDeclaration(specific_contract_id=specific.id, previous_status=previous.value,
                                   reasons=data.reasons, declared_by=principal.label, declared_at=now,
                                   cancelled_award_id=award.id if award else None, abandoned_contract_id=abandoned,
                                   notified=notified)
        self.session.add(row)
        await self.session.flush()
        await audit.record(self.session, self.clock, "specific_contract.cancelled", actor=principal.label,
                           organisation_id=specific.buyer_organisation_id, target_type="specific_contract",
                           target_id=specific.id,
                           details={"specific_contract": str(specific.id), "from_status": previous.value,
                                    "reasons": data.reasons, "award": str(award.id) if award else None,
                                    "abandoned_contract": str(abandoned) if abandoned else None,
                                    "notified": notified})
        return schemas.SansSuite(specific_contract_id=specific.id, status=specific.status.value,
                                 previous_status=previous.value, reasons=data.reasons, declared_at=now,
                                 cancelled_award_id=row.cancelled_award_id, abandoned_contract_id=abandoned,
                                 notified=notified)
