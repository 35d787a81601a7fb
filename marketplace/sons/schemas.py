"""SONS on the wire (domain.md §5 with §12): dispositifs and calendar versions, referenced solutions, enrolments,
orders with their sites, and their requests to the ASP with their status history. Money in cents, rates in basis
points (2000 = 20 %)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from marketplace.lib.schemas import CamelStruct
from marketplace.sons.states import (
    AcceptanceKind,
    AspStatus,
    MssCase,
    OrderStatus,
    RequestKind,
    SignatureMethod,
    SolutionStatus,
    VatStatus,
)

Code = Annotated[str, Meta(min_length=1, max_length=60, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]
Text300 = Annotated[str, Meta(min_length=1, max_length=300)]
Short = Annotated[str, Meta(min_length=1, max_length=100)]
LongText = Annotated[str, Meta(min_length=1, max_length=10_000)]
Wave = Annotated[int, Meta(ge=1, le=20)]
BasisPoints = Annotated[int, Meta(ge=0, le=10_000)]
Cents = Annotated[int, Meta(gt=0, le=10**13)]
CentsOrZero = Annotated[int, Meta(ge=0, le=10**13)]
Days = Annotated[int, Meta(ge=0, le=3650)]
Identifier = Annotated[str, Meta(min_length=1, max_length=40)]


# -- dispositifs and their calendars (SN1) -------------------------------------------------------------------


class CalendarCreate(CamelStruct):
    """One version of a dispositif's calendar (SN1). Instants: with an offset, or naive as Europe/Paris wall time."""

    af_version: Short
    referencing_opens_at: datetime
    referencing_closes_at: datetime
    proof_file_deadline: datetime
    order_deadline: datetime
    advance_deadline: datetime
    balance_deadline: datetime
    deployment_deadline: datetime
    advance_ratio_bp: BasisPoints
    pre_referencing_days: Days
    # SN6: from when a balance carries the "Déploiement MSS" case (MS1/MS2 only).
    mss_indicator_from: datetime | None = None
    # Why this version (the arrêté amending the calendar); required from the second version on.
    reason: LongText | None = None


class DispositifCreate(CamelStruct):
    code: Code
    wave: Wave
    label: Text300
    legal_basis: LongText
    acceptance_kind: AcceptanceKind
    calendar: CalendarCreate


class Calendar(CamelStruct):
    version: int
    af_version: str
    referencing_opens_at: datetime
    referencing_closes_at: datetime
    proof_file_deadline: datetime
    order_deadline: datetime
    advance_deadline: datetime
    balance_deadline: datetime
    deployment_deadline: datetime
    advance_ratio_bp: int
    pre_referencing_days: int
    mss_indicator_from: datetime | None
    reason: str | None
    changed_at: datetime


class Ceiling(CamelStruct):
    tranche: str
    label: str
    ceiling_ht_cents: int
    vat_rate_bp: int


class CeilingTable(CamelStruct):
    version: str
    sha256: str
    imported_at: datetime
    ceilings: list[Ceiling]


class Dispositif(CamelStruct):
    id: uuid.UUID
    code: str
    wave: int
    label: str
    legal_basis: str
    acceptance_kind: AcceptanceKind
    # The version in force, then every version, newest first.
    calendar: Calendar
    calendars: list[Calendar]
    # The ceiling table in force (the latest import), if one was imported.
    ceiling_table: CeilingTable | None


# -- referenced solutions and enrolment (§5.2, §5.3) ---------------------------------------------------------


class SolutionCreate(CamelStruct):
    dispositif_id: uuid.UUID
    name: Text300
    version: Short
    installation_scenarios: Annotated[list[Short], Meta(min_length=1, max_length=20)]
    # The ANS referencing number and date; both absent while being referenced (SN3), with the proof file's date.
    referencing_number: Short | None = None
    referenced_on: date | None = None
    proof_file_submitted_on: date | None = None
    saas: bool = False
    # The vendor the solution is the caller's for; defaults to the caller's only vendor.
    vendor_organisation_id: uuid.UUID | None = None


