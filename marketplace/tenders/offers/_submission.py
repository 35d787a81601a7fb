"""Submission and withdrawal (machine (d): DRAFT → SUBMITTED, SUBMITTED → SUPERSEDED | WITHDRAWN; D14, P2, G7):
strictly before the deadline, on the contract's clock; the signed receipt, replayed for the same
Idempotency-Key, and its PDF.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import uuid
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.audit import AuditEvent
from marketplace.lib.jobs import JobIntent
from marketplace.lib.receipt_pdf import render_receipt_pdf
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.sealing import canonical_json
from marketplace.lib.timestamps import OFFER_RECEIPT
from marketplace.tenders import schemas
from marketplace.tenders.errors import DeadlinePassed, IdempotencyKeyReused
from marketplace.tenders.models import IdempotentResponse, Offer, OfferAttachment, SpecificContract
from marketplace.tenders.offers._base import Deposit, OfferBase, audit_apart
from marketplace.tenders.offers._contexts import name_context, receipt_context
from marketplace.tenders.states import OfferStatus, deadline_passed, move, require_move
from marketplace.tenders.timestamps import stamp_later_values, timestamp_for

RECEIPT_PLATFORM = "Marketplace SAD — système d'acquisition dynamique ESMS numérique"


# Built once: a submission's statements are built per request otherwise, a tenth of a millisecond each.
_ATTACHMENTS = (select(OfferAttachment).where(OfferAttachment.offer_id == bindparam("offer_id"))
                .order_by(OfferAttachment.received_at, OfferAttachment.id))
_SUBMITTED = (select(Offer).where(Offer.specific_contract_id == bindparam("contract_id"),
                                  Offer.vendor_organisation_id == bindparam("vendor_id"),
                                  Offer.status == OfferStatus.SUBMITTED).with_for_update())


def _named(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{name}": value for name, value in values.items()}


def _submit_statement() -> Any:
    """The writes of a submission in one round trip: the offer's UPDATE, the time-stamp job's and the audit event's
    INSERTs, as data-modifying CTEs of one statement. Its values are bound by column, prefixed by table
    (`_named`). Three statements cost three round trips to PostgreSQL and the ORM's flush of the offer, a third of
    a submission's CPU (bench/RESULTS.md, issue 19)."""
    offer, job, event = (cast(Table, model.__table__) for model in (Offer, JobIntent, AuditEvent))

    def bound(table: Table, prefix: str, columns: tuple[str, ...]) -> dict[str, Any]:
        return {c: bindparam(f"{prefix}_{c}", type_=table.c[c].type) for c in columns}

    written = bound(offer, "offer", ("status", "received_started_at", "received_at", "manifest_sha256",
                                     "sealed_receipt", "receipt_signature", "updated_at"))
    submitted = (update(offer).where(offer.c.id == bindparam("offer_id", type_=offer.c.id.type)).values(written)
                 .returning(offer.c.id).cte("submitted"))
    intent = insert(job).values(bound(job, "job", ("id", "name", "args", "status", "available_at",
                                                    "relay_attempts", "created_at", "updated_at"))).cte("intent")
    logged = insert(event).values(bound(event, "event", audit.INSERTED)).cte("logged")
    return select(submitted.c.id).add_cte(intent, logged)


_SUBMIT = _submit_statement()


