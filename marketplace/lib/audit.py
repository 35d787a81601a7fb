"""The audit log: append-only, hash-chained events (reliability.md §4.4, P8, G14).

Each event is linked to the one before it in the chain: its `hash` is SHA-256 over the previous event's hash, its
id and the SHA-256 of its canonical JSON (`content_sha256`), so editing, deleting, inserting or reordering any
event breaks the chain from there on. `record()` inserts the event with its content's digest, in the caller's
transaction; the link is set when that transaction commits, by a deferred trigger of the database (migration
0037) that takes a transaction-level advisory lock, reads the chain's head and links the event after it. So the
chain's order (`chain_position`) is the order of the commits, a rolled-back event leaves no gap, and the lock is
held only while the database commits, never across the application's round trips. The events recorded before
that migration were linked by the application, in id order, their hash over the canonical JSON with the id
(`canonical`); `link_hash` checks both forms.

The database refuses UPDATE (but that link, once), DELETE and TRUNCATE on the table (triggers), and the
application's role has no other grant either; only a superuser switching triggers off can edit a row, and
`verify_chain()` then names the first broken link.

A superuser could also rewrite every hash after the row it edits, leaving a chain that verifies. Against that,
the daily anchor (G14): once a day the hash of the chain's head is time-stamped by the TSA (RFC 3161, its
imprint the head event's hash itself, a SHA-256) and kept in `audit_anchor`, append-only like the log.
`verify_chain()` recomputes the chain from its first event and checks every anchor: its token (against the
trusted TSA certificates) and that the chain, recomputed up to the anchored event, still ends in the anchored
hash. An anchored event edited, deleted or preceded by an insertion fails the anchor, which is named by its day.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from advanced_alchemy.base import orm_registry
from advanced_alchemy.types import DateTimeUTC
from cryptography import x509
from sqlalchemy import BigInteger, Date, Identity, LargeBinary, String, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.clock import PARIS, Clock
from marketplace.lib.timestamps import TsaClient, verify_token
from marketplace.lib.timestamps import gen_time as token_time

log = logging.getLogger("marketplace.audit")

GENESIS = "0" * 64

_Base = orm_registry.generate_base()


class AuditEvent(_Base):  # type: ignore[misc,valid-type]
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    action: Mapped[str] = mapped_column(String(100), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    target_type: Mapped[str | None] = mapped_column(String(50), default=None)
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The SHA-256 of `content` (None for the events linked before migration 0037, whose hash covers it).
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # The link, set when the event's transaction commits (migration 0037's trigger): never None once committed.
    chain_position: Mapped[int | None] = mapped_column(BigInteger, unique=True, default=None)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)


# Built once, its values bound by name (`record`).
_INSERT = AuditEvent.__table__.insert().returning(AuditEvent.id)


class AuditAnchor(_Base):  # type: ignore[misc,valid-type]
    """A day's anchor of the chain (G14): the head event's hash then, time-stamped. Append-only (migration 0032)."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The Paris day anchored: its last event, or the head when the anchor was taken that same day.
    day: Mapped[date] = mapped_column(Date, unique=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


def canonical(
    event_id: int | None, at: datetime, action: str, actor: str, organisation_id: uuid.UUID | None,
    target_type: str | None, target_id: str | None, details: dict[str, Any],
) -> bytes:
    """The bytes that are hashed: stable across Python and PostgreSQL round trips. Without the id (None) for the
    events linked at commit, whose id enters their link instead (`link_hash`)."""
    document: dict[str, Any] = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "action": action,
        "actor": actor, "organisation": str(organisation_id) if organisation_id else None,
        "target": [target_type, target_id], "details": details,
    }
    if event_id is not None:
        document["id"] = event_id
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    """The link of an event recorded before migration 0037."""
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def content_sha256(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(None, event.at, event.action, event.actor,
                                    event.organisation_id, event.target_type, event.target_id,
                                    event.details)).hexdigest()


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    """What `event`'s hash must be after `prev_hash`, recomputed from its content alone (its stored digest is not
    trusted): as migration 0037's trigger computes it, or as the application did before."""
    if event.content_sha256 is None:
        return chain_hash(prev_hash, canonical(event.id, event.at, event.action, event.actor, event.organisation_id,
                                               event.target_type, event.target_id, event.details))
    return hashlib.sha256(f"{prev_hash}:{event.id}:{content_sha256(event)}".encode()).hexdigest()


