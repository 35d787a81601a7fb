"""What the offer's use cases share: the vendor's own offer (else 404), the contract's clock and deadline (D14),
its sealing key, the draft check and the offer as the vendor reads it; a refusal audited apart (P8).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.lib import audit
from marketplace.lib.clock import Clock, format_paris
from marketplace.lib.sealing import ProtectedContractKey
from marketplace.tenders import schemas
from marketplace.tenders.access import vendor_side
from marketplace.tenders.errors import DeadlinePassed
from marketplace.tenders.models import ContractKey, Offer, OfferAttachment, SpecificContract
from marketplace.tenders.offers._contexts import name_context
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, deadline_passed
from marketplace.tenders.vault import Vault
from marketplace.vendors.sandbox import clock_of, dps_of
from storage import ObjectStore

_NOT_FOUND = "No offer has this id."
PRESIGNED_LIFETIME = timedelta(minutes=15)


async def audit_apart(session_maker: async_sessionmaker[AsyncSession], clock: Clock, action: str, *,
                      actor: str, organisation_id: uuid.UUID | None, target_type: str, target_id: uuid.UUID,
                      details: dict[str, Any]) -> None:
    """Audit a refused act in a transaction of its own: the request's rolls back with the refusal (P8)."""
    async with session_maker() as session, session.begin():
        await audit.record(session, clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=target_id, details=details)


class OfferBase:
    """The session, the clocks, the vault and the store every offer use case works with."""

    def __init__(self, session: AsyncSession, clock: Clock, vault: Vault, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.vault = vault
        self.store = store
        self.side_sessions = side_sessions

    # -- access ------------------------------------------------------------------------------------

    async def _own(self, principal: Principal, offer_id: uuid.UUID, *, lock: bool = False,
                   write: bool = False) -> tuple[Offer, SpecificContract]:
        """The caller's vendor's offer (any member reads; admins and bid managers write); else 404."""
        offer = await self.session.get(Offer, offer_id, with_for_update=lock or None)
        if offer is None or not vendor_side(principal, offer):
            raise NotFound(_NOT_FOUND)
        if write and not vendor_side(principal, offer, *VENDOR_WRITERS):
            raise Forbidden("Only the vendor's administrator or bid manager prepares and submits its offers.")
        contract = await self.session.get(SpecificContract, offer.specific_contract_id)
        assert contract is not None
        return offer, contract

    async def _time(self, contract: SpecificContract) -> Clock:
        """The contract's business clock: its DPS's (a sandbox's runs faster, vendors/sandbox.py)."""
        return await clock_of(self.session, self.clock, contract.dps_id)

    async def _before_deadline(self, contract: SpecificContract, what: str) -> datetime:
        now = (await self._time(contract)).now()
        if contract.status != SpecificContractStatus.OPEN:
            raise Conflict(f"status: the contract is {contract.status.value}; {what} only while it is open",
                           field="status")
        if deadline_passed(contract, now):  # D14: at the deadline exactly it is too late
            raise DeadlinePassed(f"The deadline for offers passed on {format_paris(contract.tender_deadline)}: "
                                 f"{what} no longer.", field="tenderDeadline", rule="D14")
        return now

    async def _public_key(self, contract: SpecificContract) -> Any:
        key = await self.session.scalar(select(ContractKey).where(ContractKey.specific_contract_id == contract.id))
        if key is None:
            raise Conflict("This contract was published without a sealing key: it cannot receive offers.",
                           field="specificContractId")
        return key, ProtectedContractKey.from_dict(key.protected).public()

    @staticmethod
    def _draft(offer: Offer) -> None:
        if offer.status != OfferStatus.DRAFT:
            raise Conflict(f"status: this offer is {offer.status.value}; only a draft changes (start a new "
                           "version to replace a submitted offer)", field="status")

    # -- reading -----------------------------------------------------------------------------------

    async def _schema(self, offer: Offer, contract: SpecificContract) -> schemas.Offer:
        attachments = (await self.session.scalars(select(OfferAttachment).where(
            OfferAttachment.offer_id == offer.id).order_by(OfferAttachment.received_at, OfferAttachment.id))).all()
        return schemas.Offer(
            id=offer.id, specific_contract_id=offer.specific_contract_id,
            vendor_organisation_id=offer.vendor_organisation_id, version=offer.version, status=offer.status,
            has_parts=offer.sealed_parts is not None,
            attachments=[self._attachment_schema(a, self.vault.open(a.sealed_name, name_context(a.id)).decode())
                         for a in attachments],
            received_at=offer.received_at,
            received_at_paris=format_paris(offer.received_at) if offer.received_at else None,
            manifest_sha256=offer.manifest_sha256, tender_deadline=contract.tender_deadline,
            tender_deadline_paris=format_paris(contract.tender_deadline),
            sandbox=(await dps_of(self.session, contract.dps_id)).is_sandbox)

    @staticmethod
    def _attachment_schema(attachment: OfferAttachment, filename: str) -> schemas.AttachmentReceipt:
        return schemas.AttachmentReceipt(
            id=attachment.id, filename=filename, content_type=attachment.content_type, size=attachment.size,
            sha256=attachment.sha256, received_started_at=attachment.received_started_at,
            received_at=attachment.received_at, scan_status=attachment.scan_status.value)
