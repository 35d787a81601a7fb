"""The grant paid in tranches (FU5, N14, N15): 40 % at the project's start (evidence: the signed contract, read
from awards/, and the kick-off report), 40 % at acceptance testing (the signed acceptance report, PV de recette),
20 % once the usage targets are verified (the usage indicators of N15, as data, with their evidence).

The holder gathers a tranche's evidence (a PDF: a draft request, whose document a new upload replaces), then
requests it: in order (the tranche before validated), the first once the need's contract is signed, the third
with its usage indicators. The funder validates it or refuses it with reasons (a refused tranche is requested
again, with new evidence; every request stays on record), then records its payment: its date, its reference and
exactly the tranche's amount, so nothing is ever paid beyond the decision's amount (the tranches add up to it, and
a database constraint holds each payment to its tranche). Every act is audited and told to the other side.

The need's row is locked by every write, so two acts on one grant queue and the second sees the first.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable

import msgspec
from sqlalchemy import func, select

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import FUNDER_MEMBERS, FUNDER_WRITERS, HOLDER_MEMBERS, HOLDER_WRITERS
from marketplace.awards.models import Contract
from marketplace.awards.states import ContractStatus
from marketplace.errors import NotFound, RuleViolation
from marketplace.funding import schemas
from marketplace.funding.access import funded_need
from marketplace.funding.base import DOCUMENT_MAX_BYTES, DOCUMENT_TYPES, STORE_PREFIX, FundingBase
from marketplace.funding.errors import TrancheOutOfOrder, TrancheStage
from marketplace.funding.models import FundingCall, FundingDecision, GrantTranche, TrancheRequest
from marketplace.funding.projects import ProjectReader
from marketplace.funding.states import (
    EVIDENCE_STAGES,
    PREVIOUS_DONE,
    TRANCHE_MOVES,
    RequestStatus,
    TrancheKind,
    tranche_allows,
)
from marketplace.tenders.models import Need, SpecificContract
from marketplace.tenders.offers import audit_apart
from marketplace.uploads import check_declared, header_filename, store_upload

# FU5: the first tranche rests on the contract signed by both sides (awards/ machine (e)).
SIGNED = (ContractStatus.SIGNED, ContractStatus.ACTIVE, ContractStatus.TERMINATED)
KIND_FR = {TrancheKind.START: "démarrage", TrancheKind.ACCEPTANCE_TESTING: "recette",
           TrancheKind.USAGE_VERIFIED: "constat des usages"}
_NO_TRANCHE = "This need's grant has no such tranche."


class TrancheService(FundingBase):
    # -- loading -------------------------------------------------------------------------------------

    async def _tranches(self, need: Need) -> list[GrantTranche]:
        return list((await self.session.scalars(select(GrantTranche).where(GrantTranche.need_id == need.id)
                                                .order_by(GrantTranche.position).with_for_update())).all())

    async def _tranche(self, need: Need, position: int) -> tuple[GrantTranche, list[GrantTranche]]:
        tranches = await self._tranches(need)
        tranche = next((t for t in tranches if t.position == position), None)
        if tranche is None:
            raise NotFound(_NO_TRANCHE)
        return tranche, tranches

    async def _request(self, tranche: GrantTranche, status: RequestStatus) -> TrancheRequest | None:
        return await self.session.scalar(select(TrancheRequest).where(
            TrancheRequest.tranche_id == tranche.id, TrancheRequest.status == status).with_for_update())

    @staticmethod
    def _stage(action: str, tranche: GrantTranche, what: str) -> None:
        if not tranche_allows(action, tranche.status):
            raise TrancheStage(f"status: FU5: the {tranche.kind.value} tranche is {tranche.status.value}; {what}",
                               field="status", rule="FU5")

    async def _view(self, principal: Principal, need: Need) -> schemas.FundingProject:
        return await ProjectReader(self.session, self.clock).project(principal, need)

    async def _funder(self, call: FundingCall | None) -> FundingCall:
        assert call is not None  # a need with tranches was selected on its call
        return call

    # -- reading -------------------------------------------------------------------------------------

    async def to_validate(self, principal: Principal) -> list[schemas.TranchesToValidate]:
        """FU5 on the work queue, in one query: per call of the caller's funders (FU6: their members read its
        projects, as `view`), the tranches requested and not yet validated or refused, the call with the oldest
        request first."""
        funders = principal.organisations_with(*FUNDER_MEMBERS)
        if not funders:
            return []
        oldest = func.min(TrancheRequest.requested_at)
        rows = (await self.session.execute(
            select(FundingCall.id, FundingCall.title, func.count(), oldest)
            .select_from(TrancheRequest).join(GrantTranche, GrantTranche.id == TrancheRequest.tranche_id)
            .join(FundingDecision, FundingDecision.id == GrantTranche.decision_id)
            .join(FundingCall, FundingCall.id == FundingDecision.call_id)
            .where(FundingCall.funder_organisation_id.in_(funders), TrancheRequest.status == RequestStatus.REQUESTED)
            .group_by(FundingCall.id, FundingCall.title).order_by(oldest, FundingCall.id))).all()
        return [schemas.TranchesToValidate(call_id=call_id, call_title=title, requested=int(count),
                                           oldest_requested_at=since) for call_id, title, count, since in rows]

    async def view(self, principal: Principal, need_id: uuid.UUID) -> schemas.FundingProject:
        """The need's funding: its call, status, decision and tranches, for its holder and its call's funder."""
        need, _ = await funded_need(self.session, principal, need_id)
        return await self._view(principal, need)

    async def evidence_url(self, principal: Principal, need_id: uuid.UUID, position: int) -> str:
        """A short-lived link to the latest evidence of a tranche (audited apart); the funder's members read the
        evidence of a request made, not of a draft the holder is still gathering."""
        assert self.store is not None and self.side_sessions is not None
        need, _ = await funded_need(self.session, principal, need_id)
        tranche = await self.session.scalar(select(GrantTranche).where(GrantTranche.need_id == need.id,
                                                                       GrantTranche.position == position))
        if tranche is None:
            raise NotFound(_NO_TRANCHE)
        query = select(TrancheRequest).where(TrancheRequest.tranche_id == tranche.id)
        if not principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS):
            query = query.where(TrancheRequest.status != RequestStatus.DRAFT)
        request = await self.session.scalar(query.order_by(TrancheRequest.uploaded_at.desc(),
                                                           TrancheRequest.id.desc()).limit(1))
        if request is None:
            raise NotFound("This tranche has no evidence yet.")
        await audit_apart(self.side_sessions, self.clock, "tranche_request.downloaded", actor=principal.label,
                          organisation_id=need.holder_organisation_id, target_type="tranche_request",
                          target_id=request.id, details={"need": str(need.id), "position": position})
        return self.store.presigned_get(request.object_key, filename=request.filename)

    # -- the holder: evidence, then the request ------------------------------------------------------

    async def attach_evidence(self, principal: Principal, need_id: uuid.UUID, position: int, *, filename: str,
                              declared_type: str, declared_size: int | None,
                              body: AsyncIterable[bytes]) -> schemas.FundingProject:
        assert self.store is not None
        need, _ = await funded_need(self.session, principal, need_id, holder_write=True)
        tranche, _ = await self._tranche(need, position)
        if tranche.status not in EVIDENCE_STAGES:
            raise TrancheStage(f"status: FU5: the {tranche.kind.value} tranche is {tranche.status.value}; its "
                               "evidence is given before it is requested", field="status", rule="FU5")
        media_type = check_declared(declared_type, declared_size, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES,
                                    "a tranche's evidence")
        key, stored = await store_upload(self.store, STORE_PREFIX, body, media_type, DOCUMENT_TYPES,
                                         DOCUMENT_MAX_BYTES, "a tranche's evidence",
                                         {"need": str(need.id), "tranche": str(position)})
        try:
            draft = await self._request(tranche, RequestStatus.DRAFT)
            now, name = self.clock.now(), header_filename(filename)[:300]
            if draft is None:
                draft = TrancheRequest(tranche_id=tranche.id, status=RequestStatus.DRAFT, object_key=key,
                                       size=stored.size, sha256=stored.sha256, filename=name,
                                       content_type=media_type, uploaded_by=principal.label, uploaded_at=now)
                self.session.add(draft)
            else:
                # The draft's previous document is named by no row any more: the orphan sweeper takes it.
                draft.object_key, draft.size, draft.sha256 = key, stored.size, stored.sha256
                draft.filename, draft.content_type, draft.uploaded_by, draft.uploaded_at = (
                    name, media_type, principal.label, now)
            await self.session.flush()
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        await self._audit(principal, "grant_tranche.evidence_received", organisation_id=need.holder_organisation_id,
                          target_type="grant_tranche", target_id=tranche.id, need=str(need.id), position=position,
                          sha256=stored.sha256, size=stored.size)
        return await self._view(principal, need)

    async def _signed_contract(self, need: Need) -> Contract:
        """FU5: the first tranche is requested once the need's contract is signed by both sides."""
        contract = await self.session.scalar(select(Contract).join(
            SpecificContract, SpecificContract.id == Contract.specific_contract_id).where(
            SpecificContract.need_id == need.id, Contract.status.in_(SIGNED)))
        if contract is None:
            raise TrancheOutOfOrder("contract: FU5: the project's start is funded once the need's contract is signed "
                                    "by both parties; it is not yet", field="contract", rule="FU5")
        return contract

    async def request(self, principal: Principal, need_id: uuid.UUID, position: int,
                      data: schemas.TrancheRequestCreate) -> schemas.FundingProject:
        need, call = await funded_need(self.session, principal, need_id, holder_write=True)
        tranche, tranches = await self._tranche(need, position)
        self._stage("request", tranche, "it is requested while pending, or again once refused")
        before = [t for t in tranches if t.position < tranche.position and t.status not in PREVIOUS_DONE]
        if before:
            raise TrancheOutOfOrder(f"position: FU5: the tranches are requested in order; the {before[0].kind.value} "
                                    f"tranche is {before[0].status.value}, not validated yet", field="position",
                                    rule="FU5", waitingFor=before[0].position)
        indicators = data.usage_indicators
        if tranche.kind is TrancheKind.USAGE_VERIFIED and indicators is None:
            raise RuleViolation("usageIndicators: N15: the last tranche is paid once the usage targets are verified; "
                                "report the usage indicators (activeDuiUsers, …)", field="usageIndicators", rule="N15")
        if tranche.kind is not TrancheKind.USAGE_VERIFIED and indicators is not None:
            raise RuleViolation("usageIndicators: FU5: only the last tranche reports the usage indicators",
                                field="usageIndicators", rule="FU5")
        draft = await self._request(tranche, RequestStatus.DRAFT)
        if draft is None:
            raise RuleViolation(f"evidence: FU5: the {tranche.kind.value} tranche is requested with its evidence; "
                                f"send it first (PUT /needs/{need.id}/funding/tranches/{position}/evidence)",
                                field="evidence", rule="FU5")
        contract = await self._signed_contract(need) if tranche.kind is TrancheKind.START else None
        now = self.clock.now()
        draft.status, draft.requested_by, draft.requested_at = RequestStatus.REQUESTED, principal.label, now
        draft.usage_indicators = msgspec.to_builtins(indicators) if indicators is not None else None
        draft.contract_id = contract.id if contract is not None else None
        tranche.status = TRANCHE_MOVES["request"][1]
        await self.session.flush()
        funder = await self._funder(call)
        await self._audit(principal, "grant_tranche.requested", organisation_id=need.holder_organisation_id,
                          target_type="grant_tranche", target_id=tranche.id, need=str(need.id), position=position,
                          request=str(draft.id), sha256=draft.sha256, usage_indicators=draft.usage_indicators,
                          contract=str(contract.id) if contract is not None else None)
        await self._tell(funder.funder_organisation_id, FUNDER_WRITERS, kind="funding.tranche_requested",
                         about=need.id, sandbox=need.sandbox, subject=f"Projet « {need.title} » : tranche demandée",
                         body=f"Le porteur demande la tranche « {KIND_FR[tranche.kind]} » ({tranche.percent} %, "
                              f"{tranche.amount_cents} centimes), pièces jointes.")
        return await self._view(principal, need)

    # -- the funder: validation, refusal, payment ----------------------------------------------------

    async def _decide(self, principal: Principal, need_id: uuid.UUID, position: int, action: str,
                      reasons: str | None = None) -> schemas.FundingProject:
        need, _ = await funded_need(self.session, principal, need_id, funder_write=True)
        tranche, _ = await self._tranche(need, position)
        self._stage(action, tranche, "only a requested tranche is validated or refused")
        if action == "refuse" and not (reasons or "").strip():
            # FU5: the holder learns why, to request it again with better evidence (blank is no reason).
            raise RuleViolation("reasons: FU5: a tranche is refused with its reasons", field="reasons", rule="FU5")
        pending = await self._request(tranche, RequestStatus.REQUESTED)
        assert pending is not None  # a requested tranche has its request (unique index)
        pending.status = RequestStatus.VALIDATED if action == "validate" else RequestStatus.REFUSED
        pending.decided_by, pending.decided_at, pending.refusal_reasons = principal.label, self.clock.now(), reasons
        tranche.status = TRANCHE_MOVES[action][1]
        await self.session.flush()
        await self._audit(principal, f"grant_tranche.{tranche.status.value}",
                          organisation_id=need.holder_organisation_id, target_type="grant_tranche",
                          target_id=tranche.id, need=str(need.id), position=position, request=str(pending.id),
                          reasons=reasons)
        outcome = "validée" if action == "validate" else f"refusée.\nMotifs : {reasons}"
        await self._tell(need.holder_organisation_id, HOLDER_WRITERS, kind=f"funding.tranche_{tranche.status.value}",
                         about=need.id, sandbox=need.sandbox,
                         subject=f"Projet « {need.title} » : tranche « {KIND_FR[tranche.kind]} »",
                         body=f"Votre demande de la tranche « {KIND_FR[tranche.kind]} » ({tranche.percent} %) est "
                              f"{outcome}")
        return await self._view(principal, need)

    async def validate(self, principal: Principal, need_id: uuid.UUID, position: int) -> schemas.FundingProject:
        return await self._decide(principal, need_id, position, "validate")

    async def refuse(self, principal: Principal, need_id: uuid.UUID, position: int,
                     data: schemas.TrancheRefusal) -> schemas.FundingProject:
        return await self._decide(principal, need_id, position, "refuse", data.reasons)

    async def pay(self, principal: Principal, need_id: uuid.UUID, position: int,
                  data: schemas.TranchePayment) -> schemas.FundingProject:
        need, _ = await funded_need(self.session, principal, need_id, funder_write=True)
        tranche, tranches = await self._tranche(need, position)
        self._stage("pay", tranche, "a tranche is paid once validated, once")
        decision = await self.session.get(FundingDecision, tranche.decision_id)
        assert decision is not None and decision.amount_cents is not None
        paid = sum(t.paid_amount_cents or 0 for t in tranches)
        if data.amount_cents != tranche.amount_cents or paid + data.amount_cents > decision.amount_cents:
            raise RuleViolation(f"amountCents: FU5: the {tranche.kind.value} tranche is paid {tranche.amount_cents} "
                                f"cents exactly ({tranche.percent} % of the {decision.amount_cents} cents granted; "
                                f"{paid} paid so far)", field="amountCents", rule="FU5",
                                trancheCents=tranche.amount_cents)
        if data.paid_on > self.today():
            raise RuleViolation("paidOn: FU5: a payment is recorded once made: dated today at the latest",
                                field="paidOn", rule="FU5")
        tranche.status = TRANCHE_MOVES["pay"][1]
        tranche.paid_on, tranche.paid_amount_cents, tranche.payment_reference = (
            data.paid_on, data.amount_cents, data.reference.strip())
        tranche.paid_recorded_by, tranche.paid_recorded_at = principal.label, self.clock.now()
        await self.session.flush()
        await self._audit(principal, "grant_tranche.paid", organisation_id=need.holder_organisation_id,
                          target_type="grant_tranche", target_id=tranche.id, need=str(need.id), position=position,
                          amount_cents=data.amount_cents, paid_on=data.paid_on.isoformat(), reference=data.reference)
        await self._tell(need.holder_organisation_id, HOLDER_WRITERS, kind="funding.tranche_paid", about=need.id,
                         sandbox=need.sandbox,
                         subject=f"Projet « {need.title} » : tranche versée",
                         body=f"La tranche « {KIND_FR[tranche.kind]} » ({data.amount_cents} centimes) est versée le "
                              f"{data.paid_on.strftime('%d/%m/%Y')}, référence {data.reference}.")
        return await self._view(principal, need)