INSERTED = ("at", "action", "actor", "organisation_id", "target_type", "target_id", "details", "content_sha256")


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    # What jsonb gives back is what gets re-hashed, so store exactly the JSON round trip.
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str))
    return loaded


async def record(session: AsyncSession, clock: Clock, action: str, *, actor: str,
                 organisation_id: uuid.UUID | None = None, target_type: str | None = None,
                 target_id: str | uuid.UUID | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event in the caller's transaction: it exists iff the business change commits, and is linked to
    the chain then (migration 0037's trigger): its `hash` is None until the commit."""
    values = event_values(clock, action, actor=actor, organisation_id=organisation_id, target_type=target_type,
                          target_id=target_id, details=details)
    event = AuditEvent(**values)
    event.id = (await session.execute(_INSERT, values)).scalar_one()
    return event


def event_values(clock: Clock, action: str, *, actor: str, organisation_id: uuid.UUID | None = None,
                 target_type: str | None = None, target_id: str | uuid.UUID | None = None,
                 details: dict[str, Any] | None = None) -> dict[str, Any]:
    """An event's row, by column, for a statement that inserts it with other writes (`record`'s); linked at the
    commit like any other."""
    event = AuditEvent(at=clock.now(), action=action, actor=actor, organisation_id=organisation_id,
                       target_type=target_type, target_id=str(target_id) if target_id is not None else None,
                       details=_jsonable(details or {}))
    event.content_sha256 = content_sha256(event)
    return {c: getattr(event, c) for c in INSERTED}


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    first_broken_id: int | None
    reason: str | None
    # The anchors whose token and hash were checked, and the first (by day) that failed, with why.
    anchors_checked: int = 0
    broken_anchor: date | None = None
    anchor_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None and self.broken_anchor is None


async def _rows(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    """Every event in the chain's order, then those with no place in it (inserted with the triggers off)."""
    after = 0
    while True:
        rows = (await session.scalars(
            select(AuditEvent).where(AuditEvent.chain_position > after).order_by(AuditEvent.chain_position)
            .limit(batch))).all()
        if not rows:
            break
        for row in rows:
            yield row
        after = rows[-1].chain_position or after
    for row in (await session.scalars(select(AuditEvent).where(AuditEvent.chain_position.is_(None))
                                      .order_by(AuditEvent.id))).all():
        yield row


async def verify_chain(session: AsyncSession, trusted: list[x509.Certificate] | None = None) -> ChainReport:
    """Walk the chain in its order; report the first event whose link or content does not match, and the first
    anchor whose token does not verify against `trusted` (the TSA certificates) or whose hash the chain,
    recomputed from its first event, no longer reaches."""
    anchors = (await session.scalars(select(AuditAnchor).order_by(AuditAnchor.day))).all()
    by_event: dict[int, list[AuditAnchor]] = {}
    for anchor in anchors:
        by_event.setdefault(anchor.event_id, []).append(anchor)
    failures: dict[date, str] = {}
    prev_hash = recomputed = GENESIS
    checked = 0
    broken: tuple[int, str] | None = None
    async for row in _rows(session):
        # From the content alone, whatever the stored hashes say: a rewritten chain can't reach an anchor.
        recomputed = link_hash(recomputed, row)
        for anchor in by_event.pop(row.id, []):
            if recomputed != anchor.event_hash:
                failures[anchor.day] = (f"the chain recomputed up to event {row.id} no longer ends in the hash this "
                                        "anchor time-stamped: an event up to it was edited, deleted or inserted")
        if broken is not None:
            continue
        if row.chain_position is None or row.hash is None:
            broken = (row.id, "it has no place in the chain (a row was inserted with the triggers off)")
            continue
        if row.prev_hash != prev_hash:
            broken = (row.id, "its prev_hash is not the hash of the row before it "
                              "(a row was deleted, inserted or reordered)")
            continue
        if row.hash != link_hash(prev_hash, row):
            broken = (row.id, "its content does not match its hash (the row was edited)")
            continue
        prev_hash = row.hash
        checked += 1
    for missing in by_event.values():
        for anchor in missing:
            failures[anchor.day] = f"its event {anchor.event_id} is not in the chain (it was deleted)"
    _check_anchor_tokens(anchors, trusted, failures)
    first_day = min(failures, default=None)
    return ChainReport(checked, broken[0] if broken else None, broken[1] if broken else None,
                       anchors_checked=len(anchors), broken_anchor=first_day,
                       anchor_reason=failures[first_day] if first_day else None)


def _check_anchor_tokens(anchors: Sequence[AuditAnchor], trusted: list[x509.Certificate] | None,
                         failures: dict[date, str]) -> None:
    for anchor in anchors:
        if anchor.day in failures:
            continue
        if not trusted:
            failures[anchor.day] = "no TSA certificate is configured (MARKETPLACE_TSA_CERTIFICATE) to check its token"
            continue
        check = verify_token(anchor.token, None, trusted, sha256=bytes.fromhex(anchor.event_hash))
        if not check.ok:
            failures[anchor.day] = f"its time-stamp token does not verify: {check.reason}"


# -- the daily anchor ----------------------------------------------------------------------------------------


def paris_day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)


async def anchor_chain(session_maker: Any, clock: Clock, client: TsaClient, day: date | None = None
                       ) -> AuditAnchor | None:
    """Time-stamp the chain's head of `day` (Paris; today by default): its last event recorded before that day's
    end, or before now. The day's anchor if there is one already; None when no event was recorded by then.
    Raises lib.timestamps.TsaUnavailable when the TSA gives no token (the cron job tries again the next hour)."""
    day = day or clock.now().astimezone(PARIS).date()
    async with session_maker() as session:
        existing: AuditAnchor | None = await session.scalar(select(AuditAnchor).where(AuditAnchor.day == day))
        if existing is not None:
            return existing
        end = min(clock.now(), paris_day_end(day))
        head = (await session.execute(select(AuditEvent.id, AuditEvent.hash).where(
            AuditEvent.at < end, AuditEvent.chain_position.is_not(None))
            .order_by(AuditEvent.chain_position.desc()).limit(1))).first()
    if head is None:
        return None
    token = await client.stamp(bytes.fromhex(head.hash))
    async with session_maker() as session, session.begin():
        await session.execute(insert(AuditAnchor).values(
            day=day, event_id=head.id, event_hash=head.hash, token=token, gen_time=token_time(token),
            created_at=clock.now()).on_conflict_do_nothing(index_elements=["day"]))
        anchor: AuditAnchor | None = await session.scalar(select(AuditAnchor).where(AuditAnchor.day == day))
        assert anchor is not None
        if anchor.event_id == head.id and anchor.token == token:
            await record(session, clock, "audit.anchored", actor="system", target_type="audit_anchor",
                         target_id=str(anchor.id), details={"day": day.isoformat(), "event_id": head.id,
                                                            "event_hash": head.hash,
                                                            "gen_time": anchor.gen_time.isoformat()})
    return anchor


async def anchor_previous_day(ctx: dict[str, Any]) -> str:
    """The worker's cron (hourly): anchor yesterday's chain head once, trying again the next hour while the
    TSA does not answer (`anchor_chain`)."""
    from marketplace.lib.timestamps import TsaUnavailable

    client = TsaClient.from_settings(ctx["settings"])
    if client is None:
        return "no-tsa"
    clock: Clock = ctx["clock"]
    yesterday = clock.now().astimezone(PARIS).date() - timedelta(days=1)
    try:
        anchor = await anchor_chain(ctx["session_maker"], clock, client, yesterday)
    except TsaUnavailable as exc:
        log.warning("audit.anchor_tsa_unavailable", extra={"day": yesterday.isoformat(), "error": str(exc)})
        return "tsa-unavailable"
    return "no-event" if anchor is None else f"anchored {anchor.day.isoformat()} at event {anchor.event_id}"
