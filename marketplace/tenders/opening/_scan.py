"""Each file read back, decrypted and checked against its receipt (P9), and scanned for malware in the same pass
(P10, G11): only a clear verdict changes `scan_status`; without one the file stays `pending` and a job scans it
again once clamd is back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypedDict

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from marketplace.lib import audit
from marketplace.lib.clamd import ScanResult
from marketplace.lib.sealing import (
    DigestingStream,
    IntegrityError,
    SealingError,
    associated_data,
    decrypt_stream,
    unwrap_dek,
)
from marketplace.tenders.models import Integrity, Offer, OfferAttachment, ScanStatus, SpecificContract
from marketplace.tenders.offers import attachment_context
from marketplace.tenders.opening._base import OpeningBase
from marketplace.tenders.states import OfferStatus
from storage import CustomerKey

log = logging.getLogger("marketplace.tenders.opening")


class Scanning(OpeningBase):
    """A file's plaintext, verified and scanned; the verdict recorded; the scan again, after the opening."""

    async def _plaintext(self, contract: SpecificContract, offer: Offer, attachment: OfferAttachment,
                         private: X25519PrivateKey) -> AsyncGenerator[bytes, None]:
        """The file's plaintext, checked against its receipt's size and hash as it streams (P9)."""
        dek = unwrap_dek(attachment.wrapped_dek, private, attachment_context(
            contract.id, offer.id, attachment.id, attachment.sha256, attachment.size))
        plain: AsyncIterator[bytes]
        if attachment.sealing == "sse-c":
            # A presigned upload: the storage server decrypts with the file's own key, given per request.
            plain = self.store.get_stream(attachment.object_key, sse_key=CustomerKey(dek))
        else:
            plain = decrypt_stream(self.store.get_stream(attachment.object_key), dek,
                                   associated_data(purpose="offer-file", attachment=attachment.id))
        async for chunk in DigestingStream(plain, expected_sha256=attachment.sha256, expected_size=attachment.size):
            yield chunk

    async def _verify(self, contract: SpecificContract, offer: Offer, attachment: OfferAttachment,
                      private: X25519PrivateKey) -> bool:
        try:
            async for _ in self._plaintext(contract, offer, attachment, private):
                pass
        except (SealingError, IntegrityError):
            return False
        return True

    async def _check(self, contract: SpecificContract, offer: Offer, attachment: OfferAttachment,
                     private: X25519PrivateKey, *, scan: bool) -> tuple[bool, ScanResult | None]:
        """(verified, verdict): one pass over the plaintext, checked against its receipt (P9) and, when
        `scan`, streamed to clamd at the same time (P10). A verdict counts only for content read to its
        end and verified: a file that no longer matches its receipt gets none."""
        if not scan or self.scanner is None:
            return await self._verify(contract, offer, attachment, private), None
        if not self._scannable(attachment):
            log.warning("offer_attachment.too_large_to_scan", extra={
                "attachment": str(attachment.id), "size": attachment.size, "limit": self.scanner.max_bytes})
            return await self._verify(contract, offer, attachment, private), None
        plain = _Followed(self._plaintext(contract, offer, attachment, private))
        try:
            result = await self.scanner.scan(plain)
        except (SealingError, IntegrityError):
            return False, None
        finally:
            await plain.aclose()
        if not plain.complete:
            # clamd stopped reading before the end (down, slow, a size limit): no verdict, and the file
            # is verified on a pass of its own.
            self._log_no_verdict(attachment, result)
            return await self._verify(contract, offer, attachment, private), None
        return True, result

    def _scannable(self, attachment: OfferAttachment) -> bool:
        """Whether the scanner would read this file in full: past its limit clamd says "OK" unread, so the
        file is not sent, stays `pending` for a person to deal with, and no job retries it."""
        return self.scanner is None or self.scanner.reads_in_full(attachment.size)

    def _record_verdict(self, attachment: OfferAttachment, result: ScanResult) -> bool:
        """Set the file's scan status from clamd's answer; True when it is infected. Only a clear
        verdict counts: anything else leaves it `pending`, never "clean" (G11)."""
        if result.status == "clean":
            attachment.scan_status, attachment.scan_verdict = ScanStatus.CLEAN, None
        elif result.status == "infected":
            attachment.scan_status = ScanStatus.INFECTED
            attachment.scan_verdict = (result.signature or "unnamed signature")[:300]
            return True
        else:
            self._log_no_verdict(attachment, result)
        return False

    @staticmethod
    def _log_no_verdict(attachment: OfferAttachment, result: ScanResult) -> None:
        log.warning("offer_attachment.scan_failed", extra={"attachment": str(attachment.id),
                                                           "status": result.status, "detail": result.detail})

    async def _audit_quarantine(self, contract: SpecificContract, attachment_id: str, signature: str | None, *,
                                actor: str, at: str) -> None:
        log.warning("offer_attachment.quarantined", extra={"attachment": attachment_id, "signature": signature})
        await audit.record(self.session, self.clock, "offer_attachment.quarantined", actor=actor,
                           organisation_id=contract.buyer_organisation_id, target_type="offer_attachment",
                           target_id=attachment_id,
                           details={"specific_contract": str(contract.id), "signature": signature, "at": at})

    # -- scanning again, after the opening (the job) -------------------------------------------------------

    async def pending_scans(self, contract_id: uuid.UUID) -> list[uuid.UUID]:
        """The opened files of this contract still without a verdict (those that failed integrity aside:
        they are blocked whatever they hold)."""
        return list((await self.session.scalars(
            select(OfferAttachment.id).join(Offer, Offer.id == OfferAttachment.offer_id).where(
                Offer.specific_contract_id == contract_id, Offer.status == OfferStatus.OPENED,
                OfferAttachment.scan_status == ScanStatus.PENDING,
                OfferAttachment.integrity == Integrity.VERIFIED,
                *([OfferAttachment.size <= self.scanner.max_bytes] if self.scanner is not None else []))
            .order_by(OfferAttachment.received_at, OfferAttachment.id))).all())

    async def rescan(self, attachment_id: uuid.UUID) -> str:
        """Scan one opened file again with the contract's released key: its scan status afterwards, or
        "blocked" if it no longer matches its receipt (then it gets no verdict, and is not retried).

        The row is locked: a duplicate run of the job waits, then finds a verdict and does nothing."""
        attachment = await self.session.get(OfferAttachment, attachment_id, with_for_update=True)
        if attachment is None or attachment.integrity == Integrity.MISMATCH:
            return "blocked"
        if attachment.scan_status != ScanStatus.PENDING or self.scanner is None:
            return attachment.scan_status.value
        offer = await self.session.get(Offer, attachment.offer_id)
        assert offer is not None and offer.status == OfferStatus.OPENED
        contract = await self.session.get(SpecificContract, offer.specific_contract_id)
        assert contract is not None
        ok, verdict = await self._check(contract, offer, attachment, await self._released_key(contract),
                                        scan=True)
        if not ok:
            attachment.integrity = Integrity.MISMATCH
            await audit.record(self.session, self.clock, "offer_attachment.integrity_mismatch", actor="system",
                               organisation_id=contract.buyer_organisation_id, target_type="offer_attachment",
                               target_id=attachment.id,
                               details={"specific_contract": str(contract.id), "at": "scan"})
        elif verdict is not None and self._record_verdict(attachment, verdict):
            await self._audit_quarantine(contract, str(attachment.id), attachment.scan_verdict, actor="system",
                                         at="scan")
        await self.session.flush()
        return "blocked" if not ok else attachment.scan_status.value


class AttachmentVerdict(TypedDict):
    attachment: str
    signature: str | None


class _Followed:
    """The plaintext as clamd reads it, noting whether it was read to its end (and so verified)."""

    def __init__(self, chunks: AsyncGenerator[bytes, None]) -> None:
        self._chunks = chunks
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk
        self.complete = True

    async def aclose(self) -> None:
        # Left unread when clamd stopped early: release its connection to the bucket at once.
        await self._chunks.aclose()
