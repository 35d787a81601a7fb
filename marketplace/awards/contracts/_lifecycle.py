"""The contract from its creation to its end: created from the live award with its own payment terms (FU7), its
modifications (avenants) appended, abandoned before the signatures or terminated once active (machine (e)).
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.awards import schemas
from marketplace.awards.contracts._base import ContractBase
from marketplace.awards.errors import ContractStage
from marketplace.awards.models import Award, Contract, ContractModification, ContractTransition
from marketplace.awards.states import (
    CONTRACT_MOVES,
    AwardStatus,
    ContractEnd,
    ContractStatus,
    SignatureSide,
    award_status,
    contract_allows,
)
from marketplace.errors import Conflict, Forbidden, RuleViolation
from marketplace.tenders.access import buying_side, for_buying_side
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import SpecificContract
from marketplace.vendors.sandbox import dps_clock, dps_of


class Lifecycle(ContractBase):
    """The contract created with its payment terms, its ends and its modifications."""

    # -- creation ------------------------------------------------------------------------------------------

    async def create(self, principal: Principal, specific_contract_id: uuid.UUID,
                     data: schemas.ContractCreate) -> schemas.Contract:
        specific = await self.session.scalar(select(SpecificContract).where(
            SpecificContract.id == specific_contract_id).with_for_update().execution_options(populate_existing=True))
        specific = for_buying_side(principal, specific)
        if not buying_side(principal, specific, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation creates the contract.")
        award = await self.session.scalar(select(Award).where(
            Award.specific_contract_id == specific.id,
            Award.status.in_([AwardStatus.STANDSTILL, AwardStatus.ACTIVE])))
        if award is None:
            raise WrongStage(f"status: the specific contract is {specific.status.value}; the contract follows "
                             "the award", field="status", rule="G8")
        if await self.session.scalar(select(Contract.id).where(Contract.specific_contract_id == specific.id)):
            raise Conflict("This specific contract has its contract already: one per specific contract.",
                           field="specificContractId")
        _check_payment_schedule(data)
        now = dps_clock(self.clock, await dps_of(self.session, specific.dps_id)).now()
        award.status = award_status(award.status, award.earliest_signature_at, now)
        # HC4: the parties are the specific contract's buyer (the holder in intermediation, HC2) and the awardee.
        contract = Contract(specific_contract_id=specific.id, award_id=award.id,
                            buyer_organisation_id=specific.buyer_organisation_id,
                            vendor_organisation_id=award.vendor_organisation_id, status=ContractStatus.PENDING,
                            amount_cents=data.amount_cents, earliest_sign_at=award.earliest_signature_at,
                            created_by=principal.label, payment_terms=data.payment_terms,
                            payment_schedule=msgspec.to_builtins(data.payment_schedule))
        self.session.add(contract)
        await self.session.flush()
        self.session.add(ContractTransition(contract_id=contract.id, from_status=None,
                                            to_status=ContractStatus.PENDING.value, action="create",
                                            actor=principal.label, at=await self._now(contract)))
        await self.session.flush()
        await self._audit(principal, contract, "contract.created", "contract", contract.id,
                          amount_cents=contract.amount_cents, earliest_sign_at=contract.earliest_sign_at.isoformat(),
                          payment_terms=contract.payment_terms, payment_schedule=contract.payment_schedule)
        return await self._schema(contract)

    # -- the ends: abandoned before signature, terminated once active --------------------------------------

    async def abandon(self, principal: Principal, contract: Contract, reasons: str, *,
                      sans_suite: bool = False) -> None:
        """PENDING --abandon--> CANCELLED on a contract the caller locked; the awardee is told."""
        if not contract_allows("abandon", contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only a contract awaiting its "
                                "signatures is abandoned", field="status")
        await self._move(principal, contract, "abandon", CONTRACT_MOVES["abandon"][1], reasons=reasons,
                         sans_suite=sans_suite)
        why = "Le marché spécifique est déclaré sans suite." if sans_suite else ""
        await self._tell(contract, SignatureSide.VENDOR, "contract.cancelled", "Marché abandonné avant signature",
                         f"Le marché, en attente de signature, est abandonné par l'acheteur. {why}\n"
                         f"Motifs : {reasons}")

    async def cancel(self, principal: Principal, contract_id: uuid.UUID,
                     data: schemas.ContractCancellation) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "abandons the contract")
        await self.abandon(principal, contract, data.reasons)
        return await self._schema(contract)

    async def terminate(self, principal: Principal, contract_id: uuid.UUID,
                        data: schemas.ContractTermination) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "terminates the contract")
        action = data.kind.value
        if not contract_allows(action, contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only an active contract is "
                                "terminated", field="status")
        await self._move(principal, contract, action, CONTRACT_MOVES[action][1], reasons=data.reasons)
        what = ("est terminé : exécution achevée" if data.kind is ContractEnd.COMPLETED
                else "est résilié avant son terme")
        await self._tell(contract, SignatureSide.VENDOR, f"contract.{action}", "Fin du marché",
                         f"Le marché {what}.\nMotifs : {data.reasons}")
        return await self._schema(contract)

    # -- modifications -------------------------------------------------------------------------------------

    async def modify(self, principal: Principal, contract_id: uuid.UUID,
                     data: schemas.ModificationCreate) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "modifies the contract")
        if not contract_allows("modification", contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only an active contract is "
                                "modified", field="status")
        previous = await self._current_amount(contract)
        row = ContractModification(contract_id=contract.id, reason=data.reason, previous_amount_cents=previous,
                                   amount_cents=data.amount_cents, modified_by=principal.label,
                                   modified_at=await self._now(contract))
        self.session.add(row)
        await self.session.flush()
        await self._audit(principal, contract, "contract.modified", "contract_modification", row.id,
                          previous_amount_cents=previous, amount_cents=data.amount_cents)
        await self._tell(contract, SignatureSide.VENDOR, "contract.modified", "Marché : avenant",
                         f"Un avenant modifie le montant du marché : {previous} → {data.amount_cents} centimes.\n"
                         f"{data.reason}")
        return await self._schema(contract)


def _check_payment_schedule(data: schemas.ContractCreate) -> None:
    """FU7: a schedule, when given, says how the whole amount is paid: its instalments add up to it, to the cent."""
    if not data.payment_schedule:
        return
    total = sum(instalment.amount_cents for instalment in data.payment_schedule)
    if total != data.amount_cents:
        raise RuleViolation(f"paymentSchedule: FU7: the instalments add up to {total} cents, not the contract's "
                            f"amount of {data.amount_cents} cents", field="paymentSchedule", rule="FU7",
                            total=total)
