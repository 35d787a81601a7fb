"""The guards an order is drafted under (§5.3, SN1–SN4), written once for every door: the API's `POST /sons/orders`
drafts one order, the bulk import (`imports.py`) drafts thousands; both load what the guards read with
`load_lookups` (a handful of batched queries however many orders) and run `check_order` on each.

`check_order` is pure: it reads the `Lookups` and raises the first refusal, a `DomainError` naming its field (as the
API spells it: `amountHtCents`, `sites[2].finessEt` …) and its rule. Once an order passes, `Lookups.hold` records its
reference and its beneficiaries, so the next order checked against the same lookups (the next row of a file) sees
them as taken (SN4, the natural key).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Facility, Organisation
from marketplace.accounts.roles import OrganisationKind
from marketplace.errors import Conflict, RuleViolation
from marketplace.lib.clock import format_paris, to_paris
from marketplace.lib.identifiers import InvalidIdentifier, normalise, validate_finess, validate_siret
from marketplace.sons import schemas
from marketplace.sons.dispositifs import IMPORT_COMMAND
from marketplace.sons.errors import (
    AmountsInconsistent,
    BeneficiaryServed,
    CeilingExceeded,
    DeadlinePassed,
    PreReferencingRefused,
    SiteNotOfOg,
    SolutionUnavailable,
)
from marketplace.sons.models import (
    SonsCalendar,
    SonsCeiling,
    SonsCeilingTable,
    SonsDispositif,
    SonsEnrolment,
    SonsOrder,
    SonsOrderSite,
    SonsSolution,
)
from marketplace.sons.states import SolutionStatus, VatStatus

# SN3: the mention the AF prescribes on an order signed before the solution's referencing.
PRE_REFERENCING_MENTION = "sous condition de référencement"


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def ttc_of(ht_cents: int, vat_rate_bp: int) -> int:
    """§5.3: TTC to the cent, the VAT rounded half up (the HT amount in cents times the rate in basis points)."""
    return ht_cents + (ht_cents * vat_rate_bp + 5_000) // 10_000


def is_pre_referencing(solution: SonsSolution, at: datetime) -> bool:
    """SN3: an order signed before the solution's referencing date (or of a solution not referenced yet)."""
    return solution.referenced_on is None or to_paris(at).date() < solution.referenced_on


def check_mention(mention: str | None) -> None:
    if mention is None or _plain(PRE_REFERENCING_MENTION) not in _plain(mention):
        raise PreReferencingRefused(f"preReferencingMention: SN3: an order before the solution's referencing "
                                    f"carries the AF's mention « {PRE_REFERENCING_MENTION} »",
                                    field="preReferencingMention", rule="SN3")


@dataclass
class Lookups:
    """What the guards read, loaded once for a batch of orders (see `load_lookups`)."""

    now: datetime
    solutions: dict[uuid.UUID, SonsSolution] = field(default_factory=dict)
    dispositifs: dict[uuid.UUID, SonsDispositif] = field(default_factory=dict)
    # The calendar version and the ceiling table in force, by dispositif.
    calendars: dict[uuid.UUID, SonsCalendar] = field(default_factory=dict)
    tables: dict[uuid.UUID, SonsCeilingTable] = field(default_factory=dict)
    ceilings: dict[uuid.UUID, dict[str, SonsCeiling]] = field(default_factory=dict)
    organisations: dict[uuid.UUID, Organisation] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    vat_status: dict[uuid.UUID, VatStatus | None] = field(default_factory=dict)
    # SN4: (beneficiary, dispositif code, wave) → the reference of the order holding its Ségur service.
    served: dict[tuple[str, str, int], str] = field(default_factory=dict)
    # The natural key: (vendor, orderRef) of the orders that exist.
    references: set[tuple[uuid.UUID, str]] = field(default_factory=set)

    def hold(self, vendor_id: uuid.UUID, checked: Checked) -> None:
        """An order checked and about to be written: its reference and its beneficiaries are taken."""
        self.references.add((vendor_id, checked.order_ref))
        for site in checked.sites:
            self.served[(site["beneficiary"], checked.dispositif.code, checked.dispositif.wave)] = checked.order_ref


