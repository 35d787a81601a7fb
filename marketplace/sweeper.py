"""Orphan objects swept from the bucket (reliability.md §4 item 3).

Every upload writes its object first and its row after, in the request's transaction, so that a row never
names a missing object. The other way round can happen: a process killed between the S3 put and the
commit, or a commit that fails, leaves an object no row names — an orphan — and an interrupted multipart
upload leaves parts S3 keeps (and bills) until aborted. The sweeper removes both, but only once they are
older than a grace period far longer than any upload-and-commit: an object younger than that may belong
to a transaction still running. Its rows are looked up a batch of keys at a time, in every table that
names objects, whatever the prefix: a key named anywhere is kept.

The tables that name objects are those of the classes using a stored-file mixin (`lib/stored.py`), found in
the registry rather than listed: a table of files added later is consulted without a line here. That reads
every domain's tables, so the sweeper sits beside `models.py`, above the domain packages.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from advanced_alchemy.base import orm_registry
from sqlalchemy import delete, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, registry

# Every domain's models, mapped: the registry then holds every table of files.
import marketplace.models  # noqa: F401
from marketplace.lib.clock import Clock
from marketplace.lib.stored import NamesStoredObject
from marketplace.settings import Settings
from marketplace.tenders.models import OfferAttachment
from storage import ObjectStore

log = logging.getLogger("marketplace.storage.sweeper")

# The prefixes the product writes under (tenders/offers/, tenders/amendments.py, vendors/documents.py,
# awards/contracts/, awards/dialogue.py, awards/abnormally_low.py).
SWEPT_PREFIXES = ("offers", "contracts", "dps", "admissions", "clarifications", "funding", "sons")
# Keys per lookup: one `IN` list of this size per table of files stays well within PostgreSQL's bind-parameter
# limit (32,767), with room for many more tables.
BATCH = 1000


def key_columns(models: registry = orm_registry) -> tuple[InstrumentedAttribute[Any], ...]:
    """Every column that names an object: the `object_key` of each mapped class using a stored-file mixin,
    in table order (one query plan whatever the import order)."""
    classes: list[type[Any]] = [mapper.class_ for mapper in models.mappers
                                if issubclass(mapper.class_, NamesStoredObject)]
    return tuple(cls.object_key for cls in sorted(classes, key=lambda cls: cls.__tablename__))


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
        self.key_columns = key_columns()

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
        lookups = [select(column).where(column.in_(keys)) for column in self.key_columns]
        async with self.session_maker() as session:
            # `IN` never matches NULL: a rejection (funding_decision) names no object.
            return {key for key in (await session.scalars(union_all(*lookups))).all() if key is not None}


async def sweep_orphan_objects(ctx: dict[str, Any]) -> dict[str, int]:
    """Hourly: delete objects no row names and abort unfinished uploads, once past the grace period."""
    settings: Settings = ctx["settings"]
    report = await OrphanSweeper(ctx["session_maker"], ctx["store"], ctx["clock"]).sweep(
        timedelta(minutes=settings.orphan_grace_minutes))
    log.info("storage.orphans_swept", extra=asdict(report))
    return asdict(report)
