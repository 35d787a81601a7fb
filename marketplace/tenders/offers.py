"""Sealed offers (machine (d), D13–D14, reliability.md P1–P4, P9, P11, G3, G7).

An invited vendor's admin or bid manager creates a draft offer on an open specific contract, gives its
structured parts (price schedule, an answer per award criterion) and streams its attachments; then
submits it. Everything it sends is sealed as it arrives: each file and the parts get their own data key,
wrapped to the contract's public key (tenders/openers.py), so what is stored, in PostgreSQL and in the
bucket, is ciphertext until the opening (P4). The server sees each file's bytes once, in memory, while
hashing them (the SHA-256 of the plaintext is what the receipt certifies).

Submission is accepted iff the server's clock, read once every byte is persisted, is strictly before
the deadline (D14: at the deadline exactly it is late); a trigger refuses any submitted row whose time
is not (P2). It returns the receipt, signed by the platform (tenders/vault.py). Submitting the same draft
again, or with the same Idempotency-Key, returns the same receipt (G7). A new draft submitted later
supersedes the previous submission; before the deadline the vendor may also withdraw.

Object rule: an offer is its vendor's; its buyer learns nothing of it before the deadline, then how many
were received, then everything at the opening (tenders/opening.py). Anyone else: 404.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime, timedelta
from typing import IO, Any

import msgspec
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, format_paris, reading_at, real_span
from marketplace.lib.files import check_zip, inspect_zip, safe_filename, sniff
from marketplace.lib.receipt_pdf import render_receipt_pdf
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.sealing import (
    DigestingStream,
    ProtectedContractKey,
    associated_data,
    canonical_json,
    ciphertext_size,
    encrypt_stream,
    new_dek,
    wrap_dek,
)
from marketplace.tenders import schemas
from marketplace.tenders.access import invited_vendor, vendor_side
from marketplace.tenders.errors import DeadlinePassed, IdempotencyKeyReused
from marketplace.tenders.models import ContractKey, IdempotentResponse, Offer, OfferAttachment, SpecificContract
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, deadline_passed, move, require_move
from marketplace.tenders.vault import Vault
from marketplace.uploads import DocumentTooLarge, check_declared, header_filename, sniffing
from marketplace.vendors.sandbox import clock_of, dps_of
from storage import CustomerKey, ObjectMismatch, ObjectNotFound, ObjectStore, ObjectTooLarge

_NOT_FOUND = "No offer has this id."
PRESIGNED_LIFETIME = timedelta(minutes=15)
RECEIPT_PLATFORM = "Marketplace SAD — système d'acquisition dynamique ESMS numérique"


def offer_context(contract_id: uuid.UUID, offer_id: uuid.UUID) -> bytes:
    return associated_data(purpose="offer-parts", contract=contract_id, offer=offer_id)


def attachment_context(contract_id: uuid.UUID, offer_id: uuid.UUID, attachment_id: uuid.UUID, sha256: str,
                       size: int) -> bytes:
    # The recorded hash and size are bound into the wrapped key: editing either makes the key unusable (P9).
    return associated_data(purpose="offer-attachment", contract=contract_id, offer=offer_id,
                           attachment=attachment_id, sha256=sha256, size=size)


def name_context(attachment_id: uuid.UUID) -> str:
    return f"attachment-name:{attachment_id}"


def receipt_context(offer_id: uuid.UUID) -> str:
    return f"receipt:{offer_id}"


async def audit_apart(session_maker: async_sessionmaker[AsyncSession], clock: Clock, action: str, *,
                      actor: str, organisation_id: uuid.UUID | None, target_type: str, target_id: uuid.UUID,
                      details: dict[str, Any]) -> None:
    """Audit a refused act in a transaction of its own: the request's rolls back with the refusal (P8)."""
    async with session_maker() as session, session.begin():
        await audit.record(session, clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=target_id, details=details)


