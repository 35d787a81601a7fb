"""The audit log: append-only, hash-chained events (reliability.md §4.4, P8, G14).

Each row's `hash` is SHA-256 over the previous row's hash and a canonical JSON form of the row itself, so
editing, deleting or reordering any row breaks the chain from that row on. Rows are chained in id order;
`record()` takes a transaction-level advisory lock so concurrent writers append one at a time (the lock
is released at commit, and a rolled-back event leaves no gap in the chain). The database refuses UPDATE,
DELETE and TRUNCATE on the table (triggers), and the application's role has no such grant either; only a
superuser switching triggers off can edit a row, and `verify_chain()` then names the first broken link.

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
from sqlalchemy import BigInteger, Date, Identity, LargeBinary, String, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.clock import PARIS, Clock
from marketplace.lib.timestamps import TsaClient, verify_token
from marketplace.lib.timestamps import gen_time as token_time

log = logging.getLogger("marketplace.audit")

GENESIS = "0" * 64
# Any constant will do; it only has to be the same for every writer of the chain.
_CHAIN_LOCK = 0x4D4B_5041_5544_4954  # "MKPAUDIT"


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD_AND_NEXT_ID = text("SELECT (SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), "
                         "nextval(pg_get_serial_sequence('audit_event', 'id'))")

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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


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
    await session.execute(_LOCK, {"key": _CHAIN_LOCK})
    # A statement of its own after the lock's: its snapshot must be taken once the lock is held, to see the
    # event its previous holder committed. The id is part of the hash, so it is taken from the sequence first.
    last, event_id = (await session.execute(_HEAD_AND_NEXT_ID)).one()
    prev_hash = last or GENESIS
    at = clock.now()
    target = str(target_id) if target_id is not None else None
    body = _jsonable(details or {})
    digest = chain_hash(prev_hash, canonical(event_id, at, action, actor, organisation_id, target_type,
                                             target, body))
    event = AuditEvent(at=at, action=action, actor=actor, organisation_id=organisation_id,
                       target_type=target_type, target_id=target, details=body, prev_hash=prev_hash,
                       hash=digest)
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
    # The anchors whose token and hash were checked, and the first (by day) that failed, with why.
    anchors_checked: int = 0
    broken_anchor: date | None = None
    anchor_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None and self.broken_anchor is None


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


async def verify_chain(session: AsyncSession, trusted: list[x509.Certificate] | None = None) -> ChainReport:
    """Walk the chain in id order; report the first row whose link or content does not match, and the first
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
        recomputed = chain_hash(recomputed, canonical(row.id, row.at, row.action, row.actor, row.organisation_id,
                                                      row.target_type, row.target_id, row.details))
        for anchor in by_event.pop(row.id, []):
            if recomputed != anchor.event_hash:
                failures[anchor.day] = (f"the chain recomputed up to event {row.id} no longer ends in the hash this "
                                        "anchor time-stamped: an event up to it was edited, deleted or inserted")
        if broken is not None:
            continue
        if row.prev_hash != prev_hash:
            broken = (row.id, "its prev_hash is not the hash of the row before it "
                              "(a row was deleted, inserted or reordered)")
            continue
        expected = chain_hash(prev_hash, canonical(row.id, row.at, row.action, row.actor, row.organisation_id,
                                                   row.target_type, row.target_id, row.details))
        if row.hash != expected:
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
        head = (await session.execute(select(AuditEvent.id, AuditEvent.hash).where(AuditEvent.at < end)
                                      .order_by(AuditEvent.id.desc()).limit(1))).first()
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
