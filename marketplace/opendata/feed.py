"""The public change feed: every OCDS release and DECP record published, in one order, read with a cursor.

Why not a bigserial: an id is taken when a row is inserted, not when its transaction commits. Transaction A takes
id 10, transaction B takes 11 and commits first; a reader that has seen 11 moves its cursor past 10, and 10, once
committed, is never read. A sequence "assigned at commit" is what the feed needs, and PostgreSQL has none.

How (the single-writer sequencer): the event is written with no position by a trigger on the open-data tables
(migration 0033), in the transaction that publishes the change, so it exists iff the change committed. One job,
`FeedService.sequence()` (the worker's cron `sequence_feed`, every few seconds), numbers the events it can see,
that is the committed ones, under a transaction-level advisory lock (`FEED_LOCK`) that makes it the only writer of
positions: `position = max(position) + row_number()` in one statement, committed at once. A transaction that
commits later is seen by a later run and numbered after everything numbered before; the positions of one run are
published together (one commit), and a run starts only after the previous one committed (the lock). So a reader
never sees position n+1 without n, and `position > cursor` returns every event exactly once, in order, whatever
the concurrency of the writers (tests/opendata/test_feed.py, 20 writers; bench/feed_writers.py for 30 s).
The cost is latency: an event enters the feed at the sequencer's next run (seconds).

The same run hands each newly numbered event to every active webhook (a `webhook_delivery` row per pair) and
records one drain job per webhook concerned in the outbox (delivery.py): the webhooks see the feed's order.

Only the open-data tables feed it: they never hold a sandbox's object nor anything of an offer's content
(ocds.py, decp.py), so neither can reach the feed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.lib.jobs import record_job
from marketplace.opendata.models import FeedEvent
from marketplace.settings import Settings

# pg_advisory_xact_lock key of the feed's sequencer (any constant no other lock of the platform uses).
FEED_LOCK = 0x0FEED0033
SEQUENCE_BATCH = 5000
DRAIN_JOB = "drain_webhook"

_NUMBER = text("""
WITH top AS (SELECT coalesce(max(position), 0) AS position FROM feed_event),
todo AS (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM feed_event
         WHERE position IS NULL ORDER BY created_at, id LIMIT :batch)
UPDATE feed_event e SET position = top.position + todo.n, updated_at = :now
FROM todo, top WHERE e.id = todo.id
RETURNING e.id
""")

_FAN_OUT = text("""
INSERT INTO webhook_delivery (id, webhook_id, event_id, position, subject_key, status, attempts, next_attempt_at,
                              created_at, updated_at)
SELECT gen_random_uuid(), w.id, e.id, e.position, e.subject_key, 'pending', 0, :now, :now, :now
FROM feed_event e CROSS JOIN webhook w
WHERE e.id = ANY(:ids) AND w.active AND w.deleted_at IS NULL
ON CONFLICT (webhook_id, event_id) DO NOTHING
RETURNING webhook_id
""")


class FeedService:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    async def sequence(self, *, batch: int = SEQUENCE_BATCH) -> int:
        """Number the committed events not numbered yet, after every event already numbered; hand them to the
        webhooks. The caller commits: the positions appear together, and the lock is held until then."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})
        now = self.clock.now()
        ids = list((await self.session.execute(_NUMBER, {"batch": batch, "now": now})).scalars())
        if not ids:
            return 0
        webhooks = set((await self.session.execute(_FAN_OUT, {"ids": ids, "now": now})).scalars())
        for webhook_id in sorted(webhooks):
            await record_job(self.session, self.clock, DRAIN_JOB, str(webhook_id))
        return len(ids)

    async def page(self, *, after: int, limit: int) -> list[FeedEvent]:
        return list((await self.session.scalars(
            select(FeedEvent).where(FeedEvent.position > after).order_by(FeedEvent.position).limit(limit))).all())

    async def last_position(self) -> int:
        return int(await self.session.scalar(text("SELECT coalesce(max(position), 0) FROM feed_event")) or 0)

    def link(self, event: FeedEvent) -> str:
        return self.settings.public_base_url.rstrip("/") + event.url

    def item(self, event: FeedEvent) -> dict[str, Any]:
        assert event.position is not None
        return {"position": event.position, "id": str(event.id), "kind": event.kind, "objectId": event.object_id,
                "subjectKey": event.subject_key, "occurredAt": event.occurred_at.isoformat(), "url": self.link(event)}
