"""Webhooks (opendata/webhooks.py, delivery.py), against a real HTTP receiver on a free port: down (nothing
listens) while the first events are published, then up. Every event arrives once back up, in order per object,
each signature verifies with the secret shown at creation, a tampered body fails verification (Must show 3).

The outbox is played as the relay and the worker do (`run_outbox`): due `drain_webhook` intents, each run by the
job function with its intent id (which marks it done), so the backoff's delayed intents are what brings the
retries."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, create_app
from marketplace.lib import webhook_signature
from marketplace.lib.clock import system_clock
from marketplace.lib.egress import EgressRefused, check_url, resolve
from marketplace.opendata.jobs import drain_webhook, sequence_feed
from marketplace.settings import Settings
from tests.opendata.test_feed import store_release
from tests.vendors.api import fetch
from tests.world import World

OBJECTS = ("ocds-sad000-hook-a", "ocds-sad000-hook-b", "ocds-sad000-hook-c")
EVENTS_PER_OBJECT = 3


@dataclass
class Receiver:
    """A subscriber's endpoint: keeps every request; answers 500 once to the first event of `flaky` objects."""

    port: int
    flaky: tuple[str, ...] = ()
    received: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self
        refused: set[str] = set()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = json.loads(body)["data"]["subjectKey"]
                status = 204
                if key in receiver.flaky and key not in refused:
                    refused.add(key)
                    status = 500
                receiver.received.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for status, headers, body in self.received if status == 204]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    # The receiver is on loopback: the SSRF guard lets it through only with the setting on; quick retries.
    return settings.with_(webhook_allow_private=True, webhook_backoff_seconds=0.2)


@pytest.fixture
async def hook_client(hook_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(hook_settings)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port(), flaky=(OBJECTS[1],))
    yield found
    found.stop()


@pytest.fixture
async def ctx(hook_settings: Settings) -> AsyncIterator[dict[str, Any]]:
    engine = create_async_engine(hook_settings.database_url)
    yield {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": system_clock,
           "settings": hook_settings, "engine": engine}
    await engine.dispose()


