"""The DPS's validity (machine (a), D5, §1.1) and the D6 evaluation alerts: what time does to a DPS.

* A DPS ends at its `validity_end`, on its own clock (a sandbox's runs faster): every decision reads the
  status through `dps_status_at` (vendors/states.py), so nothing is ever decided on a stale "active"; the
  `close_ended` job then stores TERMINATED, closes the requests and admissions still live (machine (b):
  ADMITTED --dps_terminated--> CLOSED) and tells their vendors. Running specific contracts finish (§1.3).
* Its validity can be changed (ACTIVE --change_validity--> ACTIVE): audited with the old and new values,
  and every admitted vendor is told (§1.1 "change of validity → notify").
* D6: the buying organisation's administrators are alerted when a request's evaluation is due within two
  working days, and again when it is overdue; once each per due date (an extension re-arms them).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.members import tell_members, tell_members_statement
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_WRITERS, Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, ClockExhausted, format_paris, to_paris
from marketplace.lib.working_days import EVALUATION_RULES, working_days_between
from marketplace.notifications.notify import NotificationService
from marketplace.vendors import schemas
from marketplace.vendors.dps import DpsService, LatestTenderDeadline
from marketplace.vendors.models import AdmissionRequest, Dps
from marketplace.vendors.recipients import recipients
from marketplace.vendors.sandbox import dps_clock
from marketplace.vendors.states import DPS_IN_FORCE, EVALUATION_STATES, DpsStatus, dps_status_at, require_in_force

# D6 alert: this many working days (the evaluation's own Monday-to-Saturday count) before the due date.
DUE_SOON_WORKING_DAYS = 2
VALIDITY_CHANGED_KIND = "dps.validity_changed"

# Every admin or bid manager of every vendor admitted (or suspended: still admitted) to the DPS gets one
# notification and its delivery intent, in one statement (accounts/members.py).
_NOTIFY_ADMITTED = tell_members_statement("""targets AS (
    SELECT vendor_organisation_id AS organisation_id FROM admission_request
    WHERE dps_id = CAST(:about_id AS uuid) AND status IN ('admitted', 'suspended')
)""", "SELECT count(*) AS told FROM intents")


async def notify_admitted(session: AsyncSession, clock: Clock, dps: Dps, *, kind: str, subject: str,
                          body: str) -> int:
    """Tell every admitted vendor of the DPS (admins and bid managers); returns how many were told."""
    row = await tell_members(session, clock, _NOTIFY_ADMITTED, roles=VENDOR_WRITERS, kind=kind,
                             subject=subject, body=body, about=dps.id, sandbox=dps.is_sandbox)
    return int(row.told)


class DpsLifecycle:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    # -- change of validity (§1.1) -----------------------------------------------------------------

    async def change_validity(self, principal: Principal, dps_id: uuid.UUID, data: schemas.DpsValidityChange, *,
                              latest_tender_deadline: LatestTenderDeadline) -> schemas.Dps:
        """ACTIVE --change_validity--> ACTIVE (or while pending), audited, every admitted vendor told (§1.1).
        `latest_tender_deadline` answers for the specific contracts under the DPS (tenders/dps_time.py)."""
        dps = await self.session.get(Dps, dps_id, with_for_update=True)
        if dps is None or not principal.has_role_in(dps.buyer_organisation_id, *DPS_WRITERS):
            raise NotFound("No DPS has this id.")
        if not principal.has_role_in(dps.buyer_organisation_id, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the DPS's buying organisation changes its validity.")
        now = dps_clock(self.clock, dps).now()
        require_in_force(dps, now, field="validityEnd")
        # The notice is out (pending) or the DPS runs (active): both are the published notice whose validity
        # the change amends. A draft's is simply edited before publication; an ended DPS stays ended.
        if dps.status not in DPS_IN_FORCE:
            raise Conflict(f"status: the validity of a DPS that is {dps.status.value} is not changed",
                           field="status", rule="domain.md §1.3")
        new_end = data.validity_end
        if new_end == dps.validity_end:
            raise RuleViolation("validityEnd: this is already the DPS's end of validity", field="validityEnd")
        # Extended or shortened, but never into the past (that would be a termination, with its own route),
        # nor before the initial window closes (D4), nor before the tender deadline of a specific contract
        # still open for offers: the vendors invited tender within the DPS's validity. A contract whose offers
        # are in may be awarded and signed after the end (§1.3: running specific contracts finish).
        floor, why = now, "now"
        if dps.initial_window_end is not None and dps.initial_window_end > floor:
            floor, why = dps.initial_window_end, "the end of the initial window (D4)"
        latest = await latest_tender_deadline(dps)
        if latest is not None and latest > floor:
            floor, why = latest, "the tender deadline of a specific contract open for offers"
        if new_end <= floor or new_end <= dps.validity_start:
            raise RuleViolation(f"validityEnd: the DPS's validity can't end before {why} "
                                f"({format_paris(max(floor, dps.validity_start))})", field="validityEnd",
                                rule="machine (a) change_validity")
        old = dps.validity_end
        dps.validity_end = new_end
        await self.session.flush()
        notified = await notify_admitted(
            self.session, self.clock, dps, kind=VALIDITY_CHANGED_KIND,
            subject=f"Modification de la durée de validité du SAD — {dps.title}",
            body=(f"La durée de validité du SAD « {dps.title} » est modifiée : il prendra fin le "
                  f"{format_paris(new_end)} (au lieu du {format_paris(old)}).\n\nMotifs : {data.reasons}\n"))
        await audit.record(self.session, self.clock, "dps.validity_changed", actor=principal.label,
                           organisation_id=dps.buyer_organisation_id, target_type="dps", target_id=str(dps.id),
                           details={"old": {"validityEnd": old.isoformat()},
                                    "new": {"validityEnd": new_end.isoformat()},
                                    "reasons": data.reasons, "notified": notified})
        return await DpsService(self.session, self.clock).to_schema(dps)

    # -- the end of validity (job) -----------------------------------------------------------------

    async def close_ended(self, *, sandbox: bool = False) -> int:
        """Store TERMINATED on every DPS whose validity has ended on its clock; returns how many ended."""
        query = (select(Dps).where(Dps.status.in_([s.value for s in DPS_IN_FORCE]))
                 .with_for_update(skip_locked=True))
        if sandbox:
            query = query.where(Dps.sandbox_factor.is_not(None))
        else:
            query = query.where(Dps.sandbox_factor.is_(None), Dps.validity_end <= self.clock.now())
        service = DpsService(self.session, self.clock)
        ended = 0
        for dps in (await self.session.scalars(query)).all():
            try:
                now = dps_clock(self.clock, dps).now()
            except ClockExhausted:
                now = dps.validity_end  # a sandbox clock run out: its validity is long over
            if dps_status_at(dps.status, dps.validity_end, now) != DpsStatus.TERMINATED:
                continue
            await service.end_of_validity(dps)
            ended += 1
        return ended

    # -- D6 alerts (job) ---------------------------------------------------------------------------

    async def alert_due_dates(self, *, sandbox: bool = False) -> int:
        """Alert the buying organisation's administrators about evaluations due soon, then overdue (D6)."""
        query = (select(AdmissionRequest, Dps).join(Dps, Dps.id == AdmissionRequest.dps_id)
                 .where(AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES]),
                        AdmissionRequest.due_at.is_not(None), AdmissionRequest.overdue_alerted_at.is_(None),
                        Dps.sandbox_factor.is_not(None) if sandbox else Dps.sandbox_factor.is_(None))
                 .with_for_update(of=AdmissionRequest, skip_locked=True))
        if not sandbox:
            # Two working days are at most a week away, whatever the holidays: the rest can wait.
            query = query.where(AdmissionRequest.due_at <= self.clock.now() + timedelta(days=7))
        notifications = NotificationService(self.session, self.clock)
        sent = 0
        for request, dps in (await self.session.execute(query)).all():
            assert request.due_at is not None
            try:
                now = dps_clock(self.clock, dps).now()
            except ClockExhausted:
                continue
            if now > request.due_at:
                kind, subject = "admission.overdue", "Délai d'évaluation dépassé"
                body = (f"La demande d'admission {request.id} devait être évaluée avant le "
                        f"{format_paris(request.due_at)} (D6, R2162-45) : ce délai est dépassé.\n")
                request.overdue_alerted_at = now
            elif request.due_soon_alerted_at is None and working_days_between(
                    to_paris(now).date(), max(to_paris(now).date(), to_paris(request.due_at).date()),
                    EVALUATION_RULES) <= DUE_SOON_WORKING_DAYS:
                kind, subject = "admission.due_soon", "Délai d'évaluation bientôt atteint"
                body = (f"La demande d'admission {request.id} doit être évaluée avant le "
                        f"{format_paris(request.due_at)} (D6, R2162-45).\n")
                request.due_soon_alerted_at = now
            else:
                continue
            for email in await recipients(self.session, dps.buyer_organisation_id, Role.BUYER_ADMIN):
                await notifications.notify(recipient_email=email, kind=kind, about=request.id,
                                           subject=f"{subject} — {dps.title}", body=body, sandbox=dps.is_sandbox)
            await audit.record(self.session, self.clock, f"admission.{kind.split('.')[1]}_alerted", actor="system",
                               organisation_id=dps.buyer_organisation_id, target_type="admission_request",
                               target_id=str(request.id), details={"due_at": request.due_at.isoformat()})
            sent += 1
        return sent

