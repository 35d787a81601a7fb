"""The contract after the award (machine (e), D18, N14).

The buyer's admin creates the contract from the live award: PENDING, with its amount and the award's
earliest signature date. Each side signs once, by its admin, with the signed document (a PDF streamed to
object storage; the row keeps key, size and SHA-256); no signature before the earliest date (D18). When
both sides have signed the contract is SIGNED, then ACTIVE once notified to the awardee; every move is
recorded in `contract_transition` and the audit log.

The funding milestones (N14: 40 % at the start, 40 % at acceptance testing, 20 % once usage is verified)
are created with the contract and validated in that order by the buyer's admin, with evidence, on an
ACTIVE contract only. Modifications (avenants) are rows appended: the signed amount stays as it was and
the current amount is the last modification's.

The contract ends two ways, each by the buyer's admin with reasons, the awardee told: before both
signatures it is abandoned (PENDING --abandon--> CANCELLED; the specific contract stays awarded, and the
buyer then declares it sans suite, awards/cancellation.py, since one contract only is made per specific
contract); once active it is terminated (ACTIVE --completed|terminated_early--> TERMINATED), "completed" only
once the three N14 milestones are validated. The reasons go on the transition row and in the audit log.

Each signature is checked offline before it is kept (G16, `marketplace.lib.esign`): a PAdES-signed PDF, a
CAdES signature enveloping the document, or an enveloped XAdES signature, each check reported (integrity,
signing time, validity and revocation at that time, chain to the trusted list, certificate category). An
unsupported format is refused (415), an invalid signature too (422), and so is a valid one whose certificate
isn't qualified while `MARKETPLACE_ESIGN_REQUIRE_QUALIFIED` holds (the default: the arrêté of 22 March 2019,
art. 5, asks public contracts for an advanced signature based on a qualified certificate). A refusal names the
failing check and is audited in a transaction of its own; an accepted signature keeps its report, shown with
the contract.

The contract row is locked (`FOR UPDATE`) by every write, so two signatures or validations at once queue
and the second sees the first; unique constraints back it at the database. The signature locks the specific
contract's row before the contract's, as the cancellation does, since the last signature writes both.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import AsyncIterable
from datetime import datetime
from typing import Any

import anyio.to_thread
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.errors import (
    AlreadySigned,
    ContractStage,
    MilestoneOutOfOrder,
    MilestonesPending,
    SignatureInvalid,
    SignatureTooEarly,
    SignatureUnsupported,
)
from marketplace.awards.models import (
    Award,
    Contract,
    ContractMilestone,
    ContractModification,
    ContractSignature,
    ContractTransition,
)
from marketplace.awards.states import (
    CONTRACT_MOVES,
    AwardStatus,
    ContractEnd,
    ContractStatus,
    MilestoneKind,
    SignatureSide,
    award_status,
    contract_allows,
    split_amount,
)
from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.lib import audit, esign
from marketplace.lib.clock import Clock, format_paris
from marketplace.notifications.sending import NotificationService
from marketplace.tenders.access import buying_side, for_buying_side, party, vendor_side
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import SpecificContract
from marketplace.tenders.offers import audit_apart
from marketplace.tenders.states import SpecificContractStatus, move
from marketplace.uploads import check_declared, read_limited, store_upload
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
_EXTENSIONS = {"application/pdf": ".pdf", "application/pkcs7-signature": ".p7s", "application/pkcs7-mime": ".p7m",
               "application/xml": ".xml", "text/xml": ".xml"}
_NOT_FOUND = "No contract has this id."
_SIDE_FR = {SignatureSide.BUYER: "acheteuse", SignatureSide.VENDOR: "titulaire"}
_SIDE_ROLES = {SignatureSide.BUYER: [Role.BUYER_ADMIN.value], SignatureSide.VENDOR: VENDOR_WRITERS}


class ContractService:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None,
                 signatures: esign.SignaturePolicy | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        self.signature_policy = signatures or esign.SignaturePolicy()
        self.side_sessions = side_sessions
        self.notifications = NotificationService(session, clock)

    # -- loading -------------------------------------------------------------------------------------

    async def _load(self, principal: Principal, contract_id: uuid.UUID, *, lock: bool = False) -> Contract:
        """The contract, if the caller belongs to its buying organisation or to the awardee (else 404)."""
        query = select(Contract).where(Contract.id == contract_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        contract = await self.session.scalar(query)
        if contract is None or not party(principal, contract):
            raise NotFound(_NOT_FOUND)
        return contract

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

    # -- creation ------------------------------------------------------------------------------------

    async def create(self, principal: Principal, specific_contract_id: uuid.UUID,
                     data: schemas.ContractCreate) -> schemas.Contract:
        specific = await self.session.scalar(select(SpecificContract).where(
            SpecificContract.id == specific_contract_id).with_for_update().execution_options(populate_existing=True))
        specific = for_buying_side(principal, specific)
        if not buying_side(principal, specific, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation creates the contract.")
        award = await self.session.scalar(select(Award).where(
            Award.specific_contract_id == specific.id,
            Award.status.in_([AwardStatus.STANDSTILL, AwardStatus.ACTIVE])))
        if award is None:
            raise WrongStage(f"status: the specific contract is {specific.status.value}; the contract follows "
                             "the award", field="status", rule="G8")
        if await self.session.scalar(select(Contract.id).where(Contract.specific_contract_id == specific.id)):
            raise Conflict("This specific contract has its contract already: one per specific contract.",
                           field="specificContractId")
        now = dps_clock(self.clock, await dps_of(self.session, specific.dps_id)).now()
        award.status = award_status(award.status, award.earliest_signature_at, now)
        contract = Contract(specific_contract_id=specific.id, award_id=award.id,
                            buyer_organisation_id=specific.buyer_organisation_id,
                            vendor_organisation_id=award.vendor_organisation_id, status=ContractStatus.PENDING,
                            amount_cents=data.amount_cents, earliest_sign_at=award.earliest_signature_at,
                            created_by=principal.label)
        self.session.add(contract)
        await self.session.flush()
        self.session.add(ContractTransition(contract_id=contract.id, from_status=None,
                                            to_status=ContractStatus.PENDING.value, action="create",
                                            actor=principal.label, at=await self._now(contract)))
        self.session.add_all([ContractMilestone(contract_id=contract.id, kind=kind, position=position,
                                                percent=percent, amount_cents=cents)
                              for position, (kind, percent, cents) in enumerate(split_amount(data.amount_cents), 1)])
        await self.session.flush()
        await self._audit(principal, contract, "contract.created", "contract", contract.id,
                          amount_cents=contract.amount_cents, earliest_sign_at=contract.earliest_sign_at.isoformat())
        return await self._schema(contract)

    # -- signatures ----------------------------------------------------------------------------------

    async def sign(self, principal: Principal, contract_id: uuid.UUID, *, declared_type: str,
                   declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.Contract:
        # Lock order: the specific contract's row, then the contract's, as the cancellation (sans suite) takes
        # them; the last signature writes both rows.
        unlocked = await self._load(principal, contract_id)
        await self.session.execute(select(SpecificContract.id).where(
            SpecificContract.id == unlocked.specific_contract_id).with_for_update())
        contract = await self._load(principal, contract_id, lock=True)
        if buying_side(principal, contract, Role.BUYER_ADMIN):
            side = SignatureSide.BUYER
        elif vendor_side(principal, contract, Role.VENDOR_ADMIN):
            side = SignatureSide.VENDOR
        else:
            raise Forbidden("An administrator of the buying organisation or of the awardee signs the contract.")
        if not contract_allows("sign", contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; it is signed while pending",
                                field="status")
        now = await self._now(contract)  # D18 on the contract's clock
        if now < contract.earliest_sign_at:
            raise SignatureTooEarly(f"The contract can't be signed before {format_paris(contract.earliest_sign_at)} "
                                    "(standstill period, D18).", field="earliestSignAt", rule="D18")
        # The standstill is over: the award row catches up with what every read derives (states.award_status).
        award = await self.session.get(Award, contract.award_id, with_for_update=True)
        if award is not None:
            award.status = award_status(award.status, award.earliest_signature_at, now)
        signatures = {s.side: s for s in await self._signatures(contract.id)}
        if side in signatures:
            raise AlreadySigned(f"The {side.value} side has signed this contract already.", field="side")
        media_type = check_declared(declared_type, declared_size, list(SIGNATURE_TYPES), DOCUMENT_MAX_BYTES,
                                    "a signed contract")
        data = await read_limited(body, DOCUMENT_MAX_BYTES, "a signed contract")
        report = await self._verified(principal, contract, side, media_type, data)
        assert self.store is not None
        key = ObjectStore.new_key("contracts")
        stored = await self.store.put_bytes(key, data, content_type=media_type,
                                            metadata={"contract": str(contract.id)})
        size, sha256 = stored.size, stored.sha256
        try:
            row = ContractSignature(contract_id=contract.id, side=side, signed_by=principal.label, signed_at=now,
                                    object_key=key, size=size, sha256=sha256, media_type=media_type,
                                    verification=msgspec.to_builtins(report))
            self.session.add(row)
            await self.session.flush()
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        await self._audit(principal, contract, "contract.signature_added", "contract_signature", row.id,
                          side=side.value, sha256=sha256, size=size, format=report.format.value,
                          category="qualified" if report.qualified else "not_qualified",
                          signers=[s.identity.subject for s in report.signatures if s.identity])
        other = SignatureSide.VENDOR if side is SignatureSide.BUYER else SignatureSide.BUYER
        await self._tell(contract, other, "contract.signed", "Marché : signature de l'autre partie",
                         f"Le marché a été signé par la partie {_SIDE_FR[side]} le {format_paris(now)}.")
        if len(signatures) + 1 == len(SignatureSide):
            await self._move(principal, contract, "signed_by_all", ContractStatus.SIGNED)
            await self._tell(contract, SignatureSide.VENDOR, "contract.notified", "Notification du marché",
                             "Le marché, signé par les deux parties, vous est notifié : il est exécutoire.")
            await self._move(principal, contract, "notified", ContractStatus.ACTIVE)
            specific = await self.session.get(SpecificContract, contract.specific_contract_id)
            if specific is not None:
                move(specific, SpecificContractStatus.CONTRACTED)
                await self.session.flush()
        return await self._schema(contract)

    async def _verified(self, principal: Principal, contract: Contract, side: SignatureSide, media_type: str,
                        data: bytes) -> esign.SignatureReport:
        """G16: the signature checked offline (in a thread: parsing and hashing a large PDF is CPU work); a
        refusal is audited apart, since the request's transaction rolls back with it."""
        policy = self.signature_policy
        report = await anyio.to_thread.run_sync(functools.partial(esign.verify, data, policy.trust))
        refusal = _refusal(report, media_type, require_qualified=policy.require_qualified)
        if refusal is None:
            return report
        if self.side_sessions is not None:
            await audit_apart(self.side_sessions, self.clock, "contract.signature_refused", actor=principal.label,
                              organisation_id=contract.buyer_organisation_id, target_type="contract",
                              target_id=contract.id, details={
                                  "contract": str(contract.id), "specific_contract": str(contract.specific_contract_id),
                                  "side": side.value, "media_type": media_type, "size": len(data),
                                  "sha256": hashlib.sha256(data).hexdigest(), "rule": "G16",
                                  "check": refusal.extra.get("check"), "detail": refusal.detail})
        raise refusal

    async def _signatures(self, contract_id: uuid.UUID) -> list[ContractSignature]:
        return list((await self.session.scalars(select(ContractSignature).where(
            ContractSignature.contract_id == contract_id).order_by(ContractSignature.signed_at,
                                                                   ContractSignature.id))).all())

    # -- N14: milestones -----------------------------------------------------------------------------

    async def validate_milestone(self, principal: Principal, contract_id: uuid.UUID, kind: MilestoneKind, *,
                                 declared_type: str, declared_size: int | None,
                                 body: AsyncIterable[bytes]) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "validates a milestone")
        if not contract_allows("validate_milestone", contract.status):
            raise MilestoneOutOfOrder(f"status: the contract is {contract.status.value}; milestones are validated "
                                      "on an active contract", field="status", rule="N14")
        milestones = await self._milestones(contract.id)
        milestone = next(m for m in milestones if m.kind == kind)
        if milestone.validated_at is not None:
            raise MilestoneOutOfOrder(f"The milestone {kind.value} is validated already.", field="kind", rule="N14")
        pending = [m.kind.value for m in milestones if m.position < milestone.position and m.validated_at is None]
        if pending:
            raise MilestoneOutOfOrder(f"The milestone {kind.value} comes after {', '.join(pending)}, not validated "
                                      "yet (funding schedule 40/40/20).", field="kind", rule="N14")
        key, size, sha256 = await self._upload(contract, "a milestone's evidence", declared_type, declared_size,
                                               body)
        try:
            milestone.validated_by, milestone.validated_at = principal.label, await self._now(contract)
            milestone.object_key, milestone.evidence_size, milestone.evidence_sha256 = key, size, sha256
            await self.session.flush()
        except BaseException:
            assert self.store is not None
            await self.store.delete(key)
            raise
        await self._audit(principal, contract, "contract.milestone_validated", "contract_milestone", milestone.id,
                          kind=kind.value, amount_cents=milestone.amount_cents, sha256=sha256)
        await self._tell(contract, SignatureSide.VENDOR, "contract.milestone_validated",
                         "Marché : jalon de paiement validé",
                         f"Le jalon « {kind.value} » ({milestone.percent} %, {milestone.amount_cents} centimes) "
                         "est validé par l'acheteur.")
        return await self._schema(contract)

    async def _milestones(self, contract_id: uuid.UUID) -> list[ContractMilestone]:
        return list((await self.session.scalars(select(ContractMilestone).where(
            ContractMilestone.contract_id == contract_id).order_by(ContractMilestone.position))).all())

    # -- the ends: abandoned before signature, terminated once active ---------------------------------

    async def abandon(self, principal: Principal, contract: Contract, reasons: str, *,
                      sans_suite: bool = False) -> None:
        """PENDING --abandon--> CANCELLED on a contract the caller locked; the awardee is told."""
        if not contract_allows("abandon", contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only a contract awaiting its "
                                "signatures is abandoned", field="status")
        await self._move(principal, contract, "abandon", CONTRACT_MOVES["abandon"][1], reasons=reasons,
                         sans_suite=sans_suite)
        why = "Le marché spécifique est déclaré sans suite." if sans_suite else ""
        await self._tell(contract, SignatureSide.VENDOR, "contract.cancelled", "Marché abandonné avant signature",
                         f"Le marché, en attente de signature, est abandonné par l'acheteur. {why}\n"
                         f"Motifs : {reasons}")

    async def cancel(self, principal: Principal, contract_id: uuid.UUID,
                     data: schemas.ContractCancellation) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "abandons the contract")
        await self.abandon(principal, contract, data.reasons)
        return await self._schema(contract)

    async def terminate(self, principal: Principal, contract_id: uuid.UUID,
                        data: schemas.ContractTermination) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "terminates the contract")
        action = data.kind.value
        if not contract_allows(action, contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only an active contract is "
                                "terminated", field="status")
        if data.kind is ContractEnd.COMPLETED:
            pending = [m.kind.value for m in await self._milestones(contract.id) if m.validated_at is None]
            if pending:
                raise MilestonesPending(f"N14: the contract is completed once every funding milestone is validated; "
                                        f"not yet: {', '.join(pending)}.", field="kind", rule="N14",
                                        pending=pending)
        await self._move(principal, contract, action, CONTRACT_MOVES[action][1], reasons=data.reasons)
        what = ("est terminé : exécution achevée" if data.kind is ContractEnd.COMPLETED
                else "est résilié avant son terme")
        await self._tell(contract, SignatureSide.VENDOR, f"contract.{action}", "Fin du marché",
                         f"Le marché {what}.\nMotifs : {data.reasons}")
        return await self._schema(contract)

    # -- modifications -------------------------------------------------------------------------------

    async def modify(self, principal: Principal, contract_id: uuid.UUID,
                     data: schemas.ModificationCreate) -> schemas.Contract:
        contract = await self._load(principal, contract_id, lock=True)
        self._buyer_admin(principal, contract, "modifies the contract")
        if not contract_allows("modification", contract.status):
            raise ContractStage(f"status: the contract is {contract.status.value}; only an active contract is "
                                "modified", field="status")
        previous = await self._current_amount(contract)
        row = ContractModification(contract_id=contract.id, reason=data.reason, previous_amount_cents=previous,
                                   amount_cents=data.amount_cents, modified_by=principal.label,
                                   modified_at=await self._now(contract))
        self.session.add(row)
        await self.session.flush()
        await self._audit(principal, contract, "contract.modified", "contract_modification", row.id,
                          previous_amount_cents=previous, amount_cents=data.amount_cents)
        await self._tell(contract, SignatureSide.VENDOR, "contract.modified", "Marché : avenant",
                         f"Un avenant modifie le montant du marché : {previous} → {data.amount_cents} centimes.\n"
                         f"{data.reason}")
        return await self._schema(contract)

    async def _modifications(self, contract_id: uuid.UUID) -> list[ContractModification]:
        return list((await self.session.scalars(select(ContractModification).where(
            ContractModification.contract_id == contract_id).order_by(
            ContractModification.modified_at, ContractModification.created_at, ContractModification.id))).all())

    async def _current_amount(self, contract: Contract) -> int:
        modifications = await self._modifications(contract.id)
        return modifications[-1].amount_cents if modifications else contract.amount_cents

    # -- reading -------------------------------------------------------------------------------------

    async def signed_document_url(self, principal: Principal, contract_id: uuid.UUID, side: SignatureSide) -> str:
        """A short-lived link to the document a side signed, for either party."""
        contract = await self._load(principal, contract_id)
        signature = next((s for s in await self._signatures(contract.id) if s.side is side), None)
        if signature is None:
            raise NotFound(f"The {side.value} side has not signed this contract.")
        return await self._document_url(principal, contract, signature.object_key, "contract_signature",
                                        signature.id, f"contrat-{contract.id}-signature-{side.value}"
                                                      f"{_EXTENSIONS.get(signature.media_type, '.pdf')}")

    async def evidence_url(self, principal: Principal, contract_id: uuid.UUID, kind: MilestoneKind) -> str:
        """A short-lived link to the evidence a milestone was validated on, for either party."""
        contract = await self._load(principal, contract_id)
        milestone = next((m for m in await self._milestones(contract.id) if m.kind is kind), None)
        if milestone is None or milestone.object_key is None:
            raise NotFound(f"The {kind.value} milestone of this contract is not validated.")
        return await self._document_url(principal, contract, milestone.object_key, "contract_milestone",
                                        milestone.id, f"contrat-{contract.id}-{kind.value}.pdf")

    async def _document_url(self, principal: Principal, contract: Contract, key: str, target_type: str,
                            target_id: uuid.UUID, filename: str) -> str:
        assert self.store is not None and self.side_sessions is not None
        # In a transaction of its own: a redirect is no success to the request's, which rolls back.
        await audit_apart(self.side_sessions, self.clock, f"{target_type}.downloaded", actor=principal.label,
                          organisation_id=contract.buyer_organisation_id, target_type=target_type,
                          target_id=target_id, details={"contract": str(contract.id)})
        return self.store.presigned_get(key, filename=filename)

    async def get(self, principal: Principal, contract_id: uuid.UUID) -> schemas.Contract:
        return await self._schema(await self._load(principal, contract_id))

    async def _schema(self, contract: Contract) -> schemas.Contract:
        modifications = await self._modifications(contract.id)
        transitions = (await self.session.scalars(select(ContractTransition).where(
            ContractTransition.contract_id == contract.id).order_by(
            ContractTransition.at, ContractTransition.created_at, ContractTransition.id))).all()
        return schemas.Contract(
            id=contract.id, specific_contract_id=contract.specific_contract_id, award_id=contract.award_id,
            buyer_organisation_id=contract.buyer_organisation_id,
            vendor_organisation_id=contract.vendor_organisation_id, status=contract.status,
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
                        for s in await self._signatures(contract.id)],
            milestones=[schemas.ContractMilestone(kind=m.kind, position=m.position, percent=m.percent,
                                                  amount_cents=m.amount_cents, validated_by=m.validated_by,
                                                  validated_at=m.validated_at, evidence_size=m.evidence_size,
                                                  evidence_sha256=m.evidence_sha256,
                                                  evidence_path=f"/contracts/{contract.id}/milestones/"
                                                                f"{m.kind.value}/evidence" if m.object_key else None)
                        for m in await self._milestones(contract.id)],
            modifications=[schemas.ContractModification(id=m.id, reason=m.reason,
                                                        previous_amount_cents=m.previous_amount_cents,
                                                        amount_cents=m.amount_cents, modified_by=m.modified_by,
                                                        modified_at=m.modified_at) for m in modifications],
            transitions=[schemas.ContractTransition(from_status=t.from_status, to_status=t.to_status,
                                                    action=t.action, at=t.at, reasons=t.reasons)
                         for t in transitions],
            sandbox=(await self._dps(contract)).is_sandbox)


def _refusal(report: esign.SignatureReport, media_type: str, *, require_qualified: bool) -> DomainError | None:
    """G16: why this signature is refused, naming the failing check; None when it is accepted."""
    verification = msgspec.to_builtins(report)
    if report.verdict is esign.Verdict.UNSUPPORTED:
        return SignatureUnsupported(f"body: {report.detail} (G16: PAdES, CAdES or XAdES)", field="body",
                                    rule="G16", check="format", verification=verification)
    if report.format is not SIGNATURE_TYPES[media_type]:
        return SignatureUnsupported(f"body: the content is a {report.format.value} signature, declared as "
                                    f"{media_type} (G16)", field="body", rule="G16", check="format",
                                    verification=verification)
    if report.verdict is esign.Verdict.INVALID:
        return SignatureInvalid(f"body: {report.detail} (G16)", field="body", rule="G16",
                                check=report.failed_check, verification=verification)
    if require_qualified and not report.qualified:
        return SignatureInvalid("body: the signature is valid but its certificate is not qualified; a public "
                                "contract is signed with an advanced signature based on a qualified certificate "
                                "(arrêté du 22 mars 2019, art. 5; G16)", field="body", rule="G16",
                                check="category", verification=verification)
    return None
