"""Expressions of need on the wire: their facilities and software, drafts, updates and the need as read.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.campaigns import Call, CoreService
from marketplace.tenders.rules import Couloir, ProjectType
from marketplace.tenders.schemas._common import Cents, Cpv, Finess, LongText, Percent, Reference, Text300, Year
from marketplace.tenders.states import NeedProgress
from marketplace.vendors.models import DeliveryMode, Sector


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
    # HC5: draft, submitted, then its procedure's stage as it stands now (derived from its specific contract).
    status: NeedProgress
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
