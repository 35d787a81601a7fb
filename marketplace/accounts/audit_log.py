"""The audit log, read: events filtered and paged by keyset, the chain's verification, an evidence bundle per
object (P8, G14).

Who reads what, written once here (`_scope`): a platform admin reads every event; an organisation's admin reads
the events recorded for its own organisation (`organisation_id`), nothing else: another organisation named in
a filter is a 404, as everywhere in accounts/access.py. Verifying the chain reads every event, so it is the
platform admins' only; it checks the daily anchors too (G14: their tokens against the TSA certificates of the
settings, their hashes against the chain recomputed). Reading is audited where it hands evidence out (a
verification, a bundle).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.sql import Select

from marketplace.accounts import schemas
from marketplace.accounts.base import ServiceBase
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMINS
from marketplace.errors import DomainError, Forbidden, NotFound, RuleViolation
from marketplace.lib.audit import AuditEvent, link_hash, verify_chain
from marketplace.lib.clock import InvalidLocalTime, paris_instant
from marketplace.lib.timestamps import load_trust

MAX_PAGE = 200
# A CSV export reads at most this many events (newest first); a narrower filter reads the rest.
EXPORT_MAX = 50_000
ALGORITHM = ("hash = hex(sha256(prevHash ':' id ':' contentSha256)), contentSha256 = hex(sha256(canonical JSON of "
             "{at (UTC, microseconds), action, actor, organisation, target: [type, id], details}, keys sorted, no "
             "spaces)); events are chained in the order their transactions committed, the first event's prevHash "
             "is 64 zeros. Events recorded before 2026-12-13 (no contentSha256): hash = sha256(prevHash || "
             "canonical JSON of the same keys and the id)")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidAuditQuery(DomainError):
    """A filter the document's schema refuses (its form); `field` names it as on the wire."""

    title = "Invalid audit query"
    slug = "invalid-audit-query"


