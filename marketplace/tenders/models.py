"""Expressions of need (domain.md §6): a holder's project as filed, before it is published on a DPS."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.columns import value_enum
from marketplace.lib.stored import StoredFile, StoredObject
from marketplace.tenders.campaigns import Call

# Machines (c) and (d), their states and moves, live in states.py. Re-exported for the modules outside this
# package that still read them here (vendors/), until they import them from states.py.
from marketplace.tenders.states import OfferStatus as OfferStatus  # noqa: PLC0414
from marketplace.tenders.states import SpecificContractStatus as SpecificContractStatus  # noqa: PLC0414
from marketplace.vendors.models import ConductMode, DeliveryMode, Sector


class NeedStatus(enum.StrEnum):
    """DRAFT → SUBMITTED_FOR_CHECK (§6) → PUBLISHED (a specific contract on a DPS, §1.5): what is stored. What
    follows the publication (closed for offers, in dialogue, chosen, contracted, cancelled, unsuccessful) is
    its specific contract's, read through it (states.py `NeedProgress`, `need_status_at`, HC5), never stored."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"


class FundingStatus(enum.StrEnum):
    """Where the need stands with its funder (domain.md §11.2, FU3): NULL before it is filed to a call, then
    FILED → SELECTED | REJECTED. Written by the funding domain (funding/), read here: the need is published on
    the SAD only once SELECTED (FU4, N16)."""

    FILED = "filed"
    SELECTED = "selected"
    REJECTED = "rejected"


# Needs in these states count as "active projects of the campaign" for N18: a published need holds its ESMS as
# much as a submitted one (its procedure runs), unless that procedure ended without a contract (ENDED_UNAWARDED).
# In the need's status as read (HC5): submitted, published, closed_for_offers, in_dialogue, chosen and
# contracted are active; cancelled and unsuccessful are not (all stored PUBLISHED, told apart by the contract).
ACTIVE_NEED_STATES = (NeedStatus.SUBMITTED, NeedStatus.PUBLISHED)


class Need(UUIDv7AuditBase):
    """One expression of need of a holder (an OG or a grappe)."""

    __tablename__ = "need"

    holder_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    status: Mapped[NeedStatus] = mapped_column(value_enum(NeedStatus, "need_status"), default=NeedStatus.DRAFT,
                                               index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    campaign: Mapped[int] = mapped_column(Integer, index=True)
    project_type: Mapped[int] = mapped_column(SmallInteger)
    # [{"finessEt": "750000010", "equipmentBudgetCents": 0}], in the order given.
    facilities: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    requested_call: Mapped[Call] = mapped_column(value_enum(Call, "need_call"))
    multiregional: Mapped[bool] = mapped_column(Boolean, default=False)
    core_services: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    gdpr_compliance: Mapped[bool] = mapped_column(Boolean, default=False)
    target_map_convergence: Mapped[bool] = mapped_column(Boolean, default=False)
    business_continuity: Mapped[bool] = mapped_column(Boolean, default=False)
    usage_targets_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    companion_dui_acquisition: Mapped[bool] = mapped_column(Boolean, default=False)
    # {"couloir": "MS1", "referenced": bool, "registeredAtDesk": bool} or None.
    software: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    funding_schedule: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    # The free-text ARS pre-validation the holder once declared: kept, readable, for the needs filed before the
    # funding decision replaced it (N16 is now the decision of the call the need is filed to, FU4).
    ars_prevalidation_reference: Mapped[str | None] = mapped_column(String(100), default=None)
    ars_prevalidated_on: Mapped[date | None] = mapped_column(Date, default=None)
    applied_on: Mapped[date] = mapped_column(Date)
    sector: Mapped[Sector | None] = mapped_column(value_enum(Sector, "dps_sector", create=False), default=None)
    delivery_mode: Mapped[DeliveryMode | None] = mapped_column(
        value_enum(DeliveryMode, "dps_delivery_mode", create=False), default=None)
    cpv_codes: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # A rehearsal need, set at creation: it is published on a sandbox DPS only, and a real need never on one.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The DPS the need is filed to (required before submission, D2): it is published there and nowhere else,
    # and that DPS's buying organisation lists it (GET /dps/{id}/needs).
    dps_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dps.id", ondelete="RESTRICT"), default=None,
                                                     index=True)
    # The buying organisation that is to run its specific contract: NULL, the DPS's own; another one only on a
    # DPS usable by other buyers (D2, see tenders/contracts.py `_buying_organisation`).
    buyer_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), default=None, index=True)
    # The funder's call for projects the holder filed the submitted need to (FU3), when, and the funder's answer.
    # Written by funding/ (tenders never imports it: the table is named, not its model); the publication reads
    # `funding_status` (FU4, N16).
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("funding_call.id", ondelete="RESTRICT"),
                                                      default=None, index=True)
    funding_status: Mapped[FundingStatus | None] = mapped_column(value_enum(FundingStatus, "need_funding_status"),
                                                                 default=None)
    funding_filed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class SpecificContract(UUIDv7AuditBase):
    """A need put to competition among the vendors admitted to one category of a DPS (D8–D10)."""

    __tablename__ = "specific_contract"

    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("need.id", ondelete="RESTRICT"), unique=True)
    dps_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps.id", ondelete="RESTRICT"), index=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps_category.id", ondelete="RESTRICT"),
                                                   index=True)
    # Who buys: the holder in intermediation (HC2), the DPS's buying organisation (or the one the holder named on a
    # DPS usable by other buyers, D2) when centralised (HC3). Its people are the contract's buying side
    # (tenders/access.py `buying_side`).
    buyer_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                             index=True)
    # Copied at publication, so a procedure keeps the mode it started with (HC1) and the access predicates need
    # no other row: the DPS's mode, its buying organisation (the central purchasing body, which follows every
    # procedure of its DPS in intermediation, HC2), and the need's holder (which reads its own, HC3).
    conduct_mode: Mapped[ConductMode] = mapped_column(value_enum(ConductMode, "dps_conduct_mode", create=False))
    dps_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                           index=True)
    holder_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    # HC3: the central purchasing body invited the holder onto the evaluation committee (declarations and scores).
    holder_on_committee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    status: Mapped[SpecificContractStatus] = mapped_column(
        value_enum(SpecificContractStatus, "specific_contract_status"), default=SpecificContractStatus.DRAFT,
        index=True)
    # One instant for every invitation (D8), and the deadline for offers (D9: at least 10 days later).
    invited_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    tender_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # Questions are received until then; unset, until QUESTIONS_DEFAULT_LEAD before the tender deadline.
    questions_close_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # The DPS's criteria with the weights chosen within their ranges (D10):
    # [{"name", "weightMin", "weightMax", "weight"}], in the DPS's order.
    award_criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(200))
    # Sealed offers: k of the buying organisation's openers open them; what an offer may carry.
    opening_threshold: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attachment_max_bytes: Mapped[int] = mapped_column(BigInteger, default=250 * 1024**2,
                                                      server_default=str(250 * 1024**2))
    offer_max_bytes: Mapped[int] = mapped_column(BigInteger, default=1024**3, server_default=str(1024**3))
    attachment_max_count: Mapped[int] = mapped_column(SmallInteger, default=30, server_default="30")
    attachment_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), default=lambda: ["application/pdf", "application/zip"],
        server_default="{application/pdf,application/zip}")


