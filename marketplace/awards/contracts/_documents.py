"""The contract's stored documents, served to its parties through short-lived presigned URLs: each side's signed
document.
"""

from __future__ import annotations

import uuid

from marketplace.accounts.principal import Principal
from marketplace.awards.contracts._base import EXTENSIONS, ContractBase
from marketplace.awards.models import Contract
from marketplace.awards.states import SignatureSide
from marketplace.errors import NotFound
from marketplace.tenders.offers import audit_apart


class Documents(ContractBase):
    """The signed documents, read."""

    async def signed_document_url(self, principal: Principal, contract_id: uuid.UUID, side: SignatureSide) -> str:
        """A short-lived link to the document a side signed, for either party."""
        contract = await self._load(principal, contract_id, read=True)
        signature = next((s for s in await self._signatures(contract.id) if s.side is side), None)
        if signature is None:
            raise NotFound(f"The {side.value} side has not signed this contract.")
        return await self._document_url(principal, contract, signature.object_key, "contract_signature",
                                        signature.id, f"contrat-{contract.id}-signature-{side.value}"
                                                      f"{EXTENSIONS.get(signature.media_type, '.pdf')}")

    async def _document_url(self, principal: Principal, contract: Contract, key: str, target_type: str,
                            target_id: uuid.UUID, filename: str) -> str:
        assert self.store is not None and self.side_sessions is not None
        # In a transaction of its own: a redirect is no success to the request's, which rolls back.
        await audit_apart(self.side_sessions, self.clock, f"{target_type}.downloaded", actor=principal.label,
                          organisation_id=contract.buyer_organisation_id, target_type=target_type,
                          target_id=target_id, details={"contract": str(contract.id)})
        return self.store.presigned_get(key, filename=filename)
