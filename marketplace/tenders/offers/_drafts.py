"""The draft offer (machine (d): DRAFT): created on an open contract by an invited vendor, its structured parts
sealed as they arrive (P4; an answer per award criterion, D10), and read back by its vendor.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
from sqlalchemy import func, select, text
from uuid_utils.compat import uuid7

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.sealing import encrypt_stream, new_dek, wrap_dek
from marketplace.tenders import schemas
from marketplace.tenders.access import invited_vendor
from marketplace.tenders.deposits import Attempt, admission_of
from marketplace.tenders.models import Offer, SpecificContract
from marketplace.tenders.offers._base import OfferBase
from marketplace.tenders.offers._contexts import offer_context
from marketplace.tenders.states import OfferStatus


class Drafts(OfferBase):
    """The draft and its parts; the vendor's offers read back."""

    async def create(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Offer:
        async with self.journal.attempt(principal, "offer.create") as attempt:
            return await self._create(principal, contract_id, attempt)

    async def _create(self, principal: Principal, contract_id: uuid.UUID, attempt: Attempt) -> schemas.Offer:
        contract = await self.session.get(SpecificContract, contract_id)
        if contract is None:
            raise NotFound("No specific contract has this id.")
        vendor = await invited_vendor(self.session, principal, contract, *VENDOR_WRITERS)
        attempt.bind(contract, vendor)
        window = await self._window(contract, "offers are prepared", vendor)
        _, public = await self._public_key(contract)
        # Versions count per vendor and contract; the lock keeps two drafts from taking the same number.
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                   {"key": f"offer:{contract.id}:{vendor}"})
        if await self.session.scalar(select(Offer.id).where(
                Offer.specific_contract_id == contract.id, Offer.vendor_organisation_id == vendor,
                Offer.status == OfferStatus.DRAFT)):
            raise Conflict("This vendor already has a draft offer on this contract: complete or submit it.",
                           field="status")
        version = int(await self.session.scalar(select(func.coalesce(func.max(Offer.version), 0)).where(
            Offer.specific_contract_id == contract.id, Offer.vendor_organisation_id == vendor)) or 0) + 1
        offer_id = uuid7()
        offer = Offer(id=offer_id, specific_contract_id=contract.id, vendor_organisation_id=vendor,
                      version=version, status=OfferStatus.DRAFT, created_by=principal.label,
                      wrapped_dek=wrap_dek(new_dek(), public, offer_context(contract.id, offer_id)))
        self.session.add(offer)
        await self.session.flush()
        await audit.record(self.session, self.clock, "offer.created", actor=principal.label,
                           organisation_id=vendor, target_type="offer", target_id=offer.id,
                           details={"specific_contract": str(contract.id), "version": version})
        return await self._schema(offer, contract, window.admission)

    async def set_parts(self, principal: Principal, offer_id: uuid.UUID, parts: schemas.OfferParts) -> schemas.Offer:
        async with self.journal.attempt(principal, "offer.parts") as attempt:
            return await self._set_parts(principal, offer_id, parts, attempt)

    async def _set_parts(self, principal: Principal, offer_id: uuid.UUID, parts: schemas.OfferParts,
                         attempt: Attempt) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id, lock=True, write=True, attempt=attempt)
        self._draft(offer)
        window = await self._window(contract, "offers are prepared", offer.vendor_organisation_id)
        criteria = [str(c["name"]) for c in contract.award_criteria]
        answered = [a.criterion for a in parts.answers]
        if sorted(answered) != sorted(criteria):
            raise RuleViolation("answers: answer each award criterion of the contract once (" + ", ".join(criteria)
                                + ")", field="answers", rule="D10")
        # The parts get a data key of their own, wrapped like a file's: a fresh one each time they change.
        _, public = await self._public_key(contract)
        dek = new_dek()
        context = offer_context(contract.id, offer.id)
        sealed = b"".join([c async for c in encrypt_stream(_once(msgspec.json.encode(parts)), dek, context)])
        offer.sealed_parts = sealed
        offer.wrapped_dek = wrap_dek(dek, public, context)
        await self.session.flush()
        return await self._schema(offer, contract, window.admission)

    async def get(self, principal: Principal, offer_id: uuid.UUID) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id)
        return await self._schema(offer, contract, await admission_of(self.session, contract.id,
                                                                      offer.vendor_organisation_id))

    async def mine(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.Offer]:
        contract = await self.session.get(SpecificContract, contract_id)
        if contract is None:
            raise NotFound("No specific contract has this id.")
        vendor = await invited_vendor(self.session, principal, contract)
        rows = (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.vendor_organisation_id == vendor)
            .order_by(Offer.version))).all()
        admission = await admission_of(self.session, contract.id, vendor)
        return [await self._schema(o, contract, admission) for o in rows]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