@dataclass
class Checked:
    """An order that passed every guard, with what it is written with."""

    order_ref: str
    og: Organisation
    solution: SonsSolution
    dispositif: SonsDispositif
    calendar: SonsCalendar
    ceiling: SonsCeiling
    scenario: str
    pre_referencing: bool
    sites: list[dict[str, Any]]

    def order(self, data: schemas.OrderCreate, vendor_id: uuid.UUID, created_by: str) -> SonsOrder:
        og = self.og
        assert og.finess_ej is not None
        return SonsOrder(
            order_ref=self.order_ref, vendor_organisation_id=vendor_id, holder_organisation_id=og.id,
            og_finess_ej=og.finess_ej, og_siret=og.siret, solution_id=self.solution.id,
            dispositif_id=self.dispositif.id, wave=self.dispositif.wave, calendar_id=self.calendar.id,
            ceiling_id=self.ceiling.id, installation_scenario=self.scenario, tranche=self.ceiling.tranche,
            ceiling_ht_cents=self.ceiling.ceiling_ht_cents, amount_ht_cents=data.amount_ht_cents,
            vat_rate_bp=data.vat_rate_bp, amount_ttc_cents=data.amount_ttc_cents,
            subscription_excluded=data.subscription_excluded, pre_referencing=self.pre_referencing,
            pre_referencing_mention=data.pre_referencing_mention.strip() if data.pre_referencing_mention else None,
            created_by=created_by, paid_cents=0)

    def site_rows(self, order_id: uuid.UUID) -> list[SonsOrderSite]:
        return [SonsOrderSite(order_id=order_id, dispositif_code=self.dispositif.code, wave=self.dispositif.wave,
                              holds=True, finess_et=s["finess_et"], siret=s["siret"], beneficiary=s["beneficiary"],
                              category=s["category"]) for s in self.sites]


def parse_sites(given: Iterable[schemas.SiteCreate]) -> list[dict[str, Any]]:
    """Each site's identifier checked (§2.2, §2.3) and its beneficiary key; a site listed twice refused."""
    sites: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(given):
        where = f"sites[{index}]"
        if (entry.finess_et is None) == (entry.siret is None):
            raise RuleViolation(f"{where}: §5.3: a site is identified by its FINESS ET or its SIRET, one of the two",
                                field=where, rule="domain.md §2.3")
        try:
            if entry.finess_et is not None:
                et, siret = validate_finess(entry.finess_et), None
                beneficiary = f"FINESS:{et}"
            else:
                assert entry.siret is not None
                et, siret = None, validate_siret(entry.siret)
                beneficiary = f"SIRET:{siret}"
        except InvalidIdentifier as exc:
            name = "finessEt" if entry.finess_et is not None else "siret"
            raise RuleViolation(f"{where}.{name}: {exc.reason}", field=f"{where}.{name}",
                                rule="domain.md §2.3" if name == "finessEt" else "domain.md §2.2") from exc
        if beneficiary in seen:
            raise RuleViolation(f"{where}: the site is listed twice", field=where)
        seen.add(beneficiary)
        sites.append({"finess_et": et, "siret": siret, "beneficiary": beneficiary, "category": entry.category})
    return sites


def _ceiling(lookups: Lookups, dispositif: SonsDispositif, tranche: str) -> SonsCeiling:
    table = lookups.tables.get(dispositif.id)
    if table is None:
        raise RuleViolation(f"tranche: SN1: no ceiling table of {dispositif.code} has been imported; the operator "
                            f"imports the AF's with `{IMPORT_COMMAND}`", field="tranche", rule="SN1")
    tranches = lookups.ceilings.get(table.id, {})
    ceiling = tranches.get(tranche.strip())
    if ceiling is None:
        raise RuleViolation(f"tranche: SN1: {dispositif.code}'s ceiling table {table.version} has no tranche "
                            f"{tranche!r} (its tranches: {', '.join(sorted(tranches))})", field="tranche", rule="SN1")
    return ceiling