class OfferService:
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

    # -- the draft ---------------------------------------------------------------------------------

    async def create(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Offer:
        contract = await self.session.get(SpecificContract, contract_id)
        if contract is None:
            raise NotFound("No specific contract has this id.")
        vendor = await invited_vendor(self.session, principal, contract, *VENDOR_WRITERS)
        await self._before_deadline(contract, "offers are prepared")
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
        return await self._schema(offer, contract)

    async def set_parts(self, principal: Principal, offer_id: uuid.UUID, parts: schemas.OfferParts) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        self._draft(offer)
        await self._before_deadline(contract, "offers are prepared")
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
        return await self._schema(offer, contract)

    @staticmethod
    def _draft(offer: Offer) -> None:
        if offer.status != OfferStatus.DRAFT:
            raise Conflict(f"status: this offer is {offer.status.value}; only a draft changes (start a new "
                           "version to replace a submitted offer)", field="status")

    async def add_attachment(self, principal: Principal, offer_id: uuid.UUID, *, filename: str, declared_type: str,
                             declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.AttachmentReceipt:
        """Stream one file: sniffed, counted, hashed and sealed on the way to the bucket (P9, P11).

        `filename` is the X-Filename header as sent: UTF-8, percent-encoded."""
        assert self.store is not None
        started = self.clock.now()  # P11: the first byte's time (real), before anything is read
        filename = header_filename(filename)
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        self._draft(offer)
        await self._before_deadline(contract, "files are added")
        started = reading_at(await self._time(contract), started)  # on the contract's clock
        allowed = list(contract.attachment_types)
        label = "an offer attachment"
        # What is declared is checked before a byte is read; what is recorded is what the content shows.
        check_declared(declared_type, declared_size, allowed, contract.attachment_max_bytes, label)
        count, total = await self._usage(offer)
        if count >= contract.attachment_max_count:
            raise RuleViolation(f"body: an offer carries at most {contract.attachment_max_count} files",
                                field="body")
        budget = min(contract.attachment_max_bytes, contract.offer_max_bytes - total)
        if budget <= 0 or (declared_size is not None and declared_size > budget):
            raise DocumentTooLarge(f"body: over the {contract.offer_max_bytes}-byte limit of an offer's files",
                                   field="body", limit=contract.offer_max_bytes)
        _, public = await self._public_key(contract)
        attachment_id = uuid7()  # time-ordered, like every other id: files list in the order received
        dek = new_dek()
        # An archive is kept aside (in memory up to 1 MiB, then on disk) to read its central directory
        # once received: it is never extracted, but a bomb, a zip-slip or an encrypted one is refused (G11).
        inspected = _Inspected(sniffing(body, allowed, label))
        digest = DigestingStream(inspected)
        key = ObjectStore.new_key("offers")
        try:
            stored = await self.store.put_stream(
                key, encrypt_stream(digest, dek, associated_data(purpose="offer-file", attachment=attachment_id)),
                content_type="application/octet-stream", metadata={"offer": str(offer.id)},
                max_size=ciphertext_size(budget))
        except ObjectTooLarge as exc:
            raise DocumentTooLarge(f"body: over the {budget}-byte limit for this file", field="body",
                                   limit=budget) from exc
        try:
            if inspected.spool is not None:
                reasons = await asyncio.to_thread(_zip_refusals, inspected.spool)
                if reasons:
                    raise RuleViolation("body: this archive is refused: " + "; ".join(reasons), field="body",
                                        reasons=reasons)
            received = (await self._time(contract)).now()  # P1: after the last byte is persisted
            attachment = OfferAttachment(
                id=attachment_id, offer_id=offer.id, object_key=key,
                sealed_name=self.vault.seal(safe_filename(filename).encode(), name_context(attachment_id)),
                content_type=inspected.media_type, size=digest.size, sha256=digest.sha256,
                wrapped_dek=wrap_dek(dek, public, attachment_context(contract.id, offer.id, attachment_id,
                                                                     digest.sha256, digest.size)),
                received_started_at=started, received_at=received)
            self.session.add(attachment)
            if offer.received_started_at is None:
                offer.received_started_at = started
            await self.session.flush()
            await audit.record(self.session, self.clock, "offer.attachment_received", actor=principal.label,
                               organisation_id=offer.vendor_organisation_id, target_type="offer",
                               target_id=offer.id, details={"attachment": str(attachment_id), "size": digest.size,
                                                            "stored_size": stored.size})
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        finally:
            inspected.close()
        return self._attachment_schema(attachment, safe_filename(filename))

    async def request_upload(self, principal: Principal, offer_id: uuid.UUID,
                             data: schemas.UploadRequest) -> schemas.PresignedUpload:
        """The second way in: a presigned PUT straight to object storage, which encrypts the bytes with a
        key of the file's own (SSE-C) and refuses any but the declared ones (signed SHA-256), so the file
        never passes through the API, not even to be checked (`complete` reads only its metadata)."""
        assert self.store is not None
        real_started = self.clock.now()  # P11
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        self._draft(offer)
        await self._before_deadline(contract, "files are added")
        clock = await self._time(contract)
        started = reading_at(clock, real_started)
        count, total = await self._usage(offer)
        if count >= contract.attachment_max_count:
            raise RuleViolation(f"size: an offer carries at most {contract.attachment_max_count} files", field="size")
        budget = min(contract.attachment_max_bytes, contract.offer_max_bytes - total)
        if data.size > budget:
            raise DocumentTooLarge(f"size: over the {budget}-byte limit for this file", field="size", limit=budget)
        _, public = await self._public_key(contract)
        attachment_id = uuid7()
        sse_key = CustomerKey.generate()
        key = ObjectStore.new_key("offers")
        sha256 = data.sha256.lower()
        # The URL lives a quarter of an hour, and never past the deadline. Signed at the real time: the
        # storage server checks it against its own clock, so a sandbox's deadline is brought back to real time.
        lifetime = min(PRESIGNED_LIFETIME, real_span(clock, contract.tender_deadline - started))
        expires = real_started + lifetime
        upload = self.store.presign_upload(key, size=data.size, sha256=sha256, sse_key=sse_key, expires=lifetime)
        attachment = OfferAttachment(
            id=attachment_id, offer_id=offer.id, object_key=key,
            sealed_name=self.vault.seal(safe_filename(data.filename).encode(), name_context(attachment_id)),
            content_type="application/octet-stream", size=data.size, sha256=sha256, sealing="sse-c",
            wrapped_dek=wrap_dek(sse_key.secret, public, attachment_context(contract.id, offer.id, attachment_id,
                                                                            sha256, data.size)),
            received_started_at=started, received_at=None, upload_expires_at=expires, sse_key_md5=sse_key.md5)
        self.session.add(attachment)
        if offer.received_started_at is None:
            offer.received_started_at = started
        await self.session.flush()
        return schemas.PresignedUpload(
            attachment_id=attachment_id, method="PUT", url=upload.url, headers=dict(upload.headers),
            expires_at=expires, complete_path=f"/offers/{offer.id}/uploads/{attachment_id}/complete")

    async def complete_upload(self, principal: Principal, offer_id: uuid.UUID, attachment_id: uuid.UUID,
                              data: schemas.UploadCompletion) -> schemas.AttachmentReceipt:
        assert self.store is not None
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        self._draft(offer)
        attachment = await self.session.get(OfferAttachment, attachment_id, with_for_update=True)
        if attachment is None or attachment.offer_id != offer.id or attachment.sealing != "sse-c":
            raise NotFound("No presigned upload of this offer has this id.")
        name = self.vault.open(attachment.sealed_name, name_context(attachment.id)).decode()
        if attachment.received_at is not None:
            return self._attachment_schema(attachment, name)  # completed already: the same answer
        await self._before_deadline(contract, "files are received")
        try:
            sse_key = CustomerKey(base64.b64decode(data.key, validate=True))
        except ValueError as exc:
            raise RuleViolation("key: the base64 SSE-C key this upload was given", field="key") from exc
        if not hmac.compare_digest(sse_key.md5, attachment.sse_key_md5 or ""):
            raise RuleViolation("key: not the key this upload was given", field="key")
        try:
            stored = await self.store.verify_upload(attachment.object_key, size=attachment.size,
                                                    sha256=attachment.sha256, sse_key=sse_key)
        except ObjectNotFound as exc:
            raise Conflict("Nothing was uploaded to this URL yet.", field="upload") from exc
        except ObjectMismatch as exc:
            raise RuleViolation("upload: the stored file is not the declared size and SHA-256; it was removed",
                                field="upload") from exc
        attachment.received_at = (await self._time(contract)).now()  # P1: the file is in, verified
        attachment.sse_key_md5 = None
        await self.session.flush()
        await audit.record(self.session, self.clock, "offer.attachment_received", actor=principal.label,
                           organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                           details={"attachment": str(attachment.id), "size": stored.size, "presigned": True})
        return self._attachment_schema(attachment, name)

    async def _usage(self, offer: Offer) -> tuple[int, int]:
        row = (await self.session.execute(select(func.count(), func.coalesce(func.sum(OfferAttachment.size), 0))
                                          .where(OfferAttachment.offer_id == offer.id))).one()
        return int(row[0]), int(row[1])

    # -- submission --------------------------------------------------------------------------------

    async def submit(self, principal: Principal, offer_id: uuid.UUID,
                     idempotency_key: str | None) -> schemas.SignedReceipt:
        request_hash = hashlib.sha256(f"POST /offers/{offer_id}/submit".encode()).hexdigest()
        if idempotency_key is not None:
            replay = await self._claim(principal.label, idempotency_key, request_hash)
            if replay is not None:
                return replay
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        if offer.status == OfferStatus.SUBMITTED and offer.sealed_receipt is not None:
            receipt = self._receipt(offer)  # submitted already: the same receipt again
        else:
            receipt = await self._submit(principal, offer, contract)
        if idempotency_key is not None:
            await self.session.execute(update(IdempotentResponse).where(
                IdempotentResponse.caller == principal.label, IdempotentResponse.key == idempotency_key).values(
                status_code=200, body=msgspec.json.encode(receipt).decode()))
        return receipt

    async def _claim(self, caller: str, key: str, request_hash: str) -> schemas.SignedReceipt | None:
        """Take the key, or wait for whoever holds it and replay its answer (G7)."""
        claimed = await self.session.scalar(text(
            "INSERT INTO idempotent_response (id, caller, key, request_hash, status_code, body, created_at, "
            "updated_at) VALUES (gen_random_uuid(), :caller, :key, :hash, 0, '', now(), now()) "
            "ON CONFLICT (caller, key) DO NOTHING RETURNING id"), {"caller": caller, "key": key, "hash": request_hash})
        if claimed is not None:
            return None
        # The row committed before the insert above returned (it waited for the first request's end).
        previous = await self.session.scalar(select(IdempotentResponse).where(
            IdempotentResponse.caller == caller, IdempotentResponse.key == key))
        assert previous is not None
        if previous.request_hash != request_hash:
            raise IdempotencyKeyReused("Idempotency-Key: this key was used for another request",
                                       field="Idempotency-Key")
        return msgspec.json.decode(previous.body, type=schemas.SignedReceipt)

    async def _submit(self, principal: Principal, offer: Offer, contract: SpecificContract) -> schemas.SignedReceipt:
        self._draft(offer)
        key, _ = await self._public_key(contract)
        if offer.sealed_parts is None:
            raise RuleViolation("priceSchedule: give the offer's structured parts (PUT /offers/{id}/parts) first",
                                field="priceSchedule")
        attachments = (await self.session.scalars(select(OfferAttachment).where(
            OfferAttachment.offer_id == offer.id).order_by(OfferAttachment.received_at, OfferAttachment.id))).all()
        if any(a.received_at is None for a in attachments):
            raise Conflict("upload: a presigned upload of this offer is not completed; complete it (or start a new "
                           "version without it) before submitting", field="upload")
        # The contract row is read under a share lock: a deadline change waits for this submission's end.
        await self.session.refresh(contract, with_for_update={"read": True})
        try:
            now = await self._before_deadline(contract, "offers are received")
        except DeadlinePassed:
            if self.side_sessions is not None:
                await audit_apart(self.side_sessions, self.clock, "offer.submission_refused_late",
                                  actor=principal.label, organisation_id=offer.vendor_organisation_id,
                                  target_type="offer", target_id=offer.id,
                                  details={"specific_contract": str(contract.id),
                                           "at": (await self._time(contract)).now().isoformat(),
                                           "tender_deadline": contract.tender_deadline.isoformat(),
                                           "started_before_deadline": bool(
                                               offer.received_started_at
                                               and not deadline_passed(contract, offer.received_started_at))})
            raise
        # SUBMITTED --replace--> SUPERSEDED: the vendor's previous submission (one at most), stored before this
        # one becomes submitted (one submitted offer per vendor and contract, uq_offer_one_submitted).
        previous = await self.session.scalar(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.vendor_organisation_id == offer.vendor_organisation_id,
            Offer.status == OfferStatus.SUBMITTED).with_for_update())
        if previous is not None:
            move(previous, OfferStatus.SUPERSEDED)
            await self.session.flush()
        files = [{"id": str(a.id), "name": self.vault.open(a.sealed_name, name_context(a.id)).decode(),
                  "size": a.size, "sha256": a.sha256,
                  "receivedAt": a.received_at.isoformat() if a.received_at else None} for a in attachments]
        manifest = {"offer": str(offer.id), "version": offer.version, "files": files,
                    "partsSha256": hashlib.sha256(offer.sealed_parts).hexdigest()}
        manifest_sha256 = hashlib.sha256(canonical_json(manifest)).hexdigest()
        started = min([offer.received_started_at or now, now])
        vendor_name = await self.session.scalar(select(Organisation.name).where(
            Organisation.id == offer.vendor_organisation_id))
        receipt: dict[str, Any] = {
            "type": "marketplace.offer-receipt.v1",
            "platform": RECEIPT_PLATFORM,
            "offer": str(offer.id), "version": offer.version, "specificContract": str(contract.id),
            "vendor": {"id": str(offer.vendor_organisation_id), "name": vendor_name or ""},
            "receivedStart": started.isoformat(), "receivedEnd": now.isoformat(),
            "tenderDeadline": contract.tender_deadline.isoformat(),
            "files": [{k: f[k] for k in ("name", "size", "sha256")} for f in files],
            "manifestSha256": manifest_sha256,
            # The key the offer was sealed to: a key swapped in the database would show here.
            "contractKeyFingerprint": key.fingerprint,
        }
        dps = await dps_of(self.session, contract.dps_id)
        if dps.is_sandbox:
            # Signed with the rest: a sandbox receipt can't pass for a real one; its times are the sandbox's,
            # and the real instant of receipt is given beside them.
            receipt["sandbox"] = {"notice": NOTICE, "factor": dps.sandbox_factor,
                                  "epoch": dps.sandbox_epoch.isoformat() if dps.sandbox_epoch else None,
                                  "receivedEndRealTime": self.clock.now().isoformat()}
        signature = self.vault.signer.sign(receipt)
        move(offer, OfferStatus.SUBMITTED)
        offer.received_started_at = started
        offer.received_at = now
        offer.manifest_sha256 = manifest_sha256
        offer.sealed_receipt = self.vault.seal(json.dumps(receipt).encode(), receipt_context(offer.id))
        offer.receipt_signature = signature
        await self.session.flush()  # the deadline trigger checks the row here (P2)
        await audit.record(self.session, self.clock, "offer.submitted", actor=principal.label,
                           organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                           details={"specific_contract": str(contract.id), "version": offer.version,
                                    "received_at": now.isoformat(), "manifest_sha256": manifest_sha256})
        return schemas.SignedReceipt(receipt=receipt, signature=signature, kid=self.vault.signer.kid)

    def _receipt(self, offer: Offer) -> schemas.SignedReceipt:
        assert offer.sealed_receipt is not None and offer.receipt_signature is not None
        receipt = json.loads(self.vault.open(offer.sealed_receipt, receipt_context(offer.id)))
        return schemas.SignedReceipt(receipt=receipt, signature=offer.receipt_signature, kid=self.vault.signer.kid)

    async def receipt_pdf(self, principal: Principal, offer_id: uuid.UUID) -> bytes:
        """The receipt as a French A4 PDF that carries the signed JSON, so it verifies on its own."""
        signed = await self.receipt(principal, offer_id)
        return await asyncio.to_thread(render_receipt_pdf, signed.receipt, signed.signature,
                                       self.vault.signer.public_jwk())

    async def receipt(self, principal: Principal, offer_id: uuid.UUID) -> schemas.SignedReceipt:
        offer, _ = await self._own(principal, offer_id)
        if offer.sealed_receipt is None:
            raise NotFound("This offer has no receipt: it was never submitted.")
        return self._receipt(offer)

    async def withdraw(self, principal: Principal, offer_id: uuid.UUID) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id, lock=True, write=True)
        require_move(offer, OfferStatus.WITHDRAWN)
        await self.session.refresh(contract, with_for_update={"read": True})
        now = await self._before_deadline(contract, "offers are withdrawn")
        move(offer, OfferStatus.WITHDRAWN)
        offer.withdrawn_at = now
        await self.session.flush()
        await audit.record(self.session, self.clock, "offer.withdrawn", actor=principal.label,
                           organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                           details={"specific_contract": str(contract.id), "version": offer.version})
        return await self._schema(offer, contract)

    # -- reading -----------------------------------------------------------------------------------

    async def get(self, principal: Principal, offer_id: uuid.UUID) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id)
        return await self._schema(offer, contract)

    async def mine(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.Offer]:
        contract = await self.session.get(SpecificContract, contract_id)
        if contract is None:
            raise NotFound("No specific contract has this id.")
        vendor = await invited_vendor(self.session, principal, contract)
        rows = (await self.session.scalars(select(Offer).where(
            Offer.specific_contract_id == contract.id, Offer.vendor_organisation_id == vendor)
            .order_by(Offer.version))).all()
        return [await self._schema(o, contract) for o in rows]

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


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Inspected:
    """Passes the (already type-checked) stream through, noting the type its content shows; an archive is
    kept aside (in memory up to 1 MiB, then in a temporary file) so its central directory can be read
    once received: archives are never extracted, but bombs, zip-slips and encrypted ones are refused (G11)."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.media_type = "application/octet-stream"
        self.spool: IO[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = True
        async for chunk in self._chunks:
            if first:
                first = False
                self.media_type = sniff(chunk)  # the first chunk is the sniffed head (uploads.sniffing)
                if self.media_type == "application/zip":
                    self.spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (closed by close())
            if self.spool is not None:
                self.spool.write(chunk)
            yield chunk

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def _zip_refusals(spool: IO[bytes]) -> list[str]:
    spool.seek(0)
    return check_zip(inspect_zip(spool))
