from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from marketplace.lib.schemas import CamelStruct
from marketplace.vendors.models import ConductMode, DeliveryMode, Sector
from marketplace.vendors.states import AdmissionStatus, DpsStatus

Text300 = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
Kind = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,49}$")]
# An instant: a datetime without a zone has none, and comparing it with the clock's would fail (500).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class AwardCriterion(CamelStruct):
    name: Text300
    weight_min: Annotated[int, msgspec.Meta(ge=0, le=100)]
    weight_max: Annotated[int, msgspec.Meta(ge=0, le=100)]


class DocumentRule(CamelStruct):
    kind: Kind
    label: Text300
    max_bytes: Annotated[int, msgspec.Meta(ge=1, le=200 * 1024 * 1024)] = 10 * 1024 * 1024
    content_types: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["application/pdf"])
    has_expiry: bool = False


class CategoryCreate(CamelStruct):
    sector: Sector
    delivery_mode: DeliveryMode
    title: Text300
    selection_criteria: LongText
    required_documents: list[DocumentRule] = msgspec.field(default_factory=list)


class SandboxCreate(CamelStruct):
    """Create the DPS as a sandbox: its time runs `factor` times faster (1 440: a day a minute; 86 400: a day
    a second)."""

    factor: Annotated[int, msgspec.Meta(ge=2, le=86_400)]


class DpsCreate(CamelStruct):
    title: Text300
    description: LongText
    validity_start: AwareDatetime
    validity_end: AwareDatetime
    usable_by_other_buyers: bool
    award_criteria: Annotated[list[AwardCriterion], msgspec.Meta(min_length=1)]
    categories: Annotated[list[CategoryCreate], msgspec.Meta(min_length=1, max_length=50)]
    buyer_organisation_id: uuid.UUID | None = None
    # HC1: who buys each specific contract; by default the holder (ESMS numérique, HC2).
    conduct_mode: ConductMode = ConductMode.INTERMEDIATION
    # Given: a rehearsal DPS on an accelerated clock (vendors/sandbox.py), kept out of every public list.
    sandbox: SandboxCreate | None = None


class DpsConductMode(CamelStruct):
    """HC1: changed while the DPS is a draft only."""

    conduct_mode: ConductMode


class DpsPublish(CamelStruct):
    initial_window_end: AwareDatetime


class Category(CamelStruct):
    id: uuid.UUID
    sector: Sector
    delivery_mode: DeliveryMode
    title: str
    selection_criteria: str
    required_documents: list[DocumentRule]


class Dps(CamelStruct):
    id: uuid.UUID
    buyer_organisation_id: uuid.UUID
    title: str
    description: str
    validity_start: datetime
    validity_end: datetime
    usable_by_other_buyers: bool
    # HC1: `intermediation`, the holder buys its specific contract (HC2); `centralised`, this DPS's buying
    # organisation does (HC3).
    conduct_mode: ConductMode
    status: DpsStatus
    notice_sent_at: datetime | None
    initial_window_end: datetime | None
    award_criteria: list[AwardCriterion]
    categories: list[Category]
    sandbox: bool = False
    sandbox_clock: SandboxClock | None = None


class ReferencedSoftware(CamelStruct):
    referencing_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    software: Text300
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    dispositif: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class SelfDeclaration(CamelStruct):
    """DUME/ESPD essentials as structured data."""

    no_exclusion_grounds: bool
    tax_and_social_obligations_met: bool
    legal_representative: Text300
    annual_turnover_eur: Annotated[int, msgspec.Meta(ge=0)] | None = None
    staff_count: Annotated[int, msgspec.Meta(ge=0)] | None = None
    references: list[Text300] = msgspec.field(default_factory=list)


class AdmissionCreate(CamelStruct):
    category_id: uuid.UUID
    self_declaration: SelfDeclaration
    referenced_software: ReferencedSoftware
    vendor_organisation_id: uuid.UUID | None = None


class AdmissionDocument(CamelStruct):
    id: uuid.UUID
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    valid_until: date | None
    uploaded_at: datetime
    # For the buyers judging the request and the vendor's people: a redirect to a short-lived link.
    download_path: str


class AdmissionRequest(CamelStruct):
    id: uuid.UUID
    dps_id: uuid.UUID
    category_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    status: AdmissionStatus
    self_declaration: SelfDeclaration
    referenced_software: ReferencedSoftware
    received_at: datetime | None
    due_at: datetime | None
    due_at_paris: str | None
    overdue: bool
    extension_reason: str | None
    documents_requested: str | None
    decision_reasons: str | None
    decided_at: datetime | None
    documents: list[AdmissionDocument]
    missing_documents: list[str]
    expired_documents: list[str]
    declaration_due_at: datetime | None
    sandbox: bool = False


class Receipt(CamelStruct):
    """Accusé de réception: what arrived, when (server clock), and the documents' fingerprints."""

    request_id: uuid.UUID
    received_at: datetime
    received_at_paris: str
    due_at: datetime
    documents: list[AdmissionDocument]
    receipt_sha256: str
    # A sandbox's receipt: its times are the sandbox's, and it says so.
    sandbox: bool = False
    notice: str | None = None


class DocumentsRequest(CamelStruct):
    message: LongText


class Reasons(CamelStruct):
    reasons: LongText


class DpsValidityChange(CamelStruct):
    """ACTIVE --change_validity--> ACTIVE (machine (a)): a new end of validity, with the reasons (§1.1)."""

    validity_end: AwareDatetime
    reasons: LongText