def check_amounts(data: schemas.OrderCreate, ceiling: SonsCeiling, vat_status: VatStatus | None) -> None:
    if data.amount_ht_cents > ceiling.ceiling_ht_cents:
        raise CeilingExceeded(f"amountHtCents: SN1: {data.amount_ht_cents} cents HT is over the ceiling of tranche "
                              f"{ceiling.tranche} ({ceiling.ceiling_ht_cents} cents HT)", field="amountHtCents",
                              rule="SN1", ceilingHtCents=ceiling.ceiling_ht_cents)
    rates = {ceiling.vat_rate_bp} | ({0} if vat_status is VatStatus.NOT_LIABLE else set())
    if data.vat_rate_bp not in rates:
        raise AmountsInconsistent(f"vatRateBp: §5.3: the VAT rate of tranche {ceiling.tranche} is "
                                  f"{ceiling.vat_rate_bp} basis points", field="vatRateBp", rule="domain.md §5.3")
    expected = ttc_of(data.amount_ht_cents, data.vat_rate_bp)
    if data.amount_ttc_cents != expected:
        raise AmountsInconsistent(f"amountTtcCents: §5.3: {data.amount_ht_cents} cents HT at {data.vat_rate_bp} "
                                  f"basis points is {expected} cents TTC, not {data.amount_ttc_cents}",
                                  field="amountTtcCents", rule="domain.md §5.3", expected=expected)


def _check_sites(lookups: Lookups, og: Organisation, sites: list[dict[str, Any]],
                 dispositif: SonsDispositif) -> None:
    for index, site in enumerate(sites):
        where = f"sites[{index}]"
        if site["finess_et"] is not None:
            facility = lookups.facilities.get(site["finess_et"])
            if facility is None or facility.organisation_id != og.id:
                raise SiteNotOfOg(f"{where}.finessEt: §2.3: FINESS ET {site['finess_et']} is not a site of the OG "
                                  f"(FINESS EJ {og.finess_ej})", field=f"{where}.finessEt", rule="domain.md §2.3")
            site["category"] = site["category"] or facility.category_code
        elif og.siren is None or site["siret"][:9] != og.siren:
            raise SiteNotOfOg(f"{where}.siret: §2.3: SIRET {site['siret']} is not an establishment of the OG (SIREN "
                              f"{og.siren or 'unknown'})", field=f"{where}.siret", rule="domain.md §2.3")
    for index, site in enumerate(sites):
        holder = lookups.served.get((site["beneficiary"], dispositif.code, dispositif.wave))
        if holder is not None:
            raise BeneficiaryServed(f"sites[{index}]: SN4: {site['beneficiary'].replace(':', ' ')} has its Ségur "
                                    f"service of {dispositif.code} (wave {dispositif.wave}) ordered already "
                                    f"(order {holder})", field=f"sites[{index}]", rule="SN4")


def check_order(lookups: Lookups, vendor_id: uuid.UUID, data: schemas.OrderCreate) -> Checked:
    """Every guard of a draft, in the order the API has always applied them; the first refusal is raised."""
    solution = lookups.solutions.get(data.solution_id)
    if solution is None or solution.vendor_organisation_id != vendor_id:
        raise SolutionUnavailable("solutionId: no SONS solution of yours has this id", field="solutionId",
                                  rule="§5.2")
    if solution.status is not SolutionStatus.ACTIVE:
        raise SolutionUnavailable("solutionId: §5.2: this solution was withdrawn; it takes no new order",
                                  field="solutionId", rule="§5.2")
    scenario = data.installation_scenario.strip()
    if scenario not in solution.installation_scenarios:
        raise SolutionUnavailable(f"installationScenario: §5.3: the scenario is one of the solution's referenced "
                                  f"profile ({', '.join(solution.installation_scenarios)})",
                                  field="installationScenario", rule="§5.3")
    dispositif = lookups.dispositifs[solution.dispositif_id]
    calendar = lookups.calendars[dispositif.id]
    if lookups.now >= calendar.order_deadline:
        raise DeadlinePassed(f"orderRef: SN1: orders of {dispositif.code} (wave {dispositif.wave}) were signed "
                             f"until {format_paris(calendar.order_deadline)}", field="orderRef", rule="SN1",
                             deadline=calendar.order_deadline.isoformat())
    og = lookups.organisations.get(data.holder_organisation_id)
    if og is None or og.kind is not OrganisationKind.HOLDER or og.finess_ej is None:
        raise RuleViolation("holderOrganisationId: §5.3: the order is an OG's, funded through its FINESS EJ; this "
                            "is not an OG with one", field="holderOrganisationId", rule="domain.md §2.3")
    ceiling = _ceiling(lookups, dispositif, data.tranche)
    check_amounts(data, ceiling, lookups.vat_status.get(vendor_id))
    if solution.saas and not data.subscription_excluded:
        raise RuleViolation("subscriptionExcluded: SN2: the subscription of a SaaS solution is not funded; the "
                            "order says so (subscriptionExcluded: true)", field="subscriptionExcluded", rule="SN2")
    pre_referencing = is_pre_referencing(solution, lookups.now)
    if pre_referencing:
        check_mention(data.pre_referencing_mention)
    sites = parse_sites(data.sites)
    _check_sites(lookups, og, sites, dispositif)
    reference = data.order_ref.strip()
    if (vendor_id, reference) in lookups.references:
        raise Conflict(f"orderRef: you have an order {reference} already", field="orderRef")
    return Checked(order_ref=reference, og=og, solution=solution, dispositif=dispositif, calendar=calendar,
                   ceiling=ceiling, scenario=scenario, pre_referencing=pre_referencing, sites=sites)


