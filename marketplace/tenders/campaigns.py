"""ESMS numérique campaigns: the thresholds of the programme rules, one rule set per year (domain.md §6).

"Rules carry a campaign (rule set versioned by year) because thresholds changed between phases." The numbers
live here as data; `marketplace.tenders.rules` reads them and never branches on a year. A rule whose value is
`None` for a campaign does not apply to it (N6 before 2022, N7 after 2021, N13 outside 2024, N12 before the
Ségur referencing desk opened).

What the documents do not give is left unset rather than guessed, and the rule that needs it passes:
- N17 call windows: only 2021 (regional), 2022 (regional, national) and part of 2024 (multiregional and regional
  deadlines, national opening) are known. 2023 and 2025 have no window; a bound that is not known is not checked.
- N13 equipment cap: 10 000 € per ESSMS is stated for the 2024 instruction only.
Every value here is [SEED] or [S#]-sourced but not all of them are confirmed for every year (domain.md asks
that [UNVERIFIED] values be configurable, not hard-coded): changing a threshold is an edit of this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date

__all__ = [
    "CAMPAIGNS",
    "Call",
    "CallWindow",
    "Campaign",
    "CoreService",
    "Phase",
    "is_corsica_or_overseas",
]


class Phase(enum.StrEnum):
    """Programme phases (§6): amorçage 2021–2022, then généralisation 2022–2025 [SEED]."""

    AMORCAGE = "amorcage"
    GENERALISATION = "generalisation"


class Call(enum.StrEnum):
    """The call for projects a need was filed in (N5): its region's ARS, or the national CNSA/DNS call."""

    REGIONAL = "regional"
    NATIONAL = "national"


