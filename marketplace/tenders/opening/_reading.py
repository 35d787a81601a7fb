"""After the opening: the opening record, and each offer's parts and files for the buying side, each file
verified against its receipt again as it is served and never served when quarantined (P9, G11).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select, update

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE
from marketplace.errors import NotFound
from marketplace.lib import audit
from marketplace.lib.clock import format_paris
from marketplace.lib.sealing import decrypt_stream, unwrap_dek
from marketplace.tenders import schemas
from marketplace.tenders.access import for_evaluation, for_procedure_reader
from marketplace.tenders.errors import FileNotScanned, FileQuarantined, IntegrityFailure, OffersSealed
from marketplace.tenders.models import (
    ContractKey,
    Integrity,
    Need,
    Offer,
    OfferAttachment,
    OpenerKey,
    OpeningRecord,
    ScanStatus,
    SpecificContract,
)
from marketplace.tenders.offers import audit_apart, name_context, offer_context
from marketplace.tenders.openers import opener_key_schema
from marketplace.tenders.opening._base import NO_OFFER
from marketplace.tenders.opening._scan import Scanning
from marketplace.tenders.states import OfferStatus, status_at
from marketplace.vendors.sandbox import dps_clock, dps_of


class Reading(Scanning):
    """The opened offers as the buying side reads them."""

    async def record(self, principal: Principal, contract_id: uuid.UUID) -> schemas.OpeningRecord:
        """The buying side's; once the offers are opened, also who follows or holds the contract (HC2, HC3)."""
        contract = await for_procedure_reader(self.session, principal,
                                              await self.session.get(SpecificContract, contract_id), *BUYING_SIDE)
        record = await self.session.scalar(select(OpeningRecord).where(
            OpeningRecord.specific_contract_id == contract.id))
        if record is None:
            raise NotFound("The offers of this contract have not been opened.")
        return await self._record_schema(record)

    async def ceremony(self, principal: Principal, contract_id: uuid.UUID) -> schemas.OpeningCeremony:
        """What the opening ceremony shows, to the audience of the opening record (GET …/opening): the buying side,
        any of its roles (its openers among them, who read no more of the contract than this) at any time; once
        the offers are opened, also who follows or holds the contract (HC2, HC3); 404 to anyone else. Until the
        opening, the opener keys the contract key was shared among at its publication (P6): only they open it."""
        contract = await for_procedure_reader(self.session, principal,
                                              await self.session.get(SpecificContract, contract_id), *BUYING_SIDE)
        dps = await dps_of(self.session, contract.dps_id)
        opened = await self.session.scalar(select(OpeningRecord.id).where(
            OpeningRecord.specific_contract_id == contract.id).limit(1)) is not None
        key_row = await self.session.scalar(select(ContractKey).where(
            ContractKey.specific_contract_id == contract.id))
        keys: list[OpenerKey] = []
        if key_row is not None and not opened:
            shared = [uuid.UUID(share["opener"]) for share in key_row.protected.get("shares", [])]
            keys = list((await self.session.scalars(select(OpenerKey).where(
                OpenerKey.id.in_(shared), OpenerKey.organisation_id == contract.buyer_organisation_id)
                .order_by(OpenerKey.created_at))).all()) if shared else []
        now = dps_clock(self.clock, dps).now()
        return schemas.OpeningCeremony(
            specific_contract_id=contract.id,
            title=await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or "",
            # HC6: closed_for_offers from the deadline on, on the contract's clock, opened or not.
            status=status_at(contract, now), read_at=now,
            tender_deadline=contract.tender_deadline, tender_deadline_paris=format_paris(contract.tender_deadline),
            buyer_organisation_id=contract.buyer_organisation_id, opened=opened,
            threshold=key_row.threshold if key_row is not None else contract.opening_threshold,
            opener_keys=[opener_key_schema(k) for k in keys], sandbox=dps.is_sandbox)

    async def _released(self, principal: Principal, offer_id: uuid.UUID) -> tuple[
            Offer, SpecificContract, X25519PrivateKey]:
        offer = await self.session.get(Offer, offer_id)
        if offer is None:
            raise NotFound(NO_OFFER)
        # The buying side, and the holder's people on the evaluation committee (HC3), who score what they read.
        contract = for_evaluation(principal, await self.session.get(SpecificContract, offer.specific_contract_id),
                                  *BUYING_SIDE, missing=NO_OFFER)
        if offer.status != OfferStatus.OPENED:
            raise OffersSealed("This offer is sealed: it has not been opened.", rule="D13")
        await self.evaluation.stay_out(principal, contract, "its offers", target_type="offer", target_id=offer.id)
        return offer, contract, await self._released_key(contract)

    async def parts(self, principal: Principal, offer_id: uuid.UUID) -> schemas.OfferParts:
        offer, contract, private = await self._released(principal, offer_id)
        if offer.sealed_parts is None:
            raise NotFound("This offer has no structured parts.")
        context = offer_context(contract.id, offer.id)
        dek = unwrap_dek(offer.wrapped_dek, private, context)

        async def once() -> AsyncIterator[bytes]:
            yield offer.sealed_parts or b""

        plain = b"".join([c async for c in decrypt_stream(once(), dek, context)])
        await audit.record(self.session, self.clock, "offer.parts_read", actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type="offer", target_id=offer.id,
                           details={})
        return msgspec.json.decode(plain, type=schemas.OfferParts)

    async def attachment(self, principal: Principal, offer_id: uuid.UUID, attachment_id: uuid.UUID, *,
                         accept_unscanned: bool = False) -> tuple[str, str, AsyncIterator[bytes]]:
        """(filename, media type, content): verified in full before the first byte is served (P9).

        Fail closed (reliability.md §2.9): a file still `pending` (no scanner, clamd down, too large for it)
        is served only to a reader who asks for it unscanned, and the download's audit says so."""
        offer, contract, private = await self._released(principal, offer_id)
        attachment = await self.session.get(OfferAttachment, attachment_id)
        if attachment is None or attachment.offer_id != offer.id:
            raise NotFound("No file of this offer has this id.")
        if attachment.scan_status == ScanStatus.INFECTED:
            # P10: kept as the trace, never served; the refusal is audited apart (the request rolls back).
            await audit_apart(self.side_sessions, self.clock, "offer_attachment.download_refused_quarantined",
                              actor=principal.label, organisation_id=contract.buyer_organisation_id,
                              target_type="offer_attachment", target_id=attachment.id,
                              details={"offer": str(offer.id), "signature": attachment.scan_verdict})
            raise FileQuarantined("This file is quarantined: the malware scan found "
                                  f"{attachment.scan_verdict or 'a threat'}.", field="scanStatus")
        if attachment.integrity == Integrity.MISMATCH or not await self._verify(contract, offer, attachment,
                                                                                 private):
            # Flagged and audited apart: the request's transaction rolls back with the refusal.
            async with self.side_sessions() as side, side.begin():
                await side.execute(update(OfferAttachment).where(OfferAttachment.id == attachment.id).values(
                    integrity=Integrity.MISMATCH))
                await audit.record(side, self.clock, "offer_attachment.integrity_mismatch", actor=principal.label,
                                   organisation_id=contract.buyer_organisation_id, target_type="offer_attachment",
                                   target_id=attachment.id,
                                   details={"specific_contract": str(contract.id), "at": "download"})
            raise IntegrityFailure("This file no longer matches the size and SHA-256 recorded at its receipt: it "
                                   "is blocked.", field="sha256")
        if attachment.scan_status == ScanStatus.PENDING and not accept_unscanned:
            raise FileNotScanned("This file has no malware-scan verdict yet: download it later, or ask for it "
                                 "unscanned with acceptUnscanned=true (the choice is recorded).",
                                 field="scanStatus")
        await audit.record(self.session, self.clock, "offer_attachment.downloaded", actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type="offer_attachment",
                           target_id=attachment.id, details={"offer": str(offer.id),
                                                             "scan_status": attachment.scan_status.value})
        name = self.vault.open(attachment.sealed_name, name_context(attachment.id)).decode()
        return name, attachment.content_type, self._plaintext(contract, offer, attachment, private)
