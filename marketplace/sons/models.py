"""SONS purchase-for-account (domain.md §5 read with §12): the dispositifs and their calendars (SN1), their ceiling
tables (imported data), the vendors' referenced solutions and ASP enrolments, the orders per site, and each request
made to the ASP with its status history (SN5).

Nothing is edited that something was checked against: a calendar change appends a version, a ceiling table is a
new import, and an order keeps the version and the table it was signed under.
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.columns import value_enum
from marketplace.lib.stored import StoredFile
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


class SonsDispositif(UUIDv7AuditBase):
    """SN1: one SONS scheme of one wave (`MS1-DUI-PA-PH-DOM`, `MS2-DUI-PDE` …), its legal basis and acceptance kind.
    Its calendar is its latest `SonsCalendar` version."""

    __tablename__ = "sons_dispositif"
    __table_args__ = (UniqueConstraint("code", "wave"),)

    code: Mapped[str] = mapped_column(String(60))
    wave: Mapped[int] = mapped_column(SmallInteger)
    label: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(Text)
    acceptance_kind: Mapped[AcceptanceKind] = mapped_column(value_enum(AcceptanceKind, "sons_acceptance_kind"))
    created_by: Mapped[str] = mapped_column(String(200))


class SonsCalendar(UUIDv7AuditBase):
    """SN1: one version of a dispositif's calendar, appended (an arrêté amending it is a new version, never an
    edit): its AF version, its instants, its advance ratio and its pre-referencing window (SN3)."""

    __tablename__ = "sons_calendar"
    __table_args__ = (
        UniqueConstraint("dispositif_id", "version"),
        CheckConstraint("advance_ratio_bp BETWEEN 0 AND 10000", name="advance_ratio"),
        CheckConstraint("pre_referencing_days >= 0", name="pre_referencing_days"),
        CheckConstraint("referencing_closes_at > referencing_opens_at", name="referencing_window"),
    )

    dispositif_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_dispositif.id", ondelete="RESTRICT"),
                                                     index=True)
    version: Mapped[int] = mapped_column(SmallInteger)
    af_version: Mapped[str] = mapped_column(String(100))
    referencing_opens_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    referencing_closes_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    proof_file_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    order_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    advance_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    balance_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    deployment_deadline: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # SN1: the advance's share of the order's TTC, in basis points (3000 = 30 %); the balance is the rest.
    advance_ratio_bp: Mapped[int] = mapped_column(SmallInteger)
    # SN3: how many calendar days before the complete proof file an order may be signed (AF §4.4: 120).
    pre_referencing_days: Mapped[int] = mapped_column(SmallInteger)
    # SN6: from this instant a balance carries the "Déploiement MSS" case (MS1/MS2); None: not this dispositif's.
    mss_indicator_from: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SonsCeilingTable(UUIDv7AuditBase):
    """SN1: one import of a dispositif's ceiling table (the AF annex's "fichier de calcul"), by the file's SHA-256.
    The table in force is the latest import; an order keeps the one it was priced against."""

    __tablename__ = "sons_ceiling_table"
    __table_args__ = (UniqueConstraint("dispositif_id", "version"),)

    dispositif_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_dispositif.id", ondelete="RESTRICT"),
                                                     index=True)
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SonsCeiling(UUIDv7AuditBase):
    """One tranche of a ceiling table: its code, what it covers, its HT ceiling and VAT rate."""

    __tablename__ = "sons_ceiling"
    __table_args__ = (
        UniqueConstraint("table_id", "tranche"),
        CheckConstraint("ceiling_ht_cents > 0", name="ceiling_positive"),
        CheckConstraint("vat_rate_bp BETWEEN 0 AND 10000", name="vat_rate"),
    )

    table_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_ceiling_table.id", ondelete="CASCADE"))
    tranche: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(Text)
    ceiling_ht_cents: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(SmallInteger)


class SonsSolution(UUIDv7AuditBase):
    """§5.2: a vendor's solution, in one version, referenced (or being referenced, SN3) on one dispositif by the ANS,
    with the installation scenarios of its referenced profile."""

    __tablename__ = "sons_solution"
    __table_args__ = (
        UniqueConstraint("vendor_organisation_id", "dispositif_id", "name", "version"),
        # A referenced solution has both its ANS number and its date; one being referenced has neither, and the
        # date its complete proof file was deemed submitted instead (SN3).
        CheckConstraint("(referencing_number IS NULL) = (referenced_on IS NULL)", name="referencing_complete"),
        CheckConstraint("referencing_number IS NOT NULL OR proof_file_submitted_on IS NOT NULL",
                        name="referenced_or_proof_file"),
        Index("uq_sons_solution_referencing_number", "referencing_number", unique=True,
              postgresql_where=text("referencing_number IS NOT NULL")),
    )

    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    dispositif_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_dispositif.id", ondelete="RESTRICT"),
                                                     index=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(100))
    referencing_number: Mapped[str | None] = mapped_column(String(100), default=None)
    referenced_on: Mapped[date | None] = mapped_column(Date, default=None)
    proof_file_submitted_on: Mapped[date | None] = mapped_column(Date, default=None)
    installation_scenarios: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    # SN2: a SaaS solution: its subscription is not funded.
    saas: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[SolutionStatus] = mapped_column(value_enum(SolutionStatus, "sons_solution_status"),
                                                   default=SolutionStatus.ACTIVE)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    created_by: Mapped[str] = mapped_column(String(200))


class SonsEnrolment(UUIDv7AuditBase):
    """§5.3 step 2: the vendor's enrolment at the ASP (its bank details, VAT status and enrolment reference); one per
    vendor, replaced by a new one (the old kept, `superseded_at`)."""

    __tablename__ = "sons_enrolment"
    __table_args__ = (
        Index("uq_sons_enrolment_current", "vendor_organisation_id", unique=True,
              postgresql_where=text("superseded_at IS NULL")),
    )

    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    iban: Mapped[str] = mapped_column(String(34))
    rib_key: Mapped[str | None] = mapped_column(String(2), default=None)
    vat_status: Mapped[VatStatus] = mapped_column(value_enum(VatStatus, "sons_vat_status"))
    enrolment_reference: Mapped[str] = mapped_column(String(100))
    # SN3: the ANS referencing number the enrolment was made with.
    referencing_number: Mapped[str] = mapped_column(String(100))
    enrolled_by: Mapped[str] = mapped_column(String(200))
    enrolled_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class SonsOrder(UUIDv7AuditBase):
    """§5.4: a bon de commande of a holder's OG for one or more of its sites, with the vendor's referenced solution.

    `order_ref` is the vendor's own reference: (vendor, order_ref) is the natural key a bulk import upserts on, so
    importing the same file twice creates nothing twice. Money is in cents, rates in basis points."""

    __tablename__ = "sons_order"
    __table_args__ = (
        UniqueConstraint("vendor_organisation_id", "order_ref"),
        CheckConstraint("amount_ht_cents > 0 AND amount_ht_cents <= ceiling_ht_cents", name="within_ceiling"),
        CheckConstraint("amount_ttc_cents >= amount_ht_cents", name="ttc_not_below_ht"),
        # SN5: nothing paid beyond the order's TTC.
        CheckConstraint("paid_cents >= 0 AND paid_cents <= amount_ttc_cents", name="paid_within_ttc"),
    )

    order_ref: Mapped[str] = mapped_column(String(100))
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    holder_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                              index=True)
    # The OG as funded (§5.3: through its FINESS juridique), copied at creation.
    og_finess_ej: Mapped[str] = mapped_column(String(9))
    og_siret: Mapped[str | None] = mapped_column(String(14), default=None)
    solution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_solution.id", ondelete="RESTRICT"), index=True)
    dispositif_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_dispositif.id", ondelete="RESTRICT"),
                                                     index=True)
    wave: Mapped[int] = mapped_column(SmallInteger)
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_calendar.id", ondelete="RESTRICT"))
    ceiling_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_ceiling.id", ondelete="RESTRICT"))
    installation_scenario: Mapped[str] = mapped_column(String(100))
    tranche: Mapped[str] = mapped_column(String(40))
    ceiling_ht_cents: Mapped[int] = mapped_column(BigInteger)
    amount_ht_cents: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(SmallInteger)
    amount_ttc_cents: Mapped[int] = mapped_column(BigInteger)
    subscription_excluded: Mapped[bool] = mapped_column(Boolean)
    # SN3: ordered before the solution's referencing, with the AF's mention.
    pre_referencing: Mapped[bool] = mapped_column(Boolean, default=False)
    pre_referencing_mention: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[OrderStatus] = mapped_column(value_enum(OrderStatus, "sons_order_status"), default=OrderStatus.DRAFT,
                                                index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    signatory_name: Mapped[str | None] = mapped_column(String(200), default=None)
    signatory_role: Mapped[str | None] = mapped_column(String(200), default=None)
    signature_method: Mapped[SignatureMethod | None] = mapped_column(
        value_enum(SignatureMethod, "sons_signature_method"), default=None)
    deployed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    acceptance_signatory: Mapped[str | None] = mapped_column(String(200), default=None)
    acceptance_mss_case: Mapped[MssCase | None] = mapped_column(value_enum(MssCase, "sons_mss_case"), default=None)
    mss_address: Mapped[str | None] = mapped_column(String(300), default=None)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    sworn_statement: Mapped[str | None] = mapped_column(Text, default=None)
    client_renunciation: Mapped[bool | None] = mapped_column(Boolean, default=None)
    # §5.3: the advance paid on a cancelled order is recovered by an "ordre de recouvrement".
    recovery_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    expired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class SonsOrderSite(UUIDv7AuditBase):
    """A site (ESSMS) of an order, by FINESS ET or SIRET (§5.3). SN4: one Ségur service per beneficiary, dispositif
    and wave: while its order holds it (`holds`), no other order names the same site on the same dispositif and
    wave; the database refuses it too."""

    __tablename__ = "sons_order_site"
    __table_args__ = (
        CheckConstraint("(finess_et IS NULL) <> (siret IS NULL)", name="one_identifier"),
        UniqueConstraint("order_id", "beneficiary"),
        Index("uq_sons_beneficiary_service", "beneficiary", "dispositif_code", "wave", unique=True,
              postgresql_where=text("holds")),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_order.id", ondelete="CASCADE"), index=True)
    finess_et: Mapped[str | None] = mapped_column(String(9), default=None)
    siret: Mapped[str | None] = mapped_column(String(14), default=None)
    # `FINESS:<ET>` or `SIRET:<siret>`: the beneficiary whatever it is identified by.
    beneficiary: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(4), default=None)
    dispositif_code: Mapped[str] = mapped_column(String(60))
    wave: Mapped[int] = mapped_column(SmallInteger)
    holds: Mapped[bool] = mapped_column(Boolean, default=True)


class SonsAspRequest(UUIDv7AuditBase):
    """SN5: one request of an order to the ASP (its advance, an amendment of it, its balance), with its amount and
    its current ASP status; its history is `SonsAspEvent`. Paid once, never beyond its amount."""

    __tablename__ = "sons_asp_request"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("(status = 'DECIDED_PAID') = (paid_cents IS NOT NULL)", name="paid_when_decided_paid"),
        CheckConstraint("paid_cents IS NULL OR paid_cents <= amount_cents", name="paid_within_amount"),
        CheckConstraint("kind = 'amendment' OR position = 0", name="one_advance_one_balance"),
        UniqueConstraint("order_id", "kind", "position"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_order.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[RequestKind] = mapped_column(value_enum(RequestKind, "sons_request_kind"))
    # 0 for the advance and the balance; 1, 2 … for the amendments.
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[AspStatus] = mapped_column(value_enum(AspStatus, "sons_asp_status"), default=AspStatus.REQUESTED)
    paid_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # SN6: the balance's "Déploiement MSS" case.
    mss_case: Mapped[MssCase | None] = mapped_column(value_enum(MssCase, "sons_mss_case", create=False),
                                                     default=None)
    # The balance's invoice as read (SN7): its number, totals and buyer.
    invoice: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SonsAspEvent(UUIDv7AuditBase):
    """SN5: one status of a request at the ASP, as recorded (by the vendor filing, or the operator from the ASP)."""

    __tablename__ = "sons_asp_event"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_asp_request.id", ondelete="RESTRICT"),
                                                  index=True)
    status: Mapped[AspStatus] = mapped_column(value_enum(AspStatus, "sons_asp_status", create=False))
    previous: Mapped[AspStatus | None] = mapped_column(value_enum(AspStatus, "sons_asp_status", create=False),
                                                       default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    paid_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SonsDocument(StoredFile, UUIDv7AuditBase):
    """A document of an order kept in the object store: the signed order, the signed VA/MOM, the balance's invoice;
    a signature's verification report with it (G16)."""

    __tablename__ = "sons_document"
    __table_args__ = (UniqueConstraint("order_id", "kind", "position"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sons_order.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "order", "acceptance", "invoice"
    position: Mapped[int] = mapped_column(Integer, default=0)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
