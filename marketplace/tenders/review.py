"""The needs as the buying side reviews them before publishing (domain.md §6, §11.1): the list, and a need's file
with its checklist.

Who reviews a need is who may publish it, or reads it on the way: the buying organisation that runs the DPS it is
filed to (centralised, HC3; in intermediation it may publish on the holder's behalf, HC2), another buying
organisation the holder named on a DPS usable by other buyers (D2), and, in intermediation, the holder's own
administrators and evaluators (HC2: the holder buys). The same scope as `GET /dps/{id}/needs`
(`SpecificContractService.filed_needs`), across every DPS, plus the intermediation holder's own; drafts stay the
holder's. Anyone else: 404.

The checklist is the rule engine's own judgement (`rules.check_need` over `NeedService.facts`, as `submit` runs
it, on the day the need was submitted), one line per rule its campaign has, with N16 read by publication's own
check (`contracts.check_funded`) and N19's DPS category as publication looks it up.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Facility as FacilityRow
from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, HOLDER_EVALUATORS
from marketplace.errors import DomainError, NotFound, RuleViolation
from marketplace.lib.clock import Clock, to_paris
from marketplace.lib.geography import departement_of_finess
from marketplace.tenders import schemas
from marketplace.tenders.campaigns import CAMPAIGNS
from marketplace.tenders.contracts import _publisher, check_funded
from marketplace.tenders.models import Need, NeedStatus, SpecificContract
from marketplace.tenders.needs import NeedService
from marketplace.tenders.rules import RULES, Violation, check_need
from marketplace.tenders.states import NeedProgress
from marketplace.vendors.models import ConductMode, Dps, DpsCategory

LIST_MAX = 5000
_NOT_FOUND = "No need has this id."
# The holder's side of a buying side (HC2): its administrators and evaluators, as `acting_for_the_buyer` widens
# DPS_WRITERS.
_HOLDER_REVIEWERS = HOLDER_EVALUATORS
_N16_SOURCE = "[S20]"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def reviewable(principal: Principal) -> ColumnElement[bool]:
    """The needs (joined with their DPS) the caller reviews: see the module's docstring."""
    buying = principal.organisations_with(*DPS_WRITERS)
    holding = principal.organisations_with(*_HOLDER_REVIEWERS)
    scopes: list[ColumnElement[bool]] = []
    if buying:
        scopes += [Dps.buyer_organisation_id.in_(buying),
                   and_(Dps.usable_by_other_buyers, Dps.conduct_mode == ConductMode.CENTRALISED,
                        Need.buyer_organisation_id.in_(buying))]
    if holding:
        scopes.append(and_(Dps.conduct_mode == ConductMode.INTERMEDIATION,
                           Need.holder_organisation_id.in_(holding)))
    return and_(Need.status != NeedStatus.DRAFT, or_(*scopes) if scopes else false())


async def reviewed_need(session: AsyncSession, principal: Principal, need_id: uuid.UUID) -> tuple[Need, Dps]:
    """The need and its DPS if the caller reviews it, else 404 (another organisation's need is never a 403)."""
    row = (await session.execute(select(Need, Dps).join(Dps, Dps.id == Need.dps_id)
                                 .where(Need.id == need_id, reviewable(principal)))).first()
    if row is None:
        raise NotFound(_NOT_FOUND)
    return row[0], row[1]


