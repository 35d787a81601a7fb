"""Degrade and recover (G12): a dependency hung or gone costs a bounded 503 problem, never a 500 or a hang;
what doesn't need it keeps its latency; when it returns the app recovers with no manual step.

Faults go through `tests/faults.py`'s proxy, between this test's app and the session's real service, so no
other test sees them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, create_app, make_redis
from marketplace.devstack.redis import EmbeddedRedis
from marketplace.devstack.smtp import MailSink
from marketplace.devstack.tsa import EmbeddedTsa
from marketplace.lib.clock import FrozenClock
from marketplace.lib.jobs import OutboxRelay
from marketplace.settings import Settings
from tests.conftest import report_figure
from tests.faults import FaultProxy, Mode
from tests.lib.test_outbox import _run_worker
from tests.tenders.test_offers import open_contract, prepared_offer
from tests.vendors.api import Client, expect, minimal_pdf
from tests.vendors.conftest import START
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


async def in_app_loop(client: Client, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Run `scenario` in the app's own event loop with a client of its own, so requests run concurrently: the
    test client sends one request at a time, blocking its caller's loop."""
    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app),
                                     base_url="http://testserver.local", timeout=60) as raw:
            await scenario(raw)

    await asyncio.to_thread(client.blocking_portal.call, run)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def assert_unavailable(response: httpx.Response, dependency: str) -> dict[str, Any]:
    """A 503 problem (RFC 9457) saying what is down, with Retry-After: never a 500."""
    assert response.status_code == 503, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == 503 and body["title"] == "Service unavailable"
    assert body["type"].endswith("/service-unavailable") and body["dependency"] == dependency
    assert "unavailable" in body["detail"]
    return dict(body)


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = await call
    return response, time.monotonic() - began


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def s3_proxy(settings: Settings) -> Iterator[FaultProxy]:
    proxy = FaultProxy.for_url(settings.s3_endpoint)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
async def s3_client(settings: Settings, clock: FrozenClock, s3_proxy: FaultProxy) -> AsyncIterator[Client]:
    own = settings.with_(s3_endpoint=s3_proxy.url(settings.s3_endpoint))
    async with AsyncTestClient(create_app(own, clock=clock)) as client:
        yield client


# -- S3 hung -------------------------------------------------------------------------------------------

READS = 40


