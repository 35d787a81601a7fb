"""D14c: the late admission (CE 13 Nov 2025, n° 506640; CE 23 Sept 2021 RATP n° 449250).

After the deadline and before the opening, an administrator of the buying side may admit one vendor whose
journaled attempts the platform blocked, at least one of them begun in time: the decision names its reasons
and the journal rows it relies on, and sets until when that vendor may deposit (`deposit_until`, on the
contract's clock, after now). It is audited, told to the vendor, and never edited (the database refuses it).

That vendor then prepares, uploads and submits until `deposit_until`, strictly, sealed and receipted like
any offer; for everyone else the deadline stays what it was, and the offer-deadline trigger (migration 0025)
accepts a late submitted offer only under such a decision. The offers are opened only once every admitted
window has closed (the opening waits: no offer is unsealed while another may still come in), and the
opening record lists each decision with its reasons, its journal rows and the offer received under it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE, VENDOR_WRITERS, Role
from marketplace.errors import Conflict, Forbidden, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.notifications.notify import NotificationService
from marketplace.tenders import schemas
from marketplace.tenders.access import buying_side, for_buying_side
from marketplace.tenders.deposits._journal import attempt_schema
from marketplace.tenders.models import (
    ContractInvitation,
    DepositAttempt,
    LateAdmission,
    Need,
    Offer,
    OpeningRecord,
    SpecificContract,
)
from marketplace.tenders.states import SpecificContractStatus, deadline_passed
from marketplace.vendors.sandbox import clock_of, dps_of

LATE_ADMISSION_KIND = "tender.late_admission"


async def admission_of(session: AsyncSession, contract_id: uuid.UUID, vendor: uuid.UUID) -> LateAdmission | None:
    """The late admission of `vendor` on the contract, if the buying side decided one."""
    return await session.scalar(select(LateAdmission).where(
        LateAdmission.specific_contract_id == contract_id, LateAdmission.vendor_organisation_id == vendor))


async def open_windows(session: AsyncSession, contract: SpecificContract, now: datetime) -> list[LateAdmission]:
    """The late admissions of the contract whose window is still open at `now` (the opening waits for them)."""
    admissions = (await session.scalars(select(LateAdmission).where(
        LateAdmission.specific_contract_id == contract.id))).all()
    return [a for a in admissions if not deadline_passed(contract, now, a.deposit_until)]


async def opening_entries(session: AsyncSession, contract: SpecificContract,
                          offers: Sequence[Offer]) -> tuple[list[dict[str, Any]], dict[uuid.UUID, uuid.UUID]]:
    """For the opening record: each late admission with its reasons, the journal rows it relies on and the
    offer received under it (the vendor's submitted offer received at or after the deadline); and which
    offer came under which admission."""
    admissions = (await session.scalars(select(LateAdmission).where(
        LateAdmission.specific_contract_id == contract.id).order_by(LateAdmission.decided_at,
                                                                     LateAdmission.id))).all()
    if not admissions:
        return [], {}
    rows = {r.id: r for r in (await session.scalars(select(DepositAttempt).where(
        DepositAttempt.id.in_([i for a in admissions for i in a.attempt_ids])))).all()}
    entries: list[dict[str, Any]] = []
    under: dict[uuid.UUID, uuid.UUID] = {}
    for admission in admissions:
        late = [o for o in offers if o.vendor_organisation_id == admission.vendor_organisation_id
                and o.received_at is not None and deadline_passed(contract, o.received_at)]
        for offer in late:
            under[offer.id] = admission.id
        entries.append({
            "id": str(admission.id), "vendor": str(admission.vendor_organisation_id),
            "decidedBy": admission.decided_by, "decidedAt": admission.decided_at.isoformat(),
            "reasons": admission.reasons, "depositUntil": admission.deposit_until.isoformat(),
            "attempts": [msgspec.to_builtins(attempt_schema(rows[i])) for i in admission.attempt_ids if i in rows],
            "offer": str(late[-1].id) if late else None})
    return entries, under


class LateAdmissions:
    """The buying side's late admissions of a specific contract (the session and clock are the service's)."""

    session: AsyncSession
    clock: Clock

    async def admit(self, principal: Principal, contract_id: uuid.UUID,
                    data: schemas.LateAdmissionCreate) -> schemas.LateAdmission:
        # Locked: the opening locks the contract too, so a decision and the opening never cross.
        contract = for_buying_side(principal, await self.session.get(SpecificContract, contract_id,
                                                                     with_for_update=True), *BUYING_SIDE)
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation admits a vendor after the deadline.")
        opened = await self.session.scalar(select(OpeningRecord.id).where(
            OpeningRecord.specific_contract_id == contract.id)) is not None
        if contract.status != SpecificContractStatus.OPEN or opened:
            raise Conflict(f"status: the contract is {contract.status.value}; a late deposit is admitted before "
                           "the opening only", field="status", rule="D14c")
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        if not deadline_passed(contract, now):
            raise Conflict(f"tenderDeadline: until {format_paris(contract.tender_deadline)} every invited vendor "
                           "deposits as usual; a late admission follows the deadline", field="tenderDeadline",
                           rule="D14c")
        vendor = data.vendor_organisation_id
        if await self.session.scalar(select(ContractInvitation.id).where(
                ContractInvitation.specific_contract_id == contract.id,
                ContractInvitation.vendor_organisation_id == vendor)) is None:
            raise RuleViolation("vendorOrganisationId: not a vendor invited to this contract",
                                field="vendorOrganisationId", rule="D14c")
        rows = await self._attempts(contract, vendor, data.attempt_ids)
        if all(deadline_passed(contract, row.started_at) for row in rows):
            raise RuleViolation("attemptIds: none of these attempts began before the deadline; a late admission "
                                "relies on deposits the platform blocked while they were in time", field="attemptIds",
                                rule="D14c")
        try:
            until = paris_instant(data.deposit_until)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"depositUntil: {exc}", field="depositUntil") from exc
        if deadline_passed(contract, now, until):
            raise RuleViolation(f"depositUntil: a time after now ({format_paris(now)})", field="depositUntil",
                                rule="D14c")
        existing = await admission_of(self.session, contract.id, vendor)
        if existing is not None:
            raise Conflict(f"vendorOrganisationId: this vendor was admitted already, until "
                           f"{format_paris(existing.deposit_until)}", field="vendorOrganisationId", rule="D14c")
        admission = LateAdmission(specific_contract_id=contract.id, vendor_organisation_id=vendor,
                                  decided_by=principal.label, decided_at=now, reasons=data.reasons,
                                  attempt_ids=list(data.attempt_ids), deposit_until=until)
        self.session.add(admission)
        await self.session.flush()
        notified = await self._notify(contract, admission)
        await audit.record(self.session, self.clock, "specific_contract.late_admission", actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                           target_id=contract.id,
                           details={"late_admission": str(admission.id), "vendor": str(vendor),
                                    "reasons": data.reasons, "attempts": [str(i) for i in data.attempt_ids],
                                    "deposit_until": until.isoformat(), "decided_at": now.isoformat(),
                                    "notified": notified})
        return self._schema(admission, rows)

    async def listed(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.LateAdmission]:
        contract = for_buying_side(principal, await self.session.get(SpecificContract, contract_id), *BUYING_SIDE)
        admissions = (await self.session.scalars(select(LateAdmission).where(
            LateAdmission.specific_contract_id == contract.id).order_by(LateAdmission.decided_at,
                                                                         LateAdmission.id))).all()
        rows = {r.id: r for r in (await self.session.scalars(select(DepositAttempt).where(
            DepositAttempt.id.in_([i for a in admissions for i in a.attempt_ids])))).all()} if admissions else {}
        return [self._schema(a, [rows[i] for i in a.attempt_ids if i in rows]) for a in admissions]

    async def _attempts(self, contract: SpecificContract, vendor: uuid.UUID,
                        ids: list[uuid.UUID]) -> list[DepositAttempt]:
        """The journal rows the decision relies on, in its order: each one this vendor's, on this contract."""
        if len(set(ids)) != len(ids):
            raise RuleViolation("attemptIds: each journal row once", field="attemptIds", rule="D14c")
        found = {r.id: r for r in (await self.session.scalars(select(DepositAttempt).where(
            DepositAttempt.id.in_(ids)))).all()}
        for index, attempt_id in enumerate(ids):
            row = found.get(attempt_id)
            if row is None or row.specific_contract_id != contract.id or row.vendor_organisation_id != vendor:
                raise RuleViolation(f"attemptIds[{index}]: not a journaled attempt of this vendor on this contract",
                                    field=f"attemptIds[{index}]", rule="D14c")
        return [found[i] for i in ids]

    async def _notify(self, contract: SpecificContract, admission: LateAdmission) -> int:
        title = await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or str(contract.id)
        sandbox = (await dps_of(self.session, contract.dps_id)).is_sandbox
        notifications = NotificationService(self.session, self.clock)
        emails = await member_emails(self.session, admission.vendor_organisation_id, VENDOR_WRITERS)
        for email in emails:
            await notifications.notify(
                recipient_email=email, kind=LATE_ADMISSION_KIND, about=contract.id, sandbox=sandbox,
                subject=f"Dépôt de votre offre admis après la date limite — {title}",
                body=(f"L'acheteur du marché spécifique « {title} » admet le dépôt de votre offre après la date "
                      f"limite du {format_paris(contract.tender_deadline)}, les tentatives de dépôt que la plateforme "
                      f"a bloquées étant consignées.\nMotifs : {admission.reasons}\n"
                      f"Vous pouvez déposer votre offre jusqu'au {format_paris(admission.deposit_until)} (exclu), "
                      "scellée et accusée comme toute offre."))
        return len(emails)

    @staticmethod
    def _schema(admission: LateAdmission, rows: Sequence[DepositAttempt]) -> schemas.LateAdmission:
        return schemas.LateAdmission(
            id=admission.id, specific_contract_id=admission.specific_contract_id,
            vendor_organisation_id=admission.vendor_organisation_id, decided_by=admission.decided_by,
            decided_at=admission.decided_at, reasons=admission.reasons,
            attempts=[attempt_schema(r) for r in rows], deposit_until=admission.deposit_until,
            deposit_until_paris=format_paris(admission.deposit_until))