class ContractInvitation(UUIDv7AuditBase):
    """One admitted vendor invited to a specific contract (D8). Written set-based by the fan-out."""

    __tablename__ = "contract_invitation"
    __table_args__ = (UniqueConstraint("specific_contract_id", "vendor_organisation_id"),)

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="CASCADE"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    admission_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("admission_request.id", ondelete="RESTRICT"), index=True)
    invited_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class ContractQuestion(UUIDv7AuditBase):
    """A question of an invited vendor on a specific contract, and the buyer's answer.

    The asker (`vendor_organisation_id`, `asked_by`) is only ever shown to the buying organisation: once
    answered, the question and its answer are published to every invitee without it.
    """

    __tablename__ = "contract_question"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="CASCADE"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    asked_by: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    answered_by: Mapped[str | None] = mapped_column(String(200), default=None)
    published: Mapped[bool] = mapped_column(Boolean, default=False)


class ContractDocument(StoredFile, UUIDv7AuditBase):
    """A consultation document of a specific contract, for its buyer and invitees. Never edited: a new
    version is a new row naming the one it replaces, which stays downloadable."""

    __tablename__ = "contract_document"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contract_document.id", ondelete="RESTRICT"),
                                                         default=None)
    published_by: Mapped[str] = mapped_column(String(200))


class AmendmentKind(enum.StrEnum):
    DOCUMENT = "document"
    DEADLINE = "deadline"


class ContractAmendment(UUIDv7AuditBase):
    """A change to an open specific contract (machine (c): OPEN --amend--> OPEN), with its old and new
    values, as the invitees were told of it (OCDS tender.amendments)."""

    __tablename__ = "contract_amendment"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[AmendmentKind] = mapped_column(value_enum(AmendmentKind, "contract_amendment_kind"))
    amended_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    amended_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    old_value: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    new_value: Mapped[dict[str, Any]] = mapped_column(JSONB)


