from __future__ import annotations

import uuid
from datetime import datetime

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.accounts.roles import OrganisationKind
from marketplace.lib.columns import value_enum


class Organisation(UUIDv7AuditBase):
    __tablename__ = "organisation"
    __table_args__ = (
        # A holder OG carries its FINESS EJ; a grappe is a holder without one (its OGs carry theirs).
        CheckConstraint("kind = 'holder' OR (finess_ej IS NULL AND NOT is_grappe)", name="holder_fields"),
        Index("uq_organisation_siret", "siret", unique=True, postgresql_where=text("siret IS NOT NULL")),
        Index("uq_organisation_finess_ej", "finess_ej", unique=True, postgresql_where=text("finess_ej IS NOT NULL")),
        # FU1: only a funder has a region (an ARS its INSEE region code; the national funder, CNSA/DNS, none);
        # one ARS per region and one national funder.
        CheckConstraint("kind = 'funder' OR region IS NULL", name="funder_region"),
        Index("uq_organisation_funder_region", "region", unique=True,
              postgresql_where=text("kind = 'funder' AND region IS NOT NULL")),
        Index("uq_organisation_national_funder", "kind", unique=True,
              postgresql_where=text("kind = 'funder' AND region IS NULL")),
    )

    kind: Mapped[OrganisationKind] = mapped_column(value_enum(OrganisationKind, "organisation_kind"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    siren: Mapped[str | None] = mapped_column(String(9), index=True, default=None)
    siret: Mapped[str | None] = mapped_column(String(14), default=None)
    finess_ej: Mapped[str | None] = mapped_column(String(9), default=None)
    is_grappe: Mapped[bool] = mapped_column(Boolean, default=False)
    # For a funder (FU1): the INSEE code of the region of an ARS ("11", "53"); NULL for the national funder.
    region: Mapped[str | None] = mapped_column(String(2), default=None)
    # For a grappe: its lead OG (also one of its members, see GrappeMember).
    lead_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), default=None)


class GrappeMember(UUIDv7AuditBase):
    __tablename__ = "grappe_member"
    __table_args__ = (UniqueConstraint("grappe_id", "organisation_id"),)

    grappe_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"))


class Facility(UUIDv7AuditBase):
    """An ESMS (établissement ou service social ou médico-social) of an OG, by its FINESS ET."""

    __tablename__ = "facility"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="RESTRICT"),
                                                       index=True)
    name: Mapped[str] = mapped_column(String(300))
    finess_et: Mapped[str] = mapped_column(String(9), unique=True)
    category_code: Mapped[str | None] = mapped_column(String(4), default=None)


class User(UUIDv7AuditBase):
    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Membership(UUIDv7AuditBase):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"),
                                                       index=True)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)))


class ApiKey(UUIDv7AuditBase):
    """A machine client's key, scoped to one organisation. Only a SHA-256 of the secret is kept: the
    secret has 256 bits of entropy, so a slow password hash would add nothing but latency."""

    __tablename__ = "api_key"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"),
                                                       index=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                            default=None)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class RefreshToken(UUIDv7AuditBase):
    """One link of a rotation chain. A login starts a family; each refresh spends its token and adds the
    next one to the same family. The family is the session: its access tokens carry its id and are
    honoured only while one of its refresh tokens is unspent (accounts/auth.py)."""

    __tablename__ = "refresh_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Invitation(UUIDv7AuditBase):
    __tablename__ = "invitation"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"),
                                                       index=True)
    email: Mapped[str] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                            default=None)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class LoginThrottle(UUIDv7AuditBase):
    """Failed logins per e-mail address, whether or not an account has it (so throttling reveals nothing)."""

    __tablename__ = "login_throttle"

    email_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