async def test_s3_blackholed_an_upload_is_a_503_within_10_s_and_metadata_reads_keep_their_latency(
        s3_client: Client, s3_proxy: FaultProxy, world: World, clock: FrozenClock, settings: Settings) -> None:
    client = s3_client
    contract = await open_contract(client, world, clock)
    cid = contract["id"]
    offer = await prepared_offer(client, world, cid)
    other = await prepared_offer(client, world, cid, "other_vendor_admin")
    vendor, other_vendor = world["vendor_admin"].headers, world["other_vendor_admin"].headers

    async def scenario(raw: httpx.AsyncClient) -> None:
        reads: list[Callable[[], Awaitable[httpx.Response]]] = [
            lambda: raw.get(f"/specific-contracts/{cid}", headers=vendor),
            lambda: raw.get("/dps", headers=world["buyer_admin"].headers),
            lambda: raw.get(f"/offers/{offer['id']}", headers=vendor),
        ]

        async def read_latencies(still_faulty: Callable[[], bool] = lambda: True) -> list[float]:
            latencies = []
            for i in range(READS):
                response, elapsed = await timed(reads[i % len(reads)]())
                assert response.status_code == 200, response.text
                if still_faulty():
                    latencies.append(elapsed)
            return latencies

        await read_latencies()  # warm: the first reads fill the pools and caches
        before = p95(await read_latencies())

        s3_proxy.set_mode("blackhole")
        # Asking for a presigned URL needs no store at all: it is signed locally (storage/ presign_upload).
        asked, figures["presigned_in"] = await timed(raw.post(f"/offers/{other['id']}/uploads", headers=other_vendor,
                                                              json={"filename": "Annexe.pdf", "size": len(memo),
                                                                    "sha256": hashlib.sha256(memo).hexdigest()}))
        assert asked.status_code == 201, asked.text
        presigned = asked.json()
        # A streamed file and the completion of a presigned upload wait on the hung store while reads go on.
        streamed = asyncio.ensure_future(timed(raw.put(
            f"/offers/{offer['id']}/attachments", content=memo,
            headers={**vendor, "content-type": "application/pdf", "x-filename": quote("Mémoire.pdf")})))
        completed = asyncio.ensure_future(timed(raw.post(
            f"/offers/{other['id']}/uploads/{presigned['attachmentId']}/complete",
            headers=other_vendor, json={"key": presigned["headers"]["x-amz-server-side-encryption-customer-key"]})))
        await asyncio.sleep(0.2)  # both are parked on the hung store
        during = await read_latencies(lambda: not (streamed.done() and completed.done()))
        (refused, refused_in), (incomplete, incomplete_in) = await streamed, await completed
        figures.update(before=before, during=during, refused_in=refused_in, incomplete_in=incomplete_in,
                       refused=refused, incomplete=incomplete)

    memo = minimal_pdf("mémoire technique, second envoi")
    figures: dict[str, Any] = {}
    await in_app_loop(client, scenario)
    during, before = figures["during"], figures["before"]
    assert len(during) >= 10, f"the store failed before reads could be measured during the fault: {figures}"
    assert figures["refused_in"] < 10 and figures["incomplete_in"] < 10, figures
    assert figures["presigned_in"] < 2, figures
    assert assert_unavailable(figures["refused"], "storage")["field"] == "body"
    assert assert_unavailable(figures["incomplete"], "storage")["field"] == "upload"
    # G12: reads of metadata keep their normal p95 while the store hangs.
    assert p95(during) <= 2 * before + 0.05, f"p95 {p95(during) * 1000:.0f} ms during, {before * 1000:.0f} ms before"
    report_figure(f"G12 S3 blackholed: upload 503 in {figures['refused_in']:.1f} s, completion 503 in "
                  f"{figures['incomplete_in']:.1f} s; metadata reads p95 {before * 1000:.0f} ms before, "
                  f"{p95(during) * 1000:.0f} ms during ({len(during)} reads)")
    # Nothing was committed: the offer has its one file; the refusal is journaled for the vendor (D14b).
    mine = expect(await client.get(f"/offers/{offer['id']}", headers=vendor), 200)
    assert [a["filename"] for a in mine["attachments"]] == ["offre.pdf"]
    for headers, action in ((vendor, "attachment.stream"), (other_vendor, "attachment.complete")):
        journal = expect(await client.get(f"/specific-contracts/{cid}/my-deposit-attempts", headers=headers), 200)
        assert [(a["action"], a["status"], a["problem"]) for a in journal] == [(action, 503, "service-unavailable")]
    # Submitting reads no file (they are in, hashed): with the store still hung, an offer is received.
    assert s3_proxy.mode == "blackhole"
    receipt, took = await timed(client.post(f"/offers/{offer['id']}/submit", headers=vendor))
    assert receipt.status_code == 200 and took < 2, (receipt.text, took)
    assert [f["name"] for f in receipt.json()["receipt"]["files"]] == ["offre.pdf"]

    # The store is back: the same file goes through, with no manual step.
    s3_proxy.set_mode("pass")
    expect(await client.put(f"/offers/{other['id']}/attachments", content=memo,
                            headers={**other_vendor, "content-type": "application/pdf",
                                     "x-filename": quote("Mémoire.pdf")}), 201)


# -- PostgreSQL gone -------------------------------------------------------------------------------------

SUPPORT_REQUEST = {"name": "Marc Durand", "email": "marc.durand@example.fr", "subject": "Question",
                   "message": "Bonjour"}


Request = tuple[str, Callable[[Client], Awaitable[httpx.Response]]]


@pytest.fixture
def pg_proxy(settings: Settings) -> Iterator[FaultProxy]:
    proxy = FaultProxy.for_url(settings.database_url)
    proxy.start()
    yield proxy
    proxy.stop()


def _without_pre_ping(app: Any) -> None:
    """The app's engines (requests', the caller's lookup, authentication's, the relay's) with no connection test on
    checkout: recovery must come from the pool dropping connections that failed, not from a ping before each use."""
    from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin

    config = app.plugins.get(SQLAlchemyPlugin).config[0]
    engines = [app.state[config.engine_app_state_key], app.state.principal_engine,
               app.state.auth_session_maker.kw["bind"], app.state.relay.session_maker.kw["bind"]]
    for engine in engines:
        engine.pool._pre_ping = False


