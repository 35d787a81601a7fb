"""Delivering the feed to webhooks: at least once, in order per object, signed, retried with backoff.

One job per webhook, `drain_webhook(webhook_id)`, recorded in the outbox (lib/jobs.py) by the feed's sequencer
when it hands the webhook new events, by a replay, and by the job itself when work is left. It runs under a
transaction-level advisory lock on the webhook: two drains of the same webhook never run at once (the second waits,
then finds what the first left), so the order below holds across workers.

A drain takes the webhook's undelivered events in feed order. An event whose object (`subject_key`: the ocid, the
contract) already has an earlier event undelivered in this pass (failed now, waiting for its retry, or given up)
is held back: event n+1 of an object is never sent before event n succeeded. Others go on: one object's failure
does not stop the rest. A POST answered 2xx is delivered; anything else (no connection, a timeout, a 3xx, 4xx or
5xx) counts an attempt and waits `webhook_backoff_seconds * 2**(attempts-1)` (capped at an hour) before the next;
after MAX_ATTEMPTS the delivery is failed and holds its object until a replay (webhooks.py). When work is left the
drain records its next run in the outbox, delayed until the earliest retry is due.

Each request is signed as Standard Webhooks says (lib/webhook_signature.py): `Webhook-Id` is the event's id (the
idempotency key: the same on every retry and replay, so a receiver drops what it already has),
`Webhook-Timestamp` the attempt's time, `Webhook-Signature` the HMAC-SHA256 of `id.timestamp.body`. The URL is
resolved and checked before each attempt and the request goes to the address checked (lib/egress.py).
A delivery is marked after the answer: a worker that dies in between sends the event again (at least once).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.lib import webhook_signature
from marketplace.lib.clock import Clock
from marketplace.lib.egress import EgressRefused, resolve
from marketplace.lib.jobs import record_job
from marketplace.opendata.feed import DRAIN_JOB
from marketplace.opendata.models import FeedEvent, Webhook, WebhookDelivery
from marketplace.settings import Settings

log = logging.getLogger("marketplace.opendata.webhooks")

MAX_ATTEMPTS = 15
MAX_DELAY = 3600.0
REQUEST_TIMEOUT = 10.0
BATCH = 500
# A drain stops taking new deliveries after this long and records its continuation (the worker's job limit is
# 120 s, worker.py).
WORK_SECONDS = 60.0
_LOCK_SPACE = 0x5EB400


def lock_key(webhook_id: uuid.UUID) -> int:
    return (_LOCK_SPACE << 32) | zlib.crc32(webhook_id.bytes)


def backoff(settings: Settings, attempts: int) -> float:
    return float(min(settings.webhook_backoff_seconds * 2 ** max(attempts - 1, 0), MAX_DELAY))


def payload(event: FeedEvent, settings: Settings) -> bytes:
    """The body: the feed's item, as GET /feed lists it, under the Standard Webhooks envelope."""
    data = {"position": event.position, "id": str(event.id), "kind": event.kind, "objectId": event.object_id,
            "subjectKey": event.subject_key, "occurredAt": event.occurred_at.isoformat(),
            "url": settings.public_base_url.rstrip("/") + event.url}
    return json.dumps({"type": event.kind, "timestamp": event.occurred_at.isoformat(), "data": data},
                      separators=(",", ":"), sort_keys=True).encode()


async def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> int:
    """POST to the address checked (the host's name in Host and in TLS's SNI, so the certificate is checked
    against it); returns the status, raises EgressRefused or httpx.HTTPError."""
    address = await resolve(url, allow_private=allow_private)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{host}:{port}").geturl()
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, follow_redirects=False) as client:
        response = await client.post(pinned, content=body, headers={**headers, "Host": host_header or ""},
                                     extensions=extensions)
    return response.status_code


class Drain:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings,
                 monotonic: Callable[[], float] | None = None) -> None:
        self.session_maker = session_maker
        self.clock = clock
        self.settings = settings
        self.monotonic = monotonic or time.monotonic

    async def run(self, webhook_id: uuid.UUID) -> int:
        """Deliver what is due; returns how many were delivered."""
        # The lock's transaction holds one connection while the attempts commit on another: at most MAX_JOBS (20)
        # drains hold one each, below the worker's pool (20 + 10 overflow), so the second is always found.
        async with self.session_maker() as holder, holder.begin():
            await holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(webhook_id)})
            return await self._drain(webhook_id)

    async def _drain(self, webhook_id: uuid.UUID) -> int:
        async with self.session_maker() as session, session.begin():
            webhook = await session.get(Webhook, webhook_id)
            if webhook is None or not webhook.active:
                return 0
            url, secret = webhook.url, webhook.secret
            rows = (await session.execute(
                select(WebhookDelivery, FeedEvent).join(FeedEvent, FeedEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status != "delivered")
                .order_by(WebhookDelivery.position).limit(BATCH))).all()
        started = self.monotonic()
        held: set[str] = set()
        wake: datetime | None = None
        delivered = 0
        left_over = len(rows) == BATCH
        for delivery, event in rows:
            if delivery.subject_key in held:
                continue
            now = self.clock.now()
            if delivery.status == "failed":
                held.add(delivery.subject_key)
                continue
            if delivery.next_attempt_at > now:
                held.add(delivery.subject_key)
                wake = min(wake or delivery.next_attempt_at, delivery.next_attempt_at)
                continue
            if self.monotonic() - started > WORK_SECONDS:
                left_over = True
                break
            ok, retry_at = await self._attempt(delivery, event, url, secret)
            if ok:
                delivered += 1
                continue
            held.add(delivery.subject_key)
            if retry_at is not None:
                wake = min(wake or retry_at, retry_at)
        if left_over or wake is not None:
            now = self.clock.now()
            delay = timedelta(0) if left_over or wake is None else max(wake - now, timedelta(0))
            async with self.session_maker() as session, session.begin():
                await record_job(session, self.clock, DRAIN_JOB, str(webhook_id), delay=delay)
        return delivered

    async def _attempt(self, delivery: WebhookDelivery, event: FeedEvent, url: str,
                       secret: str) -> tuple[bool, datetime | None]:
        """One POST: (delivered, when to retry; None once given up)."""
        body = payload(event, self.settings)
        now = self.clock.now()
        headers = webhook_signature.headers(secret, str(event.id), int(now.timestamp()), body)
        status: int | None = None
        error: str | None = None
        try:
            status = await post(url, body, headers, allow_private=self.settings.webhook_allow_private)
            if not 200 <= status < 300:
                error = f"answered {status}"
        except EgressRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:2000]
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, "response_status": status,
                                  "updated_at": now}
        outcome: tuple[bool, datetime | None]
        if error is None:
            values |= {"status": "delivered", "delivered_at": now, "last_error": None}
            outcome = (True, None)
        elif attempts >= MAX_ATTEMPTS:
            values |= {"status": "failed", "last_error": f"{error} (gave up after {attempts} attempts)"}
            outcome = (False, None)
            log.error("webhook.failed", extra={"delivery": str(delivery.id), "error": error})
        else:
            retry_at = now + timedelta(seconds=backoff(self.settings, attempts))
            outcome = (False, retry_at)
            values |= {"next_attempt_at": retry_at, "last_error": error}
            log.warning("webhook.retry", extra={"delivery": str(delivery.id), "attempt": attempts, "error": error})
        async with self.session_maker() as session, session.begin():
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values))
        return outcome
