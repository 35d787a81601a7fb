"""The audit log: append-only, hash-chained events (reliability.md §4.4, P8, G14).

Each row's `hash` is SHA-256 over the previous row's hash and a canonical JSON form of the row itself, so
editing, deleting or reordering any row breaks the chain from that row on. Rows are chained in id order;
`record()` takes a transaction-level advisory lock so concurrent writers append one at a time (the lock
is released at commit, and a rolled-back event leaves no gap in the chain). The database refuses UPDATE,
DELETE and TRUNCATE on the table (triggers), and the application's role has no such grant either; only a
superuser switching triggers off can edit a row, and `verify_chain()` then names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.base import orm_registry
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Identity, String, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.clock import Clock

GENESIS = "0" * 64
# Any constant will do; it only has to be the same for every writer of the chain.
_CHAIN_LOCK = 0x4D4B_5041_5544_4954  # "MKPAUDIT"


class AuditEvent(orm_registry.generate_base()):  # type: ignore[misc]
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    action: Mapped[str] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    target_type: Mapped[str | None] = mapped_column(String(50), default=None)
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


def canonical(
    event_id: int, at: datetime, action: str, actor: str, organisation_id: uuid.UUID | None,
    target_type: str | None, target_id: str | None, details: dict[str, Any],
) -> bytes:
    """The bytes that are hashed: stable across Python and PostgreSQL round trips."""
    document = {
        "id": event_id, "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "action": action,
        "actor": actor, "organisation": str(organisation_id) if organisation_id else None,
        "target": [target_type, target_id], "details": details,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    # What jsonb gives back is what gets re-hashed, so store exactly the JSON round trip.
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str))
    return loaded


async def record(session: AsyncSession, clock: Clock, action: str, *, actor: str,
                 organisation_id: uuid.UUID | None = None, target_type: str | None = None,
                 target_id: str | uuid.UUID | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event in the caller's transaction: it exists iff the business change commits."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = (await session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    )).scalar_one_or_none()
    prev_hash = last or GENESIS
    event_id = (await session.execute(
        text("SELECT nextval(pg_get_serial_sequence('audit_event', 'id'))")
    )).scalar_one()
    at = clock.now()
    target = str(target_id) if target_id is not None else None
    body = _jsonable(details or {})
    digest = chain_hash(prev_hash, canonical(event_id, at, action, actor, organisation_id, target_type,
                                             target, body))
    event = AuditEvent(at=at, action=action, actor=actor, organisation_id=organisation_id,
                       target_type=target_type, target_id=target, details=body, prev_hash=prev_hash,
                       hash=digest)
    # The id is part of the hash, so it is taken from the sequence before the insert.
    await session.execute(
        AuditEvent.__table__.insert().values(id=event_id, **{
            c: getattr(event, c) for c in ("at", "action", "actor", "organisation_id", "target_type",
                                           "target_id", "details", "prev_hash", "hash")})
    )
    event.id = event_id
    return event


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    first_broken_id: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


async def _rows(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        rows = (await session.scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        )).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the chain in id order; report the first row whose link or content does not match."""
    prev_hash = GENESIS
    checked = 0
    async for row in _rows(session):
        if row.prev_hash != prev_hash:
            return ChainReport(checked, row.id, "its prev_hash is not the hash of the row before it "
                                                "(a row was deleted, inserted or reordered)")
        expected = chain_hash(prev_hash, canonical(row.id, row.at, row.action, row.actor, row.organisation_id,
                                                   row.target_type, row.target_id, row.details))
        if row.hash != expected:
            return ChainReport(checked, row.id, "its content does not match its hash (the row was edited)")
        prev_hash = row.hash
        checked += 1
    return ChainReport(checked, None, None)
