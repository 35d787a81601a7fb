"""What the contract's use cases share: the contract for its parties (else 404), its DPS's clock, the audited
move of machine (e) with its transition row, the parties told, an uploaded document; the contract as read.

The parties (HC4) are the buyer of the specific contract, copied onto the contract at its creation (the holder in
intermediation, HC2; the central purchasing body, or the buyer the holder named, when centralised, HC3), and the
awardee: each side's administrator signs for it. The central purchasing body that follows a procedure conducted in
intermediation reads its contract too, and does nothing with it (403 naming HC2).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS, VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.models import Contract, ContractModification, ContractSignature, ContractTransition
from marketplace.awards.states import ContractStatus, SignatureSide
from marketplace.errors import Forbidden, NotFound
from marketplace.lib import audit, esign
from marketplace.lib.clock import Clock
from marketplace.notifications.notify import NotificationService
from marketplace.tenders.access import buying_side, follows, not_the_buying_side, party
from marketplace.tenders.models import SpecificContract
from marketplace.uploads import check_declared, store_upload
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import dps_clock, dps_of
from storage import ObjectStore

DOCUMENT_TYPES = ["application/pdf"]
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
# G16: the signature formats of the arrêté of 22 March 2019 (art. 5), by the media type that declares them.
SIGNATURE_TYPES = {"application/pdf": esign.SignatureFormat.PADES,
                   "application/pkcs7-signature": esign.SignatureFormat.CADES,
                   "application/pkcs7-mime": esign.SignatureFormat.CADES,
                   "application/xml": esign.SignatureFormat.XADES, "text/xml": esign.SignatureFormat.XADES}
# The downloaded signed document's name says what it is.
EXTENSIONS = {"application/pdf": ".pdf", "application/pkcs7-signature": ".p7s", "application/pkcs7-mime": ".p7m",
               "application/xml": ".xml", "text/xml": ".xml"}
_NOT_FOUND = "No contract has this id."
SIDE_FR = {SignatureSide.BUYER: "acheteuse", SignatureSide.VENDOR: "titulaire"}
_SIDE_ROLES = {SignatureSide.BUYER: BUYER_ADMINS, SignatureSide.VENDOR: VENDOR_WRITERS}


class ContractBase:
    """The session, the clock, the store and the signature policy of every contract act."""

    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None,
                 signatures: esign.SignaturePolicy | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        self.signature_policy = signatures or esign.SignaturePolicy()
        self.side_sessions = side_sessions
        self.notifications = NotificationService(session, clock)

    # -- loading -------------------------------------------------------------------------------------------

    async def _load(self, principal: Principal, contract_id: uuid.UUID, *, lock: bool = False,
                    read: bool = False) -> Contract:
        """The contract, if the caller belongs to one of its parties (its buying side or the awardee); for a read,
        also to the central purchasing body that follows it (HC2), which is refused every act with a 403 naming
        HC2; else 404."""
        query = select(Contract).where(Contract.id == contract_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        contract = await self.session.scalar(query)
        if contract is None:
            raise NotFound(_NOT_FOUND)
        if party(principal, contract):
            return contract
        specific = await self.session.get(SpecificContract, contract.specific_contract_id)
        if specific is not None and follows(principal, specific):
            if read:
                return contract
            raise not_the_buying_side(principal, specific, _NOT_FOUND)
        raise NotFound(_NOT_FOUND)

    async def _dps(self, contract: Contract) -> Dps:
        specific = await self.session.get(SpecificContract, contract.specific_contract_id)
        assert specific is not None
        return await dps_of(self.session, specific.dps_id)

    async def _now(self, contract: Contract) -> datetime:
        """Business time on the contract's clock: its DPS's (a sandbox's runs faster, vendors/sandbox.py)."""
        return dps_clock(self.clock, await self._dps(contract)).now()

    @staticmethod
    def _buyer_admin(principal: Principal, contract: Contract, what: str) -> None:
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden(f"Only an administrator of the buying organisation {what}.")

    async def _audit(self, principal: Principal | None, contract: Contract, action: str, target_type: str,
                     target_id: uuid.UUID, **details: Any) -> None:
        await audit.record(self.session, self.clock, action, actor=principal.label if principal else "system",
                           organisation_id=contract.buyer_organisation_id, target_type=target_type,
                           target_id=target_id, details={"contract": str(contract.id),
                                                         "specific_contract": str(contract.specific_contract_id),
                                                         **details})

    async def _move(self, principal: Principal, contract: Contract, action: str, to: ContractStatus, *,
                    reasons: str | None = None, **details: Any) -> None:
        before = contract.status
        contract.status = to
        self.session.add(ContractTransition(contract_id=contract.id, from_status=before.value, to_status=to.value,
                                            action=action, actor=principal.label, at=await self._now(contract),
                                            reasons=reasons))
        await self.session.flush()
        if reasons is not None:
            details["reasons"] = reasons
        await self._audit(principal, contract, f"contract.{to.value}", "contract", contract.id,
                          from_status=before.value, to_status=to.value, move=action, **details)

    async def _tell(self, contract: Contract, side: SignatureSide, kind: str, subject: str, body: str) -> None:
        organisation = (contract.buyer_organisation_id if side is SignatureSide.BUYER
                        else contract.vendor_organisation_id)
        sandbox = (await self._dps(contract)).is_sandbox
        for email in await member_emails(self.session, organisation, _SIDE_ROLES[side]):
            await self.notifications.notify(recipient_email=email, kind=kind, subject=subject, body=body,
                                            about=contract.id, sandbox=sandbox)

    async def _upload(self, contract: Contract, what: str, declared_type: str, declared_size: int | None,
                      body: AsyncIterable[bytes]) -> tuple[str, int, str]:
        assert self.store is not None
        media_type = check_declared(declared_type, declared_size, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES, what)
        key, stored = await store_upload(self.store, "contracts", body, media_type, DOCUMENT_TYPES,
                                         DOCUMENT_MAX_BYTES, what, {"contract": str(contract.id)})
        return key, stored.size, stored.sha256

    async def _signatures(self, contract_id: uuid.UUID) -> list[ContractSignature]:
        return list((await self.session.scalars(select(ContractSignature).where(
            ContractSignature.contract_id == contract_id).order_by(ContractSignature.signed_at,
                                                                   ContractSignature.id))).all())

    async def _modifications(self, contract_id: uuid.UUID) -> list[ContractModification]:
        return list((await self.session.scalars(select(ContractModification).where(
            ContractModification.contract_id == contract_id).order_by(
            ContractModification.modified_at, ContractModification.created_at, ContractModification.id))).all())

    async def _current_amount(self, contract: Contract) -> int:
        modifications = await self._modifications(contract.id)
        return modifications[-1].amount_cents if modifications else contract.amount_cents

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Contract:
        return await self._schema(await self._load(principal, contract_id, read=True))

    async def of_specific_contract(self, principal: Principal,
                                   specific_contract_id: uuid.UUID) -> schemas.Contract | None:
        """The contract made from a specific contract, as `get` reads it, for whoever `get` lets read it; None when
        there is none yet, or the caller may not read it (a vendor whose offer lost learns nothing of it). How a
        vendor's page finds the contract it signs from the specific contract it bid on."""
        contract_id = await self.session.scalar(select(Contract.id).where(
            Contract.specific_contract_id == specific_contract_id))
        if contract_id is None:
            return None
        try:
            return await self.get(principal, contract_id)
        except NotFound:
            return None

    async def _schema(self, contract: Contract) -> schemas.Contract:
        modifications = await self._modifications(contract.id)
        signatures = await self._signatures(contract.id)
        signed = {s.side: s.signed_at for s in signatures}
        organisations = {o.id: o for o in (await self.session.scalars(select(Organisation).where(Organisation.id.in_(
            [contract.buyer_organisation_id, contract.vendor_organisation_id])))).all()}
        parties = [schemas.ContractParty(side=side, organisation_id=organisation, name=organisations[organisation].name,
                                         kind=organisations[organisation].kind, signed_at=signed.get(side))
                   for side, organisation in ((SignatureSide.BUYER, contract.buyer_organisation_id),
                                              (SignatureSide.VENDOR, contract.vendor_organisation_id))]
        transitions = (await self.session.scalars(select(ContractTransition).where(
            ContractTransition.contract_id == contract.id).order_by(
            ContractTransition.at, ContractTransition.created_at, ContractTransition.id))).all()
        return schemas.Contract(
            id=contract.id, specific_contract_id=contract.specific_contract_id, award_id=contract.award_id,
            buyer_organisation_id=contract.buyer_organisation_id,
            vendor_organisation_id=contract.vendor_organisation_id, parties=parties, status=contract.status,
            amount_cents=contract.amount_cents,
            current_amount_cents=modifications[-1].amount_cents if modifications else contract.amount_cents,
            earliest_sign_at=contract.earliest_sign_at,
            signatures=[schemas.ContractSignature(side=s.side, signed_by=s.signed_by, signed_at=s.signed_at,
                                                  size=s.size, sha256=s.sha256, media_type=s.media_type,
                                                  download_path=f"/contracts/{contract.id}/signatures/{s.side.value}"
                                                                "/document",
                                                  verification=msgspec.convert(s.verification,
                                                                               esign.SignatureReport)
                                                  if s.verification is not None else None)
                        for s in signatures],
            payment_terms=contract.payment_terms,
            payment_schedule=msgspec.convert(contract.payment_schedule, list[schemas.PaymentInstalment]),
            modifications=[schemas.ContractModification(id=m.id, reason=m.reason,
                                                        previous_amount_cents=m.previous_amount_cents,
                                                        amount_cents=m.amount_cents, modified_by=m.modified_by,
                                                        modified_at=m.modified_at) for m in modifications],
            transitions=[schemas.ContractTransition(from_status=t.from_status, to_status=t.to_status,
                                                    action=t.action, at=t.at, reasons=t.reasons)
                         for t in transitions],
            sandbox=(await self._dps(contract)).is_sandbox)
