"""Evaluation and award of a specific contract (domain.md §1.5–1.7, D16–D18, G8)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.awards.states import SCORE_MAX, SCORE_MIN, AwardStatus, RejectionGround


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class ConflictDeclaration(UUIDv7AuditBase):
    """An evaluator's declaration of interests for one contract, filed before their first score. One per
    evaluator and contract: it is a statement on record, never edited."""

    __tablename__ = "conflict_declaration"
    __table_args__ = (UniqueConstraint("specific_contract_id", "evaluator_id"),)

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    evaluator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    # True: the evaluator has an interest in one of the vendors and stays out of the scoring.
    has_conflict: Mapped[bool] = mapped_column(Boolean)
    statement: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class EvaluationScore(UUIDv7AuditBase):
    """One evaluator's score of one offer on one award criterion, 0–100, with its comment. Replaced in
    place until the award freezes the ranking."""

    __tablename__ = "evaluation_score"
    __table_args__ = (
        UniqueConstraint("offer_id", "evaluator_id", "criterion"),
        CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="score_range"),
    )

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), index=True)
    evaluator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    criterion: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text)
    scored_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class OfferRejection(UUIDv7AuditBase):
    """Machine (d): an opened offer rejected as irregular, unacceptable or inappropriate, with the reasons
    its vendor will read (D16, D17). It leaves the ranking."""

    __tablename__ = "offer_rejection"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), unique=True)
    grounds: Mapped[RejectionGround] = mapped_column(_enum(RejectionGround, "offer_rejection_grounds"))
    reasons: Mapped[str] = mapped_column(Text)
    rejected_by: Mapped[str] = mapped_column(String(200))
    rejected_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class Award(UUIDv7AuditBase):
    """Machine (e): the award of a specific contract to one offer, with the ranking it was decided on."""

    __tablename__ = "award"
    __table_args__ = (
        # G8: at most one award that is not cancelled per specific contract, whatever the services do.
        Index("uq_award_one_live", "specific_contract_id", unique=True,
              postgresql_where=text("status <> 'cancelled'")),
    )

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    status: Mapped[AwardStatus] = mapped_column(_enum(AwardStatus, "award_status"))
    # The reasons for the choice, as sent in the rejection notices (D16).
    reasons: Mapped[str] = mapped_column(Text)
    # Set when the award goes to another offer than the best-ranked one: why.
    departure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    standstill_required: Mapped[bool] = mapped_column(Boolean)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    notices_sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    earliest_signature_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The ranking as frozen by the decision (services.Ranking as JSON).
    ranking: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ReasonsRequest(UUIDv7AuditBase):
    """D17: a vendor's written request for the reasons of its rejection, due 15 days after receipt."""

    __tablename__ = "reasons_request"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    request: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[str | None] = mapped_column(String(200), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
