"""Expressions of need (domain.md §6): drafts, and their submission checked against programme rules N1–N19.

Object rule: a need is visible to the members of its holder organisation only; anyone else gets 404. Only the
holder's administrator or project lead writes or submits it. A draft is checked for form only (FINESS and CPV
codes well formed and known); `submit` builds the rules' `NeedFacts` from the database (the holder's OGs, each
facility's OG, the other active needs of the campaign) and refuses with every violation at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Facility as FacilityRow
from marketplace.accounts.models import GrappeMember, Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_MEMBERS, HOLDER_WRITERS, OrganisationKind
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, to_paris
from marketplace.lib.geography import departement_of_finess, region_of
from marketplace.lib.identifiers import InvalidIdentifier, validate_finess
from marketplace.reference.cpv import cpv_error
from marketplace.tenders import schemas
from marketplace.tenders.campaigns import CoreService
from marketplace.tenders.models import ACTIVE_NEED_STATES, Need, NeedStatus, SpecificContract
from marketplace.tenders.rules import (
    RULES,
    Facility,
    Holder,
    NeedFacts,
    Og,
    ProjectType,
    Software,
    Violation,
    check_need,
    raise_first,
)
from marketplace.tenders.states import ENDED_UNAWARDED, NeedProgress, need_status_at
from marketplace.vendors.models import ConductMode, Dps
from marketplace.vendors.sandbox import dps_clock, listing_now
from marketplace.vendors.states import DPS_IN_FORCE, DpsStatus, require_in_force

# Submissions of one campaign take turns, so two needs cannot both claim the same ESMS (N18).
_SUBMIT_LOCK = 0x4E454544  # "NEED"
_RULE_ORDER = {rule.id: index for index, rule in enumerate(RULES)}


class NeedService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def _audit(self, action: str, principal: Principal, need: Need, **details: object) -> None:
        await audit.record(self.session, self.clock, action, actor=principal.label,
                           organisation_id=need.holder_organisation_id, target_type="need",
                           target_id=str(need.id), details=details)

    # -- reading ---------------------------------------------------------------------------------

    async def _need(self, principal: Principal, need_id: uuid.UUID, *, write: bool = False) -> Need:
        need = await self.session.get(Need, need_id)
        if need is None or not principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS):
            raise NotFound("No need has this id.")
        if write and not principal.has_role_in(need.holder_organisation_id, *HOLDER_WRITERS):
            raise Forbidden("Only the holder's administrator or project lead may change this need.")
        return need

    async def own(self, principal: Principal, need_id: uuid.UUID) -> Need:
        """The need's row for its holder's members (anyone else: 404), for a reading that judges it (review.py)."""
        return await self._need(principal, need_id)

    async def get(self, principal: Principal, need_id: uuid.UUID) -> schemas.Need:
        return await self.view(await self._need(principal, need_id))

    async def list_own(self, principal: Principal) -> list[schemas.Need]:
        organisations = principal.organisations_with(*HOLDER_MEMBERS)
        if not organisations:
            return []
        rows = (await self.session.scalars(
            select(Need).where(Need.holder_organisation_id.in_(organisations))
            .order_by(Need.created_at.desc(), Need.id))).all()
        return await self.views(rows)

    async def views(self, needs: Sequence[Need]) -> list[schemas.Need]:
        """The needs as read, each with its status derived from its specific contract at this instant, on that
        contract's DPS clock (HC5, HC6): two queries whatever their number."""
        ids = [need.id for need in needs]
        contracts = {c.need_id: c for c in (await self.session.scalars(
            select(SpecificContract).where(SpecificContract.need_id.in_(ids)))).all()} if ids else {}
        dps_ids = {c.dps_id for c in contracts.values()}
        clocks = {d.id: listing_now(self.clock, d) for d in (await self.session.scalars(
            select(Dps).where(Dps.id.in_(dps_ids)))).all()} if dps_ids else {}
        result = []
        for need in needs:
            contract = contracts.get(need.id)
            now = clocks[contract.dps_id] if contract is not None else self.clock.now()
            result.append(self.to_schema(need, need_status_at(need.status, contract, now)))
        return result

    async def view(self, need: Need) -> schemas.Need:
        return (await self.views([need]))[0]

    @staticmethod
    def to_schema(need: Need, status: NeedProgress) -> schemas.Need:
        """`status` is the need's as read (HC5): `views` derives it; never the stored one of a published need."""
        return schemas.Need(
            id=need.id, holder_organisation_id=need.holder_organisation_id, status=status, title=need.title,
            description=need.description, campaign=need.campaign, project_type=ProjectType(need.project_type),
            requested_call=need.requested_call, applied_on=need.applied_on,
            facilities=msgspec.convert(need.facilities, list[schemas.NeedFacility]),
            multiregional=need.multiregional, core_services=[CoreService(s) for s in need.core_services],
            gdpr_compliance=need.gdpr_compliance, target_map_convergence=need.target_map_convergence,
            business_continuity=need.business_continuity, usage_targets_declared=need.usage_targets_declared,
            companion_dui_acquisition=need.companion_dui_acquisition,
            software=msgspec.convert(need.software, schemas.NeedSoftware) if need.software else None,
            funding_schedule=list(need.funding_schedule),
            ars_prevalidation_reference=need.ars_prevalidation_reference,
            ars_prevalidated_on=need.ars_prevalidated_on, sector=need.sector, delivery_mode=need.delivery_mode,
            cpv_codes=list(need.cpv_codes), created_at=need.created_at, submitted_at=need.submitted_at,
            sandbox=need.sandbox, dps_id=need.dps_id, buyer_organisation_id=need.buyer_organisation_id,
            call_id=need.call_id, funding_status=need.funding_status, funding_filed_at=need.funding_filed_at)

    # -- drafts ----------------------------------------------------------------------------------

    async def _fields(self, data: schemas.NeedFields) -> dict[str, Any]:
        """Form checks of a draft (FINESS and CPV codes), and the columns they fill."""
        facilities = []
        for index, facility in enumerate(data.facilities):
            try:
                finess = validate_finess(facility.finess_et)
            except InvalidIdentifier as exc:
                raise RuleViolation(f"facilities[{index}].finessEt: {exc.reason}",
                                    field=f"facilities[{index}].finessEt") from exc
            facilities.append({"finessEt": finess, "equipmentBudgetCents": facility.equipment_budget_cents})
        codes = []
        for index, code in enumerate(data.cpv_codes):
            reason = await cpv_error(self.session, code)
            if reason is not None:
                raise RuleViolation(f"cpvCodes[{index}]: {reason}", field=f"cpvCodes[{index}]")
            codes.append(code.strip())
        return {
            "title": data.title.strip(), "description": data.description, "campaign": data.campaign,
            "project_type": int(data.project_type), "requested_call": data.requested_call,
            "applied_on": data.applied_on, "facilities": facilities, "multiregional": data.multiregional,
            "core_services": [s.value for s in dict.fromkeys(data.core_services)],
            "gdpr_compliance": data.gdpr_compliance, "target_map_convergence": data.target_map_convergence,
            "business_continuity": data.business_continuity, "usage_targets_declared": data.usage_targets_declared,
            "companion_dui_acquisition": data.companion_dui_acquisition,
            "software": msgspec.to_builtins(data.software) if data.software else None,
            "funding_schedule": list(data.funding_schedule),
            "ars_prevalidation_reference": (data.ars_prevalidation_reference or "").strip() or None,
            "ars_prevalidated_on": data.ars_prevalidated_on, "sector": data.sector,
            "delivery_mode": data.delivery_mode, "cpv_codes": codes,
            "dps_id": data.dps_id, "buyer_organisation_id": data.buyer_organisation_id,
        }

    async def _filing(self, dps_id: uuid.UUID | None, buyer_id: uuid.UUID | None, sandbox: bool) -> Dps | None:
        """The DPS a need is filed to, and the buying organisation it names, checked (D2): a published DPS of
        the need's world (sandbox or real), and a buying organisation that may run contracts on it."""
        if dps_id is None:
            if buyer_id is not None:
                raise RuleViolation("buyerOrganisationId: name the DPS (dpsId) the need is filed to first",
                                    field="dpsId", rule="D2")
            return None
        dps = await self.session.get(Dps, dps_id)
        if dps is None or dps.status == DpsStatus.DRAFT:
            raise RuleViolation("dpsId: no published DPS has this id", field="dpsId", rule="D2")
        if dps.is_sandbox != sandbox:
            raise RuleViolation("dpsId: " + ("a sandbox need is filed to a sandbox DPS only" if sandbox else
                                             "a real need is never filed to a sandbox DPS"),
                                field="dpsId", rule="sandbox")
        if buyer_id is not None and dps.conduct_mode == ConductMode.INTERMEDIATION:
            raise RuleViolation("buyerOrganisationId: HC2: this DPS is conducted in intermediation: the holder is "
                                "the buyer of its specific contract, and names no other", field="buyerOrganisationId",
                                rule="HC2")
        if buyer_id is not None and buyer_id != dps.buyer_organisation_id:
            buyer = await self.session.get(Organisation, buyer_id)
            if buyer is None or buyer.kind != OrganisationKind.BUYER:
                raise RuleViolation("buyerOrganisationId: not a buying organisation", field="buyerOrganisationId")
            if not dps.usable_by_other_buyers:
                raise RuleViolation("buyerOrganisationId: this DPS is not usable by other buyers: its specific "
                                    "contracts are run by its own buying organisation (D2)",
                                    field="buyerOrganisationId", rule="D2")
        return dps

    async def create(self, principal: Principal, data: schemas.NeedCreate) -> schemas.Need:
        writable = principal.organisations_with(*HOLDER_WRITERS)
        organisation_id = data.holder_organisation_id or (writable[0] if len(writable) == 1 else None)
        if organisation_id is None or organisation_id not in writable:
            raise RuleViolation("holderOrganisationId: name a holder (OG or grappe) you administer or lead the "
                                "projects of", field="holderOrganisationId")
        holder = await self.session.get(Organisation, organisation_id)
        if holder is None or holder.kind != OrganisationKind.HOLDER:
            raise RuleViolation("holderOrganisationId: a need is filed by a project holder (an OG or a grappe)",
                                field="holderOrganisationId", rule="N1")
        await self._filing(data.dps_id, data.buyer_organisation_id, data.sandbox)
        need = Need(holder_organisation_id=organisation_id, status=NeedStatus.DRAFT, sandbox=data.sandbox,
                    **await self._fields(data))
        self.session.add(need)
        await self.session.flush()
        await self._audit("need.created", principal, need, title=need.title, campaign=need.campaign,
                          sandbox=need.sandbox)
        return await self.view(need)

    async def update(self, principal: Principal, need_id: uuid.UUID, data: schemas.NeedUpdate) -> schemas.Need:
        need = await self._need(principal, need_id, write=True)
        await self.session.refresh(need, with_for_update=True)
        if need.status != NeedStatus.DRAFT:
            raise Conflict(f"status: only a draft need can be edited; this one is {need.status.value}",
                           field="status")
        await self._filing(data.dps_id, data.buyer_organisation_id, need.sandbox)
        for name, value in (await self._fields(data)).items():
            setattr(need, name, value)
        await self.session.flush()
        await self._audit("need.updated", principal, need, title=need.title)
        return await self.view(need)

    # -- submission ------------------------------------------------------------------------------

    async def _holder(self, organisation: Organisation) -> tuple[Holder, list[uuid.UUID]]:
        """The holder as the rules see it, and the ids of its OG(s)."""
        if not organisation.is_grappe:
            return Holder(is_grappe=False, ogs=(Og(finess_ej=organisation.finess_ej or ""),),
                          lead_finess_ej=organisation.finess_ej), [organisation.id]
        members = (await self.session.execute(
            select(Organisation.id, Organisation.finess_ej).join(
                GrappeMember, GrappeMember.organisation_id == Organisation.id)
            .where(GrappeMember.grappe_id == organisation.id).order_by(GrappeMember.created_at))).all()
        lead = None
        if organisation.lead_organisation_id is not None:
            lead_og = await self.session.get(Organisation, organisation.lead_organisation_id)
            lead = lead_og.finess_ej if lead_og else None
        return (Holder(is_grappe=True, ogs=tuple(Og(finess_ej=ej or "") for _, ej in members), lead_finess_ej=lead),
                [og_id for og_id, _ in members])

    async def _busy_facilities(self, need: Need) -> set[str]:
        """FINESS ET of the other active needs of the same campaign (N18): submitted, or published with a
        procedure that has not ended unawarded; a rehearsal need and a real one never count against each other.

        Among rehearsals only the submitted ones count: a published rehearsal runs on a sandbox clock that
        nobody may ever walk to its end, and holding its ESMS would lock the holder's facilities in the sandbox
        after the first rehearsal (the demo seeds a published one at every start that finds the last expired).
        A submitted twin is still refused, so N18's refusal can be rehearsed."""
        states = (NeedStatus.SUBMITTED,) if need.sandbox else ACTIVE_NEED_STATES
        others = (await self.session.scalars(
            select(Need.facilities).outerjoin(SpecificContract, SpecificContract.need_id == Need.id)
            .where(Need.campaign == need.campaign, Need.id != need.id, Need.status.in_(states),
                   Need.sandbox == need.sandbox,
                   or_(SpecificContract.id.is_(None), SpecificContract.status.not_in(ENDED_UNAWARDED))))).all()
        return {str(item.get("finessEt")) for facilities in others for item in facilities}

    async def facts(self, need: Need, *, submitted_on: date | None = None) -> tuple[NeedFacts, list[Violation]]:
        """`NeedFacts` from the database, and the facilities the `facility` table does not know (N18).
        `submitted_on`: the day the rules judge it on (N17), today unless given (a review reads it as submitted)."""
        organisation = await self.session.get(Organisation, need.holder_organisation_id)
        assert organisation is not None  # a foreign key
        holder, og_ids = await self._holder(organisation)
        ets = [str(item["finessEt"]) for item in need.facilities]
        known = {row.finess_et: row for row in (await self.session.execute(
            select(FacilityRow.finess_et, Organisation.id, Organisation.finess_ej)
            .join(Organisation, Organisation.id == FacilityRow.organisation_id)
            .where(FacilityRow.finess_et.in_(ets)))).all()} if ets else {}
        busy = await self._busy_facilities(need)
        facilities, unknown = [], []
        for index, item in enumerate(need.facilities):
            et = str(item["finessEt"])
            row = known.get(et)
            if row is None:
                unknown.append(Violation("N18", f"facilities[{index}].finessEt",
                                         f"N18: ESMS {et} is not a registered facility of the holder's"
                                         f" {'OGs' if len(og_ids) > 1 else 'OG'}"))
            # The INSEE département, by the same rule as the search index (lib.geography): a FINESS 9701… is
            # Guadeloupe, 971, not "970" — N2 and N6 lower their thresholds in Corsica and overseas.
            facilities.append(Facility(
                finess_et=et, og_finess_ej=(row.finess_ej or "") if row else (holder.ogs[0].finess_ej
                                                                              if holder.ogs else ""),
                departement=departement_of_finess(et), in_other_active_project=et in busy,
                equipment_budget_cents=int(item.get("equipmentBudgetCents", 0))))
        software = None
        if need.software:
            software = Software(couloir=need.software["couloir"], referenced=bool(need.software.get("referenced")),
                                registered_at_desk=bool(need.software.get("registeredAtDesk")))
        # Multiregional (N6, and N17's earlier 2024 deadline) is what the facilities say, not only what the holder
        # declares: ESSMS in two regions make the need multiregional. An overseas collectivity belongs to no region
        # and counts as a territory of its own.
        regions = {region_of(f.departement) or f.departement for f in facilities}
        facts = NeedFacts(
            campaign=need.campaign, project_type=ProjectType(need.project_type), holder=holder,
            facilities=tuple(facilities), requested_call=need.requested_call,
            multiregional=need.multiregional or len(regions) > 1,
            core_services=frozenset(CoreService(s) for s in need.core_services),
            gdpr_compliance=need.gdpr_compliance, target_map_convergence=need.target_map_convergence,
            business_continuity=need.business_continuity, software=software,
            funding_schedule=tuple(need.funding_schedule), usage_targets_declared=need.usage_targets_declared,
            applied_on=need.applied_on,
            submitted_on=submitted_on or to_paris(self.clock.now()).date(), sector=need.sector,
            delivery_mode=need.delivery_mode,
            companion_dui_acquisition=need.companion_dui_acquisition)
        return facts, unknown

    async def submit(self, principal: Principal, need_id: uuid.UUID) -> schemas.Need:
        need = await self._need(principal, need_id, write=True)
        await self.session.refresh(need, with_for_update=True)
        if need.status != NeedStatus.DRAFT:
            raise Conflict(f"status: only a draft need can be submitted; this one is {need.status.value}",
                           field="status")
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key, :campaign)"),
                                   {"key": _SUBMIT_LOCK, "campaign": need.campaign})
        # D2: a need is filed to one DPS before it is submitted; that DPS must still be in force (D5).
        dps = await self._filing(need.dps_id, need.buyer_organisation_id, need.sandbox)
        filing = [] if dps is not None else [Violation("D2", "dpsId", "D2: name the DPS the need is filed to")]
        if dps is not None:
            if dps.status not in DPS_IN_FORCE:
                raise Conflict(f"dpsId: the DPS is {dps.status.value}; file the need to a DPS in force",
                               field="dpsId", rule="domain.md §1.3")
            require_in_force(dps, dps_clock(self.clock, dps).now())
        facts, unknown = await self.facts(need)
        violations = check_need(facts) + unknown + filing
        # Every rule's violations together, in rule order (N1…N19); "campaign" first.
        violations.sort(key=lambda v: _RULE_ORDER.get(v.rule, -1))
        raise_first(violations)
        need.status, need.submitted_at = NeedStatus.SUBMITTED, self.clock.now()
        # The submitted need reads as the rules judged it: facilities in two regions made it multiregional
        # (N6, N17) even if the holder declared otherwise; the draft kept the declaration.
        need.multiregional = facts.multiregional
        await self.session.flush()
        await self._audit("need.submitted", principal, need, old=NeedStatus.DRAFT.value,
                          new=NeedStatus.SUBMITTED.value, campaign=need.campaign)
        return await self.view(need)
