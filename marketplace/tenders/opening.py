"""The opening of the offers (machine (c) OPEN --deadline--> CLOSED_FOR_OFFERS, D13, P6, P9, G2, G5).

After the deadline, `opening_threshold` openers of the buying organisation (the caller among them) give
their passphrases together. Their keys rebuild the contract's private key in memory; every submitted
offer is unsealed at once: each file is read back, decrypted and its size and SHA-256 compared with the
receipt's (a mismatch is flagged and blocks that file only). The result is the opening record: who
opened, when, every offer with its receipt times and hashes, and apart the withdrawn, superseded and late
ones, signed by the platform. Every attempt, refused or not, is audited; the refused ones in a
transaction of their own, since the request's rolls back with the refusal.

Before the deadline the buyer learns nothing of the offers, not even how many there are; between the
deadline and the opening, only how many were received.

The malware scan happens here too (P10, G11): the files are sealed at receipt, so the opening is the first
moment anyone can read them. Each file's verified plaintext goes to clamd in the same pass. Only a clear
verdict changes `scan_status`; with no scanner configured, or clamd down, slow or confused, the file stays
`pending` (never "clean") and, when a scanner is configured, a job scans it again once clamd is back.
An infected file stays stored with its verdict (the trace the CCP keeps), is listed in the opening
record, audited, and never served.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Protocol, TypedDict, runtime_checkable

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE, OPENERS
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.audit import AuditEvent
from marketplace.lib.clamd import Clamd, ScanResult
from marketplace.lib.clock import Clock, format_paris
from marketplace.lib.jobs import record_job
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.sealing import (
    DigestingStream,
    IntegrityError,
    LockedOpenerKey,
    NotEnoughOpeners,
    ProtectedContractKey,
    SealingError,
    associated_data,
    decrypt_stream,
    recover_contract_key,
    unwrap_dek,
)
from marketplace.settings import Settings
from marketplace.tenders import schemas
from marketplace.tenders.access import buying_side, for_buying_side
from marketplace.tenders.errors import FileNotScanned, FileQuarantined, IntegrityFailure, OffersSealed, OpeningRefused
from marketplace.tenders.models import (
    ContractKey,
    Integrity,
    Offer,
    OfferAttachment,
    OpenerKey,
    OpeningRecord,
    ScanStatus,
    SpecificContract,
)
from marketplace.tenders.offers import attachment_context, audit_apart, name_context, offer_context
from marketplace.tenders.openers import contract_key_context
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, deadline_passed, move, require_move
from marketplace.tenders.vault import Vault
from marketplace.vendors.sandbox import clock_of, dps_of
from storage import CustomerKey, ObjectStore

log = logging.getLogger("marketplace.tenders.opening")

_NO_OFFER = "No offer has this id."
SCAN_JOB = "scan_pending_attachments"


def released_key_context(contract_id: uuid.UUID) -> str:
    return f"contract-key:{contract_id}"


def scanner_from(settings: Settings) -> Clamd | None:
    return Clamd(settings.clamd_host, settings.clamd_port, max_bytes=settings.clamd_max_bytes) \
        if settings.clamd_host else None


# Runtime-checkable: the framework checks each dependency it injects against its annotation (isinstance).
@runtime_checkable
class Evaluation(Protocol):
    """What the opening needs of the evaluation that follows it (awards/), on the request's session: given to the
    service by its provider (awards/deps.py, wired by the app), so that tenders/ never imports awards/."""

    async def stay_out(self, principal: Principal, contract: SpecificContract, what: str, *, target_type: str,
                       target_id: uuid.UUID) -> None:
        """403, audited, to a member of the buying side who declared a conflict of interest for the contract."""

    async def clarifications(self, offer_ids: list[uuid.UUID]) -> Mapping[
            uuid.UUID, list[schemas.ClarificationSummary]]:
        """Per offer, the clarification threads held with its vendor since the opening."""

    async def end_unsuccessful(self, contract: SpecificContract, *, actor: str, cause: str) -> None:
        """Machine (c) --no_valid_offer--> UNSUCCESSFUL, with its notices (the caller holds the row lock)."""


class OpeningService:
    def __init__(self, session: AsyncSession, clock: Clock, vault: Vault, store: ObjectStore,
                 side_sessions: async_sessionmaker[AsyncSession], scanner: Clamd | None = None,
                 evaluation: Evaluation | None = None) -> None:
        self.session = session
        self.clock = clock
        self.vault = vault
        self.store = store
        self.side_sessions = side_sessions
        self.scanner = scanner
        # None only for the scanning job, which neither reads the offers for a person nor opens them.
        self._evaluation = evaluation

    @property
    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            raise RuntimeError("this OpeningService was built without the evaluation side (awards/deps.py)")
        return self._evaluation

    async def _contract(self, principal: Principal, contract_id: uuid.UUID, *,
                        lock: bool = False) -> SpecificContract:
        return for_buying_side(principal, await self.session.get(SpecificContract, contract_id,
                                                                 with_for_update=lock or None),
                               *BUYING_SIDE)

    async def _refused(self, principal: Principal, contract: SpecificContract, reason: str,
                       detail: str, **extra: Any) -> OpeningRefused:
        await audit_apart(self.side_sessions, self.clock, "specific_contract.opening_refused", actor=principal.label,
                          organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                          target_id=contract.id, details={"reason": reason, **extra})
        return OpeningRefused(detail, reason=reason)

    # -- before the opening --------------------------------------------------------------------------

    async def received(self, principal: Principal, contract_id: uuid.UUID) -> schemas.ReceivedOffers:
        contract = await self._contract(principal, contract_id)
        await self.evaluation.stay_out(principal, contract, "its offers", target_type="specific_contract",
                                       target_id=contract.id)
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()  # a sandbox's runs faster
        if not deadline_passed(contract, now):
            await audit_apart(self.side_sessions, self.clock, "offers.read_refused_sealed", actor=principal.label,
                              organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                              target_id=contract.id, details={})
            raise OffersSealed(f"The offers are sealed until the deadline, {format_paris(contract.tender_deadline)}",
                               rule="D13")
        offers = (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id,
            Offer.status.in_((OfferStatus.SUBMITTED, OfferStatus.OPENED))).order_by(Offer.received_at,
                                                                                     Offer.id))).all()
        # The opening record says whether the offers were opened: an opening that found no offer is one too.
        opened = await self.session.scalar(select(OpeningRecord.id).where(
            OpeningRecord.specific_contract_id == contract.id).limit(1)) is not None
        if not opened:
            return schemas.ReceivedOffers(specific_contract_id=contract.id, received=len(offers), opened=False,
                                          offers=[])
        # Every offer's files in one query, not one per offer.
        files: dict[uuid.UUID, list[OfferAttachment]] = {o.id: [] for o in offers}
        for attachment in (await self.session.scalars(select(OfferAttachment).where(
                OfferAttachment.offer_id.in_(list(files))).order_by(OfferAttachment.received_at,
                                                                    OfferAttachment.id))).all():
            files[attachment.offer_id].append(attachment)
        # The clarifications asked of each vendor since the opening sit beside its offer, never in it.
        clarifications = await self.evaluation.clarifications(list(files))
        return schemas.ReceivedOffers(specific_contract_id=contract.id, received=len(offers), opened=True,
                                      offers=[self._summary(o, files[o.id], clarifications.get(o.id, []))
                                              for o in offers])

    def _summary(self, offer: Offer, attachments: list[OfferAttachment],
                 clarifications: list[schemas.ClarificationSummary]) -> schemas.OfferSummary:
        return schemas.OfferSummary(
            id=offer.id, vendor_organisation_id=offer.vendor_organisation_id, version=offer.version,
            status=offer.status, received_started_at=offer.received_started_at, received_at=offer.received_at,
            manifest_sha256=offer.manifest_sha256,
            attachments=[{"id": str(a.id), "filename": self.vault.open(a.sealed_name, name_context(a.id)).decode(),
                          "contentType": a.content_type, "size": a.size, "sha256": a.sha256,
                          "integrity": a.integrity.value, "scanStatus": a.scan_status.value,
                          "downloadPath": f"/offers/{offer.id}/attachments/{a.id}/content"} for a in attachments],
            clarifications=clarifications)

    # -- the opening ---------------------------------------------------------------------------------

    async def open(self, principal: Principal, contract_id: uuid.UUID,
                   data: schemas.OpeningRequest) -> schemas.OpeningRecord:
        contract = await self._contract(principal, contract_id, lock=True)
        if not buying_side(principal, contract, *OPENERS):
            raise await self._refused(principal, contract, "not-an-opener",
                                      "Only an opener or an administrator of the buying organisation opens offers.")
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        if not deadline_passed(contract, now):  # P6 (i): now ≥ D, on the contract's clock
            raise await self._refused(principal, contract, "before-deadline",
                                      f"The offers open at the deadline, {format_paris(contract.tender_deadline)}.")
        require_move(contract, SpecificContractStatus.CLOSED_FOR_OFFERS,
                     "its offers were opened already or it was closed", error=Conflict)
        key_row = await self.session.scalar(select(ContractKey).where(
            ContractKey.specific_contract_id == contract.id))
        if key_row is None:
            raise Conflict("This contract has no sealing key.", field="specificContractId")
        ids = [o.opener_key_id for o in data.openers]
        if len(set(ids)) != len(ids):
            raise RuleViolation("openers: each opener once", field="openers")
        keys = {k.id: k for k in (await self.session.scalars(select(OpenerKey).where(
            OpenerKey.id.in_(ids), OpenerKey.organisation_id == contract.buyer_organisation_id))).all()}
        if not any(k.user_id == principal.user_id for k in keys.values()):
            raise await self._refused(principal, contract, "caller-not-among-openers",
                                      "The caller opens with their own opener key, among the others.")
        unlocked: dict[str, X25519PrivateKey] = {}
        wrong: list[str] = []
        for given in data.openers:
            key = keys.get(given.opener_key_id)
            if key is None:
                wrong.append(str(given.opener_key_id))
                continue
            try:
                unlocked[str(key.id)] = await asyncio.to_thread(
                    LockedOpenerKey.from_dict(key.record).unlock, given.passphrase)
            except SealingError:
                wrong.append(str(key.id))
        try:
            private = recover_contract_key(ProtectedContractKey.from_dict(key_row.protected), unlocked,
                                           contract_key_context(contract.id))
        except NotEnoughOpeners as exc:
            raise await self._refused(
                principal, contract, "not-enough-openers",
                f"Opening needs {key_row.threshold} of the contract's openers with their passphrases.",
                refused_keys=wrong, threshold=key_row.threshold) from exc
        except SealingError as exc:
            raise await self._refused(principal, contract, "contract-key-tampered",
                                      "The contract's sealing key does not rebuild: it was altered.") from exc
        opened_by = sorted({str(keys[uuid.UUID(k)].user_id) for k in unlocked})
        record = await self._unseal_all(principal, contract, private, opened_by, now)


        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        key_row.released_key = self.vault.seal(raw, released_key_context(contract.id))
        key_row.released_at = now
        move(contract, SpecificContractStatus.CLOSED_FOR_OFFERS)
        await self.session.flush()
        if not record.document["offers"]:
            # Machine (c) --no_valid_offer--> UNSUCCESSFUL: nothing was submitted, nothing will be evaluated.
            await self.evaluation.end_unsuccessful(contract, actor=principal.label,
                                                   cause="aucune offre n'a été remise avant la date limite")
        return record

    async def _unseal_all(self, principal: Principal, contract: SpecificContract, private: X25519PrivateKey,
                          opened_by: list[str], now: Any) -> schemas.OpeningRecord:
        offers = (await self.session.scalars(select(Offer).where(Offer.specific_contract_id == contract.id)
                                             .order_by(Offer.received_at, Offer.id))).all()
        entries: list[dict[str, Any]] = []
        blocked: list[str] = []
        quarantined: list[AttachmentVerdict] = []
        unscanned = 0
        # Asked once: a clamd that doesn't answer PONG is not waited on file after file (its time-out each).
        scanning = self.scanner is not None and await self.scanner.ping()
        for offer in offers:
            if offer.status != OfferStatus.SUBMITTED:
                continue
            files = []
            for attachment in (await self.session.scalars(select(OfferAttachment).where(
                    OfferAttachment.offer_id == offer.id).order_by(OfferAttachment.received_at,
                                                                   OfferAttachment.id))).all():
                ok, verdict = await self._check(contract, offer, attachment, private, scan=scanning)
                attachment.integrity = Integrity.VERIFIED if ok else Integrity.MISMATCH
                if not ok:
                    blocked.append(str(attachment.id))
                if verdict is not None and self._record_verdict(attachment, verdict):
                    quarantined.append({"attachment": str(attachment.id), "signature": attachment.scan_verdict})
                if ok and attachment.scan_status == ScanStatus.PENDING and self._scannable(attachment):
                    unscanned += 1
                files.append({"attachment": str(attachment.id), "size": attachment.size, "sha256": attachment.sha256,
                              "integrity": attachment.integrity.value, "scanStatus": attachment.scan_status.value,
                              "scanVerdict": attachment.scan_verdict})
            move(offer, OfferStatus.OPENED)
            offer.opened_at = now
            entries.append({"offer": str(offer.id), "vendor": str(offer.vendor_organisation_id),
                            "version": offer.version,
                            "receivedStartedAt": offer.received_started_at.isoformat()
                            if offer.received_started_at else None,
                            "receivedAt": offer.received_at.isoformat() if offer.received_at else None,
                            "manifestSha256": offer.manifest_sha256, "files": files})
        apart = {status: [{"offer": str(o.id), "vendor": str(o.vendor_organisation_id), "version": o.version,
                           "receivedAt": o.received_at.isoformat() if o.received_at else None}
                          for o in offers if o.status == status]
                 for status in (OfferStatus.WITHDRAWN, OfferStatus.SUPERSEDED)}
        late = (await self.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "offer.submission_refused_late",
            AuditEvent.target_id.in_([str(o.id) for o in offers]))
            .order_by(AuditEvent.id))).all() if offers else []
        document = {
            "type": "marketplace.opening-record.v1", "specificContractId": str(contract.id),
            "openedAt": now.isoformat(), "openedBy": opened_by,
            "tenderDeadline": contract.tender_deadline.isoformat(), "offers": entries,
            "withdrawn": apart[OfferStatus.WITHDRAWN], "superseded": apart[OfferStatus.SUPERSEDED],
            "late": [{"offer": e.target_id, "refusedAt": e.details.get("at"),
                      "startedBeforeDeadline": e.details.get("started_before_deadline")} for e in late],
            "blockedFiles": blocked,
            # P10: quarantined, kept with their verdict; never served.
            "quarantinedFiles": quarantined,
        }
        dps = await dps_of(self.session, contract.dps_id)
        if dps.is_sandbox:
            # Signed with the rest: a rehearsal's record, on its accelerated clock.
            document["sandbox"] = {"notice": NOTICE, "factor": dps.sandbox_factor,
                                   "openedAtRealTime": self.clock.now().isoformat()}
        signature = self.vault.signer.sign(document)
        record = OpeningRecord(specific_contract_id=contract.id, opened_at=now, opened_by=opened_by,
                               document=document, signature=signature)
        self.session.add(record)
        await self.session.flush()
        await audit.record(self.session, self.clock, "specific_contract.opened", actor=principal.label,
                           organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                           target_id=contract.id, details={"offers": len(entries), "opened_by": opened_by,
                                                           "blocked_files": blocked,
                                                           "quarantined_files": [q["attachment"] for q in quarantined]})
        for attachment_id in blocked:
            await audit.record(self.session, self.clock, "offer_attachment.integrity_mismatch",
                               actor=principal.label, organisation_id=contract.buyer_organisation_id,
                               target_type="offer_attachment", target_id=attachment_id,
                               details={"specific_contract": str(contract.id), "at": "opening"})
        for found in quarantined:
            await self._audit_quarantine(contract, found["attachment"], found["signature"], actor=principal.label,
                                         at="opening")
        if unscanned and self.scanner is not None:
            # clamd was down or gave no verdict: scanned again once it is back (the job retries until then).
            await record_job(self.session, self.clock, SCAN_JOB, str(contract.id))
        return self._record_schema(record)

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

    # -- scanning again, after the opening (the job) -------------------------------------------------

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

    # -- after the opening ---------------------------------------------------------------------------

    async def record(self, principal: Principal, contract_id: uuid.UUID) -> schemas.OpeningRecord:
        contract = await self._contract(principal, contract_id)
        record = await self.session.scalar(select(OpeningRecord).where(
            OpeningRecord.specific_contract_id == contract.id))
        if record is None:
            raise NotFound("The offers of this contract have not been opened.")
        return self._record_schema(record)

    def _record_schema(self, record: OpeningRecord) -> schemas.OpeningRecord:
        return schemas.OpeningRecord(id=record.id, specific_contract_id=record.specific_contract_id,
                                     opened_at=record.opened_at, opened_at_paris=format_paris(record.opened_at),
                                     document=record.document, signature=record.signature, kid=self.vault.signer.kid)

    async def _released(self, principal: Principal, offer_id: uuid.UUID) -> tuple[
            Offer, SpecificContract, X25519PrivateKey]:
        offer = await self.session.get(Offer, offer_id)
        if offer is None:
            raise NotFound(_NO_OFFER)
        contract = for_buying_side(principal, await self.session.get(SpecificContract, offer.specific_contract_id),
                                   *BUYING_SIDE, missing=_NO_OFFER)
        if offer.status != OfferStatus.OPENED:
            raise OffersSealed("This offer is sealed: it has not been opened.", rule="D13")
        await self.evaluation.stay_out(principal, contract, "its offers", target_type="offer", target_id=offer.id)
        return offer, contract, await self._released_key(contract)

    async def _released_key(self, contract: SpecificContract) -> X25519PrivateKey:
        """The contract's private key, kept under the platform key since the opening."""
        key_row = await self.session.scalar(select(ContractKey).where(
            ContractKey.specific_contract_id == contract.id))
        assert key_row is not None and key_row.released_key is not None
        raw = self.vault.open(key_row.released_key, released_key_context(contract.id))
        return X25519PrivateKey.from_private_bytes(raw)

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