class RegisterEntry(CamelStruct):
    """Public: never the self-declaration, documents or contacts."""

    vendor_organisation_id: uuid.UUID
    vendor_name: str
    siren: str | None
    dps_id: uuid.UUID
    category_id: uuid.UUID
    category_title: str
    software: str
    version: str
    referencing_id: str
    admitted_at: datetime | None


class DpsDocument(CamelStruct):
    id: uuid.UUID
    dps_id: uuid.UUID
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    published_at: datetime
    download_path: str


class SandboxFastForward(CamelStruct):
    """Skip sandbox time at once (whole days and hours): the sandbox's clock jumps forward, never back."""

    days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0
    hours: Annotated[int, msgspec.Meta(ge=0, le=23)] = 0


class SandboxClock(CamelStruct):
    """A sandbox's clock: `factor` times faster than real time since `epoch` (the real instant of the DPS's
    creation, when both clocks agreed), plus `skippedSeconds` fast-forwarded. Every deadline, due date and
    receipt under the DPS is on it: `now` is its present."""

    factor: int
    epoch: datetime
    skipped_seconds: int
    now: datetime
    now_paris: str
    notice: str


class AdmissionListItem(CamelStruct):
    """One row of the buyers' list of admission requests (the back-office's Admissions screen and its export)."""

    id: uuid.UUID
    dps_id: uuid.UUID
    dps_title: str
    category_id: uuid.UUID
    category_title: str
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    vendor_siret: str | None
    status: AdmissionStatus
    received_at: datetime | None
    due_at: datetime | None
    # D6, on the DPS's own clock: the evaluation period has run out and no decision is taken yet.
    overdue: bool
    # D6: an extension reason is recorded, the period is 15 working days instead of 10.
    extended: bool
    decided_at: datetime | None
    # The DPS's present (a sandbox's own clock): what the D6 countdown is measured from.
    read_at: datetime
    sandbox: bool = False


class AdmissionFile(CamelStruct):
    """An admission request as its DPS's buyers judge it: the request, who asks, for what, and what came before."""

    request: AdmissionRequest
    dps_title: str
    category_title: str
    selection_criteria: str
    required_documents: list[DocumentRule]
    vendor_name: str
    vendor_siret: str | None
    # The SIRET's checksum (Luhn, python-stdnum): a typo is seen before the vendor is admitted.
    vendor_siret_valid: bool
    decided_by: str | None
    receipt_sha256: str | None
    declaration_requested_at: datetime | None
    # The same vendor's other requests on this DPS, newest first: earlier decisions and their reasons.
    earlier: list[AdmissionListItem]
    # The DPS's present (a sandbox's own clock): what the D6 countdowns are measured from.
    read_at: datetime


class AdmissionWeek(CamelStruct):
    """One week of the work queue's trend: (starts, ends], the requests received and the decisions taken in it."""

    starts: datetime
    ends: datetime
    received: int
    decided: int


class AdmissionQueueCounts(CamelStruct):
    """A DPS's requests awaiting a decision, counted (D6): the work queue's tile, without reading each request."""

    dps_id: uuid.UUID
    awaiting: int
    overdue: int
    next_due_at: datetime | None


class VendorAdmission(CamelStruct):
    """One of a vendor's requests on a DPS the caller runs, with its status and its last decision."""

    request_id: uuid.UUID
    dps_id: uuid.UUID
    dps_title: str
    category_id: uuid.UUID
    category_title: str
    status: AdmissionStatus
    software: str
    version: str
    referencing_id: str
    received_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reasons: str | None
    declaration_due_at: datetime | None
    sandbox: bool = False


class VendorSummary(CamelStruct):
    """A vendor as the buyers of the DPS it applied to see it (the back-office's Vendors screen and its export)."""

    vendor_organisation_id: uuid.UUID
    vendor_name: str
    siren: str | None
    siret: str | None
    # The SIRET's checksum (Luhn, python-stdnum, domain.md §2.2).
    siret_valid: bool
    admissions: list[VendorAdmission]
    # The current documents of its live requests (under evaluation, admitted or suspended), on each DPS's clock:
    # those whose validity ends within 30 days, those already past it, and the soonest end among them.
    documents_expiring: int
    documents_expired: int
    soonest_expiry: date | None


class VendorDocument(CamelStruct):
    request_id: uuid.UUID
    category_title: str
    kind: str
    filename: str
    valid_until: date | None
    uploaded_at: datetime
    expired: bool
    expiring: bool


class VendorFile(CamelStruct):
    """One vendor for the buyers of the DPS it applied to: its requests (each with its last decision) and the
    current documents of each."""

    vendor: VendorSummary
    documents: list[VendorDocument]


class MyAdmission(CamelStruct):
    """One of the caller's vendor organisations' requests, as the vendor reads its own (the web's Candidatures)."""

    id: uuid.UUID
    dps_id: uuid.UUID
    dps_title: str
    category_id: uuid.UUID
    category_title: str
    vendor_organisation_id: uuid.UUID
    status: AdmissionStatus
    software: str
    version: str
    received_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    decision_reasons: str | None
    documents_requested: str | None
    declaration_due_at: datetime | None
    # The DPS's present (a sandbox's own clock): what the D6 countdown is measured from.
    read_at: datetime
    sandbox: bool = False


class VendorAdmissionFile(CamelStruct):
    """A request as its vendor reads it: the request, its DPS and category, the category's document rules (the
    limits shown before a file is sent) and the receipt's hash once it was submitted."""

    request: AdmissionRequest
    dps_title: str
    category_title: str
    selection_criteria: str
    required_documents: list[DocumentRule]
    receipt_sha256: str | None
    declaration_requested_at: datetime | None
    read_at: datetime
