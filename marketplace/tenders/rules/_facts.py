"""A need as the rules see it (`NeedFacts`: no database, no clock) and what a rule finds wrong (`Violation`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from marketplace.tenders.campaigns import Call, CoreService
from marketplace.vendors.models import DeliveryMode, Sector


class ProjectType(enum.IntEnum):
    """The three kinds of ESMS numérique project (N2–N4) [SEED]."""

    ACQUISITION = 1  # acquire and deploy a DUI
    CONFORMITY = 2   # bring an existing DUI into conformity with the national framework
    EQUIPMENT = 3    # equipment and infrastructure for a small OG


class Couloir(enum.StrEnum):
    """Ségur referencing lanes (N12) [S57][S60]."""

    MS1 = "MS1"
    MS2 = "MS2"
    AHI = "AHI"  # accueil, hébergement, insertion
    PJM = "PJM"  # protection juridique des majeurs


@dataclass(frozen=True, slots=True, kw_only=True)
class Og:
    """An organisme gestionnaire, by its FINESS juridique (EJ) (§2.3)."""

    finess_ej: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """The project holder (N1): one OG, or a grappe of OGs led by one of them (`lead_finess_ej`)."""

    is_grappe: bool
    ogs: tuple[Og, ...]
    lead_finess_ej: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Facility:
    """One ESMS of the need: its FINESS géographique (ET), the EJ of its OG, its département (INSEE or FINESS
    code, e.g. `75`, `2A`, `974`, `9D`), whether it is in another active project of the campaign (looked up by the
    caller, N18) and the equipment aid asked for it in euro cents (N13)."""

    finess_et: str
    og_finess_ej: str
    departement: str
    in_other_active_project: bool = False
    equipment_budget_cents: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Software:
    """The DUI software's Ségur couloir and status (N12)."""

    couloir: Couloir
    referenced: bool = False          # the editor/version is Ségur-referenced (MS1, MS2)
    registered_at_desk: bool = False  # the editor is registered at the ANS referencing desk (AHI)


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedFacts:
    """An expression of need as the programme rules see it (domain.md §6)."""

    campaign: int
    project_type: ProjectType
    holder: Holder
    facilities: tuple[Facility, ...]
    requested_call: Call
    multiregional: bool = False
    core_services: frozenset[CoreService] = frozenset()
    gdpr_compliance: bool = False
    target_map_convergence: bool = False
    business_continuity: bool = False
    software: Software | None = None
    funding_schedule: tuple[int, ...] = ()
    usage_targets_declared: bool = False
    applied_on: date
    submitted_on: date
    sector: Sector | None = None
    delivery_mode: DeliveryMode | None = None
    companion_dui_acquisition: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule: its id (`N1`…`N19`, or `campaign`), the field at fault and a message naming both."""

    rule: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "field": self.field, "message": self.message}