async def load_lookups(session: AsyncSession, now: datetime, vendor_id: uuid.UUID,
                       orders: list[schemas.OrderCreate]) -> Lookups:
    """What `check_order` reads for these orders of one vendor, in a fixed number of queries (house rule 8)."""
    lookups = Lookups(now=now)
    solution_ids = {o.solution_id for o in orders}
    lookups.solutions = {s.id: s for s in (await session.scalars(
        select(SonsSolution).where(SonsSolution.id.in_(solution_ids)))).all()}
    dispositif_ids = {s.dispositif_id for s in lookups.solutions.values()}
    if dispositif_ids:
        lookups.dispositifs = {d.id: d for d in (await session.scalars(
            select(SonsDispositif).where(SonsDispositif.id.in_(dispositif_ids)))).all()}
        for calendar in (await session.scalars(
                select(SonsCalendar).where(SonsCalendar.dispositif_id.in_(dispositif_ids))
                .order_by(SonsCalendar.dispositif_id, SonsCalendar.version))).all():
            lookups.calendars[calendar.dispositif_id] = calendar  # the latest version wins
        for table in (await session.scalars(
                select(SonsCeilingTable).where(SonsCeilingTable.dispositif_id.in_(dispositif_ids))
                .order_by(SonsCeilingTable.imported_at, SonsCeilingTable.id))).all():
            lookups.tables[table.dispositif_id] = table  # the latest import is in force
        table_ids = [t.id for t in lookups.tables.values()]
        for ceiling in (await session.scalars(select(SonsCeiling).where(SonsCeiling.table_id.in_(table_ids)))).all():
            lookups.ceilings.setdefault(ceiling.table_id, {})[ceiling.tranche] = ceiling
    lookups.organisations = {o.id: o for o in (await session.scalars(
        select(Organisation).where(Organisation.id.in_({o.holder_organisation_id for o in orders})))).all()}
    # The identifiers as `parse_sites` will have normalised them (an invalid one is refused before it is looked up).
    ets = {normalise(s.finess_et) for o in orders for s in o.sites if s.finess_et}
    if ets:
        lookups.facilities = {f.finess_et: f for f in (await session.scalars(
            select(Facility).where(Facility.finess_et.in_(ets)))).all()}
    lookups.vat_status[vendor_id] = await session.scalar(select(SonsEnrolment.vat_status).where(
        SonsEnrolment.vendor_organisation_id == vendor_id, SonsEnrolment.superseded_at.is_(None)))
    beneficiaries = set()
    for o in orders:
        for s in o.sites:
            if s.finess_et:
                beneficiaries.add(f"FINESS:{normalise(s.finess_et)}")
            if s.siret:
                beneficiaries.add(f"SIRET:{normalise(s.siret)}")
    if beneficiaries:
        for beneficiary, code, wave, reference in (await session.execute(
                select(SonsOrderSite.beneficiary, SonsOrderSite.dispositif_code, SonsOrderSite.wave,
                       SonsOrder.order_ref)
                .join(SonsOrder, SonsOrder.id == SonsOrderSite.order_id)
                .where(SonsOrderSite.beneficiary.in_(beneficiaries), SonsOrderSite.holds))).all():
            lookups.served[(beneficiary, code, wave)] = reference
    references = {o.order_ref.strip() for o in orders}
    lookups.references = {(vendor_id, r) for r in (await session.scalars(select(SonsOrder.order_ref).where(
        SonsOrder.vendor_organisation_id == vendor_id, SonsOrder.order_ref.in_(references)))).all()}
    return lookups
