from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from marketplace.accounts.roles import OrganisationKind, Role
from marketplace.lib.schemas import CamelStruct, Email

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=200,
                                       description="At least 12 characters.")]
# Identifiers are checked by the service (so a 422 can say which rule failed); here only their size.
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class LoginRequest(CamelStruct):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RefreshRequest(CamelStruct):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TokenPair(CamelStruct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret


class OrganisationCreate(CamelStruct):
    kind: OrganisationKind
    name: Name
    siret: Identifier | None = None
    siren: Identifier | None = None
    finess_ej: Identifier | None = None
    is_grappe: bool = False
    # A grappe lists its OGs (holder organisations) and names its lead among them.
    grappe_member_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    lead_organisation_id: uuid.UUID | None = None
    # A funder (FU1): an ARS names its region (INSEE code, e.g. "11" Île-de-France, "53" Bretagne); the
    # national funder (CNSA/DNS, national calls of N5) says `national` instead. One funder per region, one national.
    region: Annotated[str, msgspec.Meta(pattern=r"^\d{2}$")] | None = None
    national: bool = False


class Organisation(CamelStruct):
    id: uuid.UUID
    kind: OrganisationKind
    name: str
    siren: str | None
    siret: str | None
    finess_ej: str | None
    is_grappe: bool
    lead_organisation_id: uuid.UUID | None
    grappe_member_ids: list[uuid.UUID]
    # A funder's region (INSEE code) and whether it is the national funder (FU1); None / false otherwise.
    region: str | None = None
    national: bool = False


class OrganisationListItem(CamelStruct):
    """One row of the organisations an admin manages: its identifiers and its active members' count."""

    id: uuid.UUID
    kind: OrganisationKind
    name: str
    siren: str | None
    siret: str | None
    finess_ej: str | None
    is_grappe: bool
    region: str | None
    members: int


class OrganisationList(CamelStruct):
    items: list[OrganisationListItem]
    total: int
    limit: int
    offset: int


class FacilityCreate(CamelStruct):
    name: Name
    finess_et: Identifier
    category_code: Annotated[str, msgspec.Meta(pattern=r"^\d{3,4}$")] | None = None


class Facility(CamelStruct):
    """An ESMS and the OG it belongs to (for a grappe's listing, one of its member OGs)."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    finess_et: str
    category_code: str | None
    # The OG's name and FINESS EJ (N18 links each ESMS to its OG).
    organisation_name: str
    finess_ej: str | None


class MembershipView(CamelStruct):
    organisation_id: uuid.UUID
    organisation_name: str
    kind: OrganisationKind
    roles: list[Role]


class Me(CamelStruct):
    id: uuid.UUID | None
    email: str | None
    full_name: str | None
    api_key_id: uuid.UUID | None
    memberships: list[MembershipView]


class InvitationCreate(CamelStruct):
    email: Email
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)]


class Invitation(CamelStruct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    email: str
    roles: list[Role]
    expires_at: datetime


class InvitationAccept(CamelStruct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    full_name: Name
    # Needed only when no account has the invited address yet.
    password: Password | None = None


class Member(CamelStruct):
    user_id: uuid.UUID
    email: str
    full_name: str
    roles: list[Role]
    is_active: bool


class MemberUpdate(CamelStruct):
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)]


class ApiKeyCreate(CamelStruct):
    name: Name
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)]


class ApiKey(CamelStruct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    prefix: str
    roles: list[Role]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    """Returned once, at creation: the only time the secret is shown."""

    key: str = ""


# -- the audit log, read (accounts/audit_log.py) ----------------------------------------------------------


class AuditEvent(CamelStruct):
    """One event of the hash-chained log: `hash` is SHA-256 over `prevHash`, the id and `contentSha256`, the
    SHA-256 of the event's canonical JSON (lib/audit.py `link_hash`), so anyone holding the events can recompute
    it. Events are chained in `chainPosition` order, the order their transactions committed."""

    id: int
    at: datetime
    action: str
    # `user:<id>`, `api_key:<id>`, `system` or `anonymous`.
    actor: str
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    # None for the events recorded before the chain was linked at commit (their hash covers the content).
    content_sha256: str | None
    # The link; None only for a row inserted out of band, with the database's triggers off.
    chain_position: int | None
    prev_hash: str | None
    hash: str | None


class AuditEventPage(CamelStruct):
    """A keyset page, newest first: `older` is the `before` of the next older page, `newer` the `after` of the
    next newer one (None: there is none). Events recorded meanwhile never shift a page: no gap, no repeat."""

    items: list[AuditEvent]
    limit: int
    older: int | None
    newer: int | None


class ChainVerification(CamelStruct):
    """The whole chain walked in id order: `ok`, or the first event whose link or content doesn't match; and its
    daily anchors (G14), each one's RFC 3161 token verified and its hash reached by the chain recomputed from
    its first event: `brokenAnchorDay` names the first that fails, `anchorReason` why."""

    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str | None
    verified_at: datetime
    anchors_checked: int = 0
    broken_anchor_day: date | None = None
    anchor_reason: str | None = None


class EvidenceEvent(AuditEvent):
    # The event's own hash recomputed from its content and its `prevHash` (the link to the event before it in
    # the whole chain is checked by the chain's verification).
    hash_matches: bool


class EvidenceBundle(CamelStruct):
    """Every event about one object the caller may read, each with its hashes, and what was verified."""

    target_type: str
    target_id: str
    generated_at: datetime
    generated_by: str
    algorithm: str
    events: list[EvidenceEvent]
    # The whole chain's verification: for a platform admin only (it reads every event); None otherwise.
    chain: ChainVerification | None
