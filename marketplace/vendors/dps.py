"""The DPS itself (machine (a)): creation with its categories, the notice, activation, its end; its sandbox clock.

domain.md §1.1–§1.3, D2, D4–D6, D10, D20. Every transition is checked against `states.py` and audited; when
the DPS ends, the requests and admissions still live close and their vendors are told. A DPS in draft is
visible only to its buying organisation (vendors/access.py). The change of its validity is in lifecycle.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib.clock import format_paris
from marketplace.lib.schemas import Page
from marketplace.lib.working_days import earliest_franc_deadline
from marketplace.uploads import check_rule_media_types
from marketplace.vendors import schemas
from marketplace.vendors.access import is_buyer_of, visible_dps
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.models import AdmissionRequest, Dps, DpsCategory
from marketplace.vendors.recipients import notify_vendor
from marketplace.vendors.sandbox import clock_schema
from marketplace.vendors.states import (
    EVALUATION_STATES,
    LIVE_ADMISSION_STATES,
    AdmissionStatus,
    DpsStatus,
    check_dps_transition,
    dps_status_at,
    require_in_force,
)

INITIAL_WINDOW_DAYS = 30  # D4, a délai franc (lib/working_days.py `earliest_franc_deadline`)

# The specific contracts run under a DPS constrain its time: a sandbox's clock never skips a period a vendor is
# owed (D9, D14, D18), a validity never ends before a tender deadline. They live a layer above (tenders/), which
# passes these checks in (tenders/dps_time.py), run once the DPS row is locked: admission never depends on
# competitions, and the arguments are required, so no door can leave them out.
ContractsHold = Callable[[Dps], Awaitable[None]]  # refuses (raises) while a contract under the DPS is owed time
LatestTenderDeadline = Callable[[Dps], Awaitable[datetime | None]]  # of a contract under the DPS open for offers


def _criteria(items: list[schemas.AwardCriterion]) -> list[dict[str, Any]]:
    for index, item in enumerate(items):
        if item.weight_min > item.weight_max:
            raise RuleViolation(f"awardCriteria[{index}]: weightMin is above weightMax",
                                field=f"awardCriteria[{index}]")
    if sum(i.weight_min for i in items) > 100 or sum(i.weight_max for i in items) < 100:
        raise RuleViolation("awardCriteria: the weight ranges must allow a total of 100", field="awardCriteria",
                            rule="D10")
    return [msgspec.to_builtins(i) for i in items]


class DpsService(ServiceBase):
    async def to_schema(self, dps: Dps) -> schemas.Dps:
        categories = (await self.session.scalars(
            select(DpsCategory).where(DpsCategory.dps_id == dps.id).order_by(DpsCategory.sector,
                                                                            DpsCategory.delivery_mode))).all()
        return schemas.Dps(
            id=dps.id, buyer_organisation_id=dps.buyer_organisation_id, title=dps.title,
            description=dps.description, validity_start=dps.validity_start, validity_end=dps.validity_end,
            usable_by_other_buyers=dps.usable_by_other_buyers, conduct_mode=dps.conduct_mode,
            # Never stale: past its validity end the DPS reads terminated before the job stores it (machine (a)).
            status=dps_status_at(dps.status, dps.validity_end, self._time(dps).now()),
            notice_sent_at=dps.notice_sent_at, initial_window_end=dps.initial_window_end,
            award_criteria=msgspec.convert(dps.award_criteria, list[schemas.AwardCriterion]),
            categories=[schemas.Category(
                id=c.id, sector=c.sector, delivery_mode=c.delivery_mode, title=c.title,
                selection_criteria=c.selection_criteria,
                required_documents=msgspec.convert(c.required_documents, list[schemas.DocumentRule]))
                for c in categories],
            sandbox=dps.is_sandbox, sandbox_clock=clock_schema(self.clock, dps))

    async def create(self, principal: Principal, data: schemas.DpsCreate) -> schemas.Dps:
        buyers = principal.organisations_with(Role.BUYER_ADMIN)
        organisation_id = data.buyer_organisation_id or (buyers[0] if len(buyers) == 1 else None)
        if organisation_id is None or organisation_id not in buyers:
            raise RuleViolation("buyerOrganisationId: name a buying organisation you administer",
                                field="buyerOrganisationId")
        if data.validity_end <= data.validity_start:
            raise RuleViolation("validityEnd: must be after validityStart", field="validityEnd", rule="D2")
        seen: set[tuple[str, str]] = set()
        for index, category in enumerate(data.categories):
            pair = (category.sector.value, category.delivery_mode.value)
            if pair in seen:
                raise RuleViolation(f"categories[{index}]: {pair[0]} × {pair[1]} appears twice",
                                    field=f"categories[{index}]", rule="D20")
            seen.add(pair)
            for position, rule in enumerate(category.required_documents):
                check_rule_media_types(rule.content_types,
                                       f"categories[{index}].requiredDocuments[{position}].contentTypes")
            kinds = [d.kind for d in category.required_documents]
            if len(kinds) != len(set(kinds)):
                raise RuleViolation(f"categories[{index}].requiredDocuments: a document kind appears twice",
                                    field=f"categories[{index}].requiredDocuments")
        dps = Dps(buyer_organisation_id=organisation_id, title=data.title.strip(), description=data.description,
                  validity_start=data.validity_start, validity_end=data.validity_end,
                  usable_by_other_buyers=data.usable_by_other_buyers, conduct_mode=data.conduct_mode,
                  award_criteria=_criteria(data.award_criteria))
        if data.sandbox is not None:
            # Sandbox time starts at real time, now, and runs `factor` times faster from here on.
            dps.sandbox_factor, dps.sandbox_epoch = data.sandbox.factor, self.clock.now()
        self.session.add(dps)
        await self.session.flush()
        for category in data.categories:
            self.session.add(DpsCategory(
                dps_id=dps.id, sector=category.sector, delivery_mode=category.delivery_mode,
                title=category.title.strip(), selection_criteria=category.selection_criteria,
                required_documents=[msgspec.to_builtins(d) for d in category.required_documents]))
        await self.session.flush()
        await self._audit("dps.created", principal, "dps", dps.id, organisation_id, title=dps.title,
                          categories=len(data.categories), sandbox_factor=dps.sandbox_factor,
                          conduct_mode=dps.conduct_mode.value)
        return await self.to_schema(dps)

    async def get(self, dps_id: uuid.UUID, principal: Principal | None) -> schemas.Dps:
        return await self.to_schema(await visible_dps(self.session, dps_id, principal))

    async def list_public(self, limit: int, offset: int) -> Page[schemas.Dps]:
        # Sandboxes are rehearsals: never in the public list (they stay readable by id).
        visible = (Dps.status != DpsStatus.DRAFT) & Dps.sandbox_factor.is_(None)
        total = await self.session.scalar(select(func.count()).select_from(Dps).where(visible))
        rows = (await self.session.scalars(select(Dps).where(visible).order_by(Dps.created_at.desc(), Dps.id)
                                           .limit(limit).offset(offset))).all()
        return Page(items=[await self.to_schema(d) for d in rows], total=int(total or 0),
                            limit=limit, offset=offset)

    async def list_for_buyer(self, principal: Principal) -> list[schemas.Dps]:
        """The DPS the caller runs (its buying organisations' admins and evaluators), drafts and sandboxes
        included, newest first: the back-office's work queue reads each one's admissions from here."""
        organisations = principal.organisations_with(*DPS_WRITERS)
        if not organisations:
            return []
        rows = (await self.session.scalars(select(Dps).where(Dps.buyer_organisation_id.in_(organisations))
                                           .order_by(Dps.created_at.desc(), Dps.id))).all()
        return [await self.to_schema(d) for d in rows]

    async def _transition(self, principal: Principal, dps_id: uuid.UUID, target: DpsStatus) -> Dps:
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            # Another organisation's buyer: the DPS is not theirs to manage (404, like any object of
            # another organisation); an evaluator of the buying organisation sees it but may not act (403).
            if is_buyer_of(principal, dps):
                raise Forbidden("Only an administrator of the DPS's buying organisation may change its status.")
            raise NotFound("No DPS has this id.")
        await self.session.refresh(dps, with_for_update=True)
        check_dps_transition(dps.status, target)
        return dps

    async def set_conduct_mode(self, principal: Principal, dps_id: uuid.UUID,
                               data: schemas.DpsConductMode) -> schemas.Dps:
        """HC1: who buys the DPS's specific contracts is part of its notice: changed while it is a draft, fixed once
        the notice is out (the procedures already under it keep the mode they started with in any case)."""
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            if is_buyer_of(principal, dps):
                raise Forbidden("Only an administrator of the DPS's buying organisation sets how its specific "
                                "contracts are conducted.")
            raise NotFound("No DPS has this id.")
        await self.session.refresh(dps, with_for_update=True)
        if dps.status != DpsStatus.DRAFT:
            raise Conflict(f"conductMode: HC1: how the specific contracts are conducted is fixed once the DPS is "
                           f"published; this one is {dps.status.value} and stays {dps.conduct_mode.value}",
                           field="conductMode", rule="HC1")
        old = dps.conduct_mode
        dps.conduct_mode = data.conduct_mode
        await self.session.flush()
        await self._audit("dps.conduct_mode_set", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=old.value, new=dps.conduct_mode.value)
        return await self.to_schema(dps)

    async def publish(self, principal: Principal, dps_id: uuid.UUID, data: schemas.DpsPublish) -> schemas.Dps:
        """Send the notice: the initial request window runs ≥ 30 days from now (D4)."""
        dps = await self._transition(principal, dps_id, DpsStatus.PENDING)
        now = self._time(dps).now()
        require_in_force(dps, now, field="validityEnd")
        earliest = earliest_franc_deadline(now, INITIAL_WINDOW_DAYS)
        if data.initial_window_end < earliest:
            raise RuleViolation("initialWindowEnd: the initial window for requests to participate lasts at least "
                                "30 full days after the day the notice is sent (délai franc): not before "
                                f"{format_paris(earliest)}", field="initialWindowEnd", rule="D4",
                                earliest=earliest.isoformat())
        if data.initial_window_end >= dps.validity_end:
            raise RuleViolation("initialWindowEnd: must end before the DPS's validity", field="initialWindowEnd")
        old = dps.status
        dps.status, dps.notice_sent_at, dps.initial_window_end = DpsStatus.PENDING, now, data.initial_window_end
        await self._audit("dps.published", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=old.value, new=dps.status.value, initial_window_end=data.initial_window_end.isoformat())
        return await self.to_schema(dps)

    async def activate(self, principal: Principal, dps_id: uuid.UUID) -> schemas.Dps:
        dps = await self._transition(principal, dps_id, DpsStatus.ACTIVE)
        now = self._time(dps).now()
        require_in_force(dps, now, field="status")
        if dps.initial_window_end is not None and now < dps.initial_window_end:
            raise RuleViolation("status: the DPS becomes active once its initial window has ended",
                                field="status", rule="D4")
        # D6: activation opens the DPS to specific contracts, whose invitations go to the vendors admitted at
        # that moment (D8). A vendor who applied in the initial window must not miss the first one because its
        # request was still undecided: every such request is decided first.
        if dps.initial_window_end is not None:
            undecided = int(await self.session.scalar(select(func.count()).select_from(AdmissionRequest).where(
                AdmissionRequest.dps_id == dps.id, AdmissionRequest.received_at <= dps.initial_window_end,
                AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES]))) or 0)
            if undecided:
                raise Conflict(f"status: {undecided} request(s) to participate received in the initial window "
                               "are still undecided; decide them before the DPS becomes active, so that no "
                               "vendor who applied in time misses the first invitation (D6)",
                               field="status", rule="D6", undecided=undecided)
        dps.status = DpsStatus.ACTIVE
        await self._audit("dps.activated", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=DpsStatus.PENDING.value, new=dps.status.value)
        return await self.to_schema(dps)

    async def cancel(self, principal: Principal, dps_id: uuid.UUID, data: schemas.Reasons) -> schemas.Dps:
        """Before it starts (draft or pending): requests in progress are closed and their vendors told."""
        dps = await self._transition(principal, dps_id, DpsStatus.CANCELLED)
        return await self._end(principal, dps, DpsStatus.CANCELLED, data.reasons, "Annulation du SAD")

    async def terminate(self, principal: Principal, dps_id: uuid.UUID, data: schemas.Reasons) -> schemas.Dps:
        """Ends an active DPS early (or at its validity end): admissions close; running contracts finish."""
        dps = await self._transition(principal, dps_id, DpsStatus.TERMINATED)
        return await self._end(principal, dps, DpsStatus.TERMINATED, data.reasons, "Fin du SAD")

    async def end_of_validity(self, dps: Dps) -> None:
        """Machine (a): the DPS (locked by the caller) reached its validity end, stored by the job
        (vendors/lifecycle.py); admissions close and their vendors are told, running contracts finish."""
        check_dps_transition(dps.status, DpsStatus.TERMINATED)
        await self._end("system", dps, DpsStatus.TERMINATED,
                        f"La durée de validité du SAD a pris fin le {format_paris(dps.validity_end)}.",
                        "Fin de validité du SAD")

    async def _end(self, principal: Principal | str, dps: Dps, target: DpsStatus, reasons: str, subject: str
                   ) -> schemas.Dps:
        old = dps.status
        dps.status = target
        live = (await self.session.scalars(
            select(AdmissionRequest).where(AdmissionRequest.dps_id == dps.id,
                                           AdmissionRequest.status.in_([s.value for s in LIVE_ADMISSION_STATES]))
            .with_for_update())).all()
        for request in live:
            previous = request.status
            # Machine (b): an admission closes with its DPS; a request never decided is closed too.
            request.status, request.decided_at, request.decision_reasons = (
                AdmissionStatus.CLOSED, self._time(dps).now(), reasons)
            await self._audit("admission.closed", principal, "admission_request", request.id,
                              dps.buyer_organisation_id, old=previous.value, new=request.status.value)
            await notify_vendor(self.session, self.clock, request, "admission.closed", subject,
                                f"{dps.title}\n\n{reasons}\n", dps)
        await self._audit(f"dps.{target.value}", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=old.value, new=target.value, reasons=reasons, closed_requests=len(live))
        return await self.to_schema(dps)

    # -- a sandbox's clock ---------------------------------------------------------------------------

    async def fast_forward(self, principal: Principal, dps_id: uuid.UUID, data: schemas.SandboxFastForward, *,
                           contracts_hold: ContractsHold) -> schemas.Dps:
        """Skip sandbox time at once, so a rehearsal needn't wait out D4's 30 days or a contract's months.

        Never while a vendor is owed time on this sandbox: an open tender period (D9, D14), a standstill
        (D18) or an updated self-declaration asked of it (D11) runs its full length, on the sandbox clock. The
        contracts' periods are `contracts_hold`'s to check (tenders/dps_time.py); the declaration is checked here.
        The DPS row is locked: a need being published on it meanwhile waits, or is waited for and seen."""
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            if is_buyer_of(principal, dps):
                raise Forbidden("Only an administrator of the DPS's buying organisation moves its sandbox clock.")
            raise NotFound("No DPS has this id.")
        await self.session.refresh(dps, with_for_update=True)
        if not dps.is_sandbox:
            raise Conflict("sandbox: a real procedure's clock is real time; only a sandbox's moves forward",
                           field="sandbox", rule="sandbox")
        skip = timedelta(days=data.days, hours=data.hours)
        if skip <= timedelta(0):
            raise RuleViolation("days: skip at least an hour", field="days")
        await contracts_hold(dps)
        asked = await self.session.scalar(select(AdmissionRequest.id).where(
            AdmissionRequest.dps_id == dps.id, AdmissionRequest.declaration_due_at.is_not(None)).limit(1))
        if asked is not None:
            raise Conflict(f"sandbox: admission request {asked} owes an updated self-declaration; the vendor keeps "
                           "its 5 working days (D11)", field="sandbox", rule="D11", admissionRequestId=str(asked))
        before = self._time(dps).now()
        dps.sandbox_skipped += skip
        await self.session.flush()
        await self._audit("dps.sandbox_fast_forwarded", principal, "dps", dps.id, dps.buyer_organisation_id,
                          skipped_seconds=int(skip.total_seconds()), sandbox_from=before.isoformat(),
                          sandbox_to=self._time(dps).now().isoformat())
        return await self.to_schema(dps)

