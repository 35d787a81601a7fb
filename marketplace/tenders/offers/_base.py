"""What the offer's use cases share: the vendor's own offer (else 404), the contract's clock and deadline (D14,
or the window a late admission gave the vendor, D14c), its sealing key, the draft check and the offer as the
vendor reads it; a refusal audited apart (P8), a refused deposit journaled apart (D14b).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.lib import audit
from marketplace.lib.clock import Clock, format_paris
from marketplace.lib.sealing import ProtectedContractKey
from marketplace.tenders import schemas
from marketplace.tenders.access import vendor_side
from marketplace.tenders.deposits import Attempt, Journal, admission_of, quoted
from marketplace.tenders.errors import DeadlinePassed
from marketplace.tenders.models import ContractKey, LateAdmission, Offer, OfferAttachment, SpecificContract
from marketplace.tenders.offers._contexts import name_context
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, deadline_passed
from marketplace.tenders.vault import Vault
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import clock_of, dps_of
from storage import ObjectStore

_NOT_FOUND = "No offer has this id."


async def audit_apart(session_maker: async_sessionmaker[AsyncSession], clock: Clock, action: str, *,
                      actor: str, organisation_id: uuid.UUID | None, target_type: str, target_id: uuid.UUID,
                      details: dict[str, Any]) -> None:
    """Audit a refused act in a transaction of its own: the request's rolls back with the refusal (P8)."""
    async with session_maker() as session, session.begin():
        await audit.record(session, clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=target_id, details=details)


class Window(NamedTuple):
    """When a deposit act of a vendor happens (`now`, on the contract's clock) and until when that vendor
    deposits: the deadline, or the end of its late admission (`admission`, D14c) once the deadline passed."""

    now: datetime
    end: datetime
    admission: LateAdmission | None


class Deposit(NamedTuple):
    """What `_own_for_deposit` reads with the offer and its contract. The DPS is held here, so that its later
    reads (the contract's clock, whether it is a sandbox) find it in the session's identity map, which keeps no
    object nobody holds."""

    key: ContractKey | None
    dps: Dps
    vendor_name: str


# The offer locked for update; its contract under a share lock, so that a change of its deadline waits for the
# act's end (two locking clauses, which SQLAlchemy's `with_for_update` can't write); the rest unlocked.
_OWN_FOR_DEPOSIT = (
    select(Offer, SpecificContract, ContractKey, Dps, Organisation.name.label("vendor_name"))
    .join(SpecificContract, SpecificContract.id == Offer.specific_contract_id)
    .outerjoin(ContractKey, ContractKey.specific_contract_id == SpecificContract.id)
    .join(Dps, Dps.id == SpecificContract.dps_id)
    .join(Organisation, Organisation.id == Offer.vendor_organisation_id)
    .where(Offer.id == bindparam("offer_id"))
    .suffix_with(f"FOR UPDATE OF {Offer.__tablename__} FOR SHARE OF {SpecificContract.__tablename__}"))