class NeedSearch(DefaultBase):
    """The search document of a published need (tenders/search.py): what public discovery filters,
    ranks and orders by, in one table so that each filter and each order has its own index.

    Written in the transaction that publishes the need; status and tender deadline follow the specific
    contract through a trigger (migration 0010), so no door that changes them can leave the row stale.
    """

    __tablename__ = "need_search"
    __table_args__ = (
        # No pending list (migration 0034): every search is a plain index lookup, each publication merges its own.
        Index("ix_need_search_document", "document", postgresql_using="gin", postgresql_with={"fastupdate": "off"}),
        Index("ix_need_search_departements", "departements", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
        Index("ix_need_search_cpv_codes", "cpv_codes", postgresql_using="gin", postgresql_with={"fastupdate": "off"}),
        # The listing's order (newest first, then id): a backward scan of this index is the page.
        Index("ix_need_search_published_at_need_id", "published_at", "need_id"),
    )

    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("need.id", ondelete="CASCADE"), primary_key=True)
    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="CASCADE"), unique=True)
    holder_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps_category.id", ondelete="RESTRICT"), index=True)
    sector: Mapped[Sector | None] = mapped_column(value_enum(Sector, "dps_sector", create=False))
    delivery_mode: Mapped[DeliveryMode | None] = mapped_column(value_enum(DeliveryMode, "dps_delivery_mode",
                                                                     create=False))
    # The stored status; listings and filters read it with the deadline (states.py `status_at_sql`, HC6).
    status: Mapped[SpecificContractStatus] = mapped_column(
        value_enum(SpecificContractStatus, "specific_contract_status", create=False), index=True)
    # The facilities' départements ("75", "2A", "971"), and the CPV codes (8 digits) with every code above
    # them in the CPV tree, so a division finds the needs of its groups and classes.
    departements: Mapped[list[str]] = mapped_column(ARRAY(String(3)))
    cpv_codes: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    published_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    tender_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    document: Mapped[str] = mapped_column(TSVECTOR)


# -- sealed offers (machine (d), D13–D14) ---------------------------------------------------------------



class NeedSearchPlace(DefaultBase):
    """One département of a published need's search document, keyed to be read newest first: a search with a
    département walks its rows from the most recent and stops at its window (the array of `need_search` has
    only a GIN index, which gives its rows in no order). Written by a trigger on `need_search` (migrations 0035,
    0036). One partition per département (migration 0038), so that a département's rows are stored together.
    """

    __tablename__ = "need_search_place"
    __table_args__ = {"postgresql_partition_by": "LIST (departement)"}

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), primary_key=True)
    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("need_search.need_id", ondelete="CASCADE"),
                                               primary_key=True, index=True)
    # The need's search document, copied: the words are checked on this row, never looked up (migration 0036).
    document: Mapped[str] = mapped_column(TSVECTOR)

