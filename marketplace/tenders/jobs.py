"""Background work on tenders: scanning opened files again (P10, G11). The orphan sweep (§4.3) reads every
domain's tables of files: it lives in marketplace/sweeper.py."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

from arq import Retry

from marketplace.lib.jobs import job
from marketplace.settings import Settings
from marketplace.tenders.models import ScanStatus
from marketplace.tenders.opening import OpeningService, scanner_from

log = logging.getLogger("marketplace.tenders.jobs")


# Rescanning stops taking new files after this long, well within the worker's time limit (120 s).
SCAN_SLICE_SECONDS = 60.0


def _retry_later(ctx: dict[str, Any]) -> Retry:
    # A minute, then longer, up to a quarter of an hour: clamd restarts in seconds, a lost host in hours.
    return Retry(defer=min(60 * ctx.get("job_try", 1), 900))


@job
async def scan_pending_attachments(ctx: dict[str, Any], contract_id: str) -> dict[str, int]:
    """Scan the opened files of a contract left `pending` (clamd was down at the opening).

    One transaction per file, so a verdict obtained is kept whatever happens to the next file. While
    clamd is unreachable, or some file still has no verdict, the job is retried later.
    """
    settings: Settings = ctx["settings"]
    scanner = scanner_from(settings)
    if scanner is None:
        return {}  # scanning was switched off since the opening: the files stay pending

    def service(session: Any) -> OpeningService:
        return OpeningService(session, ctx["clock"], ctx["vault"], ctx["store"], ctx["session_maker"], scanner)

    if not await scanner.ping():
        log.warning("offer_attachment.scanner_unreachable", extra={"contract": contract_id})
        raise _retry_later(ctx)
    async with ctx["session_maker"]() as session, session.begin():
        pending = await service(session).pending_scans(uuid.UUID(contract_id))
    outcome: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + SCAN_SLICE_SECONDS
    for attachment_id in pending:
        if loop.time() > stop_at:
            # Within the worker's time limit (marketplace/worker.py): the rest in the next run.
            log.info("offer_attachment.rescan_continues", extra={"contract": contract_id, **outcome})
            raise Retry(defer=1)
        async with ctx["session_maker"]() as session, session.begin():
            outcome[await service(session).rescan(attachment_id)] += 1
    log.info("offer_attachment.rescanned", extra={"contract": contract_id, **outcome})
    if outcome[ScanStatus.PENDING.value]:
        raise _retry_later(ctx)
    return dict(outcome)
