"""What the platform published as open data (domain.md §3, §4): OCDS releases and DECP records, both append-only
(the database refuses UPDATE, DELETE and TRUNCATE, migration 0031), and the DECP publication deadlines."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column


class OcdsRelease(UUIDv7AuditBase):
    """One OCDS release as published (§3.1: immutable, its id stable and unique within its ocid). Its JSON is
    never rewritten: new information is a new release; `sha256` is the hash of its canonical JSON (RFC 8785)."""

    __tablename__ = "ocds_release"

    release_id: Mapped[str] = mapped_column(String(400), unique=True)
    ocid: Mapped[str] = mapped_column(String(200), index=True)
    date: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    release: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sha256: Mapped[str] = mapped_column(String(64))


class DecpRecord(UUIDv7AuditBase):
    """§4.1: the essential data of a contract as published, never edited. Sequence 0 is the `marche` itself; each
    modification (avenant) is a row appended with the next sequence, published as `modifications[]`."""

    __tablename__ = "decp_record"
    __table_args__ = (UniqueConstraint("contract_id", "sequence"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    modification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contract_modification.id", ondelete="RESTRICT"), unique=True, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_on: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))


class DecpObligation(UUIDv7AuditBase):
    """§4.1: a notified contract of at least 40,000 € HT owes its essential data within two months of its
    notification: when it was notified, when they are due, when they were published, and when the buying side
    was reminded (once) before the deadline."""

    __tablename__ = "decp_obligation"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), unique=True)
    buyer_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    notified_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    due_on: Mapped[date] = mapped_column(Date, index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # What the national portal answered (the publisher adapter's receipt), or why it refused.
    portal_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)


class FeedEvent(UUIDv7AuditBase):
    """One public change (an OCDS release or a DECP record stored), written by a trigger in the transaction that
    stores it (migration 0033), so it exists iff the change committed. `position` is NULL until the feed's single
    sequencer (feed.py) numbers it, after its commit: the feed's order is the order of commits as seen by the
    sequencer, never the order ids were taken."""

    __tablename__ = "feed_event"
    __table_args__ = (Index("ix_feed_event_unsequenced", "created_at", "id",
                            postgresql_where=text("position IS NULL")),)

    position: Mapped[int | None] = mapped_column(BigInteger, unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(400))
    # The object whose events must reach a subscriber in order: the ocid of a release, the contract of a record.
    subject_key: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(String(700))
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class Webhook(UUIDv7AuditBase):
    """An organisation's subscription to the feed: every event numbered after its creation is POSTed to `url`,
    signed with `secret` (Standard Webhooks). Deleting it stops the deliveries and keeps their log."""

    __tablename__ = "webhook"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class WebhookDelivery(UUIDv7AuditBase):
    """One event owed to one webhook, and what became of it (the delivery log): pending until the subscriber
    answers 2xx (delivered), retried with a growing delay, failed when the attempts run out."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("webhook_id", "event_id"),
                      Index("ix_webhook_delivery_queue", "webhook_id", "position",
                            postgresql_where=text("status <> 'delivered'")))

    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook.id", ondelete="RESTRICT"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feed_event.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(BigInteger)
    subject_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
