from __future__ import annotations

import enum
from datetime import datetime

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CHAR, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.lib.columns import value_enum


class CpvLevel(enum.StrEnum):
    """Where a code sits in the CPV tree, read from its trailing zeros (domain.md §2.4)."""

    DIVISION = "division"  # 2 significant digits: 48000000
    GROUP = "group"  # 3: 48100000
    CLASS = "class"  # 4: 48180000
    CATEGORY = "category"  # 5: 48181000
    SUBCATEGORY = "subcategory"  # 6 to 8: 48181100


class CpvCode(DefaultBase):
    """One code of the CPV 2008 nomenclature, as last imported.

    The 8 digits are the identity; the check digit is stored as the table gives it (it follows no single
    formula, domain.md §2.4) and `-C` is rendered from here. A later import that no longer lists a code
    keeps the row: its `dataset` then still names the version it last came from.
    """

    __tablename__ = "cpv_code"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{8}$'", name="code_digits"),
        CheckConstraint("check_digit ~ '^[0-9]$'", name="check_digit_digit"),
    )

    code: Mapped[str] = mapped_column(CHAR(8), primary_key=True)
    check_digit: Mapped[str] = mapped_column(CHAR(1))
    label: Mapped[str] = mapped_column(Text)  # English, from the imported file
    label_fr: Mapped[str | None] = mapped_column(Text, default=None)  # filled by a later French import
    level: Mapped[CpvLevel] = mapped_column(
        value_enum(CpvLevel, "cpv_level"))
    # The nearest code above this one that the same file lists (None for a division).
    parent_code: Mapped[str | None] = mapped_column(
        CHAR(8), ForeignKey("cpv_code.code", ondelete="RESTRICT"), index=True, default=None)
    dataset: Mapped[str] = mapped_column(String(64), index=True)  # ReferenceDataset.version
    imported_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))

    @property
    def full_code(self) -> str:
        """`DDDDDDDD-C`, the form documents and notices show."""
        return f"{self.code}-{self.check_digit}"


class ReferenceDataset(UUIDv7AuditBase):
    """One import of a reference table: which file (by SHA-256), under which version name, when."""

    __tablename__ = "reference_dataset"
    __table_args__ = (Index("ix_reference_dataset_kind_imported_at", "kind", "imported_at"),)

    kind: Mapped[str] = mapped_column(String(20))  # "cpv"
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)  # the path or URL the operator gave
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
