"""What the opening's use cases share: the contract for its buying side, a refusal audited apart, the evaluation
handed in by awards/ (`Evaluation`), the released contract key and the signed opening record (P6).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE
from marketplace.lib.clamd import Clamd
from marketplace.lib.clock import Clock, format_paris
from marketplace.lib.timestamps import OPENING_RECORD
from marketplace.settings import Settings
from marketplace.tenders import schemas
from marketplace.tenders.access import for_evaluation
from marketplace.tenders.errors import OpeningRefused
from marketplace.tenders.models import ContractKey, OpeningRecord, SpecificContract
from marketplace.tenders.offers import audit_apart
from marketplace.tenders.timestamps import timestamp_for
from marketplace.tenders.vault import Vault
from storage import ObjectStore

NO_OFFER = "No offer has this id."
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


class OpeningBase:
    """The session, the clocks, the vault, the store, the scanner and the evaluation of every opening act."""

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
        """The contract for its buying side, and for the holder's people on its evaluation committee (HC3), who
        read the opened offers they score; 403 naming HC2 or HC3 to who only follows or holds it."""
        return for_evaluation(principal, await self.session.get(SpecificContract, contract_id,
                                                                with_for_update=lock or None),
                              *BUYING_SIDE)

    async def _refused(self, principal: Principal, contract: SpecificContract, reason: str,
                       detail: str, *, rule: str | None = None, **extra: Any) -> OpeningRefused:
        await audit_apart(self.side_sessions, self.clock, "specific_contract.opening_refused", actor=principal.label,
                          organisation_id=contract.buyer_organisation_id, target_type="specific_contract",
                          target_id=contract.id, details={"reason": reason, **({"rule": rule} if rule else {}),
                                                          **extra})
        return OpeningRefused(detail, reason=reason, rule=rule)

    async def _record_schema(self, record: OpeningRecord,
                             timestamp: schemas.EvidenceTimestamp | None = None) -> schemas.OpeningRecord:
        """The record with its RFC 3161 time-stamp (G4): the one given, or the one kept for it."""
        return schemas.OpeningRecord(
            id=record.id, specific_contract_id=record.specific_contract_id, opened_at=record.opened_at,
            opened_at_paris=format_paris(record.opened_at), document=record.document, signature=record.signature,
            kid=self.vault.signer.kid,
            timestamp=timestamp or await timestamp_for(self.session, OPENING_RECORD, record.id, record.document))

    async def _released_key(self, contract: SpecificContract) -> X25519PrivateKey:
        """The contract's private key, kept under the platform key since the opening."""
        key_row = await self.session.scalar(select(ContractKey).where(
            ContractKey.specific_contract_id == contract.id))
        assert key_row is not None and key_row.released_key is not None
        raw = self.vault.open(key_row.released_key, released_key_context(contract.id))
        return X25519PrivateKey.from_private_bytes(raw)
