"""The vendor's request to participate (machine (b), domain.md §1.4): apply, submit, withdraw, its self-declaration.

D5–D7, D11, D20. The evaluation clock starts at receipt (D6); the receipt hashes what was received. The buyers'
decisions on a request are in `decisions.py`, its documents in `documents.py`. Taking part costs a vendor
nothing (D12): no step of the request asks for a fee, a subscription or a payment.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.fr import siret as siret_number

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_MEMBERS, VENDOR_WRITERS, OrganisationKind
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib.clock import Clock, format_paris, to_paris
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.schemas import Page
from marketplace.lib.working_days import evaluation_due_at
from marketplace.vendors import schemas
from marketplace.vendors.access import is_buyer_of, require_buyer, require_vendor, visible_dps, visible_request
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.documents import category_of, current_documents, document_schema
from marketplace.vendors.models import AdmissionRequest, Dps, DpsCategory
from marketplace.vendors.recipients import notify_buyer_side
from marketplace.vendors.sandbox import dps_clock, listing_now
from marketplace.vendors.states import (
    DPS_ACCEPTS_REQUESTS,
    EVALUATION_STATES,
    AdmissionStatus,
    DpsStatus,
    check_admission_transition,
    require_in_force,
)


async def request_schema(session: AsyncSession, clock: Clock, request: AdmissionRequest
                         ) -> schemas.AdmissionRequest:
    """The request as its vendor and its buyers read it: what is missing or expired, on its DPS's clock."""
    documents = await current_documents(session, request.id)
    category = await category_of(session, request)
    present = {d.kind for d in documents}
    missing = [rule["kind"] for rule in category.required_documents if rule["kind"] not in present]
    dps = await session.get(Dps, request.dps_id)
    assert dps is not None
    now = dps_clock(clock, dps).now()
    today = to_paris(now).date()
    return schemas.AdmissionRequest(
        id=request.id, dps_id=request.dps_id, category_id=request.category_id,
        vendor_organisation_id=request.vendor_organisation_id, status=request.status,
        self_declaration=msgspec.convert(request.self_declaration, schemas.SelfDeclaration),
        referenced_software=msgspec.convert(request.referenced_software, schemas.ReferencedSoftware),
        received_at=request.received_at, due_at=request.due_at,
        due_at_paris=format_paris(request.due_at) if request.due_at else None,
        # Awaiting documents included: the clock runs on (D6).
        overdue=bool(request.due_at and request.status in EVALUATION_STATES and request.due_at < now),
        extension_reason=request.extension_reason, documents_requested=request.documents_requested,
        decision_reasons=request.decision_reasons, decided_at=request.decided_at,
        documents=[document_schema(d) for d in documents], missing_documents=missing,
        expired_documents=sorted(d.kind for d in documents if d.valid_until and d.valid_until < today),
        declaration_due_at=request.declaration_due_at, sandbox=dps.is_sandbox)


# The buyers' list (AdmissionService.for_buyer): which requests each view shows. A draft was never received, so it
# is in none of them; "decided" is every state a decision (or the vendor's withdrawal, or the DPS's end) reached.
LIST_VIEWS: dict[str, frozenset[AdmissionStatus]] = {
    "awaiting": EVALUATION_STATES,
    "decided": frozenset(AdmissionStatus) - EVALUATION_STATES - {AdmissionStatus.DRAFT},
    "all": frozenset(AdmissionStatus) - {AdmissionStatus.DRAFT},
    **{s.value: frozenset({s}) for s in AdmissionStatus if s != AdmissionStatus.DRAFT},
}
# Sort keys of the buyers' list → columns; every order ends on the id, so pages never overlap.
LIST_SORTS = {"due": AdmissionRequest.due_at, "received": AdmissionRequest.received_at,
              "vendor": Organisation.name, "category": DpsCategory.title, "status": AdmissionRequest.status,
              "dps": Dps.title}
