from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.campaigns import Call, CoreService
from marketplace.tenders.models import AmendmentKind, NeedStatus
from marketplace.tenders.rules import Couloir, ProjectType
from marketplace.tenders.states import OfferStatus, SpecificContractStatus
from marketplace.vendors.models import DeliveryMode, Sector
from marketplace.vendors.schemas import SandboxClock

Text300 = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Finess = Annotated[str, msgspec.Meta(min_length=9, max_length=20)]
Cpv = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class NeedFacility(CamelStruct):
    """One ESMS of the need (FINESS ET) and the equipment aid asked for it, in euro cents (N13)."""

    finess_et: Finess
    equipment_budget_cents: Cents = 0


class NeedSoftware(CamelStruct):
    couloir: Couloir
    referenced: bool = False
    registered_at_desk: bool = False


class NeedFields(CamelStruct):
    """What the holder fills in; a draft may be incomplete, `submit` checks the programme rules."""

    title: Text300
    description: LongText
    campaign: Year
    project_type: ProjectType
    requested_call: Call
    applied_on: date
    facilities: Annotated[list[NeedFacility], msgspec.Meta(max_length=2000)] = msgspec.field(default_factory=list)
    # Declared by the holder; submission also counts a need whose facilities lie in two regions as multiregional.
    multiregional: bool = False
    core_services: Annotated[list[CoreService], msgspec.Meta(max_length=4)] = msgspec.field(default_factory=list)
    gdpr_compliance: bool = False
    target_map_convergence: bool = False
    business_continuity: bool = False
    usage_targets_declared: bool = False
    companion_dui_acquisition: bool = False
    software: NeedSoftware | None = None
    funding_schedule: Annotated[list[Percent], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)
    ars_prevalidation_reference: Reference | None = None
    ars_prevalidated_on: date | None = None
    sector: Sector | None = None
    delivery_mode: DeliveryMode | None = None
    cpv_codes: Annotated[list[Cpv], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    # The DPS the need is filed to (a published one): required before submission; the need is published there
    # only, and that DPS's buying organisation lists it (D2).
    dps_id: uuid.UUID | None = None
    # The buying organisation to run its specific contract: the DPS's own when absent; another buying
    # organisation only if the DPS is usable by other buyers (D2).
    buyer_organisation_id: uuid.UUID | None = None


class NeedCreate(NeedFields):
    # The holder (an OG or a grappe) the need is filed for; defaults to the caller's only one.
    holder_organisation_id: uuid.UUID | None = None
    # A rehearsal need, for a sandbox DPS only (and never on a real one); fixed at creation.
    sandbox: bool = False


class NeedUpdate(NeedFields):
    """A draft is replaced as a whole (PUT)."""


class Need(CamelStruct):
    id: uuid.UUID
    holder_organisation_id: uuid.UUID
    status: NeedStatus
    title: str
    description: str
    campaign: int
    project_type: ProjectType
    requested_call: Call
    applied_on: date
    facilities: list[NeedFacility]
    multiregional: bool
    core_services: list[CoreService]
    gdpr_compliance: bool
    target_map_convergence: bool
    business_continuity: bool
    usage_targets_declared: bool
    companion_dui_acquisition: bool
    software: NeedSoftware | None
    funding_schedule: list[int]
    ars_prevalidation_reference: str | None
    ars_prevalidated_on: date | None
    sector: Sector | None
    delivery_mode: DeliveryMode | None
    cpv_codes: list[str]
    created_at: datetime
    submitted_at: datetime | None
    sandbox: bool = False
    dps_id: uuid.UUID | None = None
    buyer_organisation_id: uuid.UUID | None = None


# -- specific contracts (publishing a need on a DPS: D8–D10, §1.5) ------------------------------------

CriterionName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Weight = Annotated[int, msgspec.Meta(ge=0, le=100)]


class CriterionWeight(CamelStruct):
    """The weight chosen for one of the DPS's award criteria, within its range (D10)."""

    name: CriterionName
    weight: Weight


DEFAULT_ATTACHMENT_TYPES = (
    "application/pdf", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
)


class NeedPublish(CamelStruct):
    dps_id: uuid.UUID
    # Without a zone, a Paris wall-clock time; refused when it names no instant or two.
    tender_deadline: datetime
    award_criteria: Annotated[list[CriterionWeight], msgspec.Meta(min_length=1, max_length=50)]
    # How many of the buying organisation's openers must come together to open the offers (k of n).
    opening_threshold: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1
    # What each offer may carry; types are checked on the content, never on what the client declares.
    attachment_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2 * 1024**3)] = 250 * 1024**2
    offer_max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=10 * 1024**3)] = 1024**3
    attachment_max_count: Annotated[int, msgspec.Meta(ge=1, le=200)] = 30
    attachment_types: Annotated[list[str], msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES))


class ChosenCriterion(CamelStruct):
    name: str
    weight_min: int
    weight_max: int
    weight: int


class ContractInvitation(CamelStruct):
    vendor_organisation_id: uuid.UUID
    invited_at: datetime