class Solution(CamelStruct):
    id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    dispositif_id: uuid.UUID
    dispositif_code: str
    wave: int
    name: str
    version: str
    referencing_number: str | None
    referenced_on: date | None
    proof_file_submitted_on: date | None
    installation_scenarios: list[str]
    saas: bool
    status: SolutionStatus


class EnrolmentCreate(CamelStruct):
    iban: Annotated[str, Meta(min_length=15, max_length=50)]
    vat_status: VatStatus
    enrolment_reference: Short
    # SN3: the ANS referencing number of one of the vendor's active solutions.
    referencing_number: Short
    # The RIB key of a French IBAN, if given, must be the IBAN's (domain.md §2.6).
    rib_key: Annotated[str, Meta(pattern=r"^[0-9]{2}$")] | None = None
    vendor_organisation_id: uuid.UUID | None = None


class Enrolment(CamelStruct):
    id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    iban: str
    rib_key: str | None
    vat_status: VatStatus
    enrolment_reference: str
    referencing_number: str
    enrolled_at: datetime


# -- orders (§5.4) -------------------------------------------------------------------------------------------


class SiteCreate(CamelStruct):
    """A site of the OG: its FINESS ET or its SIRET, one of the two."""

    finess_et: Identifier | None = None
    siret: Identifier | None = None
    category: Annotated[str, Meta(pattern=r"^[0-9]{3,4}$")] | None = None


class OrderCreate(CamelStruct):
    """A bon de commande drafted by the vendor for a holder's OG (§5.3 step 3), signed next by the OG."""

    order_ref: Short
    holder_organisation_id: uuid.UUID
    solution_id: uuid.UUID
    installation_scenario: Short
    tranche: Annotated[str, Meta(min_length=1, max_length=40)]
    amount_ht_cents: Cents
    vat_rate_bp: BasisPoints
    amount_ttc_cents: Cents
    sites: Annotated[list[SiteCreate], Meta(min_length=1, max_length=500)]
    # SN2: required true for a SaaS solution (the subscription is not funded).
    subscription_excluded: bool = False
    # SN3: the AF's mention, for an order before the solution's referencing.
    pre_referencing_mention: LongText | None = None


class OgFacility(CamelStruct):
    """A site an order may name for an OG: one of its facilities (FINESS ET), as registered on the platform."""

    finess_et: str
    name: str
    category: str | None


class OgChoice(CamelStruct):
    """An OG an order may be drafted for (a holder with its FINESS EJ, §5.3) and its registered facilities."""

    id: uuid.UUID
    name: str
    finess_ej: str
    siret: str | None
    facilities: list[OgFacility]


class Site(CamelStruct):
    finess_et: str | None
    siret: str | None
    category: str | None


class Signature(CamelStruct):
    signatory_name: str
    signatory_role: str | None
    method: SignatureMethod
    signed_at: datetime
    sha256: str
    # G16: the offline verification report, as for a contract.
    verification: dict[str, Any] | None


class Acceptance(CamelStruct):
    kind: AcceptanceKind
    signatory_name: str
    mss_case: MssCase | None
    mss_address: str | None
    accepted_at: datetime
    verification: dict[str, Any] | None


class AspEvent(CamelStruct):
    status: AspStatus
    previous: AspStatus | None
    note: str | None
    paid_cents: int | None
    recorded_at: datetime


class AspRequest(CamelStruct):
    id: uuid.UUID
    kind: RequestKind
    position: int
    amount_cents: int
    status: AspStatus
    paid_cents: int | None
    mss_case: MssCase | None
    invoice: dict[str, Any] | None
    filed_at: datetime
    # Oldest first.
    history: list[AspEvent]


class Order(CamelStruct):
    id: uuid.UUID
    order_ref: str
    status: OrderStatus
    vendor_organisation_id: uuid.UUID
    holder_organisation_id: uuid.UUID
    og_finess_ej: str
    og_siret: str | None
    solution: Solution
    dispositif_code: str
    wave: int
    calendar_version: int
    order_deadline: datetime
    deployment_deadline: datetime
    installation_scenario: str
    tranche: str
    ceiling_ht_cents: int
    amount_ht_cents: int
    vat_rate_bp: int
    amount_ttc_cents: int
    subscription_excluded: bool
    pre_referencing: bool
    pre_referencing_mention: str | None
    sites: list[Site]
    signature: Signature | None
    acceptance: Acceptance | None
    requests: list[AspRequest]
    paid_cents: int
    cancelled_at: datetime | None
    sworn_statement: str | None
    recovery_cents: int | None
    expired_at: datetime | None
    created_at: datetime
    # When the vendor declared the solution deployed (SN1); None before.
    deployed_at: datetime | None = None


