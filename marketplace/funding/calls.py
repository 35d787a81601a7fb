"""Calls for projects (FU2): a funder's call of one campaign, its window (instants, given as Europe/Paris wall time
or with an offset) and its envelope in cents.

A change of the window or the envelope appends a version (`funding_call_version`) and moves the call's current
values to it, audited with the old and new values: nothing is edited in place, so what a filing was checked
against stays on record (the filing's instant and the version then in force are in its audit event). The
envelope is never set below what the call's selections granted already.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS, Role
from marketplace.errors import Conflict, RuleViolation
from marketplace.funding import schemas
from marketplace.funding.access import call_of, funder_side, own_call
from marketplace.funding.base import FundingBase
from marketplace.funding.errors import EnvelopeExceeded
from marketplace.funding.models import FundingCall, FundingCallVersion, FundingDecision
from marketplace.funding.states import CallScope, DecisionOutcome, call_open
from marketplace.lib.clock import InvalidLocalTime, format_paris, paris_instant
from marketplace.lib.schemas import Page
from marketplace.tenders.campaigns import CAMPAIGNS
from marketplace.tenders.models import FundingStatus, Need


def _instant(value: datetime, field: str) -> datetime:
    try:
        return paris_instant(value)
    except InvalidLocalTime as exc:
        raise RuleViolation(f"{field}: {exc}", field=field, rule="FU2") from exc


def _window(opens: datetime, closes: datetime) -> tuple[datetime, datetime]:
    opens_at, closes_at = _instant(opens, "opensAt"), _instant(closes, "closesAt")
    if closes_at <= opens_at:
        raise RuleViolation("closesAt: FU2: a call closes after it opens", field="closesAt", rule="FU2")
    return opens_at, closes_at


async def granted(session: AsyncSession, call_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """What the calls' selections granted (FU3), per call: one query whatever their number."""
    if not call_ids:
        return {}
    rows = (await session.execute(
        select(FundingDecision.call_id, func.coalesce(func.sum(FundingDecision.amount_cents), 0))
        .where(FundingDecision.call_id.in_(call_ids), FundingDecision.outcome == DecisionOutcome.SELECTED)
        .group_by(FundingDecision.call_id))).all()
    return {call_id: int(total or 0) for call_id, total in rows}


class ProjectCounts(msgspec.Struct):
    """What was filed to a call and how it stands (FU3): for its funder's members only."""

    filed: int = 0
    selected: int = 0
    rejected: int = 0