class SpecificContract(CamelStruct):
    id: uuid.UUID
    need_id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    buyer_organisation_id: uuid.UUID
    status: SpecificContractStatus
    title: str
    invited_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    # Until then invited vendors may ask questions (set by the buyer, else 4 days before the deadline).
    questions_close_at: datetime
    questions_close_at_paris: str
    award_criteria: list[ChosenCriterion]
    # The buyer sees every invitation; an invited vendor sees its own.
    invitation_count: int
    invitations: list[ContractInvitation]
    # On a sandbox DPS: every time above is the sandbox's (`sandboxClock.now` is its present).
    sandbox: bool = False
    sandbox_clock: SandboxClock | None = None


class MyInvitation(CamelStruct):
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    title: str
    status: SpecificContractStatus
    invited_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    sandbox: bool = False


# -- questions and answers ----------------------------------------------------------------------------

QuestionText = Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]
AnswerText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class QuestionsDeadline(CamelStruct):
    # Without a zone, a Paris wall-clock time; before the tender deadline.
    closes_at: datetime


class QuestionAsk(CamelStruct):
    question: QuestionText


class QuestionAnswer(CamelStruct):
    answer: AnswerText


class ContractQuestion(CamelStruct, omit_defaults=True):
    """A question and its answer. The asker's fields are only present in the buying organisation's view;
    an invited vendor sees its own questions (`mine`) and the published ones of everybody, anonymised."""

    id: uuid.UUID
    question: str
    asked_at: datetime
    published: bool
    answer: str | None = None
    answered_at: datetime | None = None
    # The buyer's view only.
    vendor_organisation_id: uuid.UUID | None = None
    asked_by: str | None = None
    answered_by: str | None = None
    # A vendor's view only: asked by one of the caller's vendor organisations.
    mine: bool | None = None


# -- amendments ---------------------------------------------------------------------------------------

AmendmentReason = Annotated[str, msgspec.Meta(min_length=1, max_length=5_000)]


class DeadlineExtension(CamelStruct):
    # Without a zone, a Paris wall-clock time; later than the current deadline.
    tender_deadline: datetime
    reason: AmendmentReason


class ContractDocument(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    # The version this one replaces, and whether a later version replaced this one.
    replaces_id: uuid.UUID | None
    current: bool
    published_at: datetime
    download_path: str


class ContractAmendment(CamelStruct):
    id: uuid.UUID
    kind: AmendmentKind
    amended_at: datetime
    amended_at_paris: str
    reason: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any]
# -- public discovery of published needs (tenders/search.py) -------------------------------------------


class NeedSearchParams(msgspec.Struct, kw_only=True, frozen=True):
    """The query string of a search, as parsed from the wire; `search.check_params` checks the rest."""

    q: str | None = None
    category_id: uuid.UUID | None = None
    sector: Sector | None = None
    delivery_mode: DeliveryMode | None = None
    departement: str | None = None
    region: str | None = None
    cpv: str | None = None
    status: SpecificContractStatus | None = None
    deadline_from: datetime | None = None
    deadline_to: datetime | None = None
    cursor: str | None = None
    limit: int = 20


class PublicNeed(CamelStruct, omit_defaults=True):
    """A published need and its specific contract, as anyone may see it."""

    need_id: uuid.UUID
    specific_contract_id: uuid.UUID
    title: str
    # The description's opening, or with a text query its passages around the matched words.
    excerpt: str
    holder_organisation_id: uuid.UUID
    holder_name: str
    category_id: uuid.UUID
    category_title: str
    sector: Sector | None
    delivery_mode: DeliveryMode | None
    # Of the need's facilities (from their FINESS), and their INSEE regions.
    departements: list[str]
    regions: list[str]
    cpv_codes: list[str]
    status: SpecificContractStatus
    published_at: datetime
    tender_deadline: datetime
    tender_deadline_paris: str
    # With a text query only: how well the need matches it (higher first).
    rank: float | None = None


class PublicNeedPage(CamelStruct):
    items: list[PublicNeed]
    # Give it back as `cursor` for the next page; null on the last page.
    next_cursor: str | None
    limit: int


# -- sealed offers -----------------------------------------------------------------------------------

Passphrase = Annotated[str, msgspec.Meta(min_length=12, max_length=1_000)]


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
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0, le=10**12)]


class CriterionAnswer(CamelStruct):
    criterion: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    answer: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]


class OfferParts(CamelStruct):
    """The structured parts of an offer: its price schedule and its answer to each award criterion."""

    price_schedule: Annotated[list[PriceLine], msgspec.Meta(min_length=1, max_length=1_000)]
    answers: Annotated[list[CriterionAnswer], msgspec.Meta(min_length=1, max_length=50)]


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


class SignedReceipt(CamelStruct):
    """The accusé de réception: `receipt` as signed (RFC 8785 canonical JSON, Ed25519) by the key `kid`."""

    receipt: dict[str, Any]
    signature: str
    kid: str
    algorithm: str = "EdDSA"


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


class UploadRequest(CamelStruct):
    """A presigned upload: the file's name, exact size and SHA-256 (hex), declared before sending it."""

    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=1_000)]
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