@pytest.mark.parametrize("fault", ["refuse", "reset"])
# As configured (the request engine has no pre-ping; authentication's and the relay's do), and with none at all.
@pytest.mark.parametrize("pre_ping", [True, False], ids=["as-configured", "no-pre-ping"])
async def test_postgres_down_requests_are_503_within_5_s_and_recover_within_10_s_once_back(
        settings: Settings, world: World, pg_proxy: FaultProxy, pre_ping: bool, fault: Mode) -> None:
    """Stopped (connections refused) or gone behind its address (connections reset)."""
    own = settings.with_(database_url=pg_proxy.url(settings.database_url))
    member = world["vendor_admin"].headers
    created: list[str] = []

    async def write(c: Client) -> httpx.Response:
        response = await c.post("/support/requests", json=SUPPORT_REQUEST)
        if response.status_code == 201:
            created.append(response.json()["id"])
        return response

    requests: list[Request] = [
        ("GET /dps", lambda c: c.get("/dps")),  # public: the session's engine
        ("GET /auth/me", lambda c: c.get("/auth/me", headers=member)),  # the bearer token: authentication's engine
        ("POST /support/requests", write),  # a write, through the outbox
    ]
    async with AsyncTestClient(create_app(own)) as client:
        if not pre_ping:
            _without_pre_ping(client.app)
        for _, send in requests * 2:  # the pools hold connections from before the fault
            assert (await send(client)).status_code in (200, 201)

        pg_proxy.set_mode(fault)
        slowest = 0.0
        for name, send in requests * 3:
            response, took = await timed(send(client))
            assert_unavailable(response, "database")
            assert took < 5, f"{name} took {took:.1f} s"
            slowest = max(slowest, took)

        pg_proxy.set_mode("pass")
        recovered, failures = await _recovery(client, requests)
        # A blip with no request during it: the pooled connections are dead, and the first requests find out.
        pg_proxy.set_mode(fault)
        pg_proxy.set_mode("pass")
        blip, blip_failures = await _recovery(client, requests)
        # Nothing a refused write did was kept: the support requests are those answered 201.
        conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            kept = {str(r["id"]) for r in await conn.fetch("SELECT id FROM support_request")}
        finally:
            await conn.close()
        assert kept == set(created) and len(created) >= 2 + 2 * 6
    report_figure(f"G12 PostgreSQL down, {fault} ({'engines as configured' if pre_ping else 'no pre-ping at all'}): "
                  f"503 within {slowest:.2f} s; "
                  f"recovered {recovered:.2f} s after it came back ({failures} failed rounds); after a blip with no "
                  f"traffic, {blip:.2f} s ({blip_failures} failed rounds)")



async def _recovery(client: Client, requests: list[Request]) -> tuple[float, int]:
    """Seconds until every request succeeds again (at most 10, answering 503 meanwhile, never 500), then the error
    rate stays 0; and how many rounds failed."""
    back = time.monotonic()
    failures = 0
    while True:
        statuses = [(await send(client)).status_code for _, send in requests]
        if all(s in (200, 201) for s in statuses):
            break
        assert all(s in (200, 201, 503) for s in statuses), statuses
        failures += 1
        assert time.monotonic() - back < 10, f"still failing 10 s after PostgreSQL came back: {statuses}"
        await asyncio.sleep(0.2)
    recovered = time.monotonic() - back
    for name, send in requests * 5:
        response = await send(client)
        assert response.status_code in (200, 201), f"{name}: {response.status_code} {response.text}"
    return recovered, failures


async def test_postgres_hung_a_new_connection_gives_up_within_5_s(settings: Settings, pg_proxy: FaultProxy) -> None:
    """PostgreSQL accepts connections and never answers: opening one stops at the connect timeout (asyncpg's
    default, 60 s, would hold the request a minute), and the request is a 503."""
    pg_proxy.set_mode("blackhole")
    async with AsyncTestClient(create_app(settings.with_(database_url=pg_proxy.url(settings.database_url)))) as client:
        response, took = await timed(client.get("/dps"))
        assert_unavailable(response, "database")
        assert took < 5, f"{took:.1f} s"
        pg_proxy.set_mode("pass")
        assert (await client.get("/dps")).status_code == 200
    report_figure(f"G12 PostgreSQL hung (new connection): 503 in {took:.2f} s")


# -- Redis gone ----------------------------------------------------------------------------------------------


