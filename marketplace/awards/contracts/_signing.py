"""Each side's signature (machine (e) PENDING → SIGNED → ACTIVE; D18, G16): once per side, by its admin (HC4: the
buyer's side is the specific contract's buyer, the holder in intermediation, whose admin signs; the other is the
awardee's), not before the earliest signature date, checked offline before it is kept; a refusal names the
failing check and is audited apart.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import AsyncIterable

import anyio.to_thread
import msgspec
from sqlalchemy import select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.awards import schemas
from marketplace.awards.contracts._base import DOCUMENT_MAX_BYTES, SIDE_FR, SIGNATURE_TYPES, ContractBase
from marketplace.awards.errors import (
    AlreadySigned,
    ContractStage,
    SignatureInvalid,
    SignatureTooEarly,
    SignatureUnsupported,
)
from marketplace.awards.models import Award, Contract, ContractSignature
from marketplace.awards.states import ContractStatus, SignatureSide, award_status, contract_allows
from marketplace.errors import DomainError, Forbidden
from marketplace.lib import esign
from marketplace.lib.clock import format_paris
from marketplace.tenders.access import buying_side, vendor_side
from marketplace.tenders.models import SpecificContract
from marketplace.tenders.offers import audit_apart
from marketplace.tenders.states import SpecificContractStatus, move
from marketplace.uploads import check_declared, read_limited
from storage import ObjectStore


class Signing(ContractBase):
    """The signatures of the contract."""

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
            raise Forbidden("HC4: the parties sign, each by its administrator: the buyer of the specific contract (the "
                            "holder in intermediation) and the awardee.", rule="HC4")
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
                         f"Le marché a été signé par la partie {SIDE_FR[side]} le {format_paris(now)}.")
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
        refusal = signature_refusal(report, media_type, require_qualified=policy.require_qualified)
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


def signature_refusal(report: esign.SignatureReport, media_type: str, *,
                      require_qualified: bool) -> DomainError | None:
    """G16: why this signature is refused, naming the failing check; None when it is accepted. Also how a SONS
    order's client signature is judged (sons/)."""
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
