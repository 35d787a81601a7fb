"""Who may see which SONS object, written once (house rule 6).

Dispositifs and solutions are read by anyone signed in (an OG looks for a referenced solution). A vendor's solutions
and enrolment are written by its admins and bid managers. An order is its vendor's and its OG's: their members read
it, the vendor's writers file it and its requests, the OG's admin or project lead signs it and its VA; the operator
(platform admin) reads every order and records what the ASP decides. A funder's members read, and only read, the
orders of their region: those with a site whose FINESS ET lies in the region of their ARS (domain.md §2.3: the
FINESS gives the département; a SIRET site says nothing of where it is, and the national funder has no region, so
neither brings an order into a funder's view). Anyone else gets a 404, never a 403: nobody learns that another
organisation's order exists.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, case, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import (
    FUNDER_MEMBERS,
    HOLDER_MEMBERS,
    HOLDER_WRITERS,
    VENDOR_MEMBERS,
    VENDOR_WRITERS,
    OrganisationKind,
    Role,
)
from marketplace.errors import Forbidden, NotFound, RuleViolation
from marketplace.lib.geography import REGION_OF, departement_of_finess_sql
from marketplace.sons.models import SonsOrder, SonsOrderSite

ORDER_NOT_FOUND = "No SONS order has this id."


def vendor_acting(principal: Principal, vendor_id: uuid.UUID | None) -> uuid.UUID:
    """The vendor the caller acts for: the one named (which it must write for), else its only one."""
    writable = principal.organisations_with(*VENDOR_WRITERS)
    chosen = vendor_id or (writable[0] if len(writable) == 1 else None)
    if chosen is None or chosen not in writable:
        raise RuleViolation("vendorOrganisationId: name a vendor you act for (its admin or bid manager)",
                            field="vendorOrganisationId")
    return chosen


def region_of_site() -> ColumnElement[str]:
    """The INSEE region of a site of `sons_order_site`, from its FINESS ET (NULL for a SIRET)."""
    departement: ColumnElement[str] = literal_column(departement_of_finess_sql("sons_order_site.finess_et"))
    return case(REGION_OF, value=departement, else_=None)


def _in_funder_region(principal: Principal) -> ColumnElement[bool] | None:
    """Orders with a site in the region of one of the caller's funders (None: the caller is no funder's member)."""
    funders = principal.organisations_with(*FUNDER_MEMBERS)
    if not funders:
        return None
    regions = select(Organisation.region).where(Organisation.id.in_(funders),
                                                Organisation.kind == OrganisationKind.FUNDER,
                                                Organisation.region.is_not(None))
    return SonsOrder.id.in_(select(SonsOrderSite.order_id).where(region_of_site().in_(regions)))


def visible_orders(principal: Principal) -> Select[SonsOrder]:
    query = select(SonsOrder)
    if principal.is_platform_admin:
        return query
    vendors = principal.organisations_with(*VENDOR_MEMBERS)
    holders = principal.organisations_with(*HOLDER_MEMBERS)
    readers = [SonsOrder.vendor_organisation_id.in_(vendors), SonsOrder.holder_organisation_id.in_(holders)]
    funder = _in_funder_region(principal)
    return query.where(or_(*readers, *([funder] if funder is not None else [])))


async def order_for(session: AsyncSession, principal: Principal, order_id: uuid.UUID, *, act: str | None = None,
                    lock: bool = False) -> SonsOrder:
    """The order for its vendor's and OG's members and the operator (else 404); `act` is who must do it:
    "vendor" (its admin or bid manager), "holder" (the OG's admin or project lead), "operator" (else 403)."""
    query = select(SonsOrder).where(SonsOrder.id == order_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    order = await session.scalar(query)
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    vendor = principal.has_role_in(order.vendor_organisation_id, *VENDOR_MEMBERS)
    holder = principal.has_role_in(order.holder_organisation_id, *HOLDER_MEMBERS)
    if not (vendor or holder or principal.is_platform_admin or await _funder_reads(session, principal, order)):
        raise NotFound(ORDER_NOT_FOUND)
    if act == "vendor" and not principal.has_role_in(order.vendor_organisation_id, *VENDOR_WRITERS):
        raise Forbidden("§5.3: the vendor files the order's requests, by its admin or bid manager.")
    if act == "holder" and not principal.has_role_in(order.holder_organisation_id, *HOLDER_WRITERS):
        raise Forbidden("§5.3: the OG signs its order and its VA, by its admin or project lead.")
    if act == "operator" and not principal.is_platform_admin:
        raise Forbidden("SN5: the operator records what the ASP decides.", rule="SN5")
    return order


async def _funder_reads(session: AsyncSession, principal: Principal, order: SonsOrder) -> bool:
    funder = _in_funder_region(principal)
    return funder is not None and await session.scalar(select(SonsOrder.id).where(SonsOrder.id == order.id,
                                                                                    funder)) is not None


def is_operator(principal: Principal) -> bool:
    return Role.PLATFORM_ADMIN in principal.roles