async def run_outbox(ctx: dict[str, Any], settings: Settings, seconds: float,
                     until: Any = None) -> None:
    """Run the due drain intents as the worker would, for `seconds` or until `until()` holds."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and await until(conn):
                return
            # Pending, or already handed to Redis by the app's own relay (no arq worker runs here to take it).
            due = await conn.fetch("SELECT id, args FROM job_intent WHERE name = 'drain_webhook' "
                                   "AND status IN ('pending', 'enqueued') AND available_at <= now() "
                                   "ORDER BY available_at")
            for intent in due:
                await drain_webhook({**ctx, "job_id": str(intent["id"])}, *json.loads(intent["args"]))
            await asyncio.sleep(0.05)
        if until is not None:
            raise AssertionError("the outbox did not finish in time")
    finally:
        await conn.close()


async def all_delivered(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered'") == 0)


async def create_webhook(client: AsyncTestClient[Litestar], world: World, url: str) -> dict[str, Any]:
    holder = world.organisations["holder"]
    response = await client.post(f"/organisations/{holder}/webhooks", headers=world["holder_admin"].headers,
                                 json={"url": url, "description": "Entrepôt de données"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_receiver_down_gets_every_event_once_back_up_in_order_per_object_signed(
        hook_settings: Settings, hook_client: AsyncTestClient[Litestar], world: World, receiver: Receiver,
        ctx: dict[str, Any]) -> None:
    hook = await create_webhook(hook_client, world, f"http://127.0.0.1:{receiver.port}/hook")
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    holder = world.organisations["holder"]
    listed = (await hook_client.get(f"/organisations/{holder}/webhooks",
                                    headers=world["holder_admin"].headers)).json()
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]

    # Published while nobody listens: each object's events one after the other, the objects interleaved.
    expected: dict[str, list[str]] = {ocid: [] for ocid in OBJECTS}
    for n in range(EVENTS_PER_OBJECT):
        for ocid in OBJECTS:
            release_id = f"{ocid}-tender-{n}"
            await store_release(ctx["engine"], ocid, release_id, 0)
            expected[ocid].append(release_id)
            await sequence_feed(ctx)  # numbered in several runs, as the cron would
    await run_outbox(ctx, hook_settings, 1.5)
    conn = await asyncpg.connect(asyncpg_dsn(hook_settings.database_url))
    try:
        log = await conn.fetch("SELECT status, attempts, last_error FROM webhook_delivery")
    finally:
        await conn.close()
    assert len(log) == len(OBJECTS) * EVENTS_PER_OBJECT
    assert all(row["status"] == "pending" for row in log)
    assert any(row["attempts"] >= 1 and "Connect" in (row["last_error"] or "") for row in log), [dict(r) for r in log]
    assert receiver.received == []

    receiver.start()
    await run_outbox(ctx, hook_settings, 60, until=all_delivered)

    accepted = receiver.accepted()
    ids = [headers["webhook-id"] for headers, _ in accepted]
    assert len(ids) == len(set(ids)) == len(OBJECTS) * EVENTS_PER_OBJECT, "an event arrived twice or never"
    by_object: dict[str, list[str]] = {ocid: [] for ocid in OBJECTS}
    for headers, body in accepted:
        document = json.loads(body)
        assert document["data"]["id"] == headers["webhook-id"]
        by_object[document["data"]["subjectKey"]].append(document["data"]["objectId"])
        assert webhook_signature.verify(secret, headers["webhook-id"], headers["webhook-timestamp"],
                                        headers["webhook-signature"], body, now=time.time())
        tampered = body.replace(b'"ocds.release"', b'"ocds.forged"', 1)
        assert tampered != body
        assert not webhook_signature.verify(secret, headers["webhook-id"], headers["webhook-timestamp"],
                                            headers["webhook-signature"], tampered, now=time.time())
        assert not webhook_signature.verify(webhook_signature.new_secret(), headers["webhook-id"],
                                            headers["webhook-timestamp"], headers["webhook-signature"], body,
                                            now=time.time())
    assert by_object == expected
    # The flaky object's first event was refused once: its later events waited for it (in order per object).
    flaky = [json.loads(body)["data"]["objectId"] for status, _, body in receiver.received
             if json.loads(body)["data"]["subjectKey"] == OBJECTS[1]]
    assert flaky == [expected[OBJECTS[1]][0], *expected[OBJECTS[1]]]

    deliveries = await hook_client.get(f"/organisations/{holder}/webhooks/{hook['id']}/deliveries",
                                       headers=world["holder_admin"].headers)
    assert deliveries.status_code == 200, deliveries.text
    assert {d["status"] for d in deliveries.json()} == {"delivered"}
    assert all(d["responseStatus"] == 204 for d in deliveries.json())
    # While the receiver was down each object's first event was tried (and retried); the later ones waited.
    firsts = {d["subjectKey"]: d for d in sorted(deliveries.json(), key=lambda d: -d["position"])}
    assert all(d["attempts"] >= 2 for d in firsts.values()), firsts

    # Replay of positions 1..3: the same events again, with their own ids, in feed order.
    before = len(accepted)
    replay = await hook_client.post(f"/organisations/{holder}/webhooks/{hook['id']}/replay",
                                    headers=world["holder_admin"].headers, json={"from": 1, "to": 3})
    assert replay.status_code == 202, replay.text
    assert replay.json() == {"queued": 3}
    await run_outbox(ctx, hook_settings, 30, until=all_delivered)
    again = [json.loads(body)["data"] for _, body in receiver.accepted()[before:]]
    assert [d["position"] for d in again] == [1, 2, 3]
    assert {d["id"] for d in again} <= set(ids)


async def test_a_tampered_or_stale_message_fails_verification() -> None:
    secret = webhook_signature.new_secret()
    body = b'{"type":"ocds.release"}'
    now = int(time.time())
    headers = webhook_signature.headers(secret, "msg_1", now, body)
    assert webhook_signature.verify(secret, "msg_1", str(now), headers["Webhook-Signature"], body, now=now)
    assert not webhook_signature.verify(secret, "msg_1", str(now), headers["Webhook-Signature"], body + b" ", now=now)
    assert not webhook_signature.verify(secret, "msg_2", str(now), headers["Webhook-Signature"], body, now=now)
    assert not webhook_signature.verify(secret, "msg_1", str(now + 1), headers["Webhook-Signature"], body, now=now)
    # A timestamp more than five minutes off is a replay, refused even with a valid signature.
    assert not webhook_signature.verify(secret, "msg_1", str(now), headers["Webhook-Signature"], body,
                                        now=now + 301)


@pytest.mark.parametrize(("url", "status"), [
    ("http://127.0.0.1:8080/hook", 422), ("http://10.1.2.3/hook", 422), ("http://localhost/hook", 422),
    ("http://[::1]/hook", 422), ("http://169.254.169.254/latest/meta-data", 422),
    ("https://user:pw@hooks.example.org/x", 422), ("http://0.0.0.0/hook", 422),
    ("http://[::ffff:127.0.0.1]/hook", 422), ("http://[abc/hook", 422), ("http://hooks.example.org:99999/", 422),
    # Not an http(s) URL at all: the document's pattern refuses it.
    ("ftp://hooks.example.org/x", 400), ("hooks.example.org/x", 400)])
async def test_a_private_address_is_refused(client: AsyncTestClient[Litestar], world: World, url: str,
                                            status: int) -> None:
    holder = world.organisations["holder"]
    response = await client.post(f"/organisations/{holder}/webhooks", headers=world["holder_admin"].headers,
                                 json={"url": url})
    assert response.status_code == status, response.text
    assert response.json()["field"] == "url"


def _private_only(name: str) -> bool:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        return False
    return bool(addresses) and not any(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)


async def test_a_name_resolving_to_a_private_address_is_refused_before_the_request() -> None:
    """A host name passes the check at creation (DNS may change); every delivery resolves it first and refuses a
    private answer, so DNS can't turn a webhook against the platform's network (lib/egress.py)."""
    # A name that resolves to a private address without DNS: the machine's own name, or /etc/hosts' IPv6 ones.
    name = next((n for n in (socket.gethostname(), "ip6-localhost", "ip6-loopback") if _private_only(n)), None)
    if name is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no host name resolving to a private address only: the DNS check is not exercised")
        pytest.skip("no host name resolving to a private address only on this machine")
    check_url(f"http://{name}/hook", allow_private=False)
    with pytest.raises(EgressRefused, match="not public"):
        await resolve(f"http://{name}/hook", allow_private=False)


async def test_only_the_organisations_admins_manage_its_webhooks(
        settings: Settings, client: AsyncTestClient[Litestar], world: World) -> None:
    holder = world.organisations["holder"]
    created = await client.post(f"/organisations/{holder}/webhooks", headers=world["holder_admin"].headers,
                                json={"url": "https://hooks.example.org/marketplace"})
    assert created.status_code == 201, created.text
    hook = created.json()
    for person, status in (("holder_member", 403), ("other_holder_admin", 404), ("vendor_admin", 404)):
        listed = await client.get(f"/organisations/{holder}/webhooks", headers=world[person].headers)
        assert listed.status_code == status, (person, listed.text)
    assert (await client.get(f"/organisations/{holder}/webhooks")).status_code == 401
    backwards = await client.post(f"/organisations/{holder}/webhooks/{hook['id']}/replay",
                                  headers=world["holder_admin"].headers, json={"from": 3, "to": 2})
    assert backwards.status_code == 422 and backwards.json()["field"] == "to", backwards.text
    deleted = await client.delete(f"/organisations/{holder}/webhooks/{hook['id']}",
                                  headers=world["holder_admin"].headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/organisations/{holder}/webhooks", headers=world["holder_admin"].headers)).json() == []
    again = await client.delete(f"/organisations/{holder}/webhooks/{hook['id']}",
                                headers=world["holder_admin"].headers)
    assert again.status_code == 204
    kept = await client.get(f"/organisations/{holder}/webhooks/{hook['id']}/deliveries",
                            headers=world["holder_admin"].headers)
    assert kept.status_code == 200 and kept.json() == []
    refused = await client.post(f"/organisations/{holder}/webhooks/{hook['id']}/replay",
                                headers=world["holder_admin"].headers, json={"from": 1, "to": 2})
    assert refused.status_code == 409, refused.text
    assert refused.json()["field"] == "webhook_id"
    actions = [r["action"] for r in await fetch(settings, "SELECT action FROM audit_event WHERE target_id = $1 "
                                                          "ORDER BY id", hook["id"])]
    assert actions == ["webhook.created", "webhook.deleted"]  # the second deletion changed nothing
    missing = await client.post(f"/organisations/{holder}/webhooks/{uuid.uuid4()}/replay",
                                headers=world["holder_admin"].headers, json={"from": 1, "to": 2})
    assert missing.status_code == 404
