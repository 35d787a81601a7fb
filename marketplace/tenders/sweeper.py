"""Orphan objects swept from the bucket (reliability.md §4 item 3).

Every upload writes its object first and its row after, in the request's transaction, so that a row never
names a missing object. The other way round can happen: a process killed between the S3 put and the
commit, or a commit that fails, leaves an object no row names — an orphan — and an interrupted multipart
upload leaves parts S3 keeps (and bills) until aborted. The sweeper removes both, but only once they are
older than a grace period far longer than any upload-and-commit: an object younger than that may belong
to a transaction still running. Its rows are looked up a batch of keys at a time, in every table that
names objects, whatever the prefix: a key named anywhere is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from marketplace.awards.models import (
    AbnormallyLowProcedure,
    ClarificationAttachment,
    ContractMilestone,
    ContractSignature,
)
from marketplace.lib.clock import Clock
from marketplace.tenders.models import ContractDocument, OfferAttachment
from marketplace.vendors.models import AdmissionDocument, DpsDocument
from storage import ObjectStore

log = logging.getLogger("marketplace.storage.sweeper")

# The prefixes the product writes under (tenders/offers.py, tenders/amendments.py, vendors/services.py,
# awards/contracts.py, awards/dialogue.py, awards/abnormally_low.py).
SWEPT_PREFIXES = ("offers", "contracts", "dps", "admissions", "clarifications")
# Every column that names an object; tests/tenders/test_sweeper.py checks no table is missing here.
KEY_COLUMNS: tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], ...] = (
    OfferAttachment.object_key, ContractDocument.object_key, DpsDocument.object_key, AdmissionDocument.object_key,
    ContractSignature.object_key, ContractMilestone.object_key, ClarificationAttachment.object_key,
    AbnormallyLowProcedure.object_key)
# Keys per lookup: seven `IN` lists of this size stay well within PostgreSQL's bind-parameter limit.
BATCH = 1000


@dataclass(frozen=True, slots=True)
class SweepReport:
    examined: int = 0  # objects older than the grace period
    deleted: int = 0
    aborted_uploads: int = 0
    abandoned_uploads: int = 0  # presigned offer uploads never completed, their URLs long expired


class OrphanSweeper:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], store: ObjectStore, clock: Clock) -> None:
        self.session_maker = session_maker
        self.store = store
        self.clock = clock

    async def sweep(self, grace: timedelta, prefixes: tuple[str, ...] = SWEPT_PREFIXES) -> SweepReport:
        if grace <= timedelta(0):
            raise ValueError("the grace period must be positive: a younger object may await its commit")
        now = self.clock.now()
        examined = deleted = aborted = 0
        # A presigned upload never completed is forgotten once its URL is long dead (issue 6): its row goes
        # first, so its object, named by no row any more, goes with the orphans below.
        async with self.session_maker() as session, session.begin():
            abandoned = len((await session.scalars(delete(OfferAttachment).where(
                OfferAttachment.received_at.is_(None), OfferAttachment.upload_expires_at < now - grace)
                .returning(OfferAttachment.id))).all())
        for prefix in prefixes:
            listed = await self.store.list_objects(prefix, older_than=grace, now=now)
            examined += len(listed)
            for start in range(0, len(listed), BATCH):
                keys = [o.key for o in listed[start:start + BATCH]]
                named = await self._named(keys)
                for key in keys:
                    if key in named:
                        continue
                    await self.store.delete(key)
                    deleted += 1
                    log.info("storage.orphan_deleted", extra={"key": key})
            aborted += await self.store.abort_incomplete_uploads(prefix, older_than=grace, now=now)
        return SweepReport(examined=examined, deleted=deleted, aborted_uploads=aborted, abandoned_uploads=abandoned)

    async def _named(self, keys: list[str]) -> set[str]:
        """Those of `keys` some row names: one query for the whole batch, across every table."""
        lookups = [select(column).where(column.in_(keys)) for column in KEY_COLUMNS]
        async with self.session_maker() as session:
            # `IN` never matches NULL: a milestone not yet validated names no object.
            return {key for key in (await session.scalars(union_all(*lookups))).all() if key is not None}
