"""Open-data work the worker runs on a schedule (marketplace/worker.py): the OCDS releases of the events since the
last run, the DECP obligations, publications and reminders, the quarterly grouped award notices (D19). Each is
idempotent (ids, unique rows), so a run twice or at once with the CLI stores nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

from marketplace.lib.jobs import job
from marketplace.opendata.decp import DecpService
from marketplace.opendata.delivery import Drain
from marketplace.opendata.feed import FeedService
from marketplace.opendata.notices import AwardNoticeService
from marketplace.opendata.ocds import OcdsService
from marketplace.opendata.publisher import publisher_from


async def publish_ocds_releases(ctx: dict[str, Any]) -> int:
    async with ctx["session_maker"]() as session, session.begin():
        return await OcdsService(session, ctx["clock"], ctx["settings"]).sync()


async def publish_decp_records(ctx: dict[str, Any]) -> int:
    """§4.1: track the contracts that owe their essential data, publish them, remind before the deadline."""
    async with ctx["session_maker"]() as session, session.begin():
        service = DecpService(session, ctx["clock"], ctx.get("decp_publisher") or publisher_from(ctx["settings"]))
        await service.track()
        published = await service.publish_due()
        await service.remind()
        return len(published)


async def publish_award_notices(ctx: dict[str, Any]) -> int:
    """D19: the grouped award notice of every ended quarter with notified specific contracts, once."""
    async with ctx["session_maker"]() as session, session.begin():
        return len(await AwardNoticeService(session, ctx["clock"], ctx["settings"]).publish_ended())


async def sequence_feed(ctx: dict[str, Any]) -> int:
    """The feed's one sequencer (feed.py): numbers the committed events and hands them to the webhooks."""
    async with ctx["session_maker"]() as session, session.begin():
        return await FeedService(session, ctx["clock"], ctx["settings"]).sequence()


@job
async def drain_webhook(ctx: dict[str, Any], webhook_id: str) -> int:
    """Deliver a webhook's due events (delivery.py); records its own next run when work is left."""
    return await Drain(ctx["session_maker"], ctx["clock"], ctx["settings"]).run(uuid.UUID(webhook_id))
