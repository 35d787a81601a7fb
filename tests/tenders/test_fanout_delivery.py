"""Issue 5, must show 2: two thousand invitations e-mailed exactly once although the worker is killed
(SIGKILL) halfway through and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.worker import MAX_JOBS
from tests.tenders.test_publication import SCALE, _insert_admitted_vendors, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps, wait_for

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "Invitation à remettre une offre"


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.Popen([sys.executable, "-m", "tests.notifications.worker_process", "5"], cwd=ROOT, env=env)


def _invitation_mails(sink: MailSink, first: int) -> list[str]:
    """The notification ids of the invitation mails the sink received since message `first`."""
    with sink._lock:
        received = sink.messages[first:]
    return [m["X-Marketplace-Notification"] for m, _ in received if str(m["Subject"]).startswith(SUBJECT)]


async def _statuses(settings: Settings) -> Counter[str]:
    rows = await fetch(settings, "SELECT email_status::text AS s, count(*) AS n FROM notification "
                                 "WHERE kind = 'tender.invitation' GROUP BY 1")
    return Counter({r["s"]: int(r["n"]) for r in rows})


async def test_two_thousand_invitations_are_mailed_once_each_though_the_worker_is_killed_midway(
        client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink) -> None:
    dps = await open_dps(client, world, clock)
    await _insert_admitted_vendors(settings, dps["id"], categories_by_pair(dps)["grand_age", "saas"], SCALE)
    need = await submitted_need(client, world)
    first = len(mail_sink.messages)
    contract = expect(await publish(client, world, need["id"], dps["id"],
                                    (clock.now() + timedelta(days=14)).isoformat()), 201)
    assert contract["invitationCount"] == SCALE

    async def relayed() -> bool:
        rows = await fetch(settings, "SELECT count(*) AS n FROM job_intent WHERE status = 'pending'")
        return rows[0]["n"] == 0

    await wait_for(relayed, 60, "the relay to hand the jobs to arq")

    worker = _start_worker(settings)
    started = time.monotonic()
    try:
        async def a_quarter_sent() -> bool:
            return len(_invitation_mails(mail_sink, first)) >= SCALE // 4

        await wait_for(a_quarter_sent, 120, "a quarter of the invitations to be mailed")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = len(_invitation_mails(mail_sink, first))
        print(f"\nkilled the worker after {at_kill} mails in {time.monotonic() - started:.1f} s; "
              f"statuses: {dict(await _statuses(settings))}")
        assert at_kill < SCALE, "the worker finished before it could be killed"

        started = time.monotonic()
        worker = _start_worker(settings)

        async def all_done() -> bool:
            statuses = await _statuses(settings)
            return statuses["pending"] == 0 and len(_invitation_mails(mail_sink, first)) >= statuses["sent"]

        await wait_for(all_done, 180, "every invitation to be mailed")
        await asyncio.sleep(1)  # anything still arriving would be a duplicate
        print(f"restarted worker finished in {time.monotonic() - started:.1f} s")
    finally:
        worker.kill()
        worker.wait(10)

    mails = _invitation_mails(mail_sink, first)
    statuses = await _statuses(settings)
    print(f"mails: {len(mails)}; statuses: {dict(statuses)}")
    # None twice: one mail per notification.
    assert [n for n, count in Counter(mails).items() if count > 1] == []
    # Every one mailed, the mail server says so, except those the kill caught between their point of no return
    # (`sending` committed) and the server's answer: those stay `sending`, never resent, and go to the
    # operators' list of unconfirmed deliveries (tests/notifications/test_delivery.py); there can be no more of
    # them than jobs in flight, and nothing else is missing.
    ids = {str(r["id"]) for r in await fetch(settings, "SELECT id FROM notification WHERE kind = 'tender.invitation'")}
    assert len(ids) == SCALE
    unconfirmed = {str(r["id"]) for r in await fetch(
        settings, "SELECT id FROM notification WHERE kind = 'tender.invitation' AND email_status = 'sending' AND "
                  "updated_at > created_at")}
    missing = ids - set(mails)
    assert missing <= unconfirmed, f"{len(missing - unconfirmed)} invitation(s) neither mailed nor unconfirmed"
    assert set(mails) <= ids
    assert statuses["sent"] + statuses["sending"] == SCALE and statuses["sending"] <= MAX_JOBS
    assert len(unconfirmed) == statuses["sending"]
    # The invitations' own intents (publishing a funded need also told its funder and its holder, N16).
    intents = await fetch(settings, "SELECT j.status::text AS s, count(*) AS n FROM job_intent j JOIN notification n "
                                    "ON j.args = jsonb_build_array(n.id::text) WHERE j.name = 'deliver_notification' "
                                    "AND n.kind = 'tender.invitation' GROUP BY 1")
    assert {r["s"]: r["n"] for r in intents} == {"done": SCALE}
    assert uuid.UUID(contract["id"])


def test_a_crashed_workers_jobs_are_taken_up_within_the_job_time_limit(settings: Settings) -> None:
    """arq takes up a dead worker's jobs once their in-progress mark expires: the longest time limit of any
    function plus 10 s. A single long-running function would hold every mail of a crashed worker that long."""
    from arq.worker import Worker

    from marketplace.worker import JOB_TIMEOUT, worker_options

    worker = Worker(**worker_options(settings))
    assert worker.in_progress_timeout_s == JOB_TIMEOUT + 10
