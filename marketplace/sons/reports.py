"""Reports on SONS orders (issue 16): per dispositif, wave, region, vendor, order status or ASP status, the orders
the caller may read (access.py), counted with their HT and TTC amounts, what the ASP paid, and those at risk.

At risk: an order still short of its balance (not yet BALANCE_REQUESTED, nor ended) whose dispositif's deployment
deadline (the calendar version in force) falls within the next 30 days: past it, the order expires and its funding
is lost (§12).

The region of an order is that of its sites: a FINESS ET gives its département (domain.md §2.3) and so its region
(INSEE COG); a SIRET says nothing of where the site is, so an order of SIRET sites only is in region `unknown`.
An order whose sites lie in several regions counts in each of them, so the per-region rows may add up to more
than the total, which counts every order once. The ASP status is that of the order's latest advance or balance
request (`NONE` before its advance is filed).

Amounts are in cents, as everywhere in the API. The same report comes as JSON or as CSV (one line per group, then
the total).
"""

from __future__ import annotations

import csv
import enum
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import String, and_, cast, func, literal, select
from sqlalchemy.sql import Select

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.lib.geography import REGIONS
from marketplace.sons import schemas
from marketplace.sons.access import region_of_site, visible_orders
from marketplace.sons.base import SonsBase
from marketplace.sons.models import SonsAspRequest, SonsCalendar, SonsDispositif, SonsOrder, SonsOrderSite
from marketplace.sons.states import FINAL, OrderStatus, RequestKind

AT_RISK_WITHIN = timedelta(days=30)
# Short of the balance and not ended: what a passed deployment deadline still costs.
AT_RISK_STATES = frozenset(OrderStatus) - FINAL - {OrderStatus.BALANCE_REQUESTED, OrderStatus.BALANCE_INCOMPLETE,
                                                   OrderStatus.BALANCE_TO_MODIFY, OrderStatus.BALANCE_VALIDATED}
# The ASP sent the advance or the balance back "à modifier": the vendor fixes it and files again.
TO_MODIFY = (OrderStatus.ADVANCE_TO_MODIFY, OrderStatus.BALANCE_TO_MODIFY)
UNKNOWN_REGION = "unknown"
NO_REQUEST = "NONE"
CSV_COLUMNS = ["by", "key", "label", "orders", "amountHtCents", "amountTtcCents", "paidCents", "atRisk",
               "atRiskTtcCents"]


class ReportDimension(enum.StrEnum):
    DISPOSITIF = "dispositif"
    WAVE = "wave"
    REGION = "region"
    VENDOR = "vendor"
    STATUS = "status"
    ASP_STATUS = "aspStatus"


