"""The contract's stored documents, served to its parties through short-lived presigned URLs: each side's signed
document and each milestone's evidence.
"""

from __future__ import annotations

import uuid

from marketplace.accounts.principal import Principal
from marketplace.awards.contracts._base import EXTENSIONS, ContractBase
from marketplace.awards.models import Contract
from marketplace.awards.states import MilestoneKind, SignatureSide
from marketplace.errors import NotFound
from marketplace.tenders.offers import audit_apart


class Documents(ContractBase):
    """The signed documents and the milestones' evidence, read."""

    async def signed_document_url(self, principal: Principal, contract_id: uuid.UUID, side: SignatureSide) -> str:
        """A short-lived link to the document a side signed, for either party."""
        contract = await self._load(principal, contract_id, read=True)
        signature = next((s for s in await self._signatures(contract.id) if s.side is side), None)
        if signature is None:
            raise NotFound(f"The {side.value} side has not signed this contract.")
        return await self._document_url(principal, contract, signature.object_key, "contract_signature",
                                        signature.id, f"contrat-{contract.id}-signature-{side.value}"
                                                      f"{EXTENSIONS.get(signature.media_type, '.pdf')}")

    async def evidence_url(self, principal: Principal, contract_id: uuid.UUID, kind: MilestoneKind) -> str:
        """A short-lived link to the evidence a milestone was validated on, for either party."""
        contract = await self._load(principal, contract_id, read=True)
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