# -- the ASP side (SN5–SN7) ----------------------------------------------------------------------------------


class AmendmentCreate(CamelStruct):
    # What the amendment adds to the advance (0 for a correction that changes no amount).
    amount_cents: CentsOrZero


class AspStatusCreate(CamelStruct):
    """A status of a request at the ASP, as the operator reads it (portal or status file)."""

    status: AspStatus
    note: Annotated[str, Meta(max_length=2000)] | None = None
    # DECIDED_PAID: what the ASP paid (the request's amount when absent; never more).
    paid_cents: CentsOrZero | None = None


class CancellationCreate(CamelStruct):
    """§5.3, §12: the ASP's cancellation, on the vendor's signed and reasoned sworn statement."""

    sworn_statement: LongText
    client_renunciation: bool = False


# -- the bulk import of orders (imports.py) ------------------------------------------------------------------


class ImportRowError(CamelStruct):
    """A row of the file that was not imported: its line (the header is line 1), its order, the column at fault
    (none when the row goes down with another row of its order) and the rule with the reason."""

    line: int
    order_ref: str | None
    column: str | None
    rule: str | None
    detail: str


class ImportReport(CamelStruct):
    """What an import of orders did: rows and orders read, orders created, orders that existed as the file says
    (unchanged), rows refused with their reasons (oldest line first)."""

    sha256: str
    rows: int
    orders: int
    created: int
    unchanged: int
    refused_rows: int
    errors: list[ImportRowError]


class AspStatusImportReport(CamelStruct):
    """What an import of the ASP's status file did (asp_statuses.py): rows read, statuses recorded, rows saying
    what was recorded already (unchanged), rows refused with their line, rule and reason."""

    sha256: str
    rows: int
    applied: int
    unchanged: int
    refused_rows: int
    errors: list[ImportRowError]


# -- reports (reports.py) ------------------------------------------------------------------------------------


class ReportRow(CamelStruct):
    """One group of orders: its key (a dispositif's code, a wave, an INSEE region or `unknown`, a vendor's id, an
    order status, an ASP status or `NONE`) and label, how many orders, their HT and TTC amounts, what the ASP paid,
    and those at risk (their deployment deadline within 30 days, the balance not filed) with their TTC."""

    key: str
    label: str
    orders: int
    amount_ht_cents: int
    amount_ttc_cents: int
    paid_cents: int
    at_risk: int
    at_risk_ttc_cents: int


class OrderReport(CamelStruct):
    by: str
    generated_at: datetime
    # Orders whose deployment deadline falls before this instant (30 days from now) are at risk.
    at_risk_until: datetime
    rows: list[ReportRow]
    # Every order once (an order with sites in two regions is in two region rows).
    total: ReportRow


# -- the payment requests as exported (exports.py; published as JSON Schema: payment-request.schema.json) ------


class ExportEvent(CamelStruct):
    status: AspStatus
    previous: AspStatus | None
    recorded_at: datetime
    note: str | None
    paid_cents: int | None


class ExportInvoice(CamelStruct):
    number: str
    buyer_name: str
    tax_basis_cents: int
    grand_total_cents: int
    currency: str | None


class ExportSite(CamelStruct):
    finess_et: str | None
    siret: str | None
    category: str | None


class ExportBeneficiary(CamelStruct):
    """The OG funded (through its FINESS EJ, §5.3) and the sites of the order."""

    name: str
    finess_ej: str
    siret: str | None
    sites: list[ExportSite]


class ExportVendor(CamelStruct):
    organisation_id: uuid.UUID
    name: str
    siren: str | None
    # The vendor's ASP enrolment in force (no bank details: the ASP holds them).
    enrolment_reference: str | None
    vat_status: VatStatus | None