class UnreadableAuditTime(RuleViolation):
    """A time of the documented form that names no instant in Paris (a skipped or repeated hour): a 422."""

    slug = "unreadable-audit-time"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The filters, as the wire gives them: `action` is a prefix (`offer.` matches every offer event);
    `since` is inclusive, `until` exclusive; a naive time is Paris time."""

    target_type: str | None = None
    target_id: str | None = None
    actor: str | None = None
    action: str | None = None
    organisation_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


def _text(field: str, value: str | None, max_length: int) -> str | None:
    if value is None or value == "":
        return None
    if _UNSTORABLE.search(value) or len(value) > max_length:
        raise InvalidAuditQuery(f"{field}: at most {max_length} characters, without NUL or unpaired surrogates",
                                field=field)
    return value


def _instant(field: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return paris_instant(value)
    except InvalidLocalTime as exc:
        raise UnreadableAuditTime(f"{field}: {exc}", field=field) from exc


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class AuditLogService(ServiceBase):
    def _scope(self, principal: Principal, organisation_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
        """What the caller may read of the log, as conditions on `audit_event`."""
        if principal.is_platform_admin:
            return [AuditEvent.organisation_id == organisation_id] if organisation_id else []
        administered = principal.organisations_with(*ADMINS)
        if not administered:
            raise Forbidden("Only an organisation's administrators read its audit events.")
        if organisation_id is not None:
            if organisation_id not in administered:
                raise NotFound("No organisation has this id.", field="organisationId")
            return [AuditEvent.organisation_id == organisation_id]
        return [AuditEvent.organisation_id.in_(administered)]

    def _conditions(self, principal: Principal, query: AuditQuery) -> list[ColumnElement[bool]]:
        conditions = self._scope(principal, query.organisation_id)
        target_type = _text("targetType", query.target_type, 50)
        target_id = _text("targetId", query.target_id, 100)
        actor = _text("actor", query.actor, 200)
        action = _text("action", query.action, 100)
        since, until = _instant("since", query.since), _instant("until", query.until)
        if target_type is not None:
            conditions.append(AuditEvent.target_type == target_type)
        if target_id is not None:
            conditions.append(AuditEvent.target_id == target_id)
        if actor is not None:
            conditions.append(AuditEvent.actor == actor)
        if action is not None:
            conditions.append(AuditEvent.action.like(_like_prefix(action), escape="\\"))
        if since is not None:
            conditions.append(AuditEvent.at >= since)
        if until is not None:
            conditions.append(AuditEvent.at < until)
        return conditions

    @staticmethod
    def _select(conditions: list[ColumnElement[bool]]) -> Select[AuditEvent, str]:
        return (select(AuditEvent, Organisation.name)
                .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
                .where(*conditions))

    @staticmethod
    def _event(row: AuditEvent, organisation_name: str | None) -> schemas.AuditEvent:
        return schemas.AuditEvent(
            id=row.id, at=row.at, action=row.action, actor=row.actor, organisation_id=row.organisation_id,
            organisation_name=organisation_name, target_type=row.target_type, target_id=row.target_id,
            details=row.details, content_sha256=row.content_sha256, chain_position=row.chain_position,
            prev_hash=row.prev_hash, hash=row.hash)

    async def list_events(self, principal: Principal, query: AuditQuery, *, before: int | None = None,
                          after: int | None = None, limit: int = 50) -> schemas.AuditEventPage:
        """Newest first, `limit` events older than `before`, or the `limit` just newer than `after`; with both,
        the newest `limit` events between them (a window, as a reader who noted two cursors asks)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidAuditQuery(f"limit: between 1 and {MAX_PAGE}", field="limit")
        conditions = self._conditions(principal, query)
        statement = self._select(conditions)
        if before is not None:
            statement = statement.where(AuditEvent.id < before)
        if after is not None:
            statement = statement.where(AuditEvent.id > after)
        upward = after is not None and before is None
        # The page just newer than `after`: the `limit` events right above it, shown newest first.
        statement = statement.order_by(AuditEvent.id.asc() if upward else AuditEvent.id.desc())
        rows = (await self.session.execute(statement.limit(limit))).all()
        if upward:
            rows = list(reversed(rows))
        items = [self._event(event, name) for event, name in rows]
        older = newer = None
        if items:
            newest, oldest = items[0].id, items[-1].id
            older = oldest if await self._any(conditions, AuditEvent.id < oldest) else None
            newer = newest if await self._any(conditions, AuditEvent.id > newest) else None
        else:
            if before is not None:
                newer = before - 1 if await self._any(conditions, AuditEvent.id >= before) else None
            if after is not None:
                older = after + 1 if await self._any(conditions, AuditEvent.id <= after) else None
        return schemas.AuditEventPage(items=items, limit=limit, older=older, newer=newer)

    async def _any(self, conditions: list[ColumnElement[bool]], bound: ColumnElement[bool]) -> bool:
        return bool(await self.session.scalar(select(exists().where(and_(*conditions, bound)))))

    async def export(self, principal: Principal, query: AuditQuery) -> list[schemas.AuditEvent]:
        """Every event of the filter, newest first, up to EXPORT_MAX (read by keyset pages)."""
        conditions = self._conditions(principal, query)
        events: list[schemas.AuditEvent] = []
        before: int | None = None
        while len(events) < EXPORT_MAX:
            statement = self._select(conditions)
            if before is not None:
                statement = statement.where(AuditEvent.id < before)
            rows = (await self.session.execute(
                statement.order_by(AuditEvent.id.desc()).limit(min(1000, EXPORT_MAX - len(events))))).all()
            if not rows:
                break
            events += [self._event(event, name) for event, name in rows]
            before = events[-1].id
        return events

    async def verify(self, principal: Principal) -> schemas.ChainVerification:
        """The whole chain walked (G14): platform admins only, since it reads every organisation's events."""
        if not principal.is_platform_admin:
            raise Forbidden("Only the platform's administrators verify the whole audit chain.")
        report = await verify_chain(self.session, load_trust(self.settings))
        verified = schemas.ChainVerification(ok=report.ok, checked=report.checked,
                                             first_broken_id=report.first_broken_id, reason=report.reason,
                                             verified_at=self.clock.now(), anchors_checked=report.anchors_checked,
                                             broken_anchor_day=report.broken_anchor,
                                             anchor_reason=report.anchor_reason)
        await self._audit("audit.chain_verified", principal.label, ok=report.ok, checked=report.checked,
                          first_broken_id=report.first_broken_id, anchors_checked=report.anchors_checked,
                          broken_anchor_day=report.broken_anchor.isoformat() if report.broken_anchor else None)
        return verified

    async def bundle(self, principal: Principal, target_type: str, target_id: str) -> schemas.EvidenceBundle:
        """Every event about one object the caller may read, with each one's hashes recomputed; a platform
        admin's bundle carries the whole chain's verification too. No readable event: 404."""
        if not target_type or not target_id:
            raise InvalidAuditQuery("targetType, targetId: both are required",
                                    field="targetType" if not target_type else "targetId")
        conditions = self._conditions(principal, AuditQuery(target_type=target_type, target_id=target_id))
        rows = (await self.session.execute(self._select(conditions).order_by(AuditEvent.id.asc()))).all()
        if not rows:
            raise NotFound("No audit event you may read names this object.")
        events = [schemas.EvidenceEvent(**{f: getattr(e, f) for f in e.__struct_fields__},
                                        hash_matches=_hash_matches(row))
                  for row, e in ((row, self._event(row, name)) for row, name in rows)]
        chain = await self.verify(principal) if principal.is_platform_admin else None
        await self._audit("audit.bundle_exported", principal.label, exported_type=target_type,
                          exported_id=target_id, events=len(events))
        return schemas.EvidenceBundle(target_type=target_type, target_id=target_id, generated_at=self.clock.now(),
                                      generated_by=principal.label, algorithm=ALGORITHM, events=events,
                                      chain=chain)


def _hash_matches(row: AuditEvent) -> bool:
    return row.prev_hash is not None and row.hash == link_hash(row.prev_hash, row)