LIST_MAX = 100_000  # the export's ceiling: far above any DPS's requests, bounded all the same


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AdmissionService(ServiceBase):
    """What the vendor does with its request, and the buyers' queue of requests to decide."""

    async def apply(self, principal: Principal, data: schemas.AdmissionCreate) -> schemas.AdmissionRequest:
        vendors = principal.organisations_with(*VENDOR_WRITERS)
        vendor_id = data.vendor_organisation_id or (vendors[0] if len(vendors) == 1 else None)
        if vendor_id is None or vendor_id not in vendors:
            raise RuleViolation("vendorOrganisationId: name a vendor organisation you act for",
                                field="vendorOrganisationId")
        category = await self.session.get(DpsCategory, data.category_id)
        dps = await self.session.get(Dps, category.dps_id) if category else None
        if category is None or dps is None or dps.status == DpsStatus.DRAFT:
            raise NotFound("No DPS category has this id.")
        if dps.status not in DPS_ACCEPTS_REQUESTS:
            raise RuleViolation(f"categoryId: the DPS is {dps.status.value} and receives no requests",
                                field="categoryId", rule="D5")
        require_in_force(dps, self._time(dps).now(), field="categoryId")
        vendor = await self.session.get(Organisation, vendor_id)
        assert vendor is not None and vendor.kind == OrganisationKind.VENDOR
        live = await self.session.scalar(select(AdmissionRequest.id).where(
            AdmissionRequest.category_id == category.id, AdmissionRequest.vendor_organisation_id == vendor_id,
            AdmissionRequest.status.in_([s.value for s in (AdmissionStatus.DRAFT, AdmissionStatus.UNDER_EVALUATION,
                                                           AdmissionStatus.AWAITING_DOCUMENTS,
                                                           AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)])))
        if live is not None:
            raise Conflict(f"categoryId: this vendor already has a request for this category ({live})",
                           field="categoryId", existing=str(live))
        request = AdmissionRequest(dps_id=dps.id, category_id=category.id, vendor_organisation_id=vendor_id,
                                   self_declaration=msgspec.to_builtins(data.self_declaration),
                                   referenced_software=msgspec.to_builtins(data.referenced_software))
        self.session.add(request)
        await self.session.flush()
        await self._audit("admission.created", principal, "admission_request", request.id, vendor_id,
                          category_id=str(category.id))
        return await request_schema(self.session, self.clock, request)

    async def show(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, _ = await visible_request(self.session, request_id, principal)
        return await request_schema(self.session, self.clock, request)

    async def submit(self, principal: Principal, request_id: uuid.UUID) -> schemas.Receipt:
        """Receipt time from the server clock; the evaluation clock starts (D6) or resumes."""
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_vendor(principal, request)
        check_admission_transition(request.status, AdmissionStatus.UNDER_EVALUATION)
        if dps.status not in DPS_ACCEPTS_REQUESTS:
            raise RuleViolation(f"status: the DPS is {dps.status.value} and receives no requests", rule="D5")
        now = self._time(dps).now()
        require_in_force(dps, now, field="status")
        resumed = request.status == AdmissionStatus.AWAITING_DOCUMENTS
        # Documents supplied on request: the evaluation clock never stopped (R2162-45 allows no pause, D6), the
        # due date stays 10 (15) working days from receipt.
        if not resumed:
            request.received_at = now
            # Requests received during the initial window are opened when it ends (§1.4): the
            # evaluation delay runs from then, not from receipt.
            opens = max(now, dps.initial_window_end) if dps.status == DpsStatus.PENDING and \
                dps.initial_window_end else now
            request.due_at = evaluation_due_at(opens)
        assert request.due_at is not None  # set at the first submission, unchanged by a resubmission (D6)
        old = request.status
        request.status = AdmissionStatus.UNDER_EVALUATION
        documents = await current_documents(self.session, request.id)
        manifest = json.dumps({"request": str(request.id), "receivedAt": now.isoformat(),
                               "documents": [[d.kind, d.sha256, d.size] for d in documents]},
                              sort_keys=True, separators=(",", ":"))
        request.receipt_sha256 = hashlib.sha256(manifest.encode()).hexdigest()
        await self._audit("admission.submitted" if not resumed else "admission.documents_supplied", principal,
                          "admission_request", request.id, request.vendor_organisation_id, old=old.value,
                          new=request.status.value, due_at=request.due_at.isoformat(),
                          receipt_sha256=request.receipt_sha256)
        subject = "Pièces complémentaires reçues" if resumed else "Nouvelle demande d'admission"
        await notify_buyer_side(self.session, self.clock, dps, request, "admission.submitted", subject)
        assert request.received_at and request.due_at
        return schemas.Receipt(request_id=request.id, received_at=now, received_at_paris=format_paris(now),
                               due_at=request.due_at, documents=[document_schema(d) for d in documents],
                               receipt_sha256=request.receipt_sha256, sandbox=dps.is_sandbox,
                               notice=NOTICE if dps.is_sandbox else None)

    async def queue(self, principal: Principal, dps_id: uuid.UUID) -> list[schemas.AdmissionRequest]:
        """Requests awaiting a decision, overdue first, then by due date (D6)."""
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps):
            raise NotFound("No DPS has this id.")
        rows = (await self.session.scalars(
            select(AdmissionRequest).where(AdmissionRequest.dps_id == dps.id,
                                           AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES]))
            .order_by(AdmissionRequest.due_at, AdmissionRequest.received_at))).all()
        items = [await request_schema(self.session, self.clock, r) for r in rows]
        return sorted(items, key=lambda r: (not r.overdue, r.due_at))

    async def queue_counts(self, principal: Principal, dps_id: uuid.UUID) -> schemas.AdmissionQueueCounts:
        """What `queue` lists, counted in one SQL query (the work queue's tile): awaiting, overdue on the DPS's
        clock (D6), and the earliest due date."""
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps):
            raise NotFound("No DPS has this id.")
        now = self._time(dps).now()
        awaiting, overdue, next_due = (await self.session.execute(
            select(func.count(), func.count().filter(AdmissionRequest.due_at < now), func.min(AdmissionRequest.due_at))
            .where(AdmissionRequest.dps_id == dps.id,
                   AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES])))).one()
        return schemas.AdmissionQueueCounts(dps_id=dps.id, awaiting=int(awaiting), overdue=int(overdue),
                                            next_due_at=next_due)

    async def weekly_trend(self, principal: Principal, weeks: int = 8) -> list[schemas.AdmissionWeek]:
        """The work queue's trend, in one query: on the DPS the caller runs (DPS_WRITERS, as `for_buyer`), the
        requests received and the decisions taken in each of the last `weeks` seven-day weeks (a, b] ending now,
        oldest first. Sandboxes are left out: their instants are on an accelerated clock, not in these weeks."""
        organisations = principal.organisations_with(*DPS_WRITERS)
        now = self.clock.now()
        bounds = [(now - timedelta(days=7 * (weeks - i)), now - timedelta(days=7 * (weeks - 1 - i)))
                  for i in range(weeks)]
        if not organisations:
            return [schemas.AdmissionWeek(starts=a, ends=b, received=0, decided=0) for a, b in bounds]
        received, decided = AdmissionRequest.received_at, AdmissionRequest.decided_at
        decisions = AdmissionRequest.status.in_([s.value for s in LIST_VIEWS["decided"]])
        columns = [func.count().filter(received > a, received <= b) for a, b in bounds]
        columns += [func.count().filter(decisions, decided > a, decided <= b) for a, b in bounds]
        start = bounds[0][0]
        row = (await self.session.execute(
            select(*columns).select_from(AdmissionRequest).join(Dps, Dps.id == AdmissionRequest.dps_id)
            .where(Dps.buyer_organisation_id.in_(organisations), Dps.sandbox_factor.is_(None),
                   (received > start) | (decided > start)))).one()
        return [schemas.AdmissionWeek(starts=a, ends=b, received=int(row[i]), decided=int(row[weeks + i]))
                for i, (a, b) in enumerate(bounds)]

    async def withdraw(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, _ = await visible_request(self.session, request_id, principal, lock=True)
        require_vendor(principal, request)
        check_admission_transition(request.status, AdmissionStatus.WITHDRAWN)
        old = request.status
        request.status = AdmissionStatus.WITHDRAWN
        await self._audit("admission.withdrawn", principal, "admission_request", request.id,
                          request.vendor_organisation_id, old=old.value, new=request.status.value)
        return await request_schema(self.session, self.clock, request)

    async def update_declaration(self, principal: Principal, request_id: uuid.UUID,
                                 data: schemas.SelfDeclaration) -> schemas.AdmissionRequest:
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_vendor(principal, request)
        editable = request.status in (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS)
        asked = request.declaration_requested_at is not None and request.status in (
            AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED)
        if not (editable or asked):
            raise Conflict(f"status: the self-declaration can't be changed while the request is "
                           f"{request.status.value} and no update was asked", field="status")
        request.self_declaration = msgspec.to_builtins(data)
        late = bool(asked and request.declaration_due_at and self._time(dps).now() > request.declaration_due_at)
        request.declaration_requested_at = request.declaration_due_at = None
        await self._audit("admission.declaration_updated", principal, "admission_request", request.id,
                          request.vendor_organisation_id, late=late)
        if asked:
            await notify_buyer_side(self.session, self.clock, dps, request, "admission.declaration_updated",
                                    "DUME mis à jour")
        return await request_schema(self.session, self.clock, request)

    # -- the vendor's own requests (the web's Candidatures) -------------------------------------------

    async def for_vendor(self, principal: Principal) -> list[schemas.MyAdmission]:
        """Every request of the caller's vendor organisations (VENDOR_MEMBERS), drafts included, newest first:
        scoped in SQL to those organisations, so another vendor's request is never read."""
        vendors = principal.organisations_with(*VENDOR_MEMBERS)
        if not vendors:
            return []
        rows = (await self.session.execute(
            select(AdmissionRequest, Dps, DpsCategory.title)
            .join(Dps, Dps.id == AdmissionRequest.dps_id)
            .join(DpsCategory, DpsCategory.id == AdmissionRequest.category_id)
            .where(AdmissionRequest.vendor_organisation_id.in_(vendors))
            .order_by(AdmissionRequest.created_at.desc(), AdmissionRequest.id))).all()
        return [schemas.MyAdmission(
            id=r.id, dps_id=r.dps_id, dps_title=dps.title, category_id=r.category_id, category_title=title,
            vendor_organisation_id=r.vendor_organisation_id, status=r.status,
            software=r.referenced_software.get("software", ""), version=r.referenced_software.get("version", ""),
            received_at=r.received_at, due_at=r.due_at, decided_at=r.decided_at, decision_reasons=r.decision_reasons,
            documents_requested=r.documents_requested, declaration_due_at=r.declaration_due_at,
            read_at=listing_now(self.clock, dps), sandbox=dps.is_sandbox) for r, dps, title in rows]

    async def file_for_vendor(self, principal: Principal, request_id: uuid.UUID) -> schemas.VendorAdmissionFile:
        """One request as its vendor reads it; anyone else (the DPS's buyers included: they have their own file)
        is told it doesn't exist."""
        request, dps = await visible_request(self.session, request_id, principal)
        if not principal.has_role_in(request.vendor_organisation_id, *VENDOR_MEMBERS):
            raise NotFound("No admission request has this id.")
        category = await category_of(self.session, request)
        return schemas.VendorAdmissionFile(
            request=await request_schema(self.session, self.clock, request), dps_title=dps.title,
            category_title=category.title, selection_criteria=category.selection_criteria,
            required_documents=msgspec.convert(category.required_documents, list[schemas.DocumentRule]),
            receipt_sha256=request.receipt_sha256, declaration_requested_at=request.declaration_requested_at,
            read_at=listing_now(self.clock, dps))

    # -- the buyers' list and file (the back-office) -------------------------------------------------

    def _buyer_rows(self, principal: Principal, *, dps_id: uuid.UUID | None, view: str,
                    search: str | None) -> Select[Any]:
        """The requests received on every DPS the caller's buying organisations run (DPS_WRITERS, as the
        API's admission queue): scoped in SQL, so another organisation's request is never read."""
        statuses = LIST_VIEWS.get(view)
        if statuses is None:
            raise RuleViolation(f"status: one of {', '.join(LIST_VIEWS)}", field="status")
        query = (select(AdmissionRequest.id, AdmissionRequest.dps_id, Dps.title, AdmissionRequest.category_id,
                        DpsCategory.title, AdmissionRequest.vendor_organisation_id, Organisation.name,
                        Organisation.siret, AdmissionRequest.status, AdmissionRequest.received_at,
                        AdmissionRequest.due_at, AdmissionRequest.extension_reason, AdmissionRequest.decided_at,
                        Dps)
                 .join(Dps, Dps.id == AdmissionRequest.dps_id)
                 .join(DpsCategory, DpsCategory.id == AdmissionRequest.category_id)
                 .join(Organisation, Organisation.id == AdmissionRequest.vendor_organisation_id)
                 .where(Dps.buyer_organisation_id.in_(principal.organisations_with(*DPS_WRITERS)),
                        AdmissionRequest.received_at.is_not(None),
                        AdmissionRequest.status.in_([s.value for s in statuses])))
        if dps_id is not None:
            query = query.where(AdmissionRequest.dps_id == dps_id)
        if search and search.strip():
            query = query.where(Organisation.name.ilike(f"%{_escape_like(search.strip())}%", escape="\\"))
        return cast("Select[Any]", query)  # fourteen columns: the row is unpacked by _list_item

    def _list_item(self, row: tuple[object, ...]) -> schemas.AdmissionListItem:
        (id_, dps_id, dps_title, category_id, category_title, vendor_id, vendor_name, siret, status, received_at,
         due_at, extension_reason, decided_at, dps) = row
        assert isinstance(dps, Dps) and isinstance(status, AdmissionStatus)
        now = listing_now(self.clock, dps)
        return schemas.AdmissionListItem(
            id=id_, dps_id=dps_id, dps_title=dps_title, category_id=category_id,  # type: ignore[arg-type]
            category_title=category_title, vendor_organisation_id=vendor_id,  # type: ignore[arg-type]
            vendor_name=vendor_name, vendor_siret=siret, status=status,  # type: ignore[arg-type]
            received_at=received_at, due_at=due_at,  # type: ignore[arg-type]
            overdue=bool(due_at and status in EVALUATION_STATES and due_at < now),  # type: ignore[operator]
            extended=bool(extension_reason), decided_at=decided_at, read_at=now,  # type: ignore[arg-type]
            sandbox=dps.is_sandbox)

    async def for_buyer(self, principal: Principal, *, dps_id: uuid.UUID | None = None, view: str = "awaiting",
                        search: str | None = None, sort: str = "due", descending: bool = False,
                        limit: int = 25, offset: int = 0) -> Page[schemas.AdmissionListItem]:
        """The requests awaiting a decision (D6: by due date, the overdue ones first) or decided, on the DPS the
        caller runs: filtered, sorted and paged in SQL (one query for the page, one for the count)."""
        query = self._buyer_rows(principal, dps_id=dps_id, view=view, search=search)
        column = LIST_SORTS.get(sort)
        if column is None:
            raise RuleViolation(f"sort: one of {', '.join(LIST_SORTS)}", field="sort")
        order = column.desc().nulls_last() if descending else column.asc().nulls_last()
        rows = (await self.session.execute(query.order_by(order, AdmissionRequest.id)
                                           .limit(limit).offset(offset))).all()
        total = await self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        return Page(items=[self._list_item(tuple(r)) for r in rows], total=int(total or 0), limit=limit,
                    offset=offset)

    async def file_for_buyer(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionFile:
        """One request as its DPS's buyers judge it; anyone else (its vendor included) is told it doesn't exist."""
        request, dps = await visible_request(self.session, request_id, principal)
        require_buyer(principal, request, dps)
        vendor = await self.session.get(Organisation, request.vendor_organisation_id)
        category = await category_of(self.session, request)
        assert vendor is not None
        earlier = (await self.session.execute(
            self._buyer_rows(principal, dps_id=dps.id, view="all", search=None)
            .where(AdmissionRequest.vendor_organisation_id == request.vendor_organisation_id,
                   AdmissionRequest.id != request.id)
            .order_by(AdmissionRequest.received_at.desc(), AdmissionRequest.id).limit(50))).all()
        return schemas.AdmissionFile(
            request=await request_schema(self.session, self.clock, request), dps_title=dps.title,
            category_title=category.title, selection_criteria=category.selection_criteria,
            required_documents=msgspec.convert(category.required_documents, list[schemas.DocumentRule]),
            vendor_name=vendor.name, vendor_siret=vendor.siret,
            vendor_siret_valid=bool(vendor.siret and siret_number.is_valid(vendor.siret)),
            decided_by=request.decided_by, receipt_sha256=request.receipt_sha256,
            declaration_requested_at=request.declaration_requested_at, read_at=listing_now(self.clock, dps),
            earlier=[self._list_item(tuple(r)) for r in earlier])