class Submission(OfferBase):
    """Submission, its receipt, and withdrawal before the deadline."""

    async def submit(self, principal: Principal, offer_id: uuid.UUID,
                     idempotency_key: str | None) -> schemas.SignedReceipt:
        request_hash = hashlib.sha256(f"POST /offers/{offer_id}/submit".encode()).hexdigest()
        if idempotency_key is not None:
            replay = await self._claim(principal.label, idempotency_key, request_hash)
            if replay is not None:
                return replay
        async with self.journal.attempt(principal, "offer.submit") as attempt:
            offer, contract, deposit = await self._own_for_deposit(principal, offer_id, attempt)
            if offer.status == OfferStatus.SUBMITTED and offer.sealed_receipt is not None:
                receipt = await self._receipt(offer)  # submitted already: the same receipt again
            else:
                receipt = await self._submit(principal, offer, contract, deposit)
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

    async def _submit(self, principal: Principal, offer: Offer, contract: SpecificContract,
                      deposit: Deposit) -> schemas.SignedReceipt:
        self._draft(offer)
        key, _ = await self._public_key(contract, deposit.key)
        if offer.sealed_parts is None:
            raise RuleViolation("priceSchedule: give the offer's structured parts (PUT /offers/{id}/parts) first",
                                field="priceSchedule")
        attachments = (await self.session.scalars(_ATTACHMENTS, {"offer_id": offer.id})).all()
        if any(a.received_at is None for a in attachments):
            raise Conflict("upload: a presigned upload of this offer is not completed; complete it (or start a new "
                           "version without it) before submitting", field="upload")
        dps = deposit.dps
        try:
            window = await self._window(contract, "offers are received", offer.vendor_organisation_id)
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
        now = window.now
        # SUBMITTED --replace--> SUPERSEDED: the vendor's previous submission (one at most), stored before this
        # one becomes submitted (one submitted offer per vendor and contract, uq_offer_one_submitted).
        previous = await self.session.scalar(_SUBMITTED, {"contract_id": contract.id,
                                                          "vendor_id": offer.vendor_organisation_id})
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
        receipt: dict[str, Any] = {
            "type": "marketplace.offer-receipt.v1",
            "platform": RECEIPT_PLATFORM,
            "offer": str(offer.id), "version": offer.version, "specificContract": str(contract.id),
            "vendor": {"id": str(offer.vendor_organisation_id), "name": deposit.vendor_name},
            "receivedStart": started.isoformat(), "receivedEnd": now.isoformat(),
            "tenderDeadline": contract.tender_deadline.isoformat(),
            "files": [{k: f[k] for k in ("name", "size", "sha256")} for f in files],
            "manifestSha256": manifest_sha256,
            # The key the offer was sealed to: a key swapped in the database would show here.
            "contractKeyFingerprint": key.fingerprint,
        }
        if window.admission is not None:
            # D14c: received after the deadline under the buying side's late admission, signed with the rest.
            receipt["lateAdmission"] = {"id": str(window.admission.id),
                                        "depositUntil": window.admission.deposit_until.isoformat()}
        if dps.is_sandbox:
            # Signed with the rest: a sandbox receipt can't pass for a real one; its times are the sandbox's,
            # and the real instant of receipt is given beside them.
            receipt["sandbox"] = {"notice": NOTICE, "factor": dps.sandbox_factor,
                                  "epoch": dps.sandbox_epoch.isoformat() if dps.sandbox_epoch else None,
                                  "receivedEndRealTime": self.clock.now().isoformat()}
        signature = self.vault.signer.sign(receipt)
        require_move(offer, OfferStatus.SUBMITTED)
        submitted = {"status": OfferStatus.SUBMITTED, "received_started_at": started, "received_at": now,
                     "manifest_sha256": manifest_sha256,
                     "sealed_receipt": self.vault.seal(json.dumps(receipt).encode(), receipt_context(offer.id)),
                     "receipt_signature": signature, "updated_at": self.clock.now()}
        # G4: the receipt is issued now, signed; its RFC 3161 token is fetched by a job of this same transaction,
        # retried while the TSA is down: a TSA that does not answer never costs a submission.
        job, timestamp = stamp_later_values(self.clock, OFFER_RECEIPT, offer.id, receipt)
        event = audit.event_values(self.clock, "offer.submitted", actor=principal.label,
                                   organisation_id=offer.vendor_organisation_id, target_type="offer",
                                   target_id=offer.id,
                                   details={"specific_contract": str(contract.id), "version": offer.version,
                                            "received_at": now.isoformat(), "manifest_sha256": manifest_sha256})
        # The offer submitted, its time-stamp job and its audit event in one statement (`_SUBMIT`); the deadline
        # trigger checks the offer's row there (P2), and the event is linked to the chain at the commit.
        # One row: the offer is locked since `_own_for_deposit`; none would fail the act, job and event with it.
        (await self.session.execute(_SUBMIT, {"offer_id": offer.id, **_named("offer", submitted),
                                              **_named("job", job), **_named("event", event)})).scalar_one()
        for name, value in submitted.items():  # as written: nothing left for the ORM to flush
            set_committed_value(offer, name, value)
        return schemas.SignedReceipt(receipt=receipt, signature=signature, kid=self.vault.signer.kid,
                                     timestamp=timestamp)

    async def _receipt(self, offer: Offer) -> schemas.SignedReceipt:
        assert offer.sealed_receipt is not None and offer.receipt_signature is not None
        receipt = json.loads(self.vault.open(offer.sealed_receipt, receipt_context(offer.id)))
        return schemas.SignedReceipt(receipt=receipt, signature=offer.receipt_signature, kid=self.vault.signer.kid,
                                     timestamp=await timestamp_for(self.session, OFFER_RECEIPT, offer.id, receipt))

    async def receipt_pdf(self, principal: Principal, offer_id: uuid.UUID) -> bytes:
        """The receipt as a French A4 PDF that carries the signed JSON, so it verifies on its own."""
        signed = await self.receipt(principal, offer_id)
        stamp = signed.timestamp
        token = (base64.b64decode(stamp.token), stamp.gen_time) \
            if stamp is not None and stamp.token is not None and stamp.gen_time is not None else None
        return await asyncio.to_thread(functools.partial(
            render_receipt_pdf, signed.receipt, signed.signature, self.vault.signer.public_jwk(), timestamp=token))

    async def receipt(self, principal: Principal, offer_id: uuid.UUID) -> schemas.SignedReceipt:
        offer, _ = await self._own(principal, offer_id)
        if offer.sealed_receipt is None:
            raise NotFound("This offer has no receipt: it was never submitted.")
        return await self._receipt(offer)

    async def withdraw(self, principal: Principal, offer_id: uuid.UUID) -> schemas.Offer:
        offer, contract = await self._own(principal, offer_id, lock=True, write=True, share_contract=True)
        require_move(offer, OfferStatus.WITHDRAWN)
        now = await self._before_deadline(contract, "offers are withdrawn")
        move(offer, OfferStatus.WITHDRAWN)
        offer.withdrawn_at = now
        await self.session.flush()
        await audit.record(self.session, self.clock, "offer.withdrawn", actor=principal.label,
                           organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                           details={"specific_contract": str(contract.id), "version": offer.version})
        return await self._schema(offer, contract)
