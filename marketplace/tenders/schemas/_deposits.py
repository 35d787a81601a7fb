"""Deposits on the wire (domain.md §11.3): the limits published with a specific contract (D14a), the journal of
failed deposit attempts (D14b) and the buying side's late admissions (D14c).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from marketplace.lib.schemas import CamelReply, CamelStruct
from marketplace.tenders.schemas._common import LongText


class ArchiveLimits(CamelStruct):
    """What an archive (zip) among an offer's files may hold: it is inspected, never extracted (G11)."""

    max_members: int
    max_uncompressed_bytes: int
    # Members declaring at least `ratioCheckedFromBytes` once extracted may not inflate more than this.
    max_compression_ratio: float
    ratio_checked_from_bytes: int
    nested_archives_allowed: bool
    encrypted_members_allowed: bool


class PartsLimits(CamelStruct):
    """What the structured parts of an offer (PUT /offers/{id}/parts) may hold."""

    # The JSON body, in bytes (a larger one is a 413 before it is read).
    max_body_bytes: int
    price_lines_max: int
    # Characters of a price line's `item`.
    item_max_length: int
    answers_max: int
    # Characters of one answer to an award criterion.
    answer_max_length: int


class DepositLimits(CamelReply):
    """D14a: every limit a deposit on this contract can hit, published with it. Each refusal of a deposit names
    the one it hit as `limitName` (a member of this object) and quotes its value as `limit`."""

    # Offers are received strictly before it (D14: at the deadline exactly it is late).
    tender_deadline: datetime
    tender_deadline_paris: str
    # Each file, in bytes (streamed, or declared for a presigned upload).
    attachment_max_bytes: int
    # All the files of one offer together, in bytes.
    offer_max_bytes: int
    attachment_max_count: int
    # Judged on the content of a streamed file, never on the declared type.
    attachment_types: list[str]
    archive: ArchiveLimits
    # A presigned upload's URL is valid this long, and never past the deadline.
    presigned_upload_lifetime_seconds: int
    # The X-Filename header (and a presigned upload's `filename`), in characters.
    filename_max_length: int
    parts: PartsLimits


class DepositAttempt(CamelStruct):
    """D14b: one deposit act the platform refused, as journaled: never the content, never a file's name."""

    id: uuid.UUID
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    offer_id: uuid.UUID | None
    actor: str
    # offer.create, offer.parts, attachment.stream, attachment.presign, attachment.complete, offer.submit.
    action: str
    # On the contract's clock, as its deadline.
    started_at: datetime
    refused_at: datetime
    refused_at_paris: str
    bytes_received: int
    declared_bytes: int | None
    status: int
    problem: str
    rule: str | None
    field: str | None
    detail: str
    limit_name: str | None
    limit: Any


AttemptIds = Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=100)]


class LateAdmissionCreate(CamelStruct):
    """D14c: admit one vendor whose journaled attempts the platform blocked, until `depositUntil`."""

    vendor_organisation_id: uuid.UUID
    reasons: LongText
    # The journal rows (GET …/deposit-attempts) the decision relies on: that vendor's, on this contract.
    attempt_ids: AttemptIds
    # Without a zone, a Paris wall-clock time; after now. The offers are opened once every such window closed.
    deposit_until: datetime


class LateAdmission(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    decided_by: str
    decided_at: datetime
    reasons: str
    attempts: list[DepositAttempt]
    deposit_until: datetime
    deposit_until_paris: str
