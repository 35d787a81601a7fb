"""Sealed offers on the wire: openers' keys, the offer's parts and attachments, the signed receipt, the offers
received and opened, presigned uploads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.states import OfferStatus, SpecificContractStatus

# -- sealed offers -----------------------------------------------------------------------------------

Passphrase = Annotated[str, msgspec.Meta(min_length=12, max_length=1_000)]
# A file's name as sent (the X-Filename header, a presigned upload's `filename`): published with the contract's
# deposit limits (D14a).
FILENAME_MAX_LENGTH = 1_000
# What an offer's structured parts may hold: published with the deposit limits too (D14a, `depositLimits.parts`).
PRICE_LINES_MAX, ITEM_MAX_LENGTH = 1_000, 500
ANSWERS_MAX, ANSWER_MAX_LENGTH = 50, 100_000


class OpenerKeyCreate(CamelStruct):
    organisation_id: uuid.UUID
    # Never stored: it locks the opener's private key (Argon2id); lost, that key is gone for good.
    passphrase: Passphrase


class OpenerKey(CamelStruct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    user_id: uuid.UUID
    fingerprint: str
    created_at: datetime
    retired_at: datetime | None


class PriceLine(CamelStruct):
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=ITEM_MAX_LENGTH)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0, le=10**12)]


class CriterionAnswer(CamelStruct):
    criterion: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    answer: Annotated[str, msgspec.Meta(min_length=1, max_length=ANSWER_MAX_LENGTH)]


class OfferParts(CamelStruct):
    """The structured parts of an offer: its price schedule and its answer to each award criterion."""

    price_schedule: Annotated[list[PriceLine], msgspec.Meta(min_length=1, max_length=PRICE_LINES_MAX)]
    answers: Annotated[list[CriterionAnswer], msgspec.Meta(min_length=1, max_length=ANSWERS_MAX)]


class AttachmentReceipt(CamelStruct):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    received_started_at: datetime
    # None while a presigned upload waits for its `complete` call.
    received_at: datetime | None
    scan_status: str


class Offer(CamelStruct):
    """The author's view of its own offer: never the content back (sealed), only what it was sent."""

    id: uuid.UUID
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    version: int
    status: OfferStatus
    has_parts: bool
    attachments: list[AttachmentReceipt]
    received_at: datetime | None
    received_at_paris: str | None
    manifest_sha256: str | None
    tender_deadline: datetime
    tender_deadline_paris: str
    sandbox: bool = False
    # D14c: the end of the window a late admission gave this offer's vendor, if one did.
    late_deposit_until: datetime | None = None


class EvidenceTimestamp(CamelStruct):
    """The RFC 3161 time-stamp of a receipt or an opening record (G4): a token over `sha256`, the SHA-256 of the
    document's RFC 8785 canonical bytes (the bytes its signature covers), from the platform's TSA. `pending`
    while the TSA has not answered (the token is fetched in the background and retried until it does: nothing
    submitted waits on it); then `stamped`, with the token as base64 DER and the time it states."""

    status: Literal["stamped", "pending"]
    sha256: str
    token: str | None = None
    gen_time: datetime | None = None


class SignedReceipt(CamelStruct):
    """The accusé de réception: `receipt` as signed (RFC 8785 canonical JSON, Ed25519) by the key `kid`, and its
    RFC 3161 time-stamp."""

    receipt: dict[str, Any]
    signature: str
    kid: str
    algorithm: str = "EdDSA"
    timestamp: EvidenceTimestamp | None = None


class ClarificationSummary(CamelStruct):
    """A clarification thread on an opened offer (awards/dialogue.py): the answers sit beside the offer,
    at `path`, never in it."""

    id: uuid.UUID
    subject: str
    status: str
    answer_due_at: datetime
    messages: int
    path: str


class OfferSummary(CamelStruct):
    """The buyer's view after the opening: the receipt facts, each file's integrity, and the clarifications
    asked of its vendor since."""

    id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    version: int
    status: OfferStatus
    received_started_at: datetime | None
    received_at: datetime | None
    manifest_sha256: str | None
    attachments: list[dict[str, Any]]
    clarifications: list[ClarificationSummary] = msgspec.field(default_factory=list)


class ReceivedOffers(CamelStruct):
    """After the deadline and before the opening, only how many offers were received; then the list."""

    specific_contract_id: uuid.UUID
    received: int
    opened: bool
    offers: list[OfferSummary]


class OpenerUnlock(CamelStruct):
    opener_key_id: uuid.UUID
    passphrase: Passphrase


class OpeningRequest(CamelStruct):
    # k of the contract's n openers (the caller among them), each with their passphrase.
    openers: Annotated[list[OpenerUnlock], msgspec.Meta(min_length=1, max_length=20)]


class OpeningRecord(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    opened_at: datetime
    opened_at_paris: str
    document: dict[str, Any]
    signature: str
    kid: str
    timestamp: EvidenceTimestamp | None = None


class OpeningCeremony(CamelStruct):
    """What the opening ceremony shows its audience before and after the opening (D13, P6): the contract's title,
    deadline and status, and, until the opening, the opener keys its contract key was shared among (the caller's
    own marked by `user_id`) and how many of them open it. Nothing of the offers: not even their number."""

    specific_contract_id: uuid.UUID
    title: str
    status: SpecificContractStatus
    tender_deadline: datetime
    tender_deadline_paris: str
    buyer_organisation_id: uuid.UUID
    opened: bool
    threshold: int
    opener_keys: list[OpenerKey]
    # The contract's present (a sandbox's own clock): what the deadline's countdown is measured from.
    read_at: datetime
    sandbox: bool = False


class UploadRequest(CamelStruct):
    """A presigned upload: the file's name, exact size and SHA-256 (hex), declared before sending it."""

    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=FILENAME_MAX_LENGTH)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]


class PresignedUpload(CamelStruct):
    """PUT the file's bytes to `url` with exactly `headers` (they carry the file's own SSE-C key and its
    SHA-256: the storage server encrypts the bytes and refuses any others), then call `completePath`
    with that key before `expiresAt`."""

    attachment_id: uuid.UUID
    method: str
    url: str
    headers: dict[str, str]
    expires_at: datetime
    complete_path: str


class UploadCompletion(CamelStruct):
    # The SSE-C key the upload was given (base64, as in its x-amz-server-side-encryption-customer-key).
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
