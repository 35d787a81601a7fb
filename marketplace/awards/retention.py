"""Offer data purged once its retention has run (G18; GDPR Art. 5(1)(e), storage limitation).

The code de la commande publique (R2184-12) has the buyer keep the offers at least five years from the signature
of the contract. Once those five years have run, to the instant (29 February signs end on 1 March), the content
of every offer of that specific contract goes: its sealed parts and its files (their rows, then their objects).
What stays is what proves the procedure, none of it the offers' content:

- the awardee's offer, which the signed contract incorporates: it is kept with the contract's own archives, not
  under this rule;
- each offer's receipt (its server times, the manifest's SHA-256, the platform's signature, the sealed receipt),
  the opening record, the evaluation and the award, and the audit chain (append-only, P8);
- each purge is itself an audit event (`offer.purged`), naming the offer, its signature date and how many files
  went.

A specific contract whose contract was never signed (unsuccessful, cancelled) has no signature date: its offers
are not purged by this rule.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.awards.models import Award, Contract, ContractTransition
from marketplace.awards.states import ContractStatus
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.tenders.models import Offer, OfferAttachment
from storage import ObjectStore, StorageError

log = logging.getLogger("marketplace.awards.retention")

RETENTION_YEARS = 5


def retention_ends(signed_at: datetime, years: int = RETENTION_YEARS) -> datetime:
    """The instant the retention of a contract signed at `signed_at` ends: the same date and time `years` later
    (a 29 February signature ends on 1 March, the day after the 28th)."""
    try:
        return signed_at.replace(year=signed_at.year + years)
    except ValueError:
        return signed_at.replace(year=signed_at.year + years, month=3, day=1)


@dataclass(frozen=True, slots=True)
class PurgedOffer:
    offer_id: uuid.UUID
    specific_contract_id: uuid.UUID
    signed_at: datetime
    object_keys: tuple[str, ...]


@dataclass
class PurgeReport:
    purged: list[PurgedOffer] = field(default_factory=list)
    objects_deleted: int = 0
    # Objects whose delete failed after the commit: no row names them any more, so the orphan sweeper takes them.
    objects_left: list[str] = field(default_factory=list)


class RetentionService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def _signed(self) -> list[tuple[uuid.UUID, uuid.UUID, datetime]]:
        """(specific contract, awarded offer, signature instant) of every contract signed, the instant being its
        first move to SIGNED (both sides' signatures in)."""
        rows = (await self.session.execute(
            select(Contract.specific_contract_id, Award.offer_id, func.min(ContractTransition.at))
            .join(Award, Award.id == Contract.award_id)
            .join(ContractTransition, ContractTransition.contract_id == Contract.id)
            .where(ContractTransition.to_status == ContractStatus.SIGNED.value)
            .group_by(Contract.specific_contract_id, Award.offer_id))).all()
        return [(cid, offer_id, at) for cid, offer_id, at in rows]

    async def expired(self) -> list[tuple[Offer, datetime]]:
        """The offers whose retention has run and that still hold content, with their contract's signature."""
        now = self.clock.now()
        due = {cid: (awarded, at) for cid, awarded, at in await self._signed() if now >= retention_ends(at)}
        if not due:
            return []
        holding = select(OfferAttachment.offer_id).where(OfferAttachment.offer_id == Offer.id).exists()
        offers = (await self.session.scalars(
            select(Offer).where(Offer.specific_contract_id.in_(due), Offer.sealed_parts.is_not(None) | holding)
            .order_by(Offer.id).with_for_update())).all()
        return [(offer, due[offer.specific_contract_id][1]) for offer in offers
                if offer.id != due[offer.specific_contract_id][0]]

    async def purge(self, actor: str) -> list[PurgedOffer]:
        """Purge the content of every offer past its retention (in the caller's transaction, each audited);
        returns the objects to delete once it commits."""
        expired = await self.expired()
        if not expired:
            return []
        ids = [offer.id for offer, _ in expired]
        files = (await self.session.execute(
            select(OfferAttachment.offer_id, OfferAttachment.object_key).where(OfferAttachment.offer_id.in_(ids))
            .order_by(OfferAttachment.id))).all()
        keys: dict[uuid.UUID, list[str]] = {offer_id: [] for offer_id in ids}
        for offer_id, key in files:
            keys[offer_id].append(key)
        await self.session.execute(delete(OfferAttachment).where(OfferAttachment.offer_id.in_(ids)))
        purged: list[PurgedOffer] = []
        for offer, signed_at in expired:
            offer.sealed_parts = None
            purged.append(PurgedOffer(offer.id, offer.specific_contract_id, signed_at, tuple(keys[offer.id])))
            await audit.record(self.session, self.clock, "offer.purged", actor=actor,
                               organisation_id=offer.vendor_organisation_id, target_type="offer", target_id=offer.id,
                               details={"specificContract": str(offer.specific_contract_id),
                                        "contractSignedAt": signed_at.isoformat(),
                                        "retentionYears": RETENTION_YEARS, "files": len(keys[offer.id])})
        await self.session.flush()
        return purged


async def purge_expired(sessions: async_sessionmaker[AsyncSession], store: ObjectStore, clock: Clock,
                        actor: str) -> PurgeReport:
    """Purge what is due in one transaction, then delete its objects: the rows go first, so a row never names a
    deleted object; an object whose delete fails is named by no row and left to the orphan sweeper."""
    async with sessions() as session, session.begin():
        purged = await RetentionService(session, clock).purge(actor)
    report = PurgeReport(purged=purged)
    for item in purged:
        for key in item.object_keys:
            try:
                await store.delete(key)
            except StorageError:  # the store down: an orphan the sweeper removes once it answers
                log.warning("offer.purge_object_left", extra={"key": key})
                report.objects_left.append(key)
            else:
                report.objects_deleted += 1
    if purged:
        log.info("offer.purged", extra={"offers": len(purged), "objects": report.objects_deleted})
    return report
