"""The orders as the operator and the funders go through them (ui.md "SONS orders"): filtered by dispositif, wave,
vendor, OG, region, ASP status and deadline risk, searched, sorted and paged in SQL, over exactly the orders the
caller may read (access.visible_orders, as GET /sons/orders and GET /sons/reports/orders).

Definitions are those of the report (reports.py), so a list and a report of the same filter agree: an order's ASP
status is that of its latest advance or balance request (`NONE` before its advance); its region is that of its
sites' FINESS ET (`unknown` for SIRET sites); it is at risk when still short of its balance with its dispositif's
deployment deadline (the calendar in force) within 30 days (§12: past it, the order expires). The list also
flags an order with a request the ASP sent back "A modifier" (SN5: TO_MODIFY), which waits on the vendor.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.errors import RuleViolation
from marketplace.lib.schemas import Page
from marketplace.sons import schemas
from marketplace.sons.access import region_of_site, visible_orders
from marketplace.sons.base import SonsBase
from marketplace.sons.models import SonsAspRequest, SonsCalendar, SonsDispositif, SonsOrder, SonsOrderSite
from marketplace.sons.reports import AT_RISK_STATES, AT_RISK_WITHIN, NO_REQUEST, UNKNOWN_REGION
from marketplace.sons.states import AspStatus, RequestKind

LIST_MAX = 5_000


class Risk(enum.StrEnum):
    """The list's deadline-risk filter."""

    ANY = "any"              # either of the two below
    DEADLINE = "deadline"    # the deployment deadline within 30 days, the balance not filed
    TO_MODIFY = "to_modify"  # a request at TO_MODIFY (SN5)


_Vendor = aliased(Organisation, name="vendor")
_Holder = aliased(Organisation, name="holder")


def _asp_status() -> Any:
    latest = (select(SonsAspRequest.status).where(SonsAspRequest.order_id == SonsOrder.id,
                                                  SonsAspRequest.kind != RequestKind.AMENDMENT)
              .order_by(SonsAspRequest.filed_at.desc(), SonsAspRequest.id.desc()).limit(1)
              .correlate(SonsOrder).scalar_subquery())
    return func.coalesce(cast(latest, String), NO_REQUEST)


def _to_modify() -> Any:
    return exists().where(SonsAspRequest.order_id == SonsOrder.id, SonsAspRequest.status == AspStatus.TO_MODIFY)


def _regions() -> Any:
    return (select(func.array_agg(func.distinct(func.coalesce(region_of_site(), UNKNOWN_REGION))))
            .where(SonsOrderSite.order_id == SonsOrder.id).correlate(SonsOrder).scalar_subquery())


LIST_SORTS: dict[str, Any] = {
    "ref": SonsOrder.order_ref, "vendor": _Vendor.name, "og": _Holder.name, "dispositif": SonsDispositif.code,
    "status": SonsOrder.status, "deadline": "deployment_deadline", "ttc": SonsOrder.amount_ttc_cents,
    "created": SonsOrder.created_at,
}