class CallService(FundingBase):
    async def create(self, principal: Principal, data: schemas.FundingCallCreate) -> schemas.FundingCall:
        administered = principal.organisations_with(Role.FUNDER_ADMIN)
        funder_id = data.funder_organisation_id or (administered[0] if len(administered) == 1 else None)
        if funder_id is None or funder_id not in administered:
            raise RuleViolation("funderOrganisationId: name a funder you administer", field="funderOrganisationId",
                                rule="FU2")
        funder = await self.session.get(Organisation, funder_id)
        assert funder is not None  # the caller holds a role in it
        if data.campaign not in CAMPAIGNS:
            raise RuleViolation(f"campaign: FU2: a call runs a campaign's rule set; there is none for {data.campaign} "
                                f"(known: {', '.join(str(y) for y in sorted(CAMPAIGNS))})", field="campaign",
                                rule="FU2")
        opens_at, closes_at = _window(data.opens_at, data.closes_at)
        reference = data.reference.strip()
        if await self.session.scalar(select(FundingCall.id).where(FundingCall.funder_organisation_id == funder_id,
                                                                  FundingCall.reference == reference)):
            raise Conflict("reference: this funder has a call with this reference already", field="reference")
        # FU1: an ARS's calls are regional (for the needs of its region), the national funder's national (N5).
        scope = CallScope.REGIONAL if funder.region is not None else CallScope.NATIONAL
        call = FundingCall(funder_organisation_id=funder_id, scope=scope, region=funder.region,
                           campaign=data.campaign, title=data.title.strip(), reference=reference, opens_at=opens_at,
                           closes_at=closes_at, envelope_cents=data.envelope_cents, version=1,
                           created_by=principal.label, sandbox=data.sandbox)
        self.session.add(call)
        await self.session.flush()
        self.session.add(FundingCallVersion(call_id=call.id, version=1, opens_at=opens_at, closes_at=closes_at,
                                            envelope_cents=data.envelope_cents, reason=None,
                                            changed_by=principal.label, changed_at=self.clock.now()))
        await self.session.flush()
        await self._audit(principal, "funding_call.created", organisation_id=funder_id, target_type="funding_call",
                          target_id=call.id, scope=scope.value, region=funder.region, campaign=call.campaign,
                          reference=reference, opens_at=opens_at.isoformat(), closes_at=closes_at.isoformat(),
                          envelope_cents=call.envelope_cents, sandbox=call.sandbox)
        return (await self.to_schemas(principal, [call]))[0]

    async def amend(self, principal: Principal, call_id: uuid.UUID,
                    data: schemas.FundingCallVersionCreate) -> schemas.FundingCall:
        """FU2: a new version of the window and envelope; the envelope covers what was granted already."""
        call = await own_call(self.session, principal, call_id, write=(Role.FUNDER_ADMIN,), lock=True)
        opens_at, closes_at = _window(data.opens_at, data.closes_at)
        already = (await granted(self.session, [call.id])).get(call.id, 0)
        if data.envelope_cents < already:
            raise EnvelopeExceeded(f"envelopeCents: FU2: the call's selections granted {already} cents already; the "
                                   "envelope can't be set below it", field="envelopeCents", rule="FU2",
                                   grantedCents=already)
        old = {"opens_at": call.opens_at.isoformat(), "closes_at": call.closes_at.isoformat(),
               "envelope_cents": call.envelope_cents, "version": call.version}
        call.version += 1
        call.opens_at, call.closes_at, call.envelope_cents = opens_at, closes_at, data.envelope_cents
        self.session.add(FundingCallVersion(call_id=call.id, version=call.version, opens_at=opens_at,
                                            closes_at=closes_at, envelope_cents=data.envelope_cents,
                                            reason=data.reason, changed_by=principal.label,
                                            changed_at=self.clock.now()))
        await self.session.flush()
        await self._audit(principal, "funding_call.amended", organisation_id=call.funder_organisation_id,
                          target_type="funding_call", target_id=call.id, old=old, reason=data.reason,
                          new={"opens_at": opens_at.isoformat(), "closes_at": closes_at.isoformat(),
                               "envelope_cents": data.envelope_cents, "version": call.version})
        return (await self.to_schemas(principal, [call]))[0]

    async def get(self, principal: Principal, call_id: uuid.UUID) -> schemas.FundingCall:
        return (await self.to_schemas(principal, [await call_of(self.session, call_id)]))[0]

    async def list_calls(self, principal: Principal, *, open_only: bool | None = None, campaign: int | None = None,
                   scope: CallScope | None = None, region: str | None = None,
                   funder_id: uuid.UUID | None = None, sandbox: bool = False, limit: int = 50,
                   offset: int = 0) -> Page[schemas.FundingCall]:
        # Rehearsal calls are listed only when asked for, as sandbox DPS never are in GET /dps.
        query = select(FundingCall).where(FundingCall.sandbox.is_(sandbox))
        now = self.clock.now()
        if open_only is not None:
            window = (FundingCall.opens_at <= now) & (FundingCall.closes_at > now)  # call_open, in SQL (N17)
            query = query.where(window if open_only else ~window)
        if campaign is not None:
            query = query.where(FundingCall.campaign == campaign)
        if scope is not None:
            query = query.where(FundingCall.scope == scope)
        if region is not None:
            query = query.where(FundingCall.region == region)
        if funder_id is not None:
            query = query.where(FundingCall.funder_organisation_id == funder_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        calls = list((await self.session.scalars(
            query.order_by(FundingCall.closes_at, FundingCall.id).limit(limit).offset(offset))).all())
        return Page(items=await self.to_schemas(principal, calls), total=int(total or 0), limit=limit,
                    offset=offset)

    async def project_counts(self, principal: Principal,
                             calls: list[schemas.FundingCall]) -> dict[uuid.UUID, ProjectCounts]:
        """The projects filed to each of the calls and how many were selected or rejected (one query), for the
        calls of the caller's funder only (FU6: another funder's projects are not counted for it)."""
        own = [call.id for call in calls if principal.has_role_in(call.funder_organisation_id, *FUNDER_MEMBERS)]
        counts = {call_id: ProjectCounts() for call_id in own}
        if not own:
            return counts
        rows = (await self.session.execute(
            select(Need.call_id, Need.funding_status, func.count()).where(Need.call_id.in_(own))
            .group_by(Need.call_id, Need.funding_status))).all()
        for call_id, status, number in rows:
            assert call_id is not None
            entry = counts[call_id]
            entry.filed += number
            if status is FundingStatus.SELECTED:
                entry.selected += number
            elif status is FundingStatus.REJECTED:
                entry.rejected += number
        return counts

    async def to_schemas(self, principal: Principal, calls: list[FundingCall]) -> list[schemas.FundingCall]:
        """The calls as read: their versions, their funders' names, and for the funder's own members what was
        granted and what is left (a handful of queries, whatever the number of calls)."""
        if not calls:
            return []
        ids = [call.id for call in calls]
        versions: dict[uuid.UUID, list[FundingCallVersion]] = defaultdict(list)
        for version in (await self.session.scalars(select(FundingCallVersion).where(
                FundingCallVersion.call_id.in_(ids)).order_by(FundingCallVersion.version))).all():
            versions[version.call_id].append(version)
        names = dict((await self.session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id.in_(list({call.funder_organisation_id for call in calls}))))).tuples().all())
        own = [call.id for call in calls if funder_side(principal, call)]
        totals = await granted(self.session, own)
        now = self.clock.now()
        result = []
        for call in calls:
            given = totals.get(call.id, 0) if call.id in own else None
            result.append(schemas.FundingCall(
                id=call.id, funder_organisation_id=call.funder_organisation_id,
                funder_name=names.get(call.funder_organisation_id, ""), scope=call.scope, region=call.region,
                campaign=call.campaign, title=call.title, reference=call.reference, opens_at=call.opens_at,
                closes_at=call.closes_at, opens_at_paris=format_paris(call.opens_at),
                closes_at_paris=format_paris(call.closes_at), is_open=call_open(call.opens_at, call.closes_at, now),
                envelope_cents=call.envelope_cents, version=call.version,
                versions=[schemas.FundingCallVersion(version=v.version, opens_at=v.opens_at, closes_at=v.closes_at,
                                                     envelope_cents=v.envelope_cents, reason=v.reason,
                                                     changed_at=v.changed_at) for v in versions[call.id]],
                sandbox=call.sandbox,
                granted_cents=given, envelope_left_cents=call.envelope_cents - given if given is not None else None))
        return result