class OpenerKey(UUIDv7AuditBase):
    """An opener's personal key pair (lib/sealing.LockedOpenerKey): its private half is stored only under
    the opener's passphrase. A new key retires the previous one for contracts published afterwards;
    contracts already sealed for the old key still open with it, so it is never deleted."""

    __tablename__ = "opener_key"
    __table_args__ = (
        Index("uq_opener_key_current", "user_id", "organisation_id", unique=True,
              postgresql_where=text("retired_at IS NULL")),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                       index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fingerprint: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ContractKey(UUIDv7AuditBase):
    """The specific contract's sealing key: its public half seals every offer; its private half exists
    only as k-of-n shares sealed to the openers' keys (lib/sealing.ProtectedContractKey) until the
    opening, after which it is kept under the platform key so the evaluation can read the offers."""

    __tablename__ = "contract_key"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), unique=True)
    threshold: Mapped[int] = mapped_column(SmallInteger)
    protected: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fingerprint: Mapped[str] = mapped_column(String(64))
    released_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    released_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Offer(UUIDv7AuditBase):
    """One version of a vendor's offer on a specific contract. Its content (the structured parts and the
    attachments) is sealed under a data key wrapped to the contract key; what its author may read back
    before the opening (the receipt, file names) is sealed under the platform key instead."""

    __tablename__ = "offer"
    __table_args__ = (
        UniqueConstraint("specific_contract_id", "vendor_organisation_id", "version"),
        # One draft and one submitted offer at most per vendor and contract: the draft replaces the
        # submitted one when it is submitted in turn.
        Index("uq_offer_one_draft", "specific_contract_id", "vendor_organisation_id", unique=True,
              postgresql_where=text("status = 'draft'")),
        Index("uq_offer_one_submitted", "specific_contract_id", "vendor_organisation_id", unique=True,
              postgresql_where=text("status = 'submitted'")),
    )

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[OfferStatus] = mapped_column(value_enum(OfferStatus, "offer_status"), default=OfferStatus.DRAFT,
                                                index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    # The structured parts (price schedule, answers per award criterion), sealed; None until given.
    sealed_parts: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # P1/P11: the server's times, the first byte of the version's first upload and the end of submission.
    received_started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    received_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    sealed_receipt: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    receipt_signature: Mapped[str | None] = mapped_column(String(200), default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    opened_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class ScanStatus(enum.StrEnum):
    PENDING = "pending"    # no verdict yet (no scanner configured, or the scanner was down): never "clean"
    CLEAN = "clean"
    INFECTED = "infected"  # quarantined: kept with its verdict, never served (P10)


class Integrity(enum.StrEnum):
    UNCHECKED = "unchecked"
    VERIFIED = "verified"  # re-read at the opening: size and SHA-256 as recorded at receipt
    MISMATCH = "mismatch"  # blocked (P9)


class OfferAttachment(StoredObject, UUIDv7AuditBase):
    """A file of an offer: ciphertext under a UUID key; its name sealed under the platform key (so never a
    `StoredFile`: no name in clear)."""

    __tablename__ = "offer_attachment"

    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.id", ondelete="RESTRICT"), index=True)
    sealed_name: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    # How the stored bytes are sealed: "stream" (streamed through the API, AES-256-GCM in lib/sealing's
    # format) or "sse-c" (a presigned PUT the S3 server encrypted with a per-file key, SSE-C); either way
    # the file's key is `wrapped_dek`, wrapped to the contract's key.
    sealing: Mapped[str] = mapped_column(String(10), default="stream", server_default="stream")
    received_started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # None while a presigned upload is pending: the file counts once `complete` verified it.
    received_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    upload_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # The SSE-C key's MD5 (what S3 itself keeps): `complete` checks the key the client sends back with it.
    sse_key_md5: Mapped[str | None] = mapped_column(String(32), default=None)
    scan_status: Mapped[ScanStatus] = mapped_column(value_enum(ScanStatus, "attachment_scan_status"),
                                                    default=ScanStatus.PENDING)
    scan_verdict: Mapped[str | None] = mapped_column(String(300), default=None)
    integrity: Mapped[Integrity] = mapped_column(value_enum(Integrity, "attachment_integrity"),
                                                 default=Integrity.UNCHECKED)


class IdempotentResponse(UUIDv7AuditBase):
    """What a POST with an `Idempotency-Key` answered (G7): the same key gets the same answer."""

    __tablename__ = "idempotent_response"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    caller: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    # The exact JSON answered: a replay is the same bytes, not an equivalent object.
    body: Mapped[str] = mapped_column(Text)


class OpeningRecord(UUIDv7AuditBase):
    """The procès-verbal of an opening: who opened, when, every offer with its receipt time and hashes,
    late, withdrawn and superseded ones listed apart, signed by the platform."""

    __tablename__ = "opening_record"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    opened_by: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    signature: Mapped[str] = mapped_column(String(200))


# -- deposits: the journal of failed attempts and the late admissions (domain.md §11.3, D14b–D14c) ----------


class DepositAttempt(UUIDv7AuditBase):
    """A vendor's deposit act the platform refused (D14b): who, when, how many bytes had come, the error. Never
    the content, never a file's name (sealed like the offer). Written apart, after the refusal (the request's
    own transaction rolls back with it), and append-only: the database refuses UPDATE and DELETE (migration
    0025). `offer_id` has no foreign key on purpose: the refused request still holds that offer's row lock
    while its attempt is written apart, and the key's check would wait for it forever."""

    __tablename__ = "deposit_attempt"

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    offer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor: Mapped[str] = mapped_column(String(200))
    # What was tried: offer.create, offer.parts, attachment.stream, attachment.presign, attachment.complete,
    # offer.submit.
    action: Mapped[str] = mapped_column(String(30))
    # On the contract's clock (a sandbox's runs faster): the request's start and its refusal.
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    refused_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    declared_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    status: Mapped[int] = mapped_column(SmallInteger)
    problem: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str | None] = mapped_column(String(30), default=None)
    field: Mapped[str | None] = mapped_column(String(100), default=None)
    detail: Mapped[str] = mapped_column(Text)
    # D14a: the published limit the refusal quoted (a member of the contract's `depositLimits`) and its value.
    limit_name: Mapped[str | None] = mapped_column(String(50), default=None)
    limit_value: Mapped[Any | None] = mapped_column(JSONB, nullable=True, default=None)


class LateAdmission(UUIDv7AuditBase):
    """D14c: the buying side's decision to let one vendor, whose journaled attempts the platform blocked, deposit
    after the deadline until `deposit_until` (on the contract's clock). One per vendor and contract, taken
    before the opening, never edited (the database refuses UPDATE and DELETE); the offer-deadline trigger
    accepts that vendor's offers received before `deposit_until`, and no one else's."""

    __tablename__ = "late_admission"
    __table_args__ = (UniqueConstraint("specific_contract_id", "vendor_organisation_id"),)

    specific_contract_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("specific_contract.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    reasons: Mapped[str] = mapped_column(Text)
    # The journal rows (deposit_attempt) the decision relies on, in the order given.
    attempt_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    deposit_until: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