class ExportSolution(CamelStruct):
    name: str
    version: str
    referencing_number: str | None
    referenced_on: date | None
    installation_scenario: str


class ExportSignature(CamelStruct):
    signatory_name: str
    signatory_role: str | None
    method: SignatureMethod
    signed_at: datetime
    sha256: str


class ExportAcceptance(CamelStruct):
    kind: AcceptanceKind
    signatory_name: str
    accepted_at: datetime
    mss_case: MssCase | None


class ExportOrder(CamelStruct):
    id: uuid.UUID
    order_ref: str
    status: OrderStatus
    dispositif_code: str
    wave: int
    af_version: str
    calendar_version: int
    tranche: str
    ceiling_ht_cents: int
    amount_ht_cents: int
    vat_rate_bp: int
    amount_ttc_cents: int
    subscription_excluded: bool
    pre_referencing: bool
    pre_referencing_mention: str | None
    signature: ExportSignature | None
    paid_cents: int


class PaymentRequestDocument(CamelStruct):
    """One request of an order to the ASP (its advance, an amendment, its balance) as the vendor deposits it: the
    request with its status history, the order, the beneficiary, the vendor, the solution and, for a balance, the
    acceptance and the invoice. Its shape is published as a JSON Schema (`GET /sons/schemas/payment-request.json`)
    and documented in the README ("SONS orders")."""

    schema: str = msgspec.field(name="$schema")
    schema_version: str
    request_id: uuid.UUID
    kind: RequestKind
    position: int
    amount_cents: int
    # The amount in euros, two decimals, as the ASP shows amounts (§5.3).
    amount_eur: str
    status: AspStatus
    filed_at: datetime
    paid_cents: int | None
    mss_case: MssCase | None
    invoice: ExportInvoice | None
    history: list[ExportEvent]
    order: ExportOrder
    beneficiary: ExportBeneficiary
    vendor: ExportVendor
    solution: ExportSolution
    acceptance: ExportAcceptance | None


# -- the operators' and funders' list of orders (listing.py) ---------------------------------------------------


class OrderListItem(CamelStruct):
    """One order as listed: who (vendor, OG), what (dispositif, wave, tranche, amounts), where it stands (its status,
    its ASP status: that of its latest advance or balance request, `NONE` before the advance) and its risk: the
    deployment deadline within 30 days with the balance not filed (reports.py), or a request at TO_MODIFY."""

    id: uuid.UUID
    order_ref: str
    status: OrderStatus
    asp_status: str
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    holder_organisation_id: uuid.UUID
    holder_name: str
    og_finess_ej: str
    dispositif_code: str
    wave: int
    tranche: str
    amount_ht_cents: int
    amount_ttc_cents: int
    paid_cents: int
    deployment_deadline: datetime
    deadline_risk: bool
    to_modify: bool
    regions: list[str]
    created_at: datetime


class OrganisationChoice(CamelStruct):
    id: uuid.UUID
    name: str


class OrderListChoices(CamelStruct):
    """What the list's filters offer: the dispositifs, vendors and OGs of the orders the caller may read."""

    dispositifs: list[str]
    waves: list[int]
    vendors: list[OrganisationChoice]
    holders: list[OrganisationChoice]


class EnrolmentSummary(CamelStruct):
    """A vendor's current ASP enrolment as the buyers of a DPS it applied to read it: never the IBAN itself, only
    its last four characters and whether it checks (ISO 13616, and the RIB key of a French one, domain.md §2.6)."""

    vendor_organisation_id: uuid.UUID
    iban_last4: str
    iban_valid: bool
    vat_status: VatStatus
    enrolment_reference: str
    referencing_number: str
    enrolled_at: datetime


class OrderWatch(CamelStruct):
    """The work queue's SONS tile: of the orders the caller reads (access.py), those at risk (reports.py: short of
    the balance, the deployment deadline within 30 days) and those whose advance or balance the ASP sent back
    TO_MODIFY, with the nearest deployment deadline among those at risk."""

    at_risk: int
    to_modify: int
    nearest_deadline: datetime | None
