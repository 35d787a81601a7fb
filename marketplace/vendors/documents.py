"""Documents: the DPS's procurement documents (D3) and the documents of an admission request (D6, D7, D20).

Both stream to object storage, checked on what the client declares (size, type), then on what it sends (bytes
counted, content sniffed); no object is kept without its row. Downloads are short-lived presigned GETs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InstantOutOfRange, check_year, to_paris
from marketplace.lib.files import safe_filename
from marketplace.uploads import check_declared, store_upload
from marketplace.vendors import schemas
from marketplace.vendors.access import is_buyer_of, require_vendor, visible_dps, visible_request
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.errors import DocumentArchived
from marketplace.vendors.models import AdmissionDocument, AdmissionRequest, Dps, DpsCategory, DpsDocument
from marketplace.vendors.recipients import notify_vendor
from marketplace.vendors.states import AdmissionStatus, DpsStatus
from storage import ObjectStore

# What a procurement document may be: PDF, office formats (which are zip containers when sniffed), zip.
DPS_DOCUMENT_TYPES = ("application/pdf", "application/zip")
DPS_DOCUMENT_MAX_BYTES = 50 * 1024 * 1024


def _dps_document_schema(d: DpsDocument) -> schemas.DpsDocument:
    return schemas.DpsDocument(id=d.id, dps_id=d.dps_id, title=d.title, filename=d.filename,
                               content_type=d.content_type, size=d.size, sha256=d.sha256, published_at=d.created_at,
                               download_path=f"/dps/{d.dps_id}/documents/{d.id}/download")


def document_schema(d: AdmissionDocument) -> schemas.AdmissionDocument:
    return schemas.AdmissionDocument(id=d.id, kind=d.kind, filename=d.filename, content_type=d.content_type,
                                     size=d.size, sha256=d.sha256, valid_until=d.valid_until,
                                     uploaded_at=d.created_at,
                                     download_path=f"/admission-requests/{d.request_id}/documents/{d.id}/download")


async def current_documents(session: AsyncSession, request_id: uuid.UUID) -> list[AdmissionDocument]:
    """The request's documents, one per kind: a newer upload supersedes the older one."""
    return list((await session.scalars(
        select(AdmissionDocument).where(AdmissionDocument.request_id == request_id,
                                        AdmissionDocument.superseded.is_(False))
        .order_by(AdmissionDocument.kind))).all())


async def category_of(session: AsyncSession, request: AdmissionRequest) -> DpsCategory:
    category = await session.get(DpsCategory, request.category_id)
    assert category is not None
    return category


class DpsDocumentService(ServiceBase):
    """The procurement documents of a DPS: public for its whole validity, archived afterwards (D3)."""

    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore) -> None:
        super().__init__(session, clock)
        self.store = store

    async def add_document(self, principal: Principal, dps_id: uuid.UUID, *, title: str, filename: str,
                           declared_type: str, declared_size: int | None,
                           body: AsyncIterable[bytes]) -> schemas.DpsDocument:
        dps = await visible_dps(self.session, dps_id, principal)
        if not is_buyer_of(principal, dps, Role.BUYER_ADMIN):
            raise NotFound("No DPS has this id.") if not is_buyer_of(principal, dps) else Forbidden(
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
        return _dps_document_schema(document)

    async def documents(self, dps_id: uuid.UUID, principal: Principal | None) -> list[schemas.DpsDocument]:
        dps = await visible_dps(self.session, dps_id, principal)
        rows = (await self.session.scalars(select(DpsDocument).where(DpsDocument.dps_id == dps.id)
                                           .order_by(DpsDocument.created_at))).all()
        return [_dps_document_schema(d) for d in rows]

    async def document_url(self, dps_id: uuid.UUID, document_id: uuid.UUID, principal: Principal | None) -> str:
        """A short-lived presigned GET, while the DPS is valid (D3); afterwards the documents are archived."""
        dps = await visible_dps(self.session, dps_id, principal)
        document = await self.session.get(DpsDocument, document_id)
        if document is None or document.dps_id != dps.id:
            raise NotFound("No document has this id.")
        if self._time(dps).now() >= dps.validity_end and not is_buyer_of(principal, dps):
            raise DocumentArchived("The DPS's validity has ended; its documents are no longer published.")
        return self.store.presigned_get(document.object_key, filename=document.filename)


class AdmissionDocumentService(ServiceBase):
    """The documents a vendor supplies with its request, kept current while it is admitted (D7, D11)."""

    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        super().__init__(session, clock)
        self.store = store
        # For what must be recorded whatever the request's transaction becomes (a redirect rolls it back).
        self.side_sessions = side_sessions

    async def upload_document(self, principal: Principal, request_id: uuid.UUID, kind: str, *,
                              filename: str, declared_type: str, declared_size: int | None,
                              body: AsyncIterable[bytes], valid_until: date | None) -> schemas.AdmissionDocument:
        """Stream one required document to object storage, checking the category's rules first on what
        the client declares (size, type), then on what it sends (bytes counted, content sniffed)."""
        assert self.store is not None
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_vendor(principal, request)
        # Admitted vendors keep their documents current (certificates expire); under evaluation the file
        # is frozen until the buyer asks for more.
        if request.status not in (AdmissionStatus.DRAFT, AdmissionStatus.AWAITING_DOCUMENTS,
                                  AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED):
            raise Conflict(f"status: documents can't be changed while the request is {request.status.value}",
                           field="status")
        category = await category_of(self.session, request)
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
            for old in await current_documents(self.session, request.id):
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
        return document_schema(document)

    async def admission_document_url(self, principal: Principal, request_id: uuid.UUID,
                                     document_id: uuid.UUID) -> str:
        """A short-lived presigned GET of a document of the request, for the buyers who judge it (D6, D20) and
        the vendor's own people; nobody else learns the request exists. Each link given is audited, in a
        transaction of its own: the redirect rolls the request's back."""
        assert self.store is not None and self.side_sessions is not None
        request, dps = await visible_request(self.session, request_id, principal)
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
            await notify_vendor(self.session, self.clock, request, "admission.document_expiring",
                                "Document bientôt expiré",
                                f"Le document « {document.kind} » ({document.filename}) {when} "
                                f"{document.valid_until.strftime('%d/%m/%Y')}. Merci d'en déposer un à jour.", dps)
            document.expiry_warned_at = now
            await self._audit("admission.document_expiry_warned", "system", "admission_request", request.id,
                              request.vendor_organisation_id, kind=document.kind,
                              valid_until=document.valid_until.isoformat())
            warned += 1
        return warned
