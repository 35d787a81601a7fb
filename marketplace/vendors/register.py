"""The public register of admitted vendors: who is admitted to which category of which DPS (public data only)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from marketplace.accounts.models import Organisation
from marketplace.lib.schemas import Page
from marketplace.vendors import schemas
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.models import AdmissionRequest, Dps, DpsCategory
from marketplace.vendors.states import AdmissionStatus


class RegisterService(ServiceBase):
    async def entries(self, *, dps_id: uuid.UUID | None, category_id: uuid.UUID | None, siren: str | None,
                       limit: int, offset: int) -> Page[schemas.RegisterEntry]:
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