class NeedReviewService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def needs(self, principal: Principal, *, status: NeedProgress | None = None, campaign: int | None = None,
                   search: str = "", limit: int = 25, offset: int = 0) -> schemas.ReviewedNeedPage:
        """The needs the caller reviews, oldest submission first; `status` as read now (HC5, on each contract's
        clock), so it is filtered after the read; `campaign` and `search` (in the title or holder) in SQL."""
        query = (select(Need, Dps.title, Dps.conduct_mode, Organisation.name)
                 .join(Dps, Dps.id == Need.dps_id).join(Organisation, Organisation.id == Need.holder_organisation_id)
                 .where(reviewable(principal)))
        if campaign is not None:
            query = query.where(Need.campaign == campaign)
        if search.strip():
            pattern = f"%{_like(search.strip())}%"
            query = query.where(or_(Need.title.ilike(pattern, escape="\\"),
                                    Organisation.name.ilike(pattern, escape="\\")))
        rows = (await self.session.execute(query.order_by(Need.submitted_at, Need.id).limit(LIST_MAX))).all()
        views = await NeedService(self.session, self.clock).views([row[0] for row in rows])
        read = [(view, row) for view, row in zip(views, rows, strict=True) if status is None or view.status == status]
        return schemas.ReviewedNeedPage(items=[schemas.ReviewedNeed(
            id=view.id, title=view.title, holder_organisation_id=view.holder_organisation_id, holder_name=holder,
            facility_count=len({f.finess_et for f in view.facilities}), campaign=view.campaign, status=view.status,
            funding_status=view.funding_status, submitted_at=view.submitted_at, dps_id=need.dps_id,  # type: ignore[arg-type] # joined to its DPS
            dps_title=dps_title, conduct_mode=mode, sandbox=view.sandbox)
            for view, (need, dps_title, mode, holder) in read[offset:offset + limit]],
            total=len(read), limit=limit, offset=offset)

    async def file(self, principal: Principal, need_id: uuid.UUID) -> schemas.ReviewFile:
        need, dps = await reviewed_need(self.session, principal, need_id)
        needs = NeedService(self.session, self.clock)
        holder = await self.session.scalar(select(Organisation.name).where(
            Organisation.id == need.holder_organisation_id))
        ets = [str(item["finessEt"]) for item in need.facilities]
        known = {row.finess_et: row for row in (await self.session.execute(
            select(FacilityRow.finess_et, FacilityRow.name, Organisation.finess_ej)
            .join(Organisation, Organisation.id == FacilityRow.organisation_id)
            .where(FacilityRow.finess_et.in_(ets)))).all()} if ets else {}
        facilities = [schemas.ReviewedFacility(
            finess_et=et, finess_ej=known[et].finess_ej if et in known else None,
            name=known[et].name if et in known else None, departement=departement_of_finess(et),
            registered=et in known, equipment_budget_cents=int(item.get("equipmentBudgetCents", 0)))
            for et, item in zip(ets, need.facilities, strict=True)]
        category = await self.session.scalar(select(DpsCategory.title).where(
            DpsCategory.dps_id == dps.id, DpsCategory.sector == need.sector,
            DpsCategory.delivery_mode == need.delivery_mode))
        contract_id = await self.session.scalar(select(SpecificContract.id).where(SpecificContract.need_id == need.id))
        try:
            _publisher(principal, need, dps)
            may_publish = need.status == NeedStatus.SUBMITTED
        except DomainError:
            may_publish = False
        criteria = [schemas.ChosenCriterion(
            name=str(c["name"]), weight_min=int(c["weightMin"]), weight_max=int(c["weightMax"]),
            weight=(int(c["weightMin"]) + int(c["weightMax"])) // 2) for c in dps.award_criteria]
        return schemas.ReviewFile(
            need=await needs.view(need), holder_name=holder or "", facilities=facilities, dps_id=dps.id,
            dps_title=dps.title, conduct_mode=dps.conduct_mode, category_title=category, criteria=criteria,
            checklist=await self.checklist(need, category is not None), may_publish=may_publish,
            contract_id=contract_id)

    async def own_checklist(self, principal: Principal, need_id: uuid.UUID) -> list[schemas.CheckedRule]:
        """The checklist of a need as its holder sees it while writing it (a draft too): the same judgement, on
        today's date until it is submitted; the holder's members only (`GET /needs/{id}`'s scope, else 404)."""
        need = await NeedService(self.session, self.clock).own(principal, need_id)
        has_category = need.dps_id is None or need.sector is None or need.delivery_mode is None or (
            await self.session.scalar(select(DpsCategory.id).where(
                DpsCategory.dps_id == need.dps_id, DpsCategory.sector == need.sector,
                DpsCategory.delivery_mode == need.delivery_mode).limit(1))) is not None
        return await self.checklist(need, has_category)

    async def checklist(self, need: Need, has_category: bool) -> list[schemas.CheckedRule]:
        """Each rule the need's campaign has, passed or with its violations, in rule order, and N16."""
        on = to_paris(need.submitted_at).date() if need.submitted_at else None
        facts, unknown = await NeedService(self.session, self.clock).facts(need, submitted_on=on)
        violations = check_need(facts) + unknown
        if not has_category and need.sector is not None and need.delivery_mode is not None:
            # As `publish` refuses it: the DPS the need is filed to has no category for its sector × mode.
            violations.append(Violation("N19", "dpsId", "N19: the DPS has no category for the need's sector and "
                                                        "delivery mode"))
        campaign = CAMPAIGNS.get(need.campaign)
        rows: list[schemas.CheckedRule] = []

        def line(rule: str, source: str) -> schemas.CheckedRule:
            found = [v for v in violations if v.rule == rule]
            return schemas.CheckedRule(rule=rule, source=source, passed=not found,
                                       messages=[v.message for v in found], fields=[v.field for v in found])

        if campaign is None:
            return [line("campaign", "[SEED]")]
        for rule in RULES:
            if rule.id == "N17":
                rows.append(self._funded(need))
            if rule.applies(campaign):
                rows.append(line(rule.id, rule.source))
        return rows

    @staticmethod
    def _funded(need: Need) -> schemas.CheckedRule:
        """N16 by publication's own check (FU4)."""
        try:
            check_funded(need)
        except RuleViolation as exc:
            return schemas.CheckedRule(rule="N16", source=_N16_SOURCE, passed=False, messages=[exc.detail],
                                       fields=[str(exc.extra.get("field", "fundingDecision"))])
        return schemas.CheckedRule(rule="N16", source=_N16_SOURCE, passed=True, messages=[], fields=[])
