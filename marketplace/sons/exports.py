"""The ASP payment requests exported as JSON documents in one published shape (issue 16, SN5).

The ASP's own deposit schema was not found (domain.md §12): the platform publishes its own, a JSON Schema (draft
2020-12) shipped as `payment-request.schema.json` next to this module and served at
`GET /sons/schemas/payment-request.json`. Every document names it in `$schema` and carries `schemaVersion`; a
change that breaks the shape is a new version. A document is one request (the advance, an amendment of it, the
balance) with its ASP status history, and what the ASP checks it against: the order (its dispositif, AF and
calendar versions, tranche and amounts, signature), the OG funded and its sites, the vendor (its ASP enrolment
reference and VAT status, never its bank details), the solution with its ANS referencing, and for a balance the
acceptance (VA or MOM, with the MSS case of SN6) and the invoice as read (SN7).

Who reads them: whoever reads the order (access.py): its vendor, which deposits them, its OG, and the operator.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.errors import NotFound
from marketplace.sons import schemas
from marketplace.sons.access import visible_orders
from marketplace.sons.models import SonsAspRequest, SonsCalendar, SonsEnrolment, SonsOrder
from marketplace.sons.orders import OrderService
from marketplace.sons.states import AspStatus, RequestKind

SCHEMA_FILE = Path(__file__).with_name("payment-request.schema.json")
SCHEMA_PATH = "/sons/schemas/payment-request.json"
SCHEMA_VERSION = "1"
_NOT_FOUND = "No ASP request of a SONS order has this id."


@cache
def payment_request_schema() -> dict[str, Any]:
    """The published JSON Schema of a payment request document."""
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class ExportService(OrderService):
    async def documents(self, principal: Principal, *, order_id: uuid.UUID | None = None,
                        kind: RequestKind | None = None, status: AspStatus | None = None,
                        request_id: uuid.UUID | None = None) -> list[schemas.PaymentRequestDocument]:
        query = (select(SonsAspRequest.id).join(SonsOrder, SonsOrder.id == SonsAspRequest.order_id)
                 .where(SonsOrder.id.in_(visible_orders(principal).with_only_columns(SonsOrder.id))))
        if order_id is not None:
            query = query.where(SonsAspRequest.order_id == order_id)
        if kind is not None:
            query = query.where(SonsAspRequest.kind == kind)
        if status is not None:
            query = query.where(SonsAspRequest.status == status)
        if request_id is not None:
            query = query.where(SonsAspRequest.id == request_id)
        wanted = set((await self.session.scalars(query.limit(5_000))).all())
        if not wanted:
            return []
        orders = list((await self.session.scalars(select(SonsOrder).where(SonsOrder.id.in_(
            select(SonsAspRequest.order_id).where(SonsAspRequest.id.in_(wanted))))
            .order_by(SonsOrder.created_at, SonsOrder.id))).all())
        # The orders as the API shows them (every related row loaded once), then what only the export adds.
        views = await self.views(orders)
        af = {c.id: c.af_version for c in (await self.session.scalars(select(SonsCalendar).where(
            SonsCalendar.id.in_({o.calendar_id for o in orders})))).all()}
        organisations = {o.id: o for o in (await self.session.scalars(select(Organisation).where(Organisation.id.in_(
            {o.holder_organisation_id for o in orders} | {o.vendor_organisation_id for o in orders})))).all()}
        enrolments = {e.vendor_organisation_id: e for e in (await self.session.scalars(select(SonsEnrolment).where(
            SonsEnrolment.vendor_organisation_id.in_({o.vendor_organisation_id for o in orders}),
            SonsEnrolment.superseded_at.is_(None)))).all()}
        out = []
        for row, view in zip(orders, views, strict=True):
            holder, vendor = organisations[row.holder_organisation_id], organisations[row.vendor_organisation_id]
            enrolment = enrolments.get(row.vendor_organisation_id)
            signature = view.signature
            order = schemas.ExportOrder(
                id=view.id, order_ref=view.order_ref, status=view.status, dispositif_code=view.dispositif_code,
                wave=view.wave, af_version=af[row.calendar_id], calendar_version=view.calendar_version,
                tranche=view.tranche, ceiling_ht_cents=view.ceiling_ht_cents, amount_ht_cents=view.amount_ht_cents,
                vat_rate_bp=view.vat_rate_bp, amount_ttc_cents=view.amount_ttc_cents,
                subscription_excluded=view.subscription_excluded, pre_referencing=view.pre_referencing,
                pre_referencing_mention=view.pre_referencing_mention, paid_cents=view.paid_cents,
                signature=schemas.ExportSignature(
                    signatory_name=signature.signatory_name, signatory_role=signature.signatory_role,
                    method=signature.method, signed_at=signature.signed_at, sha256=signature.sha256)
                if signature is not None else None)
            beneficiary = schemas.ExportBeneficiary(
                name=holder.name, finess_ej=view.og_finess_ej, siret=view.og_siret,
                sites=[schemas.ExportSite(finess_et=s.finess_et, siret=s.siret, category=s.category)
                       for s in view.sites])
            seller = schemas.ExportVendor(
                organisation_id=vendor.id, name=vendor.name, siren=vendor.siren,
                enrolment_reference=enrolment.enrolment_reference if enrolment else None,
                vat_status=enrolment.vat_status if enrolment else None)
            solution = schemas.ExportSolution(
                name=view.solution.name, version=view.solution.version,
                referencing_number=view.solution.referencing_number, referenced_on=view.solution.referenced_on,
                installation_scenario=view.installation_scenario)
            acceptance = view.acceptance
            for request in view.requests:
                if request.id not in wanted:
                    continue
                out.append(schemas.PaymentRequestDocument(
                    schema=SCHEMA_PATH, schema_version=SCHEMA_VERSION, request_id=request.id, kind=request.kind,
                    position=request.position, amount_cents=request.amount_cents,
                    amount_eur=euros(request.amount_cents), status=request.status, filed_at=request.filed_at,
                    paid_cents=request.paid_cents, mss_case=request.mss_case,
                    invoice=schemas.ExportInvoice(**{_snake(k): v for k, v in request.invoice.items()})
                    if request.invoice else None,
                    history=[schemas.ExportEvent(status=e.status, previous=e.previous, recorded_at=e.recorded_at,
                                                 note=e.note, paid_cents=e.paid_cents) for e in request.history],
                    order=order, beneficiary=beneficiary, vendor=seller, solution=solution,
                    acceptance=schemas.ExportAcceptance(kind=acceptance.kind,
                                                        signatory_name=acceptance.signatory_name,
                                                        accepted_at=acceptance.accepted_at,
                                                        mss_case=acceptance.mss_case)
                    if acceptance is not None and request.kind is RequestKind.BALANCE else None))
        return out

    async def document(self, principal: Principal, request_id: uuid.UUID) -> schemas.PaymentRequestDocument:
        found = await self.documents(principal, request_id=request_id)
        if not found:
            raise NotFound(_NOT_FOUND)
        return found[0]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
