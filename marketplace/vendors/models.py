from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Interval,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.columns import value_enum
from marketplace.lib.stored import StoredFile
from marketplace.vendors.states import AdmissionStatus, DpsStatus


class Sector(enum.StrEnum):
    GRAND_AGE = "grand_age"
    HANDICAP = "handicap"
    DOMICILE = "domicile"


class DeliveryMode(enum.StrEnum):
    SAAS = "saas"
    ON_PREMISE = "on_premise"
    HOSTED = "hosted"


class ConductMode(enum.StrEnum):
    """HC1: how the specific contracts of a DPS are conducted, fixed once its notice is out."""

    INTERMEDIATION = "intermediation"  # the holder buys its own specific contract (HC2): ESMS numérique's way
    CENTRALISED = "centralised"        # the central purchasing body awards on the holder's behalf (HC3)


class Dps(UUIDv7AuditBase):
    """A dynamic purchasing system (SAD) run by a buying organisation (domain.md §1)."""

    __tablename__ = "dps"
    __table_args__ = (
        # A sandbox has both its factor and its epoch, a real procedure neither (vendors/sandbox.py).
        CheckConstraint("(sandbox_factor IS NULL AND sandbox_epoch IS NULL AND sandbox_skipped = '0') OR "
                        "(sandbox_factor BETWEEN 2 AND 86400 AND sandbox_epoch IS NOT NULL "
                        "AND sandbox_skipped >= '0')",
                        name="sandbox_clock"),
    )

    buyer_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                             index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    validity_start: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    validity_end: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    usable_by_other_buyers: Mapped[bool] = mapped_column(Boolean)
    # HC1: set at creation, changed while the DPS is a draft only; each specific contract keeps its own copy.
    conduct_mode: Mapped[ConductMode] = mapped_column(value_enum(ConductMode, "dps_conduct_mode"),
                                                      default=ConductMode.INTERMEDIATION,
                                                      server_default=ConductMode.INTERMEDIATION.value)
    status: Mapped[DpsStatus] = mapped_column(value_enum(DpsStatus, "dps_status"), default=DpsStatus.DRAFT, index=True)
    notice_sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    initial_window_end: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # [{"name": ..., "weightMin": int, "weightMax": int}] (D10: specific contracts stay within these)
    award_criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # A sandbox (rehearsal) DPS: everything under it lives on a clock `sandbox_factor` times faster than real
    # time from `sandbox_epoch` (the real instant of its creation) on. NULL: a real procedure.
    sandbox_factor: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    sandbox_epoch: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Sandbox time skipped at once by the buyer (POST /dps/{id}/sandbox/fast-forward): it only grows.
    sandbox_skipped: Mapped[timedelta] = mapped_column(Interval, default=timedelta(0),
                                                       server_default=text("'0'::interval"))

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox_factor is not None


class DpsCategory(UUIDv7AuditBase):
    """Sector × delivery mode, each with its selection criteria and required documents (D20, §6)."""

    __tablename__ = "dps_category"
    __table_args__ = (UniqueConstraint("dps_id", "sector", "delivery_mode"),)

    dps_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps.id", ondelete="CASCADE"), index=True)
    sector: Mapped[Sector] = mapped_column(value_enum(Sector, "dps_sector"))
    delivery_mode: Mapped[DeliveryMode] = mapped_column(value_enum(DeliveryMode, "dps_delivery_mode"))
    title: Mapped[str] = mapped_column(String(300))
    selection_criteria: Mapped[str] = mapped_column(Text)
    # [{"kind", "label", "maxBytes", "contentTypes": [...], "hasExpiry": bool}]
    required_documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class AdmissionRequest(UUIDv7AuditBase):
    """One vendor's request to be admitted to one category (machine (b))."""

    __tablename__ = "admission_request"
    __table_args__ = (
        Index("uq_admission_request_live", "category_id", "vendor_organisation_id", unique=True,
              postgresql_where=text("status IN ('draft', 'under_evaluation', 'awaiting_documents', "
                                    "'admitted', 'suspended')")),
    )

    dps_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps.id", ondelete="RESTRICT"), index=True)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps_category.id", ondelete="RESTRICT"), index=True)
    vendor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True)
    status: Mapped[AdmissionStatus] = mapped_column(value_enum(AdmissionStatus, "admission_status"),
                                                    default=AdmissionStatus.DRAFT, index=True)
    # DUME/ESPD self-declaration, as structured data (private to the vendor and the buyer).
    self_declaration: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Ségur referencing: {"referencingId", "software", "version", "dispositif"} (public once admitted).
    referenced_software: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None, index=True)
    extension_reason: Mapped[str | None] = mapped_column(Text, default=None)
    documents_requested: Mapped[str | None] = mapped_column(Text, default=None)
    # D6 alerts to the buying organisation (vendors/lifecycle.py), each sent once per due date.
    due_soon_alerted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decision_reasons: Mapped[str | None] = mapped_column(Text, default=None)
    receipt_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # D11: an updated self-declaration asked of an admitted vendor, and when it is due (5 working days).
    declaration_requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    declaration_due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class AdmissionDocument(StoredFile, UUIDv7AuditBase):
    __tablename__ = "admission_document"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("admission_request.id", ondelete="CASCADE"),
                                                  index=True)
    kind: Mapped[str] = mapped_column(String(50))
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    # A newer upload of the same kind replaces this one; the old object stays for the record.
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the vendor has been warned that this document expires soon (the warning goes once).
    expiry_warned_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class DpsDocument(StoredFile, UUIDv7AuditBase):
    """A procurement document of the DPS, public for the whole validity (D3). Never edited: a new
    version is a new row, the previous one stays downloadable."""

    __tablename__ = "dps_document"

    dps_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dps.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