async def _intents(settings: Settings, since: set[str] | None = None) -> list[asyncpg.Record]:
    """The job intents (all, or those not in `since`)."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        rows = await conn.fetch("SELECT id::text AS id, name, args, status::text AS status, relay_attempts "
                                "FROM job_intent")
    finally:
        await conn.close()
    return [r for r in rows if since is None or r["id"] not in since]


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)


async def test_redis_down_an_offer_is_received_and_its_jobs_run_once_when_redis_returns(
        settings: Settings, world: World, clock: FrozenClock, local_tsa: EmbeddedTsa, mail_sink: MailSink,
        tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path)
    redis.start()
    own = settings.with_(redis_url=redis.url)
    try:
        async with AsyncTestClient(create_app(own, clock=clock)) as client:
            contract = await open_contract(client, world, clock)
            offer = await prepared_offer(client, world, contract["id"])
            before = {r["id"] for r in await _intents(own)}
            redis.stop()  # gone: connections refused

            # The offer is received, receipted and its timestamp recorded as a job in the same transaction (the
            # outbox), whatever Redis does; a request by e-mail too.
            issued = local_tsa.issued
            submitted, took = await timed(client.post(f"/offers/{offer['id']}/submit",
                                                      headers=world["vendor_admin"].headers))
            assert submitted.status_code == 200, submitted.text
            assert took < 5 and submitted.json()["timestamp"]["status"] == "pending"
            asked = expect(await client.post("/support/requests", json=SUPPORT_REQUEST), 201)
            # The public lists, kept a moment in Redis, are read from PostgreSQL meanwhile (lib/cache.py).
            for _ in range(3):
                listed, listed_in = await timed(client.get("/dps"))
                assert listed.status_code == 200 and listed_in < 1, (listed.text, listed_in)

            async def kept_pending() -> bool:
                rows = await _intents(own, before)
                return len(rows) == 3 and all(r["status"] == "pending" and r["relay_attempts"] >= 1 for r in rows)

            await _until(kept_pending, 15, "the relay to try Redis and keep the jobs pending")

            redis = EmbeddedRedis(tmp_path, port=redis.port)
            redis.start()  # back, on the same address, empty

            async def relayed() -> bool:
                return {r["status"] for r in await _intents(own, before)} == {"enqueued"}

            await _until(relayed, 30, "the relay to hand the jobs over once Redis is back")
            await _run_worker(own)
            assert local_tsa.issued == issued + 1  # the receipt's token, fetched once
            assert len(mail_sink.to(own.support_email)) == 1 and len(mail_sink.to(SUPPORT_REQUEST["email"])) == 1
            assert sorted((r["name"], r["status"]) for r in await _intents(own, before)) == [
                ("deliver_notification", "done"), ("deliver_notification", "done"), ("timestamp_evidence", "done")]
            receipt = expect(await client.get(f"/offers/{offer['id']}/receipt", headers=world["vendor_admin"].headers),
                             200)
            assert receipt["timestamp"]["status"] == "stamped"

            # Everything again, and the same job delivered twice (the queue is at-least-once): no second token,
            # no second mail.
            assert await _relay_round(own, clock) == 0
            arq = make_redis(own)
            try:
                for row in await _intents(own, before):
                    # A new job id: arq can't tell it is the same job.
                    await arq.enqueue_job(row["name"], *json.loads(row["args"]))
            finally:
                await arq.aclose()
            await _run_worker(own)
            assert local_tsa.issued == issued + 1
            assert len(mail_sink.to(own.support_email)) == 1 and len(mail_sink.to(SUPPORT_REQUEST["email"])) == 1
            assert asked["id"] and await _tokens(own, offer["id"]) == 1
    finally:
        redis.stop()
    report_figure(f"G12 Redis down: offer submitted in {took:.2f} s; its timestamp and 2 mails delivered once "
                  f"after Redis returned")


async def _relay_round(settings: Settings, clock: FrozenClock) -> int:
    """One relay round in this event loop, on the app's clock (the app's own relay runs in the test client's)."""
    engine = create_async_engine(settings.database_url)
    redis = make_redis(settings)
    try:
        return await OutboxRelay(async_sessionmaker(engine), redis, clock).run_once()
    finally:
        await redis.aclose()
        await engine.dispose()


async def _tokens(settings: Settings, offer_id: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM evidence_timestamp WHERE subject_id::text = $1",
                                       offer_id))
    finally:
        await conn.close()
