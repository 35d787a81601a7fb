"""Organisations' webhook subscriptions to the public feed (feed.py): created, listed and deleted by the
organisation's administrators (accounts/access.py `administered_organisation`), their delivery log, and the replay
of a range of positions. The signing secret is generated here and shown once, in the creation's answer; the URL is
checked against private addresses (lib/egress.py) here and again before every delivery (delivery.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.access import administered_organisation
from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict, NotFound
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.lib.egress import EgressRefused, check_url
from marketplace.lib.jobs import record_job
from marketplace.lib.webhook_signature import new_secret
from marketplace.opendata import schemas
from marketplace.opendata.errors import InvalidReplayRange, WebhookUrlRefused
from marketplace.opendata.feed import DRAIN_JOB
from marketplace.opendata.models import Webhook, WebhookDelivery
from marketplace.settings import Settings

MAX_REPLAY = 10_000

_REPLAY_NEW = text("""
INSERT INTO webhook_delivery (id, webhook_id, event_id, position, subject_key, status, attempts, next_attempt_at,
                              created_at, updated_at)
SELECT gen_random_uuid(), :webhook, e.id, e.position, e.subject_key, 'pending', 0, :now, :now, :now
FROM feed_event e WHERE e.position BETWEEN :low AND :high
ON CONFLICT (webhook_id, event_id) DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = :now, last_error = NULL, updated_at = :now
""")


def _schema(webhook: Webhook) -> schemas.Webhook:
    return schemas.Webhook(id=webhook.id, organisation_id=webhook.organisation_id, url=webhook.url,
                           description=webhook.description, active=webhook.active, created_at=webhook.created_at)


class WebhookService:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings

    async def create(self, principal: Principal, organisation_id: uuid.UUID,
                     data: schemas.WebhookCreate) -> schemas.WebhookCreated:
        await administered_organisation(self.session, principal, organisation_id)
        url = data.url.strip()
        try:
            check_url(url, allow_private=self.settings.webhook_allow_private)
        except EgressRefused as exc:
            raise WebhookUrlRefused(f"url: {exc}", field="url") from exc
        secret = new_secret()
        webhook = Webhook(organisation_id=organisation_id, url=url, description=data.description.strip(),
                          secret=secret, active=True, created_by=principal.label)
        self.session.add(webhook)
        await self.session.flush()
        await audit.record(self.session, self.clock, "webhook.created", actor=principal.label,
                           organisation_id=organisation_id, target_type="webhook", target_id=webhook.id,
                           details={"url": url})
        base = _schema(webhook)
        return schemas.WebhookCreated(**{f: getattr(base, f) for f in base.__struct_fields__}, secret=secret)

    async def list_webhooks(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.Webhook]:
        await administered_organisation(self.session, principal, organisation_id)
        rows = await self.session.scalars(select(Webhook).where(
            Webhook.organisation_id == organisation_id, Webhook.deleted_at.is_(None)).order_by(Webhook.created_at))
        return [_schema(w) for w in rows]

    async def _own(self, principal: Principal, organisation_id: uuid.UUID, webhook_id: uuid.UUID, *,
                   lock: bool = False) -> Webhook:
        """The organisation's webhook, deleted ones included (their log stays readable)."""
        await administered_organisation(self.session, principal, organisation_id)
        webhook = await self.session.get(Webhook, webhook_id, with_for_update=lock)
        if webhook is None or webhook.organisation_id != organisation_id:
            raise NotFound("No webhook has this id.", field="webhook_id")
        return webhook

    async def delete(self, principal: Principal, organisation_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        """Stops the deliveries (the pending ones are never sent); the log stays. Deleting again changes nothing."""
        webhook = await self._own(principal, organisation_id, webhook_id, lock=True)
        if webhook.deleted_at is not None:
            return
        webhook.active = False
        webhook.deleted_at = self.clock.now()
        await self.session.flush()
        await audit.record(self.session, self.clock, "webhook.deleted", actor=principal.label,
                           organisation_id=organisation_id, target_type="webhook", target_id=webhook.id)

    async def deliveries(self, principal: Principal, organisation_id: uuid.UUID, webhook_id: uuid.UUID, *,
                         limit: int) -> list[schemas.WebhookDelivery]:
        """The delivery log, latest positions first."""
        await self._own(principal, organisation_id, webhook_id)
        rows = await self.session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                                          .order_by(WebhookDelivery.position.desc()).limit(limit))
        return [schemas.WebhookDelivery(
            id=d.id, event_id=d.event_id, position=d.position, subject_key=d.subject_key, status=d.status,
            attempts=d.attempts, next_attempt_at=d.next_attempt_at, last_attempt_at=d.last_attempt_at,
            delivered_at=d.delivered_at, response_status=d.response_status, last_error=d.last_error) for d in rows]

    async def replay(self, principal: Principal, organisation_id: uuid.UUID, webhook_id: uuid.UUID,
                     data: schemas.WebhookReplay) -> schemas.WebhookReplayed:
        """Deliver the events of positions `from`..`to` again (or for the first time, those numbered before the
        webhook existed), with their own ids, so a receiver that kept them recognises them; in feed order."""
        webhook = await self._own(principal, organisation_id, webhook_id, lock=True)
        if webhook.deleted_at is not None:
            raise Conflict("This webhook was deleted: nothing is delivered to it any more.", field="webhook_id")
        if data.to_position < data.from_position:
            raise InvalidReplayRange("to: must not be before from", field="to")
        if data.to_position - data.from_position >= MAX_REPLAY:
            raise InvalidReplayRange(f"to: at most {MAX_REPLAY} positions per replay", field="to")
        now = self.clock.now()
        result = await self.session.execute(_REPLAY_NEW, {"webhook": webhook.id, "now": now,
                                                          "low": data.from_position, "high": data.to_position})
        queued = int(getattr(result, "rowcount", 0) or 0)
        await self.session.execute(update(Webhook).where(Webhook.id == webhook.id).values(updated_at=now))
        if queued:
            await record_job(self.session, self.clock, DRAIN_JOB, str(webhook.id))
        await audit.record(self.session, self.clock, "webhook.replayed", actor=principal.label,
                           organisation_id=organisation_id, target_type="webhook", target_id=webhook.id,
                           details={"from": data.from_position, "to": data.to_position, "queued": queued})
        return schemas.WebhookReplayed(queued=queued)
