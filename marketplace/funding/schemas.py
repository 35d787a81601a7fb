"""Funding on the wire (domain.md §11.2): calls for projects and their versions, filings, decisions, the grant's
tranches and their requests, and a project as its funder and its holder read it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from marketplace.funding.states import CallScope, DecisionOutcome, RequestStatus, TrancheKind, TrancheStatus
from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.campaigns import Call
from marketplace.tenders.models import FundingStatus
from marketplace.tenders.states import NeedProgress

Text300 = Annotated[str, Meta(min_length=1, max_length=300)]
Reference = Annotated[str, Meta(min_length=1, max_length=100)]
Reasons = Annotated[str, Meta(min_length=1, max_length=10_000)]
Year = Annotated[int, Meta(ge=2000, le=2100)]
Cents = Annotated[int, Meta(gt=0, le=10**15)]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]


# -- calls for projects (FU2) ------------------------------------------------------------------------------


class FundingCallCreate(CamelStruct):
    """A call for projects of one campaign. Times are instants: with an offset, or naive as Europe/Paris wall
    time (a time the clocks skip or show twice is refused)."""

    title: Text300
    reference: Reference
    campaign: Year
    opens_at: datetime
    closes_at: datetime
    envelope_cents: Cents
    # The funder the call is the caller's for; defaults to the caller's only funder.
    funder_organisation_id: uuid.UUID | None = None
    # A rehearsal call, for rehearsal (sandbox) needs only: hidden from the listing, readable by id.
    sandbox: bool = False


class FundingCallVersionCreate(CamelStruct):
    """A change of a call's window or envelope: a new version, the previous ones kept (FU2)."""

    opens_at: datetime
    closes_at: datetime
    envelope_cents: Cents
    reason: Reasons


class FundingCallVersion(CamelStruct):
    version: int
    opens_at: datetime
    closes_at: datetime
    envelope_cents: int
    reason: str | None
    changed_at: datetime


class FundingCall(CamelStruct):
    id: uuid.UUID
    funder_organisation_id: uuid.UUID
    funder_name: str
    scope: CallScope
    # The ARS's INSEE region code; None for a national call.
    region: str | None
    campaign: int
    title: str
    reference: str
    opens_at: datetime
    closes_at: datetime
    opens_at_paris: str
    closes_at_paris: str
    # Whether it receives filings now (N17).
    is_open: bool
    envelope_cents: int
    version: int
    versions: list[FundingCallVersion]
    # A rehearsal call: only rehearsal (sandbox) needs are filed to it (README "Rehearse in the sandbox").
    sandbox: bool
    # For the funder's own members: what its selections granted so far, and what is left of the envelope.
    granted_cents: int | None = None
    envelope_left_cents: int | None = None


# -- filing and decision (FU3) -----------------------------------------------------------------------------


class FilingCreate(CamelStruct):
    call_id: uuid.UUID


class RejectionCreate(CamelStruct):
    reasons: Reasons
    # The decision's date; the day of the request (Paris) when absent.
    decided_on: date | None = None


class DecisionDocument(CamelStruct):
    filename: str
    size: int
    sha256: str
    # GET: a short-lived link to the signed decision (307).
    download_path: str


class FundingDecision(CamelStruct):
    id: uuid.UUID
    need_id: uuid.UUID
    call_id: uuid.UUID
    outcome: DecisionOutcome
    amount_cents: int | None
    decided_on: date
    reference: str | None
    reasons: str | None
    document: DecisionDocument | None
    decided_at: datetime


# -- the grant's tranches (FU5) ----------------------------------------------------------------------------


class UsageIndicators(CamelStruct):
    """N15: the usage indicators reported with the third tranche (the active-DUI indicator first)."""

    active_dui_users: Count
    esms_using: Count | None = None
    measured_on: date | None = None
    comment: Annotated[str, Meta(max_length=2000)] | None = None


class TrancheRequestCreate(CamelStruct):
    # Required for the third tranche (N15); no other tranche carries them.
    usage_indicators: UsageIndicators | None = None


class TrancheRefusal(CamelStruct):
    reasons: Reasons


class TranchePayment(CamelStruct):
    paid_on: date
    # The tranche's amount exactly (nothing is ever paid beyond the decision's amount).
    amount_cents: Cents
    reference: Reference


class Evidence(CamelStruct):
    filename: str
    size: int
    sha256: str


class TrancheRequest(CamelStruct):
    id: uuid.UUID
    status: RequestStatus
    evidence: Evidence
    usage_indicators: UsageIndicators | None
    contract_id: uuid.UUID | None
    uploaded_at: datetime
    requested_at: datetime | None
    decided_at: datetime | None
    refusal_reasons: str | None


class GrantTranche(CamelStruct):
    position: int
    kind: TrancheKind
    percent: int
    amount_cents: int
    status: TrancheStatus
    paid_on: date | None
    paid_amount_cents: int | None
    payment_reference: str | None
    # Newest first; GET evidence_path: the latest request's evidence (307).
    requests: list[TrancheRequest]
    evidence_path: str | None


# -- a project, as its funder and its holder read it (never an offer: FU6) --------------------------------


class TranchesToValidate(CamelStruct):
    """The work queue: for one call of the caller's funder, how many tranches are requested and wait for its
    validation (FU5), and since when the oldest waits."""

    call_id: uuid.UUID
    call_title: str
    requested: int
    oldest_requested_at: datetime | None


class FundingProject(CamelStruct):
    need_id: uuid.UUID
    title: str
    holder_organisation_id: uuid.UUID
    holder_name: str
    campaign: int
    requested_call: Call
    # HC5: the need's stage as read (submitted, published, … contracted), never an offer's content.
    need_status: NeedProgress
    esms_count: int
    # The INSEE regions of its facilities (N5).
    regions: list[str]
    multiregional: bool
    call: FundingCall | None
    funding_status: FundingStatus | None
    filed_at: datetime | None
    decision: FundingDecision | None
    tranches: list[GrantTranche] = msgspec.field(default_factory=list)
    paid_cents: int = 0
