"""A holder files its submitted need to a funder's call for projects (FU3), the one N5 routes it to, within the
call's window (N17), for the need's campaign.

What N5 checks here, from the call's data and the need's facilities (each facility's département from its FINESS,
its region from `lib.geography`): a need of at least the campaign's national threshold of ESSMS (50) goes to a
national call; below it, to the regional call of an ARS of one of its facilities' regions, a multiregional need
included (N6: "multiregional groupings < 50 ESSMS go to ARS"; any of its regions' ARS, the holder chooses which).
A facility in an overseas collectivity has no region and so no ARS: a need whose facilities are all there can't
be filed to a regional call.
"""

from __future__ import annotations

import uuid

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_WRITERS
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.funding import schemas
from marketplace.funding.access import call_of, holder_need
from marketplace.funding.base import FundingBase
from marketplace.funding.errors import AlreadyFiled, CallClosed, NotRouted
from marketplace.funding.models import FundingCall
from marketplace.funding.projects import ProjectReader, esms_count, need_regions
from marketplace.funding.states import CallScope, FundingStatus, call_open
from marketplace.lib.clock import format_paris
from marketplace.lib.geography import REGIONS
from marketplace.tenders.campaigns import CAMPAIGNS
from marketplace.tenders.models import Need, NeedStatus


def routing_error(need: Need, call: FundingCall) -> str | None:
    """Why N5 does not route `need` to `call` (None when it does)."""
    campaign = CAMPAIGNS.get(need.campaign)
    threshold = campaign.national_threshold if campaign is not None else None
    esms = esms_count(need)
    if threshold is not None and esms >= threshold:
        if call.scope is not CallScope.NATIONAL:
            return (f"N5: a need of {threshold} ESSMS or more goes to the national call (CNSA/DNS); this one has "
                    f"{esms}, and this call is an ARS's")
        return None
    if call.scope is CallScope.NATIONAL:
        below = f"fewer than {threshold}" if threshold is not None else "any number of"
        return (f"N5: a need of {below} ESSMS goes to the ARS of its region; this one has {esms}, and this call is "
                "the national one")
    regions = need_regions(need)
    if call.region not in regions:
        named = ", ".join(f"{code} {REGIONS[code][0]}" for code in regions) or "none (overseas collectivities only)"
        return (f"N5: a need goes to the ARS of its facilities' region (theirs: {named}); this call is the ARS of "
                f"region {call.region} {REGIONS.get(call.region or '', ('?',))[0]}")
    return None


class FilingService(FundingBase):
    async def file(self, principal: Principal, need_id: uuid.UUID,
                   data: schemas.FilingCreate) -> schemas.FundingProject:
        need = await holder_need(self.session, principal, need_id, write=True)
        if need.status != NeedStatus.SUBMITTED:
            raise Conflict(f"status: FU3: a submitted need is filed to a call; this one is {need.status.value}",
                           field="status", rule="FU3")
        if need.funding_status is not None:
            raise AlreadyFiled(f"callId: FU3: the need is filed to call {need.call_id} already", field="callId",
                               rule="FU3", filedTo=str(need.call_id))
        try:
            call = await call_of(self.session, data.call_id)
        except NotFound as exc:  # said of the field the holder gave
            raise RuleViolation("callId: no call for projects has this id", field="callId", rule="FU3") from exc
        if call.sandbox != need.sandbox:
            # A rehearsal never reaches a real funder's call, nor a real project a rehearsal call (migration 0026).
            raise RuleViolation("callId: a rehearsal (sandbox) need is filed to a rehearsal call only, a real need to "
                                f"a real call only; this need is {'a rehearsal' if need.sandbox else 'real'} and "
                                f"this call {'a rehearsal' if call.sandbox else 'real'}", field="callId",
                                rule="sandbox")
        if call.campaign != need.campaign:
            raise RuleViolation(f"callId: FU2: the call runs campaign {call.campaign}; the need is of campaign "
                                f"{need.campaign}", field="callId", rule="FU2")
        reason = routing_error(need, call)
        if reason is not None:
            raise NotRouted(f"callId: {reason}", field="callId", rule="N5", scope=call.scope.value,
                            region=call.region)
        now = self.clock.now()
        if not call_open(call.opens_at, call.closes_at, now):
            when = (f"opens on {format_paris(call.opens_at)}" if now < call.opens_at
                    else f"closed on {format_paris(call.closes_at)}")
            raise CallClosed(f"callId: N17: the call {when}; filings are received within its window only",
                             field="callId", rule="N17", opensAt=call.opens_at.isoformat(),
                             closesAt=call.closes_at.isoformat())
        need.call_id, need.funding_status, need.funding_filed_at = call.id, FundingStatus.FILED, now
        await self.session.flush()
        await self._audit(principal, "need.filed_for_funding", organisation_id=need.holder_organisation_id,
                          target_type="need", target_id=need.id, call=str(call.id), call_version=call.version,
                          funder=str(call.funder_organisation_id), filed_at=now.isoformat())
        await self._tell(call.funder_organisation_id, FUNDER_WRITERS, kind="funding.filed", about=need.id,
                         sandbox=need.sandbox,
                         subject=f"Appel à projets « {call.title} » : nouveau projet déposé",
                         body=f"Le projet « {need.title} » est déposé à l'appel à projets {call.reference} le "
                              f"{format_paris(now)}.")
        return await ProjectReader(self.session, self.clock).project(principal, need)