class OrderListService(SonsBase):
    def _deadline(self) -> Any:
        latest = (select(SonsCalendar.dispositif_id, func.max(SonsCalendar.version).label("version"))
                  .group_by(SonsCalendar.dispositif_id).subquery())
        return (select(SonsCalendar.dispositif_id, SonsCalendar.deployment_deadline)
                .join(latest, and_(latest.c.dispositif_id == SonsCalendar.dispositif_id,
                                   latest.c.version == SonsCalendar.version)).subquery())

    def _rows(self, principal: Principal, *, dispositif: str | None, wave: int | None, vendor: uuid.UUID | None,
              holder: uuid.UUID | None, region: str | None, asp_status: str | None, risk: Risk | None,
              search: str | None, order_id: uuid.UUID | None) -> tuple[Select[Any], Any]:
        now = self.clock.now()
        deadline = self._deadline()
        at_risk = and_(SonsOrder.status.in_(AT_RISK_STATES), deadline.c.deployment_deadline >= now,
                       deadline.c.deployment_deadline < now + AT_RISK_WITHIN)
        asp_status_column, to_modify = _asp_status(), _to_modify()
        query = (select(SonsOrder, _Vendor.name, _Holder.name, SonsDispositif.code,
                        deadline.c.deployment_deadline, asp_status_column, at_risk, to_modify, _regions())
                 .join(_Vendor, _Vendor.id == SonsOrder.vendor_organisation_id)
                 .join(_Holder, _Holder.id == SonsOrder.holder_organisation_id)
                 .join(SonsDispositif, SonsDispositif.id == SonsOrder.dispositif_id)
                 .join(deadline, deadline.c.dispositif_id == SonsOrder.dispositif_id)
                 .where(SonsOrder.id.in_(visible_orders(principal).with_only_columns(SonsOrder.id))))
        if order_id is not None:
            query = query.where(SonsOrder.id == order_id)
        if dispositif:
            query = query.where(SonsDispositif.code == dispositif)
        if wave is not None:
            query = query.where(SonsOrder.wave == wave)
        if vendor is not None:
            query = query.where(SonsOrder.vendor_organisation_id == vendor)
        if holder is not None:
            query = query.where(SonsOrder.holder_organisation_id == holder)
        if region:
            query = query.where(SonsOrder.id.in_(select(SonsOrderSite.order_id).where(
                func.coalesce(region_of_site(), UNKNOWN_REGION) == region)))
        if asp_status:
            query = query.where(asp_status_column == asp_status)
        if risk is Risk.DEADLINE:
            query = query.where(at_risk)
        elif risk is Risk.TO_MODIFY:
            query = query.where(to_modify)
        elif risk is Risk.ANY:
            query = query.where(or_(at_risk, to_modify))
        if search and search.strip():
            term = f"%{search.strip()}%"
            query = query.where(or_(SonsOrder.order_ref.ilike(term), _Vendor.name.ilike(term),
                                    _Holder.name.ilike(term), SonsOrder.og_finess_ej.ilike(term)))
        return query, deadline.c.deployment_deadline

    async def search(self, principal: Principal, *, dispositif: str | None = None, wave: int | None = None,
                     vendor: uuid.UUID | None = None, holder: uuid.UUID | None = None, region: str | None = None,
                     asp_status: str | None = None, risk: Risk | None = None, search: str | None = None,
                     sort: str = "deadline", descending: bool = False, limit: int = 25, offset: int = 0,
                     order_id: uuid.UUID | None = None) -> Page[schemas.OrderListItem]:
        """The orders the caller may read, filtered, sorted and paged in SQL (one query for the page, one for the
        count)."""
        if sort not in LIST_SORTS:
            raise RuleViolation(f"sort: one of {', '.join(LIST_SORTS)}", field="sort")
        query, deadline = self._rows(principal, dispositif=dispositif, wave=wave, vendor=vendor, holder=holder,
                                     region=region, asp_status=asp_status, risk=risk, search=search,
                                     order_id=order_id)
        column = deadline if LIST_SORTS[sort] == "deployment_deadline" else LIST_SORTS[sort]
        order = column.desc().nulls_last() if descending else column.asc().nulls_last()
        rows = (await self.session.execute(query.order_by(order, SonsOrder.order_ref, SonsOrder.id)
                                           .limit(min(limit, LIST_MAX)).offset(offset))).all()
        total = await self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        return Page(items=[_item(*row) for row in rows], total=int(total or 0), limit=limit, offset=offset)

    async def choices(self, principal: Principal) -> schemas.OrderListChoices:
        """The dispositifs, waves, vendors and OGs of the orders the caller may read (the filters' options)."""
        visible = visible_orders(principal).with_only_columns(SonsOrder.id)
        rows = (await self.session.execute(
            select(SonsDispositif.code, SonsOrder.wave, _Vendor.id, _Vendor.name, _Holder.id, _Holder.name)
            .join(SonsDispositif, SonsDispositif.id == SonsOrder.dispositif_id)
            .join(_Vendor, _Vendor.id == SonsOrder.vendor_organisation_id)
            .join(_Holder, _Holder.id == SonsOrder.holder_organisation_id)
            .where(SonsOrder.id.in_(visible)).distinct())).all()
        vendors = {r[2]: r[3] for r in rows}
        holders = {r[4]: r[5] for r in rows}
        return schemas.OrderListChoices(
            dispositifs=sorted({r[0] for r in rows}), waves=sorted({r[1] for r in rows}),
            vendors=[schemas.OrganisationChoice(id=k, name=v) for k, v in sorted(vendors.items(), key=lambda i: i[1])],
            holders=[schemas.OrganisationChoice(id=k, name=v) for k, v in sorted(holders.items(), key=lambda i: i[1])])


def _item(order: SonsOrder, vendor_name: str, holder_name: str, code: str, deadline: Any, asp_status: str,
          at_risk: bool | None, to_modify: bool, regions: list[str] | None) -> schemas.OrderListItem:
    return schemas.OrderListItem(
        id=order.id, order_ref=order.order_ref, status=order.status, asp_status=asp_status,
        vendor_organisation_id=order.vendor_organisation_id, vendor_name=vendor_name,
        holder_organisation_id=order.holder_organisation_id, holder_name=holder_name, og_finess_ej=order.og_finess_ej,
        dispositif_code=code, wave=order.wave, tranche=order.tranche, amount_ht_cents=order.amount_ht_cents,
        amount_ttc_cents=order.amount_ttc_cents, paid_cents=order.paid_cents, deployment_deadline=deadline,
        deadline_risk=bool(at_risk), to_modify=bool(to_modify), regions=sorted(regions or []),
        created_at=order.created_at)
