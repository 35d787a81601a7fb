"""Before the opening the buyer learns how many offers were received, nothing more (after the deadline only);
the opening itself: the openers' passphrases together rebuild the contract key, every submitted offer is
unsealed at once, and the signed opening record is written (machine (c), D13, P6, P9, G2, G5).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE, OPENERS
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.audit import AuditEvent
from marketplace.lib.clock import format_paris
from marketplace.lib.jobs import record_job
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.sealing import (
    LockedOpenerKey,
    NotEnoughOpeners,
    ProtectedContractKey,
    SealingError,
    recover_contract_key,
)
from marketplace.lib.timestamps import OPENING_RECORD
from marketplace.tenders import schemas
from marketplace.tenders.access import CONTRACT_NOT_FOUND, buying_side, not_the_buying_side
from marketplace.tenders.deposits import open_windows, opening_entries
from marketplace.tenders.errors import NotTheBuyingSide, OffersSealed
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
from marketplace.tenders.offers import audit_apart, name_context
from marketplace.tenders.openers import contract_key_context
from marketplace.tenders.opening._base import SCAN_JOB, released_key_context
from marketplace.tenders.opening._scan import AttachmentVerdict, Scanning
from marketplace.tenders.states import OfferStatus, SpecificContractStatus, deadline_passed, move, require_move
from marketplace.tenders.timestamps import stamp_later
from marketplace.vendors.sandbox import clock_of, dps_of


class Opening(Scanning):
    """The offers received, and their opening."""

    # -- before the opening --------------------------------------------------------------------------------

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

    # -- the opening ---------------------------------------------------------------------------------------

    async def _for_opening(self, principal: Principal, contract_id: uuid.UUID) -> SpecificContract:
        """The contract, locked, for its buying side; who follows or holds it never opens it (HC2, HC3): a 403
        naming the rule, audited like every refused opening; anyone else a 404."""
        contract = await self.session.get(SpecificContract, contract_id, with_for_update=True)
        if contract is None:
            raise NotFound(CONTRACT_NOT_FOUND)
        if not buying_side(principal, contract, *BUYING_SIDE):
            refusal = not_the_buying_side(principal, contract, CONTRACT_NOT_FOUND)
            if isinstance(refusal, NotTheBuyingSide):
                raise await self._refused(principal, contract, "not-the-buying-side", refusal.detail,
                                          rule=refusal.extra["rule"])
            raise refusal
        return contract

    async def open(self, principal: Principal, contract_id: uuid.UUID,
                   data: schemas.OpeningRequest) -> schemas.OpeningRecord:
        contract = await self._for_opening(principal, contract_id)
        if not buying_side(principal, contract, *OPENERS):
            raise await self._refused(principal, contract, "not-an-opener",
                                      "Only an opener or an administrator of the buying organisation opens offers.")
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        if not deadline_passed(contract, now):  # P6 (i): now ≥ D, on the contract's clock
            raise await self._refused(principal, contract, "before-deadline",
                                      f"The offers open at the deadline, {format_paris(contract.tender_deadline)}.")
        require_move(contract, SpecificContractStatus.CLOSED_FOR_OFFERS,
                     "its offers were opened already or it was closed", error=Conflict)
        windows = await open_windows(self.session, contract, now)
        if windows:
            # D14c: a vendor admitted late may still deposit; nothing is unsealed while an offer may still come.
            until = max(w.deposit_until for w in windows)
            await audit_apart(self.side_sessions, self.clock, "specific_contract.opening_refused",
                              actor=principal.label, organisation_id=contract.buyer_organisation_id,
                              target_type="specific_contract", target_id=contract.id,
                              details={"reason": "late-deposit-window-open", "deposit_until": until.isoformat()})
            raise Conflict(f"depositUntil: a vendor admitted after the deadline may deposit until {format_paris(until)}"
                           "; the offers are opened once that window has closed", field="depositUntil",
                           rule="D14c", depositUntil=until.isoformat())
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
        # D14c: each late admission with its reasons, its journal rows and the offer received under it.
        admitted, under = await opening_entries(
            self.session, contract, [o for o in offers if o.status == OfferStatus.SUBMITTED])
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
                            **({"lateAdmission": str(under[offer.id])} if offer.id in under else {}),
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
            "lateAdmissions": admitted,
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
        # G4: the record's RFC 3161 token, fetched by a job of this transaction (retried while the TSA is down).
        timestamp = await stamp_later(self.session, self.clock, OPENING_RECORD, record.id, document)
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
        return await self._record_schema(record, timestamp)