class ReportService(SonsBase):
    async def report(self, principal: Principal, by: ReportDimension) -> schemas.OrderReport:
        now = self.clock.now()
        until = now + AT_RISK_WITHIN
        deadline = self._deadlines()
        at_risk = and_(SonsOrder.status.in_(AT_RISK_STATES), deadline.c.deployment_deadline >= now,
                       deadline.c.deployment_deadline < until)
        visible = visible_orders(principal).with_only_columns(SonsOrder.id)
        measures = (func.count(func.distinct(SonsOrder.id)), func.coalesce(func.sum(SonsOrder.amount_ht_cents), 0),
                    func.coalesce(func.sum(SonsOrder.amount_ttc_cents), 0),
                    func.coalesce(func.sum(SonsOrder.paid_cents), 0), func.count().filter(at_risk),
                    func.coalesce(func.sum(SonsOrder.amount_ttc_cents).filter(at_risk), 0))

        def base(*columns: Any) -> Select[Any]:
            return (select(*columns, *measures).select_from(SonsOrder)
                    .join(deadline, deadline.c.dispositif_id == SonsOrder.dispositif_id)
                    .where(SonsOrder.id.in_(visible)))

        key, label, query = self._grouping(by, base)
        rows = []
        for found in (await self.session.execute(query.group_by(key, label).order_by(key))).all():
            rows.append(_row(*self._named(by, found[0], found[1]), *found[2:]))
        total = (await self.session.execute(base(literal("total"), literal("total")))).one()
        return schemas.OrderReport(by=by.value, generated_at=now, at_risk_until=until, rows=rows,
                                   total=_row("total", "total", *total[2:]))

    async def watch(self, principal: Principal) -> schemas.OrderWatch:
        """The work queue's SONS tile, in one query, over the orders the caller reads (`visible_orders`, as
        `report`): at risk as `report` counts them, and at TO_MODIFY (the ASP asks the vendor to fix a request)."""
        now = self.clock.now()
        deadline = self._deadlines()
        at_risk = and_(SonsOrder.status.in_(AT_RISK_STATES), deadline.c.deployment_deadline >= now,
                       deadline.c.deployment_deadline < now + AT_RISK_WITHIN)
        risky, to_modify, nearest = (await self.session.execute(
            select(func.count().filter(at_risk), func.count().filter(SonsOrder.status.in_(TO_MODIFY)),
                   func.min(deadline.c.deployment_deadline).filter(at_risk))
            .select_from(SonsOrder).join(deadline, deadline.c.dispositif_id == SonsOrder.dispositif_id)
            .where(SonsOrder.id.in_(visible_orders(principal).with_only_columns(SonsOrder.id))))).one()
        return schemas.OrderWatch(at_risk=int(risky), to_modify=int(to_modify), nearest_deadline=nearest)

    @staticmethod
    def _deadlines() -> Any:
        """Each dispositif's deployment deadline, from the calendar version in force (its latest)."""
        latest = (select(SonsCalendar.dispositif_id, func.max(SonsCalendar.version).label("version"))
                  .group_by(SonsCalendar.dispositif_id).subquery())
        return (select(SonsCalendar.dispositif_id, SonsCalendar.deployment_deadline)
                .join(latest, and_(latest.c.dispositif_id == SonsCalendar.dispositif_id,
                                   latest.c.version == SonsCalendar.version)).subquery())

    @staticmethod
    def _grouping(by: ReportDimension, base: Any) -> tuple[Any, Any, Select[Any]]:
        if by is ReportDimension.DISPOSITIF:
            return (SonsDispositif.code, SonsDispositif.code,
                    base(SonsDispositif.code, SonsDispositif.code)
                    .join(SonsDispositif, SonsDispositif.id == SonsOrder.dispositif_id))
        if by is ReportDimension.WAVE:
            return SonsOrder.wave, SonsOrder.wave, base(SonsOrder.wave, SonsOrder.wave)
        if by is ReportDimension.VENDOR:
            return (SonsOrder.vendor_organisation_id, Organisation.name,
                    base(SonsOrder.vendor_organisation_id, Organisation.name)
                    .join(Organisation, Organisation.id == SonsOrder.vendor_organisation_id))
        if by is ReportDimension.STATUS:
            return SonsOrder.status, SonsOrder.status, base(SonsOrder.status, SonsOrder.status)
        if by is ReportDimension.ASP_STATUS:
            latest_request = (select(SonsAspRequest.status).where(
                SonsAspRequest.order_id == SonsOrder.id, SonsAspRequest.kind != RequestKind.AMENDMENT)
                .order_by(SonsAspRequest.filed_at.desc(), SonsAspRequest.id.desc()).limit(1)
                .correlate(SonsOrder).scalar_subquery())
            status = func.coalesce(cast(latest_request, String), NO_REQUEST)
            return status, status, base(status, status)
        regions = (select(SonsOrderSite.order_id, func.coalesce(region_of_site(), UNKNOWN_REGION).label("region"))
                   .distinct().subquery())
        return (regions.c.region, regions.c.region,
                base(regions.c.region, regions.c.region).join(regions, regions.c.order_id == SonsOrder.id))

    @staticmethod
    def _named(by: ReportDimension, key: Any, label: Any) -> tuple[str, str]:
        if by is ReportDimension.REGION:
            return str(key), REGIONS[key][0] if key in REGIONS else "unknown region (sites by SIRET)"
        if by is ReportDimension.WAVE:
            return str(key), f"wave {key}"
        value = getattr(key, "value", key)
        return str(value), str(getattr(label, "value", label))


def _row(key: str, label: str, orders: int, ht: int, ttc: int, paid: int, at_risk: int,
         at_risk_ttc: int) -> schemas.ReportRow:
    return schemas.ReportRow(key=key, label=label, orders=int(orders), amount_ht_cents=int(ht),
                             amount_ttc_cents=int(ttc), paid_cents=int(paid), at_risk=int(at_risk),
                             at_risk_ttc_cents=int(at_risk_ttc))


def report_csv(report: schemas.OrderReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report.rows, report.total]:
        writer.writerow([report.by, row.key, row.label, row.orders, row.amount_ht_cents, row.amount_ttc_cents,
                         row.paid_cents, row.at_risk, row.at_risk_ttc_cents])
    return out.getvalue()
