"""The funder instructs the projects filed to its calls (FU3): it selects one with a funding decision (the amount
granted, within what is left of the call's envelope; its date; its reference; the signed decision document, a PDF
kept in the object store with its SHA-256) or rejects it with reasons. One decision per need, never changed,
audited, the holder told. A selection creates the grant's three tranches (N14, FU5: 40/40/20 of the amount, the
last taking the rounding remainder).

Only the call's funder sees its projects (another funder: 404, FU6); deciding takes its administrator or an
instructor. The call's row is locked while a selection reads what is left of its envelope, so two selections at
once can't both spend the same euros.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import date

import msgspec
from sqlalchemy import func, select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_WRITERS
from marketplace.errors import NotFound, RuleViolation
from marketplace.funding import schemas
from marketplace.funding.access import call_of, funded_need, own_call, project_of
from marketplace.funding.base import DOCUMENT_MAX_BYTES, DOCUMENT_TYPES, STORE_PREFIX, FundingBase
from marketplace.funding.calls import granted
from marketplace.funding.errors import AlreadyDecided, EnvelopeExceeded
from marketplace.funding.models import FundingCall, FundingDecision, GrantTranche
from marketplace.funding.projects import ProjectReader
from marketplace.funding.states import DecisionOutcome, FundingStatus, TrancheStatus, split_amount
from marketplace.lib.clock import format_paris, to_paris
from marketplace.tenders.models import Need
from marketplace.tenders.offers import audit_apart
from marketplace.tenders.review import reviewed_need
from marketplace.uploads import check_declared, header_filename, store_upload


class DecisionService(FundingBase):
    # -- reading -------------------------------------------------------------------------------------

    async def projects(self, principal: Principal, call_id: uuid.UUID) -> list[schemas.FundingProject]:
        """The needs filed to one of the caller's funder's calls (FU6), oldest filing first."""
        call = await own_call(self.session, principal, call_id)
        needs = list((await self.session.scalars(select(Need).where(Need.call_id == call.id).order_by(
            Need.funding_filed_at, Need.id))).all())
        return await ProjectReader(self.session, self.clock).projects(principal, needs)

    async def project(self, principal: Principal, call_id: uuid.UUID, need_id: uuid.UUID) -> schemas.FundingProject:
        _, need = await project_of(self.session, principal, call_id, need_id)
        return await ProjectReader(self.session, self.clock).project(principal, need)

    async def for_review(self, principal: Principal, need_id: uuid.UUID) -> schemas.FundingProject:
        """The funding of a need for those who review it before publishing (tenders/review.py's scope, else 404):
        its call, status and decision (N16, FU4), without the grant's tranches, which are the holder's and its
        funder's business."""
        need, _ = await reviewed_need(self.session, principal, need_id)
        project = await ProjectReader(self.session, self.clock).project(principal, need)
        return msgspec.structs.replace(project, tranches=[], paid_cents=0)

    async def document_url(self, principal: Principal, need_id: uuid.UUID) -> str:
        """A short-lived link to the signed decision, for the holder's members and the funder's (audited apart)."""
        assert self.store is not None and self.side_sessions is not None
        need, _ = await funded_need(self.session, principal, need_id)
        decision = await self.session.scalar(select(FundingDecision).where(FundingDecision.need_id == need.id))
        if decision is None or decision.object_key is None:
            raise NotFound("This need has no funding decision document.")
        await audit_apart(self.side_sessions, self.clock, "funding_decision.downloaded", actor=principal.label,
                          organisation_id=need.holder_organisation_id, target_type="funding_decision",
                          target_id=decision.id, details={"need": str(need.id)})
        return self.store.presigned_get(decision.object_key, filename=decision.document_filename or "decision.pdf")

    # -- deciding ------------------------------------------------------------------------------------

    async def _decidable(self, principal: Principal, call_id: uuid.UUID,
                         need_id: uuid.UUID) -> tuple[FundingCall, Need]:
        call, need = await project_of(self.session, principal, call_id, need_id, write=True)
        if need.funding_status is not FundingStatus.FILED or await self.session.scalar(
                select(func.count()).select_from(FundingDecision).where(FundingDecision.need_id == need.id)):
            raise AlreadyDecided(f"status: FU3: one decision per need; this one is {need.funding_status}",
                                 field="status", rule="FU3")
        return call, need

    def _decided_on(self, value: date | None, need: Need) -> date:
        today = self.today()
        decided_on = value or today
        if decided_on > today:
            raise RuleViolation(f"decidedOn: FU3: a decision is dated at the latest today ({today.isoformat()})",
                                field="decidedOn", rule="FU3")
        filed = need.funding_filed_at
        if filed is not None and decided_on < to_paris(filed).date():
            raise RuleViolation(f"decidedOn: FU3: the decision can't come before the need was filed "
                                f"({format_paris(filed)})", field="decidedOn", rule="FU3")
        return decided_on

    async def select(self, principal: Principal, call_id: uuid.UUID, need_id: uuid.UUID, *, amount_cents: int,
                     decided_on: date | None, reference: str, filename: str, declared_type: str,
                     declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.FundingProject:
        assert self.store is not None
        # The call's row first (its envelope), then the need's: every selection of the call queues here.
        await call_of(self.session, call_id, lock=True)
        call, need = await self._decidable(principal, call_id, need_id)
        decided_on = self._decided_on(decided_on, need)
        if amount_cents <= 0:
            raise RuleViolation("amountCents: FU3: a selection grants an amount of money", field="amountCents",
                                rule="FU3")
        reference = reference.strip()
        if not reference:
            raise RuleViolation("reference: FU3: a funding decision has its reference", field="reference", rule="FU3")
        left = call.envelope_cents - (await granted(self.session, [call.id])).get(call.id, 0)
        if amount_cents > left:
            raise EnvelopeExceeded(f"amountCents: FU3: {amount_cents} cents is more than what is left of the call's "
                                   f"envelope ({left} cents)", field="amountCents", rule="FU3",
                                   envelopeLeftCents=left)
        media_type = check_declared(declared_type, declared_size, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES,
                                    "a signed funding decision")
        key, stored = await store_upload(self.store, STORE_PREFIX, body, media_type, DOCUMENT_TYPES,
                                         DOCUMENT_MAX_BYTES, "a signed funding decision", {"need": str(need.id)})
        try:
            decision = FundingDecision(
                need_id=need.id, call_id=call.id, outcome=DecisionOutcome.SELECTED, amount_cents=amount_cents,
                decided_on=decided_on, reference=reference, object_key=key,
                document_filename=header_filename(filename)[:300], document_size=stored.size,
                document_sha256=stored.sha256, decided_by=principal.label, decided_at=self.clock.now())
            self.session.add(decision)
            await self.session.flush()
            # N14, FU5: the grant in three tranches of the decision's amount, adding up to it to the cent.
            self.session.add_all([GrantTranche(decision_id=decision.id, need_id=need.id, position=position,
                                               kind=kind, percent=percent, amount_cents=cents,
                                               status=TrancheStatus.PENDING)
                                  for position, (kind, percent, cents) in enumerate(split_amount(amount_cents), 1)])
            need.funding_status = FundingStatus.SELECTED
            await self.session.flush()
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        await self._audit(principal, "funding_decision.selected", organisation_id=call.funder_organisation_id,
                          target_type="funding_decision", target_id=decision.id, need=str(need.id),
                          call=str(call.id), amount_cents=amount_cents, decided_on=decided_on.isoformat(),
                          reference=reference, sha256=stored.sha256, size=stored.size)
        await self._tell(need.holder_organisation_id, HOLDER_WRITERS, kind="funding.selected", about=need.id,
                         sandbox=need.sandbox,
                         subject=f"Projet « {need.title} » retenu",
                         body=f"Votre projet est retenu à l'appel à projets {call.reference} : décision de "
                              f"financement {reference} du {decided_on.strftime('%d/%m/%Y')}, "
                              f"{amount_cents} centimes accordés, versés en trois tranches (40 %, 40 %, 20 %).")
        return await ProjectReader(self.session, self.clock).project(principal, need)

    async def reject(self, principal: Principal, call_id: uuid.UUID, need_id: uuid.UUID,
                     data: schemas.RejectionCreate) -> schemas.FundingProject:
        call, need = await self._decidable(principal, call_id, need_id)
        if not data.reasons.strip():
            raise RuleViolation("reasons: FU3: a project is rejected with its reasons", field="reasons", rule="FU3")
        decided_on = self._decided_on(data.decided_on, need)
        decision = FundingDecision(need_id=need.id, call_id=call.id, outcome=DecisionOutcome.REJECTED,
                                   decided_on=decided_on, reasons=data.reasons, decided_by=principal.label,
                                   decided_at=self.clock.now())
        self.session.add(decision)
        need.funding_status = FundingStatus.REJECTED
        await self.session.flush()
        await self._audit(principal, "funding_decision.rejected", organisation_id=call.funder_organisation_id,
                          target_type="funding_decision", target_id=decision.id, need=str(need.id),
                          call=str(call.id), decided_on=decided_on.isoformat(), reasons=data.reasons)
        await self._tell(need.holder_organisation_id, HOLDER_WRITERS, kind="funding.rejected", about=need.id,
                         sandbox=need.sandbox,
                         subject=f"Projet « {need.title} » non retenu",
                         body=f"Votre projet n'est pas retenu à l'appel à projets {call.reference}.\n"
                              f"Motifs : {data.reasons}")
        return await ProjectReader(self.session, self.clock).project(principal, need)
