"""Jobs that are never lost: the outbox, the relay and the worker, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from arq.worker import Worker
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, create_app, make_redis
from marketplace.devstack.redis import EmbeddedRedis
from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import system_clock
from marketplace.lib.jobs import OutboxRelay
from marketplace.lib.migrate import upgrade
from marketplace.settings import Settings
from marketplace.worker import worker_options
from tests.conftest import _recreate_database, _with_database

REQUEST = {"name": "Claire Martin", "email": "claire.martin@ehpad-les-tilleuls.fr",
           "subject": "Candidature au SAD", "message": "Bonjour, comment candidater ?"}


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """A database and a Redis database of the module's own. The session's live server (tests/web/browser.py)
    runs a relay on the shared test database: had it run in this process before, it would hand these tests'
    intents to its Redis before their own relay or worker, and the counts here would be another relay's."""
    name = "marketplace_outbox_test"
    asyncio.run(_recreate_database(settings.migration_url, name))
    owner_url = _with_database(settings.migration_url, name)
    upgrade(owner_url)
    head, _, _ = settings.redis_url.rpartition("/")
    return settings.with_(database_url=_with_database(settings.database_url, name),
                          migration_database_url=owner_url, redis_url=f"{head}/7")


async def _intents(settings: Settings) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return await conn.fetch("SELECT name, status::text AS status, relay_attempts FROM job_intent")
    finally:
        await conn.close()


_DEBUG_SETTINGS: list[Settings] = []


async def _debug_state() -> object:
    return [dict(r) for r in await _intents(_DEBUG_SETTINGS[-1])] if _DEBUG_SETTINGS else None


async def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {await _debug_state()}")


async def _run_worker(settings: Settings) -> int:
    """Run the real worker until the queue is empty; returns how many jobs it completed."""
    # Without the crons: the sandbox pass runs every minute, and one falling due during the run would be
    # counted with the jobs under test.
    worker = Worker(**worker_options(settings, burst=True, poll_delay=0.05, handle_signals=False, cron_jobs=[]))
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker.jobs_complete


async def _relay_once(settings: Settings, **options: object) -> int:
    """One relay round in this event loop (the app's own relay lives in the test client's loop)."""
    engine = create_async_engine(settings.database_url)
    redis = make_redis(settings)
    try:
        relay = OutboxRelay(async_sessionmaker(engine), redis, system_clock, **options)  # type: ignore[arg-type]
        return await relay.run_once()
    finally:
        await redis.aclose()
        await engine.dispose()


def _mails_for(sink: MailSink, settings: Settings) -> tuple[int, int]:
    return len(sink.to(settings.support_email)), len(sink.to(REQUEST["email"]))


async def test_a_request_job_is_relayed_and_delivered_once(settings: Settings, mail_sink: MailSink) -> None:
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.post("/support/requests", json=REQUEST)
        assert response.status_code == 201

        async def relayed() -> bool:
            return {r["status"] for r in await _intents(settings)} == {"enqueued"}

        await _wait_for(relayed, 10, "the relay to hand both jobs to arq")
        assert await _run_worker(settings) == 2
        assert _mails_for(mail_sink, settings) == (1, 1)
        ack = mail_sink.to(REQUEST["email"])[0]
        assert "bien été reçue" in ack["Subject"]
        assert response.json()["id"] in ack.get_content()
        assert {r["status"] for r in await _intents(settings)} == {"done"}
        followed = await client.get(response.headers["location"])
        assert followed.json()["status"] == "forwarded"


async def test_redis_down_the_request_succeeds_and_the_job_runs_once_when_it_returns(
    settings: Settings, mail_sink: MailSink, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path)
    redis.start()
    port = redis.port
    own = settings.with_(redis_url=redis.url)
    _DEBUG_SETTINGS.append(own)
    redis.stop()  # Redis is down before the request arrives.

    async with AsyncTestClient(create_app(own)) as client:
        response = await client.post("/support/requests", json=REQUEST)
        assert response.status_code == 201, response.text

        async def tried_and_failed() -> bool:
            rows = await _intents(own)
            return len(rows) == 2 and all(r["status"] == "pending" and r["relay_attempts"] >= 1 for r in rows)

        await _wait_for(tried_and_failed, 10, "the relay to try Redis and keep the intents pending")

        redis = EmbeddedRedis(tmp_path, port=port)
        redis.start()  # Redis comes back, on the same address, empty.
        try:
            async def relayed() -> bool:
                return {r["status"] for r in await _intents(own)} == {"enqueued"}

            await _wait_for(relayed, 20, "the relay to retry once Redis is back")
            assert await _run_worker(own) == 2
            assert _mails_for(mail_sink, own) == (1, 1)

            # Everything again: relay and worker find nothing left to do; no mail is sent twice.
            assert await _relay_once(own) == 0
            await _run_worker(own)
            assert _mails_for(mail_sink, own) == (1, 1)
            assert {r["status"] for r in await _intents(own)} == {"done"}
        finally:
            redis.stop()


async def test_a_duplicate_delivery_sends_nothing(settings: Settings, mail_sink: MailSink) -> None:
    """The queue is at-least-once: the same job delivered twice must not mail twice."""
    async with AsyncTestClient(create_app(settings, run_relay=False)) as client:
        assert (await client.post("/support/requests", json=REQUEST)).status_code == 201
        conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM notification")]
        finally:
            await conn.close()
        redis = make_redis(settings)
        try:
            for notification_id in ids:
                # Two jobs with different ids for the same notification: arq can't dedupe these.
                await redis.enqueue_job("deliver_notification", notification_id)
                await redis.enqueue_job("deliver_notification", notification_id)
        finally:
            await redis.aclose()
        assert await _run_worker(settings) == 4
        assert _mails_for(mail_sink, settings) == (1, 1)


async def test_an_intent_lost_by_redis_is_enqueued_again(settings: Settings, mail_sink: MailSink) -> None:
    """Redis keeps nothing on disk: a job it lost after the hand-over is relayed again later."""
    async with AsyncTestClient(create_app(settings, run_relay=False)) as client:
        assert (await client.post("/support/requests", json=REQUEST)).status_code == 201
    assert await _relay_once(settings) == 2
    redis = make_redis(settings)
    try:
        await redis.flushdb()  # what a Redis restart without persistence does
    finally:
        await redis.aclose()
    assert await _run_worker(settings) == 0
    # Not yet due for redelivery, then due.
    assert await _relay_once(settings) == 0
    assert await _relay_once(settings, redeliver_after=timedelta(0)) == 2
    assert await _run_worker(settings) == 2
    assert _mails_for(mail_sink, settings) == (1, 1)
