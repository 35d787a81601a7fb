"""The DPS (machine (a)) and admission requests (machine (b)): domain.md §1.2–§1.4, D4–D7, D12, D20.

Every transition is checked against `states.py`, audited, and (for the vendor) notified through the
outbox. Object rule: a DPS in draft, and every admission request, is visible only to its buyer
organisation and (for a request) its vendor; others get 404.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterable
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import OrganisationKind, Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InstantOutOfRange, check_year, format_paris, to_paris
from marketplace.lib.files import safe_filename
from marketplace.lib.sandbox import NOTICE
from marketplace.lib.working_days import (
    EVALUATION_DAYS,
    EVALUATION_DAYS_EXTENDED,
    EVALUATION_RULES,
    add_working_days,
    declaration_due_at,
    earliest_franc_deadline,
    end_of_paris_day,
    evaluation_due_at,
)
from marketplace.notifications.services import NotificationService
from marketplace.tenders.models import SpecificContract, SpecificContractStatus
from marketplace.uploads import check_declared, check_rule_media_types, store_upload
from marketplace.vendors import schemas
from marketplace.vendors.errors import DocumentArchived, MissingDocuments
from marketplace.vendors.lifecycle import DpsLifecycle
from marketplace.vendors.models import AdmissionDocument, AdmissionRequest, Dps, DpsCategory, DpsDocument
from marketplace.vendors.sandbox import clock_schema, dps_clock
from marketplace.vendors.states import (
    DPS_ACCEPTS_REQUESTS,
    EVALUATION_STATES,
    LIVE_ADMISSION_STATES,
    AdmissionStatus,
    DpsStatus,
    check_admission_transition,
    check_dps_transition,
    dps_status_at,
    require_in_force,
)
from storage import ObjectStore

INITIAL_WINDOW_DAYS = 30  # D4, a délai franc (lib/working_days.py `earliest_franc_deadline`)
BUYER_ROLES = (Role.BUYER_ADMIN, Role.BUYER_EVALUATOR)
VENDOR_ROLES = (Role.VENDOR_ADMIN, Role.VENDOR_BID_MANAGER)
# What a procurement document may be: PDF, office formats (which are zip containers when sniffed), zip.
DPS_DOCUMENT_TYPES = ("application/pdf", "application/zip")
DPS_DOCUMENT_MAX_BYTES = 50 * 1024 * 1024


def _criteria(items: list[schemas.AwardCriterion]) -> list[dict[str, Any]]:
    for index, item in enumerate(items):
        if item.weight_min > item.weight_max:
            raise RuleViolation(f"awardCriteria[{index}]: weightMin is above weightMax",
                                field=f"awardCriteria[{index}]")
    if sum(i.weight_min for i in items) > 100 or sum(i.weight_max for i in items) < 100:
        raise RuleViolation("awardCriteria: the weight ranges must allow a total of 100", field="awardCriteria",
                            rule="D10")
    return [msgspec.to_builtins(i) for i in items]


class DpsService:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        # For what must be recorded whatever the request's transaction becomes (a redirect rolls it back).
        self.side_sessions = side_sessions

    async def _audit(self, action: str, principal: Principal | str, target_type: str, target_id: object,
                     organisation_id: uuid.UUID | None = None, **details: object) -> None:
        actor = principal if isinstance(principal, str) else principal.label
        await audit.record(self.session, self.clock, action, actor=actor, organisation_id=organisation_id,
                           target_type=target_type, target_id=str(target_id), details=details)

    def _time(self, dps: Dps) -> Clock:
        """The DPS's business clock: accelerated for a sandbox (vendors/sandbox.py), else the real one."""
        return dps_clock(self.clock, dps)

    # -- the DPS ---------------------------------------------------------------------------------

    def _is_buyer_of(self, principal: Principal | None, dps: Dps, *roles: Role) -> bool:
        return principal is not None and principal.has_role_in(dps.buyer_organisation_id, *(roles or BUYER_ROLES))

    async def _dps(self, dps_id: uuid.UUID, principal: Principal | None) -> Dps:
        dps = await self.session.get(Dps, dps_id)
        if dps is None or (dps.status == DpsStatus.DRAFT and not self._is_buyer_of(principal, dps)):
            raise NotFound("No DPS has this id.")
        return dps

    async def _to_schema(self, dps: Dps) -> schemas.Dps:
        categories = (await self.session.scalars(
            select(DpsCategory).where(DpsCategory.dps_id == dps.id).order_by(DpsCategory.sector,
                                                                            DpsCategory.delivery_mode))).all()
        return schemas.Dps(
            id=dps.id, buyer_organisation_id=dps.buyer_organisation_id, title=dps.title,
            description=dps.description, validity_start=dps.validity_start, validity_end=dps.validity_end,
            usable_by_other_buyers=dps.usable_by_other_buyers,
            # Never stale: past its validity end the DPS reads terminated before the job stores it (machine (a)).
            status=dps_status_at(dps.status, dps.validity_end, self._time(dps).now()),
            notice_sent_at=dps.notice_sent_at, initial_window_end=dps.initial_window_end,
            award_criteria=msgspec.convert(dps.award_criteria, list[schemas.AwardCriterion]),
            categories=[schemas.Category(
                id=c.id, sector=c.sector, delivery_mode=c.delivery_mode, title=c.title,
                selection_criteria=c.selection_criteria,
                required_documents=msgspec.convert(c.required_documents, list[schemas.DocumentRule]))
                for c in categories],
            sandbox=dps.is_sandbox, sandbox_clock=clock_schema(self.clock, dps))

    async def create(self, principal: Principal, data: schemas.DpsCreate) -> schemas.Dps:
        buyers = principal.organisations_with(Role.BUYER_ADMIN)
        organisation_id = data.buyer_organisation_id or (buyers[0] if len(buyers) == 1 else None)
        if organisation_id is None or organisation_id not in buyers:
            raise RuleViolation("buyerOrganisationId: name a buying organisation you administer",
                                field="buyerOrganisationId")
        if data.validity_end <= data.validity_start:
            raise RuleViolation("validityEnd: must be after validityStart", field="validityEnd", rule="D2")
        seen: set[tuple[str, str]] = set()
        for index, category in enumerate(data.categories):
            pair = (category.sector.value, category.delivery_mode.value)
            if pair in seen:
                raise RuleViolation(f"categories[{index}]: {pair[0]} × {pair[1]} appears twice",
                                    field=f"categories[{index}]", rule="D20")
            seen.add(pair)
            for position, rule in enumerate(category.required_documents):
                check_rule_media_types(rule.content_types,
                                       f"categories[{index}].requiredDocuments[{position}].contentTypes")
            kinds = [d.kind for d in category.required_documents]
            if len(kinds) != len(set(kinds)):
                raise RuleViolation(f"categories[{index}].requiredDocuments: a document kind appears twice",
                                    field=f"categories[{index}].requiredDocuments")
        dps = Dps(buyer_organisation_id=organisation_id, title=data.title.strip(), description=data.description,
                  validity_start=data.validity_start, validity_end=data.validity_end,
                  usable_by_other_buyers=data.usable_by_other_buyers, award_criteria=_criteria(data.award_criteria))
        if data.sandbox is not None:
            # Sandbox time starts at real time, now, and runs `factor` times faster from here on.
            dps.sandbox_factor, dps.sandbox_epoch = data.sandbox.factor, self.clock.now()
        self.session.add(dps)
        await self.session.flush()
        for category in data.categories:
            self.session.add(DpsCategory(
                dps_id=dps.id, sector=category.sector, delivery_mode=category.delivery_mode,
                title=category.title.strip(), selection_criteria=category.selection_criteria,
                required_documents=[msgspec.to_builtins(d) for d in category.required_documents]))
        await self.session.flush()
        await self._audit("dps.created", principal, "dps", dps.id, organisation_id, title=dps.title,
                          categories=len(data.categories), sandbox_factor=dps.sandbox_factor)
        return await self._to_schema(dps)

    async def get(self, dps_id: uuid.UUID, principal: Principal | None) -> schemas.Dps:
        return await self._to_schema(await self._dps(dps_id, principal))

    async def list_public(self, limit: int, offset: int) -> schemas.Page[schemas.Dps]:
        # Sandboxes are rehearsals: never in the public list (they stay readable by id).
        visible = (Dps.status != DpsStatus.DRAFT) & Dps.sandbox_factor.is_(None)
        total = await self.session.scalar(select(func.count()).select_from(Dps).where(visible))
        rows = (await self.session.scalars(select(Dps).where(visible).order_by(Dps.created_at.desc(), Dps.id)
                                           .limit(limit).offset(offset))).all()
        return schemas.Page(items=[await self._to_schema(d) for d in rows], total=int(total or 0),
                            limit=limit, offset=offset)

    async def _transition(self, principal: Principal, dps_id: uuid.UUID, target: DpsStatus) -> Dps:
        dps = await self._dps(dps_id, principal)
        if not self._is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            # Another organisation's buyer: the DPS is not theirs to manage (404, like any object of
            # another organisation); an evaluator of the buying organisation sees it but may not act (403).
            if self._is_buyer_of(principal, dps):
                raise Forbidden("Only an administrator of the DPS's buying organisation may change its status.")
            raise NotFound("No DPS has this id.")
        await self.session.refresh(dps, with_for_update=True)
        check_dps_transition(dps.status, target)
        return dps

    async def publish(self, principal: Principal, dps_id: uuid.UUID, data: schemas.DpsPublish) -> schemas.Dps:
        """Send the notice: the initial request window runs ≥ 30 days from now (D4)."""
        dps = await self._transition(principal, dps_id, DpsStatus.PENDING)
        now = self._time(dps).now()
        require_in_force(dps, now, field="validityEnd")
        earliest = earliest_franc_deadline(now, INITIAL_WINDOW_DAYS)
        if data.initial_window_end < earliest:
            raise RuleViolation("initialWindowEnd: the initial window for requests to participate lasts at least "
                                "30 full days after the day the notice is sent (délai franc): not before "
                                f"{format_paris(earliest)}", field="initialWindowEnd", rule="D4",
                                earliest=earliest.isoformat())
        if data.initial_window_end >= dps.validity_end:
            raise RuleViolation("initialWindowEnd: must end before the DPS's validity", field="initialWindowEnd")
        old = dps.status
        dps.status, dps.notice_sent_at, dps.initial_window_end = DpsStatus.PENDING, now, data.initial_window_end
        await self._audit("dps.published", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=old.value, new=dps.status.value, initial_window_end=data.initial_window_end.isoformat())
        return await self._to_schema(dps)

    async def activate(self, principal: Principal, dps_id: uuid.UUID) -> schemas.Dps:
        dps = await self._transition(principal, dps_id, DpsStatus.ACTIVE)
        now = self._time(dps).now()
        require_in_force(dps, now, field="status")
        if dps.initial_window_end is not None and now < dps.initial_window_end:
            raise RuleViolation("status: the DPS becomes active once its initial window has ended",
                                field="status", rule="D4")
        # D6: activation opens the DPS to specific contracts, whose invitations go to the vendors admitted at
        # that moment (D8). A vendor who applied in the initial window must not miss the first one because its
        # request was still undecided: every such request is decided first.
        if dps.initial_window_end is not None:
            undecided = int(await self.session.scalar(select(func.count()).select_from(AdmissionRequest).where(
                AdmissionRequest.dps_id == dps.id, AdmissionRequest.received_at <= dps.initial_window_end,
                AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES]))) or 0)
            if undecided:
                raise Conflict(f"status: {undecided} request(s) to participate received in the initial window "
                               "are still undecided; decide them before the DPS becomes active, so that no "
                               "vendor who applied in time misses the first invitation (D6)",
                               field="status", rule="D6", undecided=undecided)
        dps.status = DpsStatus.ACTIVE
        await self._audit("dps.activated", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=DpsStatus.PENDING.value, new=dps.status.value)
        return await self._to_schema(dps)

    async def cancel(self, principal: Principal, dps_id: uuid.UUID, data: schemas.Reasons) -> schemas.Dps:
        """Before it starts (draft or pending): requests in progress are closed and their vendors told."""
        dps = await self._transition(principal, dps_id, DpsStatus.CANCELLED)
        return await self._end(principal, dps, DpsStatus.CANCELLED, data.reasons, "Annulation du SAD")

    async def terminate(self, principal: Principal, dps_id: uuid.UUID, data: schemas.Reasons) -> schemas.Dps:
        """Ends an active DPS early (or at its validity end): admissions close; running contracts finish."""
        dps = await self._transition(principal, dps_id, DpsStatus.TERMINATED)
        return await self._end(principal, dps, DpsStatus.TERMINATED, data.reasons, "Fin du SAD")

    async def end_of_validity(self, dps: Dps) -> None:
        """Machine (a): the DPS (locked by the caller) reached its validity end, stored by the job
        (vendors/lifecycle.py); admissions close and their vendors are told, running contracts finish."""
        check_dps_transition(dps.status, DpsStatus.TERMINATED)
        await self._end("system", dps, DpsStatus.TERMINATED,
                        f"La durée de validité du SAD a pris fin le {format_paris(dps.validity_end)}.",
                        "Fin de validité du SAD")

    async def _end(self, principal: Principal | str, dps: Dps, target: DpsStatus, reasons: str, subject: str
                   ) -> schemas.Dps:
        old = dps.status
        dps.status = target
        live = (await self.session.scalars(
            select(AdmissionRequest).where(AdmissionRequest.dps_id == dps.id,
                                           AdmissionRequest.status.in_([s.value for s in LIVE_ADMISSION_STATES]))
            .with_for_update())).all()
        for request in live:
            previous = request.status
            # Machine (b): an admission closes with its DPS; a request never decided is closed too.
            request.status, request.decided_at, request.decision_reasons = (
                AdmissionStatus.CLOSED, self._time(dps).now(), reasons)
            await self._audit("admission.closed", principal, "admission_request", request.id,
                              dps.buyer_organisation_id, old=previous.value, new=request.status.value)
            await self._notify_vendor(request, "admission.closed", subject, f"{dps.title}\n\n{reasons}\n", dps)
        await self._audit(f"dps.{target.value}", principal, "dps", dps.id, dps.buyer_organisation_id,
                          old=old.value, new=target.value, reasons=reasons, closed_requests=len(live))
        return await self._to_schema(dps)

    async def change_validity(self, principal: Principal, dps_id: uuid.UUID,
                              data: schemas.DpsValidityChange) -> schemas.Dps:
        return await self._to_schema(await DpsLifecycle(self.session, self.clock).change_validity(
            principal, dps_id, data))

    # -- a sandbox's clock ---------------------------------------------------------------------------

    async def fast_forward(self, principal: Principal, dps_id: uuid.UUID,
                           data: schemas.SandboxFastForward) -> schemas.Dps:
        """Skip sandbox time at once, so a rehearsal needn't wait out D4's 30 days or a contract's months.

        Never while a vendor is owed time on this sandbox: an open tender period (D9, D14), a standstill
        (D18) or an updated self-declaration asked of it (D11) runs its full length, on the sandbox clock.
        The DPS row is locked: a need being published on it meanwhile waits, or is waited for and seen."""
        dps = await self._dps(dps_id, principal)
        if not self._is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            if self._is_buyer_of(principal, dps):
                raise Forbidden("Only an administrator of the DPS's buying organisation moves its sandbox clock.")
            raise NotFound("No DPS has this id.")
        await self.session.refresh(dps, with_for_update=True)
        if not dps.is_sandbox:
            raise Conflict("sandbox: a real procedure's clock is real time; only a sandbox's moves forward",
                           field="sandbox", rule="sandbox")
        skip = timedelta(days=data.days, hours=data.hours)
        if skip <= timedelta(0):
            raise RuleViolation("days: skip at least an hour", field="days")
        running = await self.session.scalar(select(SpecificContract.id).where(
            SpecificContract.dps_id == dps.id,
            SpecificContract.status.in_([SpecificContractStatus.OPEN, SpecificContractStatus.STANDSTILL])).limit(1))
        if running is not None:
            raise Conflict(f"sandbox: specific contract {running} is open for offers or in its standstill; vendors "
                           "keep every second of those periods (D9, D14, D18)", field="sandbox", rule="sandbox",
                           specificContractId=str(running))
        asked = await self.session.scalar(select(AdmissionRequest.id).where(
            AdmissionRequest.dps_id == dps.id, AdmissionRequest.declaration_due_at.is_not(None)).limit(1))
        if asked is not None:
            raise Conflict(f"sandbox: admission request {asked} owes an updated self-declaration; the vendor keeps "
                           "its 5 working days (D11)", field="sandbox", rule="D11", admissionRequestId=str(asked))
        before = self._time(dps).now()
        dps.sandbox_skipped += skip
        await self.session.flush()
        await self._audit("dps.sandbox_fast_forwarded", principal, "dps", dps.id, dps.buyer_organisation_id,
                          skipped_seconds=int(skip.total_seconds()), sandbox_from=before.isoformat(),
                          sandbox_to=self._time(dps).now().isoformat())
        return await self._to_schema(dps)

    # -- the DPS's documents (D3) -----------------------------------------------------------------

    @staticmethod
    def _dps_doc_schema(d: DpsDocument) -> schemas.DpsDocument:
        return schemas.DpsDocument(id=d.id, dps_id=d.dps_id, title=d.title, filename=d.filename,
                                   content_type=d.content_type, size=d.size, sha256=d.sha256, published_at=d.created_at,
                                   download_path=f"/dps/{d.dps_id}/documents/{d.id}/download")

    async def add_document(self, principal: Principal, dps_id: uuid.UUID, *, title: str, filename: str,
                           declared_type: str, declared_size: int | None,
                           body: AsyncIterable[bytes]) -> schemas.DpsDocument:
        assert self.store is not None
        dps = await self._dps(dps_id, principal)
        if not self._is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            raise NotFound("No DPS has this id.") if not self._is_buyer_of(principal, dps) else Forbidden(
                "Only an administrator of the DPS's buying organisation may publish its documents.")
        if dps.status in (DpsStatus.CANCELLED, DpsStatus.TERMINATED):
            raise Conflict(f"status: the DPS is {dps.status.value}", field="status")
        media_type = check_declared(declared_type, declared_size, list(DPS_DOCUMENT_TYPES), DPS_DOCUMENT_MAX_BYTES,
                                    "a DPS document")
        key, stored = await store_upload(self.store, "dps", body, media_type, list(DPS_DOCUMENT_TYPES),
                                         DPS_DOCUMENT_MAX_BYTES, "a DPS document", {"dps": str(dps.id)})
        try:
            document = DpsDocument(dps_id=dps.id, title=title.strip(), object_key=key,
                                   filename=safe_filename(filename), content_type=media_type, size=stored.size,
                                   sha256=stored.sha256)
            self.session.add(document)
            await self.session.flush()
            await self._audit("dps.document_published", principal, "dps", dps.id, dps.buyer_organisation_id,
                              document=str(document.id), sha256=stored.sha256, title=document.title)
        except BaseException:
            await self.store.delete(key)
            raise
        return self._dps_doc_schema(document)

    async def documents(self, dps_id: uuid.UUID, principal: Principal | None) -> list[schemas.DpsDocument]:
        dps = await self._dps(dps_id, principal)
        rows = (await self.session.scalars(select(DpsDocument).where(DpsDocument.dps_id == dps.id)
                                           .order_by(DpsDocument.created_at))).all()
        return [self._dps_doc_schema(d) for d in rows]

    async def document_url(self, dps_id: uuid.UUID, document_id: uuid.UUID, principal: Principal | None) -> str:
        """A short-lived presigned GET, while the DPS is valid (D3); afterwards the documents are archived."""
        assert self.store is not None
        dps = await self._dps(dps_id, principal)
        document = await self.session.get(DpsDocument, document_id)
        if document is None or document.dps_id != dps.id:
            raise NotFound("No document has this id.")
        if self._time(dps).now() >= dps.validity_end and not self._is_buyer_of(principal, dps):
            raise DocumentArchived("The DPS's validity has ended; its documents are no longer published.")
        return self.store.presigned_get(document.object_key, filename=document.filename)

    # -- admission requests ----------------------------------------------------------------------

    async def _request(self, request_id: uuid.UUID, principal: Principal, *, lock: bool = False
                       ) -> tuple[AdmissionRequest, Dps]:
        request = await self.session.get(AdmissionRequest, request_id, with_for_update=lock)
        dps = await self.session.get(Dps, request.dps_id) if request else None
        if request is None or dps is None or not (
                principal.member_of(request.vendor_organisation_id) or self._is_buyer_of(principal, dps)):
            raise NotFound("No admission request has this id.")
        return request, dps

    def _require_vendor(self, principal: Principal, request: AdmissionRequest) -> None:
        if not principal.has_role_in(request.vendor_organisation_id, *VENDOR_ROLES):
            raise NotFound("No admission request has this id.") if not principal.member_of(
                request.vendor_organisation_id) else Forbidden("Only the vendor's admin or bid manager may do this.")

    def _require_buyer(self, principal: Principal, request: AdmissionRequest, dps: Dps) -> None:
        if not self._is_buyer_of(principal, dps):
            raise NotFound("No admission request has this id.")

    async def _category(self, request: AdmissionRequest) -> DpsCategory:
        category = await self.session.get(DpsCategory, request.category_id)
        assert category is not None
        return category

    async def _documents(self, request_id: uuid.UUID) -> list[AdmissionDocument]:
        return list((await self.session.scalars(
            select(AdmissionDocument).where(AdmissionDocument.request_id == request_id,
                                            AdmissionDocument.superseded.is_(False))
            .order_by(AdmissionDocument.kind))).all())

    @staticmethod
    def _doc_schema(d: AdmissionDocument) -> schemas.AdmissionDocument:
        return schemas.AdmissionDocument(id=d.id, kind=d.kind, filename=d.filename, content_type=d.content_type,
                                         size=d.size, sha256=d.sha256, valid_until=d.valid_until,
                                         uploaded_at=d.created_at,
                                         download_path=f"/admission-requests/{d.request_id}/documents/{d.id}/download")

    async def admission_document_url(self, principal: Principal, request_id: uuid.UUID,
                                     document_id: uuid.UUID) -> str:
        """A short-lived presigned GET of a document of the request, for the buyers who judge it (D6, D20) and
        the vendor's own people; nobody else learns the request exists. Each link given is audited, in a
        transaction of its own: the redirect rolls the request's back."""
        assert self.store is not None and self.side_sessions is not None
        request, dps = await self._request(request_id, principal)
        document = await self.session.get(AdmissionDocument, document_id)
        if document is None or document.request_id != request.id:
            raise NotFound("No document of this admission request has this id.")
        async with self.side_sessions() as side, side.begin():
            await audit.record(side, self.clock, "admission.document_downloaded", actor=principal.label,
                               organisation_id=request.vendor_organisation_id, target_type="admission_request",
                               target_id=str(request.id), details={
                                   "document": str(document.id), "kind": document.kind, "sha256": document.sha256,
                                   "superseded": document.superseded, "dps": str(dps.id)})
        return self.store.presigned_get(document.object_key, filename=document.filename)

    async def _request_schema(self, request: AdmissionRequest) -> schemas.AdmissionRequest:
        documents = await self._documents(request.id)
        category = await self._category(request)
        present = {d.kind for d in documents}
        missing = [rule["kind"] for rule in category.required_documents if rule["kind"] not in present]
        dps = await self.session.get(Dps, request.dps_id)
        assert dps is not None
        now = self._time(dps).now()
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
            documents=[self._doc_schema(d) for d in documents], missing_documents=missing,
            expired_documents=sorted(d.kind for d in documents if d.valid_until and d.valid_until < today),
            declaration_due_at=request.declaration_due_at, sandbox=dps.is_sandbox)

    async def apply(self, principal: Principal, data: schemas.AdmissionCreate) -> schemas.AdmissionRequest:
        vendors = principal.organisations_with(*VENDOR_ROLES)
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
        return await self._request_schema(request)

    async def show(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, _ = await self._request(request_id, principal)
        return await self._request_schema(request)

    async def upload_document(self, principal: Principal, request_id: uuid.UUID, kind: str, *,
                              filename: str, declared_type: str, declared_size: int | None,
                              body: AsyncIterable[bytes], valid_until: date | None) -> schemas.AdmissionDocument:
        """Stream one required document to object storage, checking the category's rules first on what
        the client declares (size, type), then on what it sends (bytes counted, content sniffed)."""
        assert self.store is not None
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_vendor(principal, request)
        # Admitted vendors keep their documents current (certificates expire); under evaluation the file
        # is frozen until the buyer asks for more.
        if request.status not in (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS,
                                  AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED):
            raise Conflict(f"status: documents can't be changed while the request is {request.status.value}",
                           field="status")
        category = await self._category(request)
        rule = next((r for r in category.required_documents if r["kind"] == kind), None)
        if rule is None:
            raise NotFound(f"kind: this category asks for no document of kind {kind!r}")
        allowed = list(rule["contentTypes"])
        media_type = check_declared(declared_type, declared_size, allowed, rule["maxBytes"], rule["label"])
        if rule["hasExpiry"] and valid_until is None:
            raise RuleViolation(f"validUntil: {rule['label']} has an end of validity; give it", field="validUntil")
        if valid_until is not None:
            try:
                check_year(valid_until)  # before the file is stored: its answer could not show the date (G10)
            except InstantOutOfRange as exc:
                raise RuleViolation(f"validUntil: {exc}", field="validUntil") from None
        if valid_until is not None and valid_until < to_paris(self._time(dps).now()).date():
            raise RuleViolation(f"validUntil: this {rule['label']} expired on {valid_until.isoformat()}",
                                field="validUntil")
        key, stored = await store_upload(self.store, "admissions", body, media_type, allowed, rule["maxBytes"],
                                               rule["label"], {"kind": kind})
        try:
            for old in await self._documents(request.id):
                if old.kind == kind:
                    old.superseded = True
            document = AdmissionDocument(request_id=request.id, kind=kind, object_key=key,
                                         filename=safe_filename(filename), content_type=media_type, size=stored.size,
                                         sha256=stored.sha256, valid_until=valid_until)
            self.session.add(document)
            await self.session.flush()
            await self._audit("admission.document_uploaded", principal, "admission_request", request.id,
                              request.vendor_organisation_id, kind=kind, sha256=stored.sha256, size=stored.size)
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        return self._doc_schema(document)

    async def submit(self, principal: Principal, request_id: uuid.UUID) -> schemas.Receipt:
        """Receipt time from the server clock; the evaluation clock starts (D6) or resumes."""
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_vendor(principal, request)
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
        documents = await self._documents(request.id)
        manifest = json.dumps({"request": str(request.id), "receivedAt": now.isoformat(),
                               "documents": [[d.kind, d.sha256, d.size] for d in documents]},
                              sort_keys=True, separators=(",", ":"))
        request.receipt_sha256 = hashlib.sha256(manifest.encode()).hexdigest()
        await self._audit("admission.submitted" if not resumed else "admission.documents_supplied", principal,
                          "admission_request", request.id, request.vendor_organisation_id, old=old.value,
                          new=request.status.value, due_at=request.due_at.isoformat(),
                          receipt_sha256=request.receipt_sha256)
        subject = "Pièces complémentaires reçues" if resumed else "Nouvelle demande d'admission"
        await self._notify_buyer_side(dps, request, "admission.submitted", subject)
        assert request.received_at and request.due_at
        return schemas.Receipt(request_id=request.id, received_at=now, received_at_paris=format_paris(now),
                               due_at=request.due_at, documents=[self._doc_schema(d) for d in documents],
                               receipt_sha256=request.receipt_sha256, sandbox=dps.is_sandbox,
                               notice=NOTICE if dps.is_sandbox else None)

    async def queue(self, principal: Principal, dps_id: uuid.UUID) -> list[schemas.AdmissionRequest]:
        """Requests awaiting a decision, overdue first, then by due date (D6)."""
        dps = await self._dps(dps_id, principal)
        if not self._is_buyer_of(principal, dps):
            raise NotFound("No DPS has this id.")
        rows = (await self.session.scalars(
            select(AdmissionRequest).where(AdmissionRequest.dps_id == dps.id,
                                           AdmissionRequest.status.in_([s.value for s in EVALUATION_STATES]))
            .order_by(AdmissionRequest.due_at, AdmissionRequest.received_at))).all()
        items = [await self._request_schema(r) for r in rows]
        return sorted(items, key=lambda r: (not r.overdue, r.due_at))

    async def _decide(self, principal: Principal, request_id: uuid.UUID,
                      target: AdmissionStatus) -> tuple[AdmissionRequest, Dps]:
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_buyer(principal, request, dps)
        check_admission_transition(request.status, target)
        now = self._time(dps).now()
        require_in_force(dps, now, field="status")
        # §1.4: requests of the initial window are opened when it closes (D4), so that every vendor who applied
        # in time is judged together; no decision (nor request for documents) is taken before (D6).
        if dps.initial_window_end is not None and now < dps.initial_window_end:
            raise Conflict(f"status: requests are decided once the initial window closes, on "
                           f"{format_paris(dps.initial_window_end)} (D4, D6)", field="status", rule="D6",
                           initialWindowEnd=dps.initial_window_end.isoformat())
        return request, dps

    async def request_documents(self, principal: Principal, request_id: uuid.UUID,
                                data: schemas.DocumentsRequest) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.AWAITING_DOCUMENTS)
        request.status = AdmissionStatus.AWAITING_DOCUMENTS
        request.documents_requested = data.message
        await self._audit("admission.documents_requested", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, old=AdmissionStatus.UNDER_EVALUATION.value,
                          new=request.status.value)
        await self._notify_vendor(request, "admission.documents_requested", "Pièces complémentaires demandées",
                                  f"L'acheteur demande des pièces complémentaires :\n\n{data.message}\n", dps)
        return await self._request_schema(request)

    async def extend(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                     ) -> schemas.AdmissionRequest:
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_buyer(principal, request, dps)
        if request.status not in EVALUATION_STATES or request.extension_reason:
            raise Conflict("status: only a request under evaluation, not yet extended, can be extended",
                           field="status", rule="D6")
        assert request.received_at and request.due_at
        # 15 working days instead of 10 (D6): five more. The alerts of the old due date re-arm for the new one.
        extra = EVALUATION_DAYS_EXTENDED - EVALUATION_DAYS
        request.due_at = end_of_paris_day(add_working_days(to_paris(request.due_at).date(), extra, EVALUATION_RULES))
        request.due_soon_alerted_at = request.overdue_alerted_at = None
        request.extension_reason = data.reasons
        await self._audit("admission.extended", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, reason=data.reasons, due_at=request.due_at.isoformat())
        return await self._request_schema(request)

    async def admit(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.ADMITTED)
        missing = (await self._request_schema(request)).missing_documents
        if missing:
            raise MissingDocuments(f"documents: still missing {', '.join(missing)}", field="documents",
                                   missing=missing, rule="D7")
        expired = (await self._request_schema(request)).expired_documents
        if expired:
            raise MissingDocuments(f"documents: expired {', '.join(expired)}; ask for current ones", field="documents",
                                   expired=expired)
        await self._close(principal, request, dps, AdmissionStatus.ADMITTED, None)
        await self._notify_vendor(request, "admission.admitted", "Admission au SAD prononcée",
                                  "Votre entreprise est admise dans la catégorie demandée. Elle sera invitée à "
                                  "chaque marché spécifique de cette catégorie.", dps)
        return await self._request_schema(request)

    async def reject(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                     ) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.REJECTED)
        await self._close(principal, request, dps, AdmissionStatus.REJECTED, data.reasons)
        await self._notify_vendor(request, "admission.rejected", "Demande d'admission rejetée",
                                  f"Votre demande d'admission est rejetée pour les motifs suivants :\n\n"
                                  f"{data.reasons}\n\nVous pouvez présenter une nouvelle demande.", dps)
        return await self._request_schema(request)

    async def _close(self, principal: Principal, request: AdmissionRequest, dps: Dps, target: AdmissionStatus,
                     reasons: str | None) -> None:
        old = request.status
        request.status, request.decided_at = target, self._time(dps).now()
        request.decided_by, request.decision_reasons = principal.label, reasons
        await self._audit(f"admission.{target.value}", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, old=old.value, new=target.value, reasons=reasons)

    async def withdraw(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, _ = await self._request(request_id, principal, lock=True)
        self._require_vendor(principal, request)
        check_admission_transition(request.status, AdmissionStatus.WITHDRAWN)
        old = request.status
        request.status = AdmissionStatus.WITHDRAWN
        await self._audit("admission.withdrawn", principal, "admission_request", request.id,
                          request.vendor_organisation_id, old=old.value, new=request.status.value)
        return await self._request_schema(request)

    # -- living admissions ------------------------------------------------------------------------

    async def suspend(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                      ) -> schemas.AdmissionRequest:
        return await self._sanction(principal, request_id, AdmissionStatus.SUSPENDED, data.reasons,
                                    "Admission suspendue")

    async def exclude(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                      ) -> schemas.AdmissionRequest:
        return await self._sanction(principal, request_id, AdmissionStatus.EXCLUDED, data.reasons,
                                    "Exclusion du SAD")

    async def reinstate(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.ADMITTED)
        if request.status != AdmissionStatus.SUSPENDED:
            raise Conflict(f"status: only a suspended admission can be reinstated, this one is "
                           f"{request.status.value}", field="status")
        await self._close(principal, request, dps, AdmissionStatus.ADMITTED, None)
        await self._notify_vendor(request, "admission.reinstated", "Admission rétablie",
                                  "La suspension de votre admission est levée.", dps)
        return await self._request_schema(request)

    async def _sanction(self, principal: Principal, request_id: uuid.UUID, target: AdmissionStatus, reasons: str,
                        subject: str) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, target)
        await self._close(principal, request, dps, target, reasons)
        await self._notify_vendor(request, f"admission.{target.value}", subject,
                                  f"Motifs :\n\n{reasons}\n", dps)
        return await self._request_schema(request)

    async def request_declaration(self, principal: Principal, request_id: uuid.UUID,
                                  data: schemas.DocumentsRequest) -> schemas.AdmissionRequest:
        """D11: an admitted vendor updates its self-declaration within 5 working days."""
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_buyer(principal, request, dps)
        if request.status not in (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED):
            raise Conflict(f"status: an updated declaration is asked of an admitted vendor, not of a request "
                           f"that is {request.status.value}", field="status", rule="D11")
        now = self._time(dps).now()
        request.declaration_requested_at, request.declaration_due_at = now, declaration_due_at(now)
        await self._audit("admission.declaration_requested", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, due_at=request.declaration_due_at.isoformat())
        await self._notify_vendor(request, "admission.declaration_requested", "Mise à jour de votre DUME demandée",
                                  f"{data.message}\n\nÀ transmettre avant le "
                                  f"{format_paris(request.declaration_due_at)}.", dps)
        return await self._request_schema(request)

    async def update_declaration(self, principal: Principal, request_id: uuid.UUID,
                                 data: schemas.SelfDeclaration) -> schemas.AdmissionRequest:
        request, dps = await self._request(request_id, principal, lock=True)
        self._require_vendor(principal, request)
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
            await self._notify_buyer_side(dps, request, "admission.declaration_updated", "DUME mis à jour")
        return await self._request_schema(request)

    async def warn_expiring_documents(self, horizon: timedelta = timedelta(days=30), *,
                                      sandbox: bool = False) -> int:
        """Warn each admitted vendor once about documents that expire within `horizon` of its DPS's today:
        real procedures daily; sandboxes (`sandbox=True`), whose days pass in minutes, every minute."""
        query = (select(AdmissionDocument, AdmissionRequest, Dps)
                 .join(AdmissionRequest, AdmissionRequest.id == AdmissionDocument.request_id)
                 .join(Dps, Dps.id == AdmissionRequest.dps_id)
                 .where(AdmissionRequest.status.in_([AdmissionStatus.ADMITTED.value, AdmissionStatus.SUSPENDED.value]),
                        AdmissionDocument.superseded.is_(False), AdmissionDocument.expiry_warned_at.is_(None),
                        AdmissionDocument.valid_until.is_not(None),
                        Dps.sandbox_factor.is_not(None) if sandbox else Dps.sandbox_factor.is_(None))
                 .with_for_update(of=AdmissionDocument, skip_locked=True))
        if not sandbox:
            query = query.where(AdmissionDocument.valid_until <= to_paris(self.clock.now()).date() + horizon)
        warned = 0
        for document, request, dps in (await self.session.execute(query)).all():
            assert document.valid_until is not None
            now = self._time(dps).now()
            today = to_paris(now).date()
            if document.valid_until > today + horizon:
                continue  # a sandbox's document not due yet on its own clock
            when = "a expiré le" if document.valid_until < today else "expire le"
            await self._notify_vendor(request, "admission.document_expiring", "Document bientôt expiré",
                                      f"Le document « {document.kind} » ({document.filename}) {when} "
                                      f"{document.valid_until.strftime('%d/%m/%Y')}. Merci d'en déposer un à jour.",
                                      dps)
            document.expiry_warned_at = now
            await self._audit("admission.document_expiry_warned", "system", "admission_request", request.id,
                              request.vendor_organisation_id, kind=document.kind,
                              valid_until=document.valid_until.isoformat())
            warned += 1
        return warned

    async def recipients(self, organisation_id: uuid.UUID, *roles: Role) -> list[str]:
        """The active members of the organisation holding one of `roles` (any role if none): their e-mails."""
        return await self._recipients(organisation_id, *roles)

    async def _recipients(self, organisation_id: uuid.UUID, *roles: Role) -> list[str]:
        from marketplace.accounts.models import Membership, User

        rows = (await self.session.execute(
            select(User.email, Membership.roles).join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation_id, User.is_active.is_(True)))).all()
        wanted = {r.value for r in roles}
        return sorted({email for email, held in rows if not wanted or wanted & set(held)})

    async def _notify_vendor(self, request: AdmissionRequest, kind: str, subject: str, body: str,
                             dps: Dps) -> None:
        notifications = NotificationService(self.session, self.clock)
        for email in await self._recipients(request.vendor_organisation_id, *VENDOR_ROLES):
            await notifications.notify(recipient_email=email, kind=kind, about=request.id,
                                       subject=f"{subject} (demande {request.id})", body=body,
                                       sandbox=dps.is_sandbox)

    async def _notify_buyer_side(self, dps: Dps, request: AdmissionRequest, kind: str, subject: str) -> None:
        notifications = NotificationService(self.session, self.clock)
        assert request.due_at
        for email in await self._recipients(dps.buyer_organisation_id, *BUYER_ROLES):
            await notifications.notify(
                recipient_email=email, kind=kind, about=request.id, subject=f"{subject} — {dps.title}",
                body=f"Demande {request.id} à évaluer avant le {format_paris(request.due_at)}.\n",
                sandbox=dps.is_sandbox)

    # -- the public register --------------------------------------------------------------------

    async def register(self, *, dps_id: uuid.UUID | None, category_id: uuid.UUID | None, siren: str | None,
                       limit: int, offset: int) -> schemas.Page[schemas.RegisterEntry]:
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
        return schemas.Page(items=items, total=int(total or 0), limit=limit, offset=offset)