class CoreService(enum.StrEnum):
    """Services socles (N8): INS is mandatory; MSS, DMP and e-prescription are the optional core services."""

    INS = "ins"
    MSS = "mss"
    DMP = "dmp"
    EPRESCRIPTION = "eprescription"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallWindow:
    """When applications to a call are received (N17), bounds inclusive. An unknown bound is `None`."""

    opens: date | None = None
    closes: date | None = None

    def __post_init__(self) -> None:
        if self.opens is not None and self.closes is not None and self.closes < self.opens:
            raise ValueError(f"a call window cannot close ({self.closes}) before it opens ({self.opens})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    """The thresholds of one campaign year. `None` means "this rule does not apply to this campaign"."""

    year: int
    phase: Phase
    # N2 (type 1, acquisition): a grappe of at least this many OGs and ESMS; the second number applies when every
    # ESMS is in Corsica or overseas (generalisation lowers it to N6's 8).
    type1_min_ogs: int = 3
    type1_min_esms: int = 15
    type1_min_esms_corsica_overseas: int = 15
    # N3 (type 2, conformity): one OG, at most this many ESMS, interoperable with these core services.
    type2_max_ogs: int = 1
    type2_max_esms: int = 30
    type2_core_services: frozenset[CoreService] = frozenset(
        {CoreService.MSS, CoreService.DMP, CoreService.EPRESCRIPTION})
    # N4 (type 3, equipment): one small OG with fewer than this many ESMS (exclusive bound).
    type3_max_ogs: int = 1
    type3_max_esms_exclusive: int = 15
    # N5: at or above this many ESSMS a need goes to the national call, below it to its ARS.
    national_threshold: int | None = 50
    # N6 (generalisation): a grouping has at least this many ESSMS (fewer in Corsica and overseas), and a
    # multiregional grouping below the national threshold goes to the ARS.
    min_grouping: int | None = None
    min_grouping_corsica_overseas: int | None = None
    # N7 (amorçage temps 2): grappes of at most this many ESMS.
    max_grappe_esms: int | None = None
    # N12: whether the Ségur referencing (couloirs MS1/MS2/AHI/PJM) conditions the choice of software.
    segur_referencing: bool = False
    # N13: equipment aid per ESSMS, in euro cents.
    equipment_cap_cents: int | None = None
    # N14: payment split, in percent: project start, acceptance testing (recettage), usage verified.
    funding_schedule: tuple[int, ...] = (40, 40, 20)
    # N17: call windows; a multiregional need filed with an ARS uses `multiregional_window` when known.
    regional_window: CallWindow | None = None
    national_window: CallWindow | None = None
    multiregional_window: CallWindow | None = None
    sources: tuple[str, ...] = field(default=())

    def window_for(self, call: Call, *, multiregional: bool) -> CallWindow | None:
        """The N17 window of `call`; a multiregional need in a regional call has its own deadline when known."""
        if call is Call.NATIONAL:
            return self.national_window
        if multiregional and self.multiregional_window is not None:
            return self.multiregional_window
        return self.regional_window


# Généralisation (2022–2025): groupings of ≥ 15 ESSMS, ≥ 8 in Corsica and overseas [S72][S69]; the
# Ségur referencing desk opened on 15 Feb 2022 [SEED], so N12 applies from 2022.
_GENERALISATION = Campaign(
    year=0, phase=Phase.GENERALISATION, min_grouping=15, min_grouping_corsica_overseas=8,
    type1_min_esms_corsica_overseas=8, segur_referencing=True,
)

CAMPAIGNS: dict[int, Campaign] = {
    # Amorçage: applications 1 Feb–15 Apr 2021, selection/contracting by 15 May 2021 [SEED]; grappes ≤ 49 [S68].
    # No national call date is known for 2021; with N7's cap of 49 every 2021 need goes to its ARS anyway.
    2021: Campaign(
        year=2021, phase=Phase.AMORCAGE, max_grappe_esms=49,
        regional_window=CallWindow(opens=date(2021, 2, 1), closes=date(2021, 4, 15)),
        sources=("[SEED]", "[S68]"),
    ),
    # Instruction DNS/CNSA/DGCS/2022/34: regional calls from the week of 14 Mar to 30 Sep 2022 (the earliest
    # day of that week is used), national call 18 May–18 Jul 2022 [S72].
    2022: replace(
        _GENERALISATION, year=2022,
        regional_window=CallWindow(opens=date(2022, 3, 14), closes=date(2022, 9, 30)),
        national_window=CallWindow(opens=date(2022, 5, 18), closes=date(2022, 7, 18)),
        sources=("[S23]", "[S72]"),
    ),
    # No 2023 dates in domain.md: N17 passes.
    2023: replace(_GENERALISATION, year=2023, sources=("[S60]", "[S72]")),
    # Instruction DNS/DGCS/CNSA/2024/15: equipment ≤ 10 000 € per ESSMS; multiregional deadline 1 Jun, regional
    # deadline 15 Sep, national call opens 15 Feb [S69]. The other bounds are not given.
    2024: replace(
        _GENERALISATION, year=2024,
        equipment_cap_cents=1_000_000,
        regional_window=CallWindow(closes=date(2024, 9, 15)),
        national_window=CallWindow(opens=date(2024, 2, 15)),
        multiregional_window=CallWindow(closes=date(2024, 6, 1)),
        sources=("[S69]", "[S70]", "[S72]"),
    ),
    # No 2025 dates or equipment cap in domain.md: N13 and N17 pass.
    2025: replace(_GENERALISATION, year=2025, sources=("[S71]", "[S72]")),
}

# Départements where N6's lower grouping threshold applies: Corsica (FINESS/INSEE 2A, 2B) and overseas, written
# as INSEE codes (971…989) or as the FINESS extraction's own codes 9A–9J (§2.3).
_CORSICA = frozenset({"2A", "2B"})
_FINESS_OVERSEAS = frozenset({"9A", "9B", "9C", "9D", "9E", "9F", "9G", "9H", "9I", "9J"})


def is_corsica_or_overseas(departement: str) -> bool:
    """Whether a département code (INSEE `2A`, `971`…, or FINESS `9A`…) is in Corsica or overseas (N6)."""
    code = departement.strip().upper()
    return code in _CORSICA or code in _FINESS_OVERSEAS or (len(code) == 3 and code[:2] in ("97", "98"))
