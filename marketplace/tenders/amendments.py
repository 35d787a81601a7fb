"""Amendments to an open specific contract (machine (c): OPEN --amend--> OPEN).

Until the tender deadline the buying organisation's administrator may publish consultation documents
(a new version never replaces the old one: both stay downloadable) and extend the deadline. Each change is
an amendment row with its old and new values, audited likewise, and every invitee is told at once.

The deadline is only ever extended. The rule the platform must keep is "never shortened once an offer
exists" (issue 5); an invitee may be preparing an offer on the announced date without having sent
anything yet, so shortening is refused outright rather than only once an offer is in — the stricter
reading, which equal treatment of the candidates also supports.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.lib.files import safe_filename
from marketplace.tenders import schemas
from marketplace.tenders.access import buying_side, for_buying_side, visible_contract
from marketplace.tenders.contracts import (
    SpecificContractService,
    check_tender_period,
    notify_invitees,
    questions_close_at,
)
from marketplace.tenders.models import AmendmentKind, ContractAmendment, ContractDocument, Need, SpecificContract
from marketplace.tenders.states import SpecificContractStatus, deadline_passed
from marketplace.uploads import check_declared, store_upload
from marketplace.vendors.sandbox import clock_of, dps_clock, dps_of
from storage import ObjectStore

DOCUMENT_TYPES = ["application/pdf", "application/zip"]
DOCUMENT_MAX_BYTES = 100 * 1024 * 1024
AMENDED_KIND = "tender.amended"


class AmendmentService:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store

    # -- access ------------------------------------------------------------------------------------

    async def _contract(self, principal: Principal, contract_id: uuid.UUID, *,
                        lock: bool = False) -> SpecificContract:
        """The contract if the caller is of its buying organisation or an invited vendor; else 404."""
        contract, _ = await visible_contract(self.session, principal, await self.session.get(
            SpecificContract, contract_id, with_for_update=lock or None))
        return contract

    async def _amendable(self, principal: Principal, contract_id: uuid.UUID) -> SpecificContract:
        """Locked, the caller its buying organisation's administrator, before the deadline."""
        contract = for_buying_side(principal, await self._contract(principal, contract_id, lock=True))
        if not buying_side(principal, contract, Role.BUYER_ADMIN):
            raise Forbidden("Only an administrator of the buying organisation amends the contract.")
        if contract.status != SpecificContractStatus.OPEN:
            raise Conflict(f"status: only an open contract is amended; this one is {contract.status.value}",
                           field="status", rule="domain.md §1.5")
        if deadline_passed(contract, (await clock_of(self.session, self.clock, contract.dps_id)).now()):
            raise Conflict(f"The tender deadline passed on {format_paris(contract.tender_deadline)}: the "
                           "contract can no longer be amended.", field="tenderDeadline")
        return contract

    async def _record(self, principal: Principal, contract: SpecificContract, kind: AmendmentKind, reason: str,
                      old: dict[str, object] | None, new: dict[str, object], change: str) -> ContractAmendment:
        dps = await dps_of(self.session, contract.dps_id)
        amendment = ContractAmendment(specific_contract_id=contract.id, kind=kind,
                                      amended_at=dps_clock(self.clock, dps).now(),
                                      amended_by=principal.label, reason=reason, old_value=old, new_value=new)
        self.session.add(amendment)
        await self.session.flush()
        title = await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or ""
        notified = await notify_invitees(
            self.session, self.clock, contract.id, kind=AMENDED_KIND,
            subject=f"Modification de la consultation — {title}",
            body=(f"Le marché spécifique {contract.id} ({title}) a été modifié.\n\n{change}\n\n"
                  f"Motif : {reason}\n\n"
                  f"Date limite de remise des offres : {format_paris(contract.tender_deadline)}.\n"),
            sandbox=dps.is_sandbox)
        await audit.record(self.session, self.clock, f"specific_contract.amended.{kind.value}",
                           actor=principal.label, organisation_id=contract.buyer_organisation_id,
                           target_type="specific_contract", target_id=contract.id,
                           details={"amendment": str(amendment.id), "old": old, "new": new, "reason": reason,
                                    "notified": notified})
        return amendment

    # -- the deadline ------------------------------------------------------------------------------

    async def extend_deadline(self, principal: Principal, contract_id: uuid.UUID,
                              data: schemas.DeadlineExtension) -> schemas.SpecificContract:
        contract = await self._amendable(principal, contract_id)
        try:
            deadline = paris_instant(data.tender_deadline)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"tenderDeadline: {exc}", field="tenderDeadline") from exc
        if deadline <= contract.tender_deadline:
            raise RuleViolation("tenderDeadline: the deadline is only ever extended, never shortened or kept "
                                f"(now {format_paris(contract.tender_deadline)})", field="tenderDeadline",
                                rule="issue-5/amendments")
        # D9 holds for the new date too (a contract published under an earlier count may still be short of it).
        check_tender_period(contract.invited_at, deadline)
        before = contract.tender_deadline
        old: dict[str, object] = {"tenderDeadline": before.isoformat(),
               "questionsCloseAt": questions_close_at(contract).isoformat()}
        contract.tender_deadline = deadline
        # An explicit closing date for questions stays; the default one follows the deadline.
        new: dict[str, object] = {"tenderDeadline": deadline.isoformat(),
                                  "questionsCloseAt": questions_close_at(contract).isoformat()}
        await self._record(principal, contract, AmendmentKind.DEADLINE, data.reason, old, new,
                           f"La date limite de remise des offres est reportée au {format_paris(deadline)} "
                           f"(au lieu du {format_paris(before)}).")
        return await SpecificContractService(self.session, self.clock).get(principal, contract.id)

    # -- documents ---------------------------------------------------------------------------------

    async def add_document(self, principal: Principal, contract_id: uuid.UUID, *, title: str, filename: str,
                           reason: str, replaces: uuid.UUID | None, declared_type: str, declared_size: int | None,
                           body: AsyncIterable[bytes]) -> schemas.ContractDocument:
        assert self.store is not None
        contract = await self._amendable(principal, contract_id)
        previous = None
        if replaces is not None:
            previous = await self.session.get(ContractDocument, replaces)
            if previous is None or previous.specific_contract_id != contract.id:
                raise RuleViolation("replaces: no document of this contract has this id", field="replaces")
        media_type = check_declared(declared_type, declared_size, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES,
                                    "a consultation document")
        key, stored = await store_upload(self.store, "contracts", body, media_type, DOCUMENT_TYPES,
                                         DOCUMENT_MAX_BYTES, "a consultation document",
                                         {"contract": str(contract.id)})
        try:
            document = ContractDocument(specific_contract_id=contract.id, title=title.strip(), object_key=key,
                                        filename=safe_filename(filename), content_type=media_type, size=stored.size,
                                        sha256=stored.sha256, replaces_id=replaces, published_by=principal.label)
            self.session.add(document)
            await self.session.flush()
            old = _document_value(previous) if previous else None
            change = (f"Le document « {previous.title} » est remplacé par « {document.title} »." if previous
                      else f"Nouveau document : « {document.title} ».")
            await self._record(principal, contract, AmendmentKind.DOCUMENT, reason, old,
                               _document_value(document), change)
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        return _document_schema(document)

    async def documents(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.ContractDocument]:
        contract = await self._contract(principal, contract_id)
        rows = (await self.session.scalars(select(ContractDocument).where(
            ContractDocument.specific_contract_id == contract.id).order_by(ContractDocument.created_at,
                                                                           ContractDocument.id))).all()
        replaced = {d.replaces_id for d in rows if d.replaces_id}
        return [_document_schema(d, current=d.id not in replaced) for d in rows]

    async def document_url(self, principal: Principal, contract_id: uuid.UUID, document_id: uuid.UUID) -> str:
        assert self.store is not None
        contract = await self._contract(principal, contract_id)
        document = await self.session.get(ContractDocument, document_id)
        if document is None or document.specific_contract_id != contract.id:
            raise NotFound("No document of this contract has this id.")
        return self.store.presigned_get(document.object_key, filename=document.filename)

    # -- the record ----------------------------------------------------------------------------------

    async def amendments(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.ContractAmendment]:
        contract = await self._contract(principal, contract_id)
        rows = (await self.session.scalars(select(ContractAmendment).where(
            ContractAmendment.specific_contract_id == contract.id).order_by(ContractAmendment.amended_at,
                                                                            ContractAmendment.id))).all()
        return [schemas.ContractAmendment(id=a.id, kind=a.kind, amended_at=a.amended_at,
                                          amended_at_paris=format_paris(a.amended_at), reason=a.reason,
                                          old_value=a.old_value, new_value=a.new_value) for a in rows]


def _document_value(document: ContractDocument) -> dict[str, object]:
    return {"documentId": str(document.id), "title": document.title, "filename": document.filename,
            "size": document.size, "sha256": document.sha256}


def _document_schema(document: ContractDocument, *, current: bool = True) -> schemas.ContractDocument:
    return schemas.ContractDocument(
        id=document.id, specific_contract_id=document.specific_contract_id, title=document.title,
        filename=document.filename, content_type=document.content_type, size=document.size,
        sha256=document.sha256, replaces_id=document.replaces_id, current=current,
        published_at=document.created_at,
        download_path=f"/specific-contracts/{document.specific_contract_id}/documents/{document.id}/download")
