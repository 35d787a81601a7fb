"""The arq worker: job functions from each domain's jobs.py, with the shared context they need."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy.ext.asyncio import async_sessionmaker

from marketplace.app import make_store
from marketplace.lib.audit import anchor_previous_day
from marketplace.lib.clock import PARIS, Clock, system_clock
from marketplace.lib.database import make_engine
from marketplace.lib.timestamps import timestamp_evidence
from marketplace.notifications.jobs import deliver_notification
from marketplace.opendata.jobs import (
    drain_webhook,
    publish_award_notices,
    publish_decp_records,
    publish_ocds_releases,
    sequence_feed,
)
from marketplace.settings import Settings
from marketplace.sons.jobs import expire_sons_orders
from marketplace.sweeper import sweep_orphan_objects
from marketplace.tenders.jobs import scan_pending_attachments
from marketplace.tenders.vault import Vault
from marketplace.vendors.jobs import (
    alert_admission_due_dates,
    close_ended_dps,
    sandbox_timers,
    warn_expiring_documents,
    warn_expiring_sandbox_documents,
)

log = logging.getLogger("marketplace.worker")

# Every job keeps within the worker's one time limit (JOB_TIMEOUT). arq marks a running job "in progress"
# for the longest time limit of any function plus 10 s, and a job whose worker died is taken up again only
# once that mark expires: one function allowed an hour would leave a crashed worker's mail deliveries
# waiting an hour. Long work (rescanning a contract's files) goes in slices that re-enqueue themselves.
FUNCTIONS = [deliver_notification, scan_pending_attachments, timestamp_evidence, drain_webhook]
JOB_TIMEOUT = 120
MAX_JOBS = 20
# Paris time: "every morning" means a French morning, whatever the server's zone.
CRON_JOBS = [cron(warn_expiring_documents, hour={6}, minute={0}, unique=True),
             # Sandboxes live days in minutes (vendors/sandbox.py): their daily work runs every minute.
             cron(warn_expiring_sandbox_documents, unique=True),
             # Hourly, off the round hour when other schedules pile up (reliability.md §4 item 3).
             cron(sweep_orphan_objects, minute={17}, unique=True),
             # A DPS's end and its D6 alerts: the status is read on the clock at every decision anyway; these
             # store it and tell people, within five minutes.
             cron(close_ended_dps, minute=set(range(1, 60, 5)), unique=True),
             cron(alert_admission_due_dates, minute=set(range(3, 60, 5)), unique=True),
             cron(sandbox_timers, unique=True),
             # SONS orders past their deployment deadline (§12): daily, at night, off the round hour.
             cron(expire_sons_orders, hour={2}, minute={43}, unique=True),
             # Open data (domain.md §3, §4): the OCDS releases of the last events, and the DECP records owed
             # (published well within their two months, reminded before the deadline when the portal failed).
             cron(publish_ocds_releases, minute=set(range(2, 60, 5)), unique=True),
             cron(publish_decp_records, minute=set(range(4, 60, 5)), unique=True),
             # G14: yesterday's audit chain head, time-stamped once; hourly, so a TSA down is tried again.
             cron(anchor_previous_day, minute={7}, unique=True),
             # D19: each ended quarter's grouped award notice, hourly (its deadline is 30 days after the end).
             cron(publish_award_notices, minute={26}, unique=True),
             # The public feed's single sequencer (opendata/feed.py): a published change enters the feed, and its
             # webhooks' queues, within seconds.
             cron(sequence_feed, second=set(range(0, 60, 3)), unique=True)]


def worker_options(settings: Settings, clock: Clock = system_clock, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker`, shared by `marketplace worker` and the tests."""

    async def startup(ctx: dict[str, Any]) -> None:
        # A delivery holds a connection (and its row lock) while it talks to the SMTP server.
        engine = make_engine(settings, pool_pre_ping=True, pool_size=MAX_JOBS)
        ctx.update(engine=engine, session_maker=async_sessionmaker(engine, expire_on_commit=False),
                   settings=settings, clock=clock, store=make_store(settings),
                   # The rescan opens each contract's released key (tenders/opening/); without a secret
                   # key there is nothing it could open, and the other jobs still run.
                   vault=Vault.from_settings(settings) if settings.secret_key else None)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["engine"].dispose()

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "timezone": PARIS,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_tries": 10,
        # arq takes at most max_jobs jobs per poll: with its defaults (10 per 0.5 s) a fan-out of ten thousand
        # invitations would trickle out at 20 mails a second whatever the SMTP server can take.
        "max_jobs": MAX_JOBS,
        "poll_delay": 0.1,
        "job_timeout": JOB_TIMEOUT,
        "handle_signals": True,
    }
    options.update(overrides)
    return options


async def run_worker(settings: Settings) -> None:
    """Run the worker, restarting it while Redis is unreachable: it comes back by itself."""
    backoff = 1.0
    while True:
        worker = Worker(**worker_options(settings, handle_signals=False))
        try:
            await worker.main()
            return
        except (ConnectionError, OSError) as exc:
            log.warning("worker.redis_unavailable", extra={"error": repr(exc)})
        finally:
            await worker.close()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)
