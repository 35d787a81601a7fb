"""The needs as their buying side reviews them before publishing: the list, and a need's file with its checklist
(N1–N19 as the rule engine judges them, N16 as publication checks it) and the DPS it is filed to.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.models import FundingStatus
from marketplace.tenders.schemas._contracts import ChosenCriterion
from marketplace.tenders.schemas._needs import Need
from marketplace.tenders.states import NeedProgress
from marketplace.vendors.models import ConductMode


class ReviewedNeed(CamelStruct):
    """One line of the review list: the need as read (HC5), its holder and the DPS it is filed to (D2)."""

    id: uuid.UUID
    title: str
    holder_organisation_id: uuid.UUID
    holder_name: str
    facility_count: int
    campaign: int
    status: NeedProgress
    funding_status: FundingStatus | None
    submitted_at: datetime | None
    dps_id: uuid.UUID
    dps_title: str
    conduct_mode: ConductMode
    sandbox: bool


class ReviewedNeedPage(CamelStruct):
    items: list[ReviewedNeed]
    total: int
    limit: int
    offset: int


class ReviewedFacility(CamelStruct):
    """An ESMS of the need (FINESS ET), the EJ of the OG it belongs to and its registered name; `registered`
    False when the facility table doesn't know it (N18)."""

    finess_et: str
    finess_ej: str | None
    name: str | None
    departement: str
    registered: bool
    equipment_budget_cents: int


class CheckedRule(CamelStruct):
    """One rule of the checklist: passed, or its violations' messages (each naming the field)."""

    rule: str
    source: str
    passed: bool
    messages: list[str]
    fields: list[str]


class ReviewFile(CamelStruct):
    need: Need
    holder_name: str
    facilities: list[ReviewedFacility]
    dps_id: uuid.UUID
    dps_title: str
    conduct_mode: ConductMode
    # The DPS category the need targets (N19: its sector × delivery mode), if the DPS has one.
    category_title: str | None
    # The DPS's award criteria with their ranges (D10): what the publishing form offers; `weight` is a midpoint.
    criteria: list[ChosenCriterion]
    checklist: list[CheckedRule]
    # Whether the caller may publish it (HC2, HC3): the service still decides.
    may_publish: bool
    contract_id: uuid.UUID | None
