"""Funders' calls for projects, their decisions and the grants' tranches (domain.md §11.2, FU2–FU5).

The need's side (the call it is filed to, its funding status) is on the need itself (tenders/models.py); these
tables are the funder's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.funding.states import CallScope, DecisionOutcome, RequestStatus, TrancheKind, TrancheStatus
from marketplace.lib.columns import value_enum
from marketplace.lib.stored import OptionalStoredObject, StoredFile


class FundingCall(UUIDv7AuditBase):
    """A funder's call for projects (FU2) of one campaign (the rule set N1–N19 of its year). Its window and
    envelope are those of its latest version (`funding_call_version`): a change appends a version, never edits
    one, so what a filing was checked against stays on record."""

    __tablename__ = "funding_call"
    __table_args__ = (
        UniqueConstraint("funder_organisation_id", "reference"),
        CheckConstraint("closes_at > opens_at", name="window"),
        CheckConstraint("envelope_cents > 0", name="envelope_positive"),
        # N5: a regional call is an ARS's, of its region; a national call has none.
        CheckConstraint("(scope = 'regional') = (region IS NOT NULL)", name="scope_region"),
    )

    funder_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    scope: Mapped[CallScope] = mapped_column(value_enum(CallScope, "funding_call_scope"))
    # The funder's region, copied at creation (a funder's region never changes): routing reads the call alone.
    region: Mapped[str | None] = mapped_column(String(2), default=None)
    campaign: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(300))
    reference: Mapped[str] = mapped_column(String(100))
    opens_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    envelope_cents: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    # A rehearsal call (README "Rehearse in the sandbox"): rehearsal needs are filed to it, and only they
    # (migration 0026); it is hidden from the listing of calls, like a sandbox DPS from GET /dps.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"), index=True)


class FundingCallVersion(UUIDv7AuditBase):
    """One version of a call's window and envelope (FU2), appended: the first at its creation, one per change."""

    __tablename__ = "funding_call_version"
    __table_args__ = (UniqueConstraint("call_id", "version"),)

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_call.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(SmallInteger)
    opens_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    envelope_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class FundingDecision(OptionalStoredObject, UUIDv7AuditBase):
    """FU3: the funder's one decision on a filed need: selected with the amount granted, its date, reference and
    the signed decision document (key, name, size, SHA-256), or rejected with reasons. Never edited."""

    __tablename__ = "funding_decision"
    __table_args__ = (
        CheckConstraint("outcome = 'rejected' OR (amount_cents > 0 AND reference IS NOT NULL AND "
                        "object_key IS NOT NULL AND document_sha256 IS NOT NULL)", name="selection_complete"),
        CheckConstraint("outcome = 'selected' OR (reasons IS NOT NULL AND amount_cents IS NULL)",
                        name="rejection_complete"),
    )

    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("need.id", ondelete="RESTRICT"), unique=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_call.id", ondelete="RESTRICT"), index=True)
    outcome: Mapped[DecisionOutcome] = mapped_column(value_enum(DecisionOutcome, "funding_decision_outcome"))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    decided_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(100), default=None)
    reasons: Mapped[str | None] = mapped_column(Text, default=None)
    document_filename: Mapped[str | None] = mapped_column(String(300), default=None)
    document_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    document_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class GrantTranche(UUIDv7AuditBase):
    """FU5: one tranche of a selection's grant, created with the decision (40/40/20 of its amount, N14), paid once,
    for exactly its amount."""

    __tablename__ = "grant_tranche"
    __table_args__ = (
        UniqueConstraint("decision_id", "position"),
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        # Never more than the tranche, so never more than the decision: the tranches add up to its amount.
        CheckConstraint("paid_amount_cents IS NULL OR paid_amount_cents = amount_cents", name="paid_exactly"),
        CheckConstraint("(status = 'paid') = (paid_amount_cents IS NOT NULL)", name="paid_when_paid"),
    )

    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funding_decision.id", ondelete="RESTRICT"),
                                                   index=True)
    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("need.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[TrancheKind] = mapped_column(value_enum(TrancheKind, "grant_tranche_kind"))
    percent: Mapped[int] = mapped_column(SmallInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[TrancheStatus] = mapped_column(value_enum(TrancheStatus, "grant_tranche_status"),
                                                  default=TrancheStatus.PENDING)
    paid_on: Mapped[date | None] = mapped_column(Date, default=None)
    paid_amount_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    payment_reference: Mapped[str | None] = mapped_column(String(100), default=None)
    paid_recorded_by: Mapped[str | None] = mapped_column(String(200), default=None)
    paid_recorded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class TrancheRequest(StoredFile, UUIDv7AuditBase):
    """One request of a tranche with its evidence (a PDF: key, name, media type, size, SHA-256): a DRAFT while the
    holder gathers it, then REQUESTED, VALIDATED or REFUSED with reasons. Every request stays on record."""

    __tablename__ = "tranche_request"
    __table_args__ = (
        Index("uq_tranche_request_one_draft", "tranche_id", unique=True, postgresql_where=text("status = 'draft'")),
        Index("uq_tranche_request_one_pending", "tranche_id", unique=True,
              postgresql_where=text("status = 'requested'")),
    )

    tranche_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grant_tranche.id", ondelete="RESTRICT"), index=True)
    status: Mapped[RequestStatus] = mapped_column(value_enum(RequestStatus, "tranche_request_status"),
                                                  default=RequestStatus.DRAFT)
    # N15: the usage indicators of the third tranche ({"activeDuiUsers": n, ...}).
    usage_indicators: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    # The first tranche's: the need's contract, signed, that it relies on (awards/).
    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"),
                                                          default=None)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    requested_by: Mapped[str | None] = mapped_column(String(200), default=None)
    requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    refusal_reasons: Mapped[str | None] = mapped_column(Text, default=None)
