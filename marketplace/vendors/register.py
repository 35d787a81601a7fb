"""The public register of admitted vendors: who is admitted to which category of which DPS (public data only)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from stdnum.fr import siret as siret_number

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS
from marketplace.errors import NotFound, RuleViolation
from marketplace.lib.clock import to_paris
from marketplace.lib.schemas import Page
from marketplace.vendors import schemas
from marketplace.vendors.admissions import LIST_VIEWS
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.models import AdmissionDocument, AdmissionRequest, Dps, DpsCategory
from marketplace.vendors.sandbox import listing_now
from marketplace.vendors.states import AdmissionStatus


class RegisterService(ServiceBase):
    async def entries(self, *, dps_id: uuid.UUID | None, category_id: uuid.UUID | None, siren: str | None,
                      limit: int, offset: int, search: str | None = None) -> Page[schemas.RegisterEntry]:
        """`search` (the public pages' free text): the vendor's name (contains) or its SIREN (starts with)."""
        # Admissions to a sandbox are rehearsals: never in the public register.
        query = (select(AdmissionRequest, Organisation, DpsCategory)
                 .join(Organisation, Organisation.id == AdmissionRequest.vendor_organisation_id)
                 .join(DpsCategory, DpsCategory.id == AdmissionRequest.category_id)
                 .join(Dps, Dps.id == AdmissionRequest.dps_id)
                 .where(AdmissionRequest.status == AdmissionStatus.ADMITTED, Dps.sandbox_factor.is_(None)))
        if dps_id:
            query = query.where(AdmissionRequest.dps_id == dps_id)
        if category_id:
            query = query.where(AdmissionRequest.category_id == category_id)
        if siren:
            query = query.where(Organisation.siren == siren)
        if search and search.strip():
            text = search.strip()
            query = query.where(or_(Organisation.name.ilike(f"%{_escape_like(text)}%", escape="\\"),
                                    Organisation.siren.startswith(text.replace(" ", ""), autoescape=True)))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (await self.session.execute(
            query.order_by(Organisation.name, DpsCategory.sector, DpsCategory.delivery_mode, AdmissionRequest.id)
            .limit(limit).offset(offset))).all()
        items = [schemas.RegisterEntry(
            vendor_organisation_id=org.id, vendor_name=org.name, siren=org.siren, dps_id=req.dps_id,
            category_id=cat.id, category_title=cat.title, software=req.referenced_software["software"],
            version=req.referenced_software["version"], referencing_id=req.referenced_software["referencingId"],
            admitted_at=req.decided_at) for req, org, cat in rows]
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


# -- the buyers' view of their DPS's vendors (the back-office's Vendors screen) ---------------------------------
# Views of the list: each vendor shows its requests in these states (drafts were never received: in none).
VENDOR_VIEWS = LIST_VIEWS
VENDORS_MAX = 10_000  # the export's ceiling, bounded all the same
# Requests whose documents still matter: their expiry is shown (D7: the admitted vendor keeps them current).
_LIVE = (AdmissionStatus.UNDER_EVALUATION, AdmissionStatus.AWAITING_DOCUMENTS, AdmissionStatus.ADMITTED,
         AdmissionStatus.SUSPENDED)
EXPIRY_HORIZON = timedelta(days=30)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class BuyerRegisterService(ServiceBase):
    """The vendors who applied to the DPS the caller runs (DPS_WRITERS of its buying organisation, as the API's
    admission routes): scoped in SQL, so another organisation's vendor is never read."""

    def _scope(self, principal: Principal) -> list[ColumnElement[bool]]:
        return [Dps.buyer_organisation_id.in_(principal.organisations_with(*DPS_WRITERS))]

    def _filters(self, principal: Principal, *, dps_id: uuid.UUID | None, category_id: uuid.UUID | None,
                 view: str, search: str | None) -> list[ColumnElement[bool]]:
        statuses = VENDOR_VIEWS.get(view)
        if statuses is None:
            raise RuleViolation(f"status: one of {', '.join(VENDOR_VIEWS)}", field="status")
        where = [*self._scope(principal), AdmissionRequest.status.in_([s.value for s in statuses])]
        if dps_id is not None:
            where.append(AdmissionRequest.dps_id == dps_id)
        if category_id is not None:
            where.append(AdmissionRequest.category_id == category_id)
        if search and search.strip():
            text = search.strip()
            where.append(or_(Organisation.name.ilike(f"%{_escape_like(text)}%", escape="\\"),
                             Organisation.siret.startswith(text.replace(" ", ""), autoescape=True)))
        return where

    @staticmethod
    def _joined(query: Any) -> Any:  # any select over these joins, its columns kept (typed by the caller)
        return (query.select_from(AdmissionRequest).join(Dps, Dps.id == AdmissionRequest.dps_id)
                .join(DpsCategory, DpsCategory.id == AdmissionRequest.category_id)
                .join(Organisation, Organisation.id == AdmissionRequest.vendor_organisation_id))

    async def vendors_for_buyer(self, principal: Principal, *, dps_id: uuid.UUID | None = None,
                                category_id: uuid.UUID | None = None, view: str = "all", search: str | None = None,
                                limit: int = 25, offset: int = 0) -> Page[schemas.VendorSummary]:
        """Vendors by name, each with its requests in the view (per category: status and dates) and the expiry of
        its live requests' documents; paged in SQL (one query for the page of vendors, one for the count, one for
        their requests, one for their documents)."""
        where = self._filters(principal, dps_id=dps_id, category_id=category_id, view=view, search=search)
        vendors = self._joined(select(Organisation.id, Organisation.name)).where(*where).distinct()
        total = await self.session.scalar(select(func.count()).select_from(vendors.subquery()))
        ids = [row[0] for row in (await self.session.execute(
            vendors.order_by(Organisation.name, Organisation.id).limit(limit).offset(offset))).all()]
        items = await self._summaries(ids, where)
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    async def vendor_for_buyer(self, principal: Principal, vendor_id: uuid.UUID) -> schemas.VendorFile:
        """One vendor with every request it made to a DPS the caller runs (as `visible_request`: drafts too);
        a vendor that made none is, for this caller, no vendor at all (404)."""
        where = [*self._scope(principal), AdmissionRequest.vendor_organisation_id == vendor_id]
        summaries = await self._summaries([vendor_id], where)
        if not summaries or not summaries[0].admissions:
            raise NotFound("No vendor applied to a DPS of yours with this id.")
        vendor = summaries[0]
        titles = {a.request_id: a.category_title for a in vendor.admissions}
        documents = (await self.session.execute(
            select(AdmissionDocument, Dps).join(AdmissionRequest, AdmissionRequest.id == AdmissionDocument.request_id)
            .join(Dps, Dps.id == AdmissionRequest.dps_id)
            .where(AdmissionDocument.request_id.in_(list(titles)), AdmissionDocument.superseded.is_(False))
            .order_by(AdmissionDocument.valid_until.asc().nulls_last(), AdmissionDocument.kind))).all()
        rows = []
        for document, dps in documents:
            today = to_paris(listing_now(self.clock, dps)).date()
            ends = document.valid_until
            rows.append(schemas.VendorDocument(
                request_id=document.request_id, category_title=titles[document.request_id], kind=document.kind,
                filename=document.filename, valid_until=ends, uploaded_at=document.created_at,
                expired=bool(ends and ends < today),
                expiring=bool(ends and today <= ends <= today + EXPIRY_HORIZON)))
        return schemas.VendorFile(vendor=vendor, documents=rows)

    async def _summaries(self, ids: list[uuid.UUID], where: list[ColumnElement[bool]]) -> list[schemas.VendorSummary]:
        if not ids:
            return []
        requests = (await self.session.execute(self._joined(select(AdmissionRequest, DpsCategory.title, Dps))
                                               .where(*where, AdmissionRequest.vendor_organisation_id.in_(ids))
                                               .order_by(Dps.title, DpsCategory.title, AdmissionRequest.id))).all()
        organisations = {o.id: o for o in (await self.session.scalars(
            select(Organisation).where(Organisation.id.in_(ids)))).all()}
        live = {req.id: dps for req, _, dps in requests if req.status in _LIVE}
        ends = (await self.session.execute(
            select(AdmissionDocument.request_id, AdmissionDocument.valid_until)
            .where(AdmissionDocument.request_id.in_(list(live)), AdmissionDocument.superseded.is_(False),
                   AdmissionDocument.valid_until.is_not(None)))).all() if live else []
        expiring: dict[uuid.UUID, list[date]] = {}
        expired: dict[uuid.UUID, int] = {}
        vendor_of = {req.id: req.vendor_organisation_id for req, _, _ in requests}
        for request_id, valid_until in ends:
            if valid_until is None:  # filtered out in SQL; a document without an end never expires
                continue
            today = to_paris(listing_now(self.clock, live[request_id])).date()
            vendor = vendor_of[request_id]
            if valid_until < today:
                expired[vendor] = expired.get(vendor, 0) + 1
            elif valid_until <= today + EXPIRY_HORIZON:
                expiring.setdefault(vendor, []).append(valid_until)
        admissions: dict[uuid.UUID, list[schemas.VendorAdmission]] = {}
        for req, category_title, dps in requests:
            software = req.referenced_software or {}
            admissions.setdefault(req.vendor_organisation_id, []).append(schemas.VendorAdmission(
                request_id=req.id, dps_id=dps.id, dps_title=dps.title, category_id=req.category_id,
                category_title=category_title, status=req.status, software=software.get("software", ""),
                version=software.get("version", ""), referencing_id=software.get("referencingId", ""),
                received_at=req.received_at, decided_at=req.decided_at, decided_by=req.decided_by,
                decision_reasons=req.decision_reasons, declaration_due_at=req.declaration_due_at,
                sandbox=dps.is_sandbox))
        result = []
        for vendor_id in ids:
            org = organisations[vendor_id]
            dates = expiring.get(vendor_id, [])
            result.append(schemas.VendorSummary(
                vendor_organisation_id=vendor_id, vendor_name=org.name, siren=org.siren, siret=org.siret,
                siret_valid=bool(org.siret and siret_number.is_valid(org.siret)),
                admissions=admissions.get(vendor_id, []), documents_expiring=len(dates),
                documents_expired=expired.get(vendor_id, 0), soonest_expiry=min(dates) if dates else None))
        return result