class OfferBase:
    """The session, the clocks, the vault and the store every offer use case works with."""

    def __init__(self, session: AsyncSession, clock: Clock, vault: Vault, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.vault = vault
        self.store = store
        self.side_sessions = side_sessions
        self.journal = Journal(session, clock, side_sessions)  # D14b: refused deposit acts, apart

    # -- access ------------------------------------------------------------------------------------

    async def _own(self, principal: Principal, offer_id: uuid.UUID, *, lock: bool = False,
                   write: bool = False, attempt: Attempt | None = None,
                   share_contract: bool = False) -> tuple[Offer, SpecificContract]:
        """The caller's vendor's offer (any member reads; admins and bid managers write); else 404. A deposit
        `attempt` is bound to it as soon as the caller is known to be of its vendor (D14b). `share_contract`: the
        contract read under a share lock, so that a change of its deadline waits for this act's end."""
        offer = await self.session.get(Offer, offer_id, with_for_update=lock or None)
        if offer is None or not vendor_side(principal, offer):
            raise NotFound(_NOT_FOUND)
        contract = await self.session.get(SpecificContract, offer.specific_contract_id,
                                          with_for_update={"read": True} if share_contract else None)
        assert contract is not None
        if attempt is not None:
            attempt.bind(contract, offer.vendor_organisation_id, offer.id)
        if write and not vendor_side(principal, offer, *VENDOR_WRITERS):
            raise Forbidden("Only the vendor's administrator or bid manager prepares and submits its offers.")
        return offer, contract

    async def _own_for_deposit(self, principal: Principal, offer_id: uuid.UUID,
                               attempt: Attempt | None) -> tuple[Offer, SpecificContract, Deposit]:
        """`_own(lock=True, write=True, share_contract=True)` in one statement, with what a submission reads
        besides: the contract's key, its DPS and the vendor's name. Each statement is a round trip to
        PostgreSQL, the larger part of a submission's cost (bench/RESULTS.md)."""
        row = (await self.session.execute(_OWN_FOR_DEPOSIT, {"offer_id": offer_id})).first()
        if row is None or not vendor_side(principal, row.Offer):
            raise NotFound(_NOT_FOUND)
        offer, contract = row.Offer, row.SpecificContract
        if attempt is not None:
            attempt.bind(contract, offer.vendor_organisation_id, offer.id)
        if not vendor_side(principal, offer, *VENDOR_WRITERS):
            raise Forbidden("Only the vendor's administrator or bid manager prepares and submits its offers.")
        return offer, contract, Deposit(row.ContractKey, row.Dps, row.vendor_name)

    async def _time(self, contract: SpecificContract) -> Clock:
        """The contract's business clock: its DPS's (a sandbox's runs faster, vendors/sandbox.py)."""
        return await clock_of(self.session, self.clock, contract.dps_id)

    async def _before_deadline(self, contract: SpecificContract, what: str,
                               vendor: uuid.UUID | None = None) -> datetime:
        return (await self._window(contract, what, vendor)).now

    async def _window(self, contract: SpecificContract, what: str, vendor: uuid.UUID | None = None) -> Window:
        """Now, if `what` may still happen: the contract open and its deadline not reached — or, for a deposit
        of `vendor`'s, the end of the window a late admission gave it (D14c); else 409."""
        now = (await self._time(contract)).now()
        if contract.status != SpecificContractStatus.OPEN:
            raise Conflict(f"status: the contract is {contract.status.value}; {what} only while it is open",
                           field="status")
        if not deadline_passed(contract, now):
            return Window(now, contract.tender_deadline, None)
        admission = await admission_of(self.session, contract.id, vendor) if vendor is not None else None
        if admission is not None and not deadline_passed(contract, now, admission.deposit_until):
            return Window(now, admission.deposit_until, admission)  # D14c: this vendor, until then
        # D14: at the deadline exactly it is too late (and at the end of a late admission's window, D14c).
        detail = f"The deadline for offers passed on {format_paris(contract.tender_deadline)}"
        extra: dict[str, Any] = {}
        if admission is not None:
            detail += f", and the late admission's window on {format_paris(admission.deposit_until)}"
            extra = {"depositUntil": admission.deposit_until.isoformat()}
        raise quoted(DeadlinePassed(f"{detail}: {what} no longer.", field="tenderDeadline", rule="D14"),
                     contract, "tenderDeadline", **extra)

    async def _public_key(self, contract: SpecificContract, key: ContractKey | None = None) -> Any:
        """The contract's sealing key, read unless given (`Deposit.key`)."""
        if key is None:
            key = await self.session.scalar(select(ContractKey).where(
                ContractKey.specific_contract_id == contract.id))
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

    async def _schema(self, offer: Offer, contract: SpecificContract,
                      admission: LateAdmission | None = None) -> schemas.Offer:
        """The offer as its vendor reads it; `admission`, its vendor's late admission if any (D14c)."""
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
            sandbox=(await dps_of(self.session, contract.dps_id)).is_sandbox,
            late_deposit_until=admission.deposit_until if admission is not None else None)

    @staticmethod
    def _attachment_schema(attachment: OfferAttachment, filename: str) -> schemas.AttachmentReceipt:
        return schemas.AttachmentReceipt(
            id=attachment.id, filename=filename, content_type=attachment.content_type, size=attachment.size,
            sha256=attachment.sha256, received_started_at=attachment.received_started_at,
            received_at=attachment.received_at, scan_status=attachment.scan_status.value)
