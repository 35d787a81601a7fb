"""A project as its funder and its holder read it (FU3, FU5, FU6): the need's summary (never an offer), the call
it is filed to, the decision and the grant's tranches with their requests; built for many needs at once in a
handful of queries. The evidence the holder is still gathering (a draft request) is the holder's until it
requests the tranche: its funder doesn't see it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import msgspec
from sqlalchemy import select

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import HOLDER_MEMBERS
from marketplace.funding import schemas
from marketplace.funding.base import FundingBase
from marketplace.funding.calls import CallService
from marketplace.funding.models import FundingCall, FundingDecision, GrantTranche, TrancheRequest
from marketplace.funding.states import RequestStatus, TrancheStatus
from marketplace.lib.geography import departement_of_finess, region_of
from marketplace.tenders.campaigns import Call
from marketplace.tenders.models import Need
from marketplace.tenders.needs import NeedService


def need_regions(need: Need) -> list[str]:
    """The INSEE regions of the need's facilities (an overseas collectivity belongs to none), sorted (N5)."""
    return sorted({region for item in need.facilities
                   if (region := region_of(departement_of_finess(str(item["finessEt"])))) is not None})


def esms_count(need: Need) -> int:
    """ESSMS counted once each, as the programme rules count them (N5)."""
    return len({str(item["finessEt"]) for item in need.facilities})


def decision_path(need_id: uuid.UUID) -> str:
    return f"/needs/{need_id}/funding/decision-document"


def evidence_path(need_id: uuid.UUID, position: int) -> str:
    return f"/needs/{need_id}/funding/tranches/{position}/evidence"


def decision_schema(row: FundingDecision) -> schemas.FundingDecision:
    document = None
    if row.object_key is not None:
        assert row.document_size is not None and row.document_sha256 is not None
        document = schemas.DecisionDocument(filename=row.document_filename or "decision.pdf", size=row.document_size,
                                            sha256=row.document_sha256, download_path=decision_path(row.need_id))
    return schemas.FundingDecision(id=row.id, need_id=row.need_id, call_id=row.call_id, outcome=row.outcome,
                                   amount_cents=row.amount_cents, decided_on=row.decided_on, reference=row.reference,
                                   reasons=row.reasons, document=document, decided_at=row.decided_at)


def request_schema(row: TrancheRequest) -> schemas.TrancheRequest:
    return schemas.TrancheRequest(
        id=row.id, status=row.status,
        evidence=schemas.Evidence(filename=row.filename, size=row.size, sha256=row.sha256),
        usage_indicators=msgspec.convert(row.usage_indicators, schemas.UsageIndicators)
        if row.usage_indicators is not None else None,
        contract_id=row.contract_id, uploaded_at=row.uploaded_at, requested_at=row.requested_at,
        decided_at=row.decided_at, refusal_reasons=row.refusal_reasons)


class ProjectReader(FundingBase):
    async def projects(self, principal: Principal, needs: list[Need]) -> list[schemas.FundingProject]:
        if not needs:
            return []
        ids = [need.id for need in needs]
        holders = dict((await self.session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id.in_(list({need.holder_organisation_id for need in needs}))))).tuples().all())
        call_rows = list((await self.session.scalars(select(FundingCall).where(
            FundingCall.id.in_(list({need.call_id for need in needs if need.call_id is not None}))))).all())
        calls = {call.id: call for call in await CallService(self.session, self.clock).to_schemas(principal,
                                                                                                   call_rows)}
        decisions = {row.need_id: row for row in (await self.session.scalars(
            select(FundingDecision).where(FundingDecision.need_id.in_(ids)))).all()}
        tranches: dict[uuid.UUID, list[GrantTranche]] = defaultdict(list)
        for tranche in (await self.session.scalars(select(GrantTranche).where(GrantTranche.need_id.in_(ids))
                                                   .order_by(GrantTranche.position))).all():
            tranches[tranche.need_id].append(tranche)
        requests: dict[uuid.UUID, list[TrancheRequest]] = defaultdict(list)
        tranche_ids = [t.id for rows in tranches.values() for t in rows]
        if tranche_ids:
            for request in (await self.session.scalars(select(TrancheRequest).where(
                    TrancheRequest.tranche_id.in_(tranche_ids)).order_by(
                    TrancheRequest.uploaded_at.desc(), TrancheRequest.id.desc()))).all():
                requests[request.tranche_id].append(request)
        # HC5: the need's status as read, derived from its specific contract (tenders/needs.py).
        progress = {view.id: view.status for view in await NeedService(self.session, self.clock).views(needs)}
        result = []
        for need in needs:
            decision = decisions.get(need.id)
            rows = tranches[need.id]
            holder = principal.has_role_in(need.holder_organisation_id, *HOLDER_MEMBERS)
            shown = {t.id: [r for r in requests[t.id] if holder or r.status is not RequestStatus.DRAFT]
                     for t in rows}
            result.append(schemas.FundingProject(
                need_id=need.id, title=need.title, holder_organisation_id=need.holder_organisation_id,
                holder_name=holders.get(need.holder_organisation_id, ""), campaign=need.campaign,
                requested_call=Call(need.requested_call), need_status=progress[need.id], esms_count=esms_count(need),
                regions=need_regions(need), multiregional=need.multiregional,
                call=calls.get(need.call_id) if need.call_id is not None else None,
                funding_status=need.funding_status, filed_at=need.funding_filed_at,
                decision=decision_schema(decision) if decision is not None else None,
                tranches=[schemas.GrantTranche(
                    position=t.position, kind=t.kind, percent=t.percent, amount_cents=t.amount_cents, status=t.status,
                    paid_on=t.paid_on, paid_amount_cents=t.paid_amount_cents, payment_reference=t.payment_reference,
                    requests=[request_schema(r) for r in shown[t.id]],
                    evidence_path=evidence_path(need.id, t.position) if shown[t.id] else None) for t in rows],
                paid_cents=sum(t.paid_amount_cents or 0 for t in rows if t.status is TrancheStatus.PAID)))
        return result

    async def project(self, principal: Principal, need: Need) -> schemas.FundingProject:
        return (await self.projects(principal, [need]))[0]
