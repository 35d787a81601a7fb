"""Evaluation and award of a specific contract (domain.md §1.5–1.7, D16–D18, G8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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

from marketplace.awards.states import (
    SCORE_MAX,
    SCORE_MIN,
    AbnormallyLowStatus,
    AwardStatus,
    ClarificationStatus,
    ContractStatus,
    DialogueSide,
    RejectionGround,
    SignatureSide,
)
from marketplace.lib.columns import value_enum
from marketplace.lib.stored import OptionalStoredObject, StoredFile, StoredObject


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
    grounds: Mapped[RejectionGround] = mapped_column(value_enum(RejectionGround, "offer_rejection_grounds"))
    reasons: Mapped[str] = mapped_column(Text)
    rejected_by: Mapped[str] = mapped_column(String(200))
    rejected_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class AbnormallyLowProcedure(OptionalStoredObject, UUIDv7AuditBase):
    """D15: an opened offer suspected abnormally low, the written request for its justification (reasons and
    due date), the vendor's justification (text, optionally a PDF), and the buyer's decision. One per offer:
    once decided, the decision is on record and the offer is not suspected again."""

    __tablename__ = "abnormally_low_procedure"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), unique=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    status: Mapped[AbnormallyLowStatus] = mapped_column(value_enum(AbnormallyLowStatus, "abnormally_low_status"))
    reasons: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    justification_due_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    justification: Mapped[str | None] = mapped_column(Text, default=None)
    justified_by: Mapped[str | None] = mapped_column(String(200), default=None)
    justified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # The justification's PDF, if the vendor sends one (before its text): key (`OptionalStoredObject`), name,
    # size and SHA-256.
    document_filename: Mapped[str | None] = mapped_column(String(300), default=None)
    document_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    document_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    decision_reasons: Mapped[str | None] = mapped_column(Text, default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


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
    status: Mapped[AwardStatus] = mapped_column(value_enum(AwardStatus, "award_status"))
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


class SansSuiteDeclaration(UUIDv7AuditBase):
    """Machine (c): any pre-contract state --declare_sans_suite(reasons)--> CANCELLED, on record with what it
    ended (the live award, the pending contract) and how many invitees were told."""

    __tablename__ = "sans_suite_declaration"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), unique=True)
    previous_status: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[str] = mapped_column(Text)
    declared_by: Mapped[str] = mapped_column(String(200))
    declared_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    cancelled_award_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("award.id", ondelete="RESTRICT"), default=None)
    abandoned_contract_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contract.id", ondelete="RESTRICT"), default=None)
    notified: Mapped[int] = mapped_column(Integer)


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


class Contract(UUIDv7AuditBase):
    """Machine (e): the contract signed with the awardee, one per specific contract. `amount_cents` is the
    amount as signed and never changes: modifications (avenants) are rows appended to `contract_modification`."""

    __tablename__ = "contract"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), unique=True)
    award_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("award.id", ondelete="RESTRICT"), unique=True)
    buyer_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    status: Mapped[ContractStatus] = mapped_column(value_enum(ContractStatus, "contract_status"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # D18: from the award; no signature before.
    earliest_sign_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    # FU7: what the buyer pays the vendor and when, the contract's own business (the funder's grant tranches, FU5,
    # are the need's): free text and/or instalments [{"label", "amountCents", "dueOn"}] adding up to the amount.
    payment_terms: Mapped[str | None] = mapped_column(Text, default=None)
    payment_schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list,
                                                                   server_default=text("'[]'::jsonb"))


class ContractTransition(UUIDv7AuditBase):
    """Every move of a contract through machine (e), in order."""

    __tablename__ = "contract_transition"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Why, for the moves that need one (abandon, completed, terminated_early).
    reasons: Mapped[str | None] = mapped_column(Text, default=None)


class ContractSignature(StoredObject, UUIDv7AuditBase):
    """One side's signature: who, when, the signed document (key, media type, size, SHA-256) and what its
    offline verification found (G16: `marketplace.lib.esign.SignatureReport`; none on rows from before it)."""

    __tablename__ = "contract_signature"
    __table_args__ = (UniqueConstraint("contract_id", "side"),)
    object_key_length = 500
    object_key_unique = False

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True)
    side: Mapped[SignatureSide] = mapped_column(value_enum(SignatureSide, "contract_signature_side"))
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The signed document's media type, named so since its table was created (a StoredFile's `content_type`).
    media_type: Mapped[str] = mapped_column(String(100), server_default="application/pdf")
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)


class ContractModification(UUIDv7AuditBase):
    """ACTIVE --modification--> ACTIVE: an avenant, appended (DECP `modifications[]`), never an edit."""

    __tablename__ = "contract_modification"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    previous_amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    modified_by: Mapped[str] = mapped_column(String(200))
    modified_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class ClarificationThread(UUIDv7AuditBase):
    """A clarification the buying side asks of one vendor about its opened offer (DialogueThread, domain.md
    §0, §8 item 3). Private to the two sides. It never changes the offer: the answers sit beside it."""

    __tablename__ = "clarification_thread"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), index=True)
    # Both sides, copied from the contract and the offer: every access check reads this row alone.
    buyer_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[ClarificationStatus] = mapped_column(value_enum(ClarificationStatus, "clarification_status"))
    # The vendor answers strictly before it; a later question of the buying side may set a new one.
    answer_due_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ClarificationMessage(UUIDv7AuditBase):
    """One message of a thread: a text, or a file (its `clarification_attachment`). Appended, never edited
    (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "clarification_message"

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clarification_thread.id", ondelete="RESTRICT"),
                                                 index=True)
    side: Mapped[DialogueSide] = mapped_column(value_enum(DialogueSide, "clarification_side"))
    # None for a message that carries a file.
    body: Mapped[str | None] = mapped_column(Text, default=None)
    # The due date a question of the buying side set, as it was set.
    answer_due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    posted_by: Mapped[str] = mapped_column(String(200))
    posted_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class ClarificationAttachment(StoredFile, UUIDv7AuditBase):
    """The file a message carries: its object (key, size, SHA-256) and the name it was sent under."""

    __tablename__ = "clarification_attachment"
    object_key_length = 500

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clarification_message.id", ondelete="RESTRICT"),
                                                  unique=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clarification_thread.id", ondelete="RESTRICT"),
                                                 index=True)
