"""What the platform published as open data (domain.md §3, §4): OCDS releases and DECP records, both append-only
(the database refuses UPDATE, DELETE and TRUNCATE, migration 0031), and the DECP publication deadlines."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
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
