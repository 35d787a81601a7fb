"""ESMS numérique programme rules N1–N19 for an expression of need, as pure validation (domain.md §6).

`NeedFacts` is a need as the rules see it: no database, no clock. Facts that need a lookup (is this ESMS already
in another active project of the campaign? — N18) are looked up by the caller and passed in. The thresholds come
from the need's `Campaign` (`marketplace.tenders.campaigns`), so a rule never branches on a year.

`check_need` runs every rule that applies to the campaign and returns all violations, in rule order;
`ensure_valid` raises the first as `RuleViolation` (422) with every violation in `violations`. Each violation
names the rule id, the field (the camelCase path of the `NeedFacts` attribute, as on the wire) and, in its
message, the numbers involved.

Two dates, because the programme has two steps [SEED]: the holder applies for aid in a call (ARS or national,
`applied_on`, N17's window), the call's selection pre-validates the project, and only then is the need
submitted for publication on the SAD (`submitted_on`, N16).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from marketplace.errors import RuleViolation
from marketplace.lib.identifiers import InvalidIdentifier, normalise, validate_finess
from marketplace.tenders.campaigns import CAMPAIGNS, Call, CallWindow, Campaign, CoreService, is_corsica_or_overseas
from marketplace.vendors.models import DeliveryMode, Sector

__all__ = [
    "RULES",
    "Call",
    "Campaign",
    "CoreService",
    "Couloir",
    "Facility",
    "Holder",
    "NeedFacts",
    "Og",
    "ProjectType",
    "Rule",
    "Software",
    "Violation",
    "applicable_rules",
    "check_need",
    "ensure_valid",
    "raise_first",
]


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
    ars_prevalidation_reference: str | None = None
    ars_prevalidated_on: date | None = None
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


RuleCheck = Callable[[NeedFacts, Campaign], Iterator[Violation]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One programme rule: `check` yields its violations; `applies` says whether the campaign has it."""

    id: str
    source: str
    check: RuleCheck
    applies: Callable[[Campaign], bool]


RULES: list[Rule] = []


def _always(_campaign: Campaign) -> bool:
    return True


def _rule(rule_id: str, source: str, applies: Callable[[Campaign], bool] = _always) -> Callable[[RuleCheck], RuleCheck]:
    def register(check: RuleCheck) -> RuleCheck:
        RULES.append(Rule(rule_id, source, check, applies))
        return check

    return register


def _violation(rule: str, field: str, text: str) -> Violation:
    return Violation(rule, field, f"{rule}: {text}")


# ---------------------------------------------------------------------------------------------------- helpers


def _finess_key(value: str) -> str:
    """The form FINESS numbers are compared in: validated if valid, else merely normalised."""
    try:
        return validate_finess(value)
    except InvalidIdentifier:
        return normalise(value)


def _esms_count(facts: NeedFacts) -> int:
    """ESMS are counted once each, however often they are listed (duplicates are N18's business)."""
    return len({_finess_key(f.finess_et) for f in facts.facilities})


def _og_count(facts: NeedFacts) -> int:
    """OGs are counted once each, however often they are listed (duplicates are N1's business)."""
    return len({_finess_key(og.finess_ej) for og in facts.holder.ogs})


def _owning_og_count(facts: NeedFacts) -> int:
    """The holder's OGs that own at least one listed ESMS (a facility of another OG is N18's business)."""
    holder = {_finess_key(og.finess_ej) for og in facts.holder.ogs}
    return len({key for f in facts.facilities if (key := _finess_key(f.og_finess_ej)) in holder})


def _in_corsica_or_overseas(facts: NeedFacts) -> bool:
    """The lower thresholds (N2, N6) apply when every ESMS of the need is in Corsica or overseas."""
    return bool(facts.facilities) and all(is_corsica_or_overseas(f.departement) for f in facts.facilities)


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def _euros(cents: int) -> str:
    euros, rest = divmod(cents, 100)
    whole = f"{euros:,}".replace(",", " ")
    return f"{whole} €" if rest == 0 else f"{whole}.{rest:02d} €"


_SERVICE_NAMES = {CoreService.INS: "INS", CoreService.MSS: "MSS", CoreService.DMP: "DMP",
                  CoreService.EPRESCRIPTION: "e-prescription"}
_SERVICE_ORDER = (CoreService.INS, CoreService.MSS, CoreService.DMP, CoreService.EPRESCRIPTION)


def _services(services: frozenset[CoreService], joiner: str = "and") -> str:
    names = [_SERVICE_NAMES[s] for s in _SERVICE_ORDER if s in services]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {joiner} {names[-1]}"


# ---------------------------------------------------------------------------------------------------- the rules


@_rule("N1", "[SEED][S72]")
def holder_is_og_or_grappe(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N1 `holder.type`: the holder is an OG (FINESS EJ) or a grappe/groupement of OGs with a lead OG [SEED][S72]."""
    holder = facts.holder
    if not holder.ogs:
        yield _violation("N1", "holder.ogs", "the holder is one OG or a grappe of OGs; this one lists 0 OGs")
        return
    seen: set[str] = set()
    for index, og in enumerate(holder.ogs):
        field = f"holder.ogs[{index}].finessEj"
        try:
            key = validate_finess(og.finess_ej)
        except InvalidIdentifier as exc:
            yield _violation("N1", field, f"OG FINESS EJ {og.finess_ej!r} is invalid: {exc.reason}")
            continue
        if key in seen:
            yield _violation("N1", field, f"OG FINESS EJ {key} is listed twice")
        seen.add(key)
    count = len(holder.ogs)
    if not holder.is_grappe:
        if count != 1:
            yield _violation("N1", "holder.ogs",
                             f"a holder that is not a grappe is 1 OG; this one lists {count} OGs")
        elif holder.lead_finess_ej is not None and _finess_key(holder.lead_finess_ej) != _finess_key(
                holder.ogs[0].finess_ej):
            yield _violation("N1", "holder.leadFinessEj",
                             f"the lead OG {holder.lead_finess_ej} is not the holder's OG {holder.ogs[0].finess_ej}")
        return
    if count < 2:
        yield _violation("N1", "holder.ogs", f"a grappe groups at least 2 OGs; this one has {count}")
    if holder.lead_finess_ej is None or not holder.lead_finess_ej.strip():
        yield _violation("N1", "holder.leadFinessEj", "a grappe names its lead OG (FINESS EJ); none is given")
    elif _finess_key(holder.lead_finess_ej) not in {_finess_key(og.finess_ej) for og in holder.ogs}:
        yield _violation("N1", "holder.leadFinessEj",
                         f"the lead OG {holder.lead_finess_ej} is not one of the grappe's {_plural(count, 'OG')}")


@_rule("N2", "[SEED]")
def acquisition_grappe_size(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N2 `project_type=ACQUISITION` (type 1): ESMS without a DUI acquire and deploy one, carried by a grappe of
    ≥ 3 OGs totalling ≥ 15 ESMS [SEED] (amorçage; from 2022 the total follows N6: ≥ 8 in Corsica/overseas).

    The OGs that count are those whose ESMS the need lists, not the grappe's members: a dormant third member
    that brings no facility to the project does not make it a project of 3 OGs."""
    if facts.project_type is not ProjectType.ACQUISITION:
        return
    min_ogs = campaign.type1_min_ogs
    reduced = _in_corsica_or_overseas(facts)
    min_esms = campaign.type1_min_esms_corsica_overseas if reduced else campaign.type1_min_esms
    where = " (Corsica/overseas)" if reduced and min_esms != campaign.type1_min_esms else ""
    need = f"a type-1 project needs the facilities of at least {min_ogs} OGs and at least {min_esms} facilities{where}"
    ogs, esms = _owning_og_count(facts), _esms_count(facts)
    counts = f"this one lists {_plural(esms, 'facility', 'facilities')} of {_plural(ogs, 'OG')}"
    members = _og_count(facts)
    if not facts.holder.is_grappe:
        yield _violation("N2", "holder.isGrappe", f"{need}, carried by a grappe; this one is a single OG")
    elif members < min_ogs:
        yield _violation("N2", "holder.ogs", f"{need}; this grappe has {_plural(members, 'OG')} ({counts})")
    # A grappe big enough on paper still fails when its need lists the facilities of fewer OGs.
    few_ogs = facts.holder.is_grappe and members >= min_ogs and ogs < min_ogs
    if few_ogs or esms < min_esms:
        yield _violation("N2", "facilities", f"{need}; {counts}")


@_rule("N3", "[SEED]")
def conformity_single_og(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N3 `project_type=CONFORMITY` (type 2): bring an existing DUI into conformity with the national framework;
    a single OG with ≤ 30 ESMS; interoperability with the core services MSSanté, DMP, e-prescription [SEED]."""
    if facts.project_type is not ProjectType.CONFORMITY:
        return
    need = (f"a type-2 project is carried by {campaign.type2_max_ogs} OG with at most {campaign.type2_max_esms}"
            " facilities")
    ogs = _og_count(facts)
    if facts.holder.is_grappe:
        yield _violation("N3", "holder.isGrappe", f"{need}; this one is a grappe of {_plural(ogs, 'OG')}")
    elif ogs > campaign.type2_max_ogs:
        yield _violation("N3", "holder.ogs", f"{need}; this one has {ogs} OGs")
    esms = _esms_count(facts)
    if esms > campaign.type2_max_esms:
        yield _violation("N3", "facilities", f"{need}; this one has {esms} facilities")
    missing = campaign.type2_core_services - facts.core_services
    if missing:
        yield _violation("N3", "coreServices",
                         f"a type-2 project implements interoperability with {_services(campaign.type2_core_services)}"
                         f"; this one lacks {_services(missing)}")


@_rule("N4", "[SEED]")
def equipment_small_og(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N4 `project_type=EQUIPMENT` (type 3): equipment/infrastructure only, for a small OG (< 15 ESMS) that also
    carries a DUI acquisition project [SEED]."""
    if facts.project_type is not ProjectType.EQUIPMENT:
        return
    limit = campaign.type3_max_esms_exclusive
    need = f"a type-3 project is for {campaign.type3_max_ogs} OG with fewer than {limit} facilities"
    ogs = _og_count(facts)
    if facts.holder.is_grappe:
        yield _violation("N4", "holder.isGrappe", f"{need}; this one is a grappe of {_plural(ogs, 'OG')}")
    elif ogs > campaign.type3_max_ogs:
        yield _violation("N4", "holder.ogs", f"{need}; this one has {ogs} OGs")
    esms = _esms_count(facts)
    if esms >= limit:
        yield _violation("N4", "facilities", f"{need}; this one has {esms} facilities")
    if not facts.companion_dui_acquisition:
        yield _violation("N4", "companionDuiAcquisition",
                         "a type-3 project is granted only to an OG that also carries a DUI acquisition project;"
                         " none is declared")


@_rule("N5", "[SEED][S72]", applies=lambda c: c.national_threshold is not None)
def routing_by_size(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N5 `esms_count` routing: ≥ 50 ESSMS → national call (CNSA/DNS); < 50 → regional ARS call [SEED][S72]."""
    threshold = campaign.national_threshold
    assert threshold is not None  # guaranteed by `applies`
    esms = _esms_count(facts)
    if esms >= threshold and facts.requested_call is not Call.NATIONAL:
        yield _violation("N5", "requestedCall",
                         f"a need with {threshold} or more ESSMS goes to the national call (CNSA/DNS);"
                         f" this one has {esms} and was filed in a regional ARS call")
    elif esms < threshold and facts.requested_call is not Call.REGIONAL:
        yield _violation("N5", "requestedCall",
                         f"a need with fewer than {threshold} ESSMS goes to its regional ARS call;"
                         f" this one has {esms} and was filed in the national call")


@_rule("N6", "[S72][S69]", applies=lambda c: c.min_grouping is not None)
def generalisation_grouping(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N6 `esms_count` (généralisation, 2022+): a groupement has ≥ 15 ESSMS (≥ 8 in Corsica and overseas);
    multiregional groupings of < 50 ESSMS go to the ARS [S72][S69]."""
    esms = _esms_count(facts)
    if facts.holder.is_grappe and campaign.min_grouping is not None:
        reduced = campaign.min_grouping_corsica_overseas
        if _in_corsica_or_overseas(facts) and reduced is not None:
            if esms < reduced:
                yield _violation("N6", "facilities", f"a grouping in Corsica or overseas needs at least {reduced}"
                                                     f" ESSMS; this one has {esms}")
        elif esms < campaign.min_grouping:
            also = f" ({reduced} in Corsica and overseas)" if reduced is not None else ""
            yield _violation("N6", "facilities",
                             f"a grouping needs at least {campaign.min_grouping} ESSMS{also}; this one has {esms}")
    threshold = campaign.national_threshold
    if (facts.multiregional and threshold is not None and esms < threshold
            and facts.requested_call is not Call.REGIONAL):
        yield _violation("N6", "requestedCall",
                         f"a multiregional grouping of fewer than {threshold} ESSMS goes to an ARS call;"
                         f" this one has {esms} and was filed in the national call")


@_rule("N7", "[S68]", applies=lambda c: c.max_grappe_esms is not None)
def amorcage_grappe_cap(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N7 `esms_count` (amorçage temps 2, 2021): grappes of ≤ 49 ESMS, ideally ≥ 15 [S68]. The "ideally" is
    advice, not a refusal (N2 already asks 15 of a type-1 grappe)."""
    cap = campaign.max_grappe_esms
    esms = _esms_count(facts)
    if facts.holder.is_grappe and cap is not None and esms > cap:
        yield _violation("N7", "facilities",
                         f"in campaign {campaign.year} a grappe has at most {cap} ESMS; this one has {esms}")


_OPTIONAL_SERVICES = frozenset({CoreService.MSS, CoreService.DMP, CoreService.EPRESCRIPTION})


@_rule("N8", "[SEED]")
def core_services(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N8 `core_services`: INS is mandatory and NOT counted as the optional core service; at least one of MSS,
    DMP, e-prescription [SEED]."""
    if CoreService.INS not in facts.core_services:
        yield _violation("N8", "coreServices", "INS is mandatory; it is missing from the core services")
    chosen = len(facts.core_services & _OPTIONAL_SERVICES)
    if chosen < 1:
        yield _violation("N8", "coreServices",
                         f"at least 1 optional core service among {_services(_OPTIONAL_SERVICES, 'or')} is required"
                         f" (INS does not count); this one has {chosen}")


@_rule("N9", "[SEED]")
def gdpr_declared(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N9 `gdpr_compliance`: RGPD compliance is declared [SEED]."""
    if not facts.gdpr_compliance:
        yield _violation("N9", "gdprCompliance", "RGPD (GDPR) compliance must be declared; it is not")


@_rule("N10", "[SEED]")
def target_map_declared(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N10 `target_map_convergence`: convergence with the target map ("carte cible") is declared [SEED]."""
    if not facts.target_map_convergence:
        yield _violation("N10", "targetMapConvergence",
                         "convergence with the target map (carte cible) must be declared; it is not")


@_rule("N11", "[SEED]")
def continuity_declared(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N11 `business_continuity`: a DUI business-continuity plan is declared [SEED]."""
    if not facts.business_continuity:
        yield _violation("N11", "businessContinuity", "a DUI business-continuity plan must be declared; it is not")


@_rule("N12", "[S57][S60]", applies=lambda c: c.segur_referencing)
def software_referencing(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N12 `software.referenced`: MS1/MS2 couloirs need Ségur-referenced software; AHI needs an editor registered
    at the referencing desk at the ARS-convention date; PJM needs neither [S57][S60]."""
    software = facts.software
    if software is None:
        yield _violation("N12", "software",
                         f"from campaign {campaign.year} the software's Ségur couloir (MS1, MS2, AHI or PJM) must be"
                         " stated; none is")
        return
    if software.couloir in (Couloir.MS1, Couloir.MS2) and not software.referenced:
        yield _violation("N12", "software.referenced",
                         f"in couloir {software.couloir} the chosen software version must be Ségur-referenced;"
                         " it is not")
    elif software.couloir is Couloir.AHI and not software.registered_at_desk:
        yield _violation("N12", "software.registeredAtDesk",
                         "in couloir AHI the editor must be registered at the referencing desk at the ARS-convention"
                         " date; it is not")


@_rule("N13", "[S69]", applies=lambda c: c.equipment_cap_cents is not None)
def equipment_cap(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N13 `equipment_budget`: equipment aid ≤ 10 000 € per ESSMS (2024 instruction) [S69]."""
    cap = campaign.equipment_cap_cents
    assert cap is not None  # guaranteed by `applies`
    for index, facility in enumerate(facts.facilities):
        if facility.equipment_budget_cents > cap:
            yield _violation("N13", f"facilities[{index}].equipmentBudgetCents",
                             f"equipment aid is at most {_euros(cap)} per ESSMS in campaign {campaign.year};"
                             f" ESSMS {facility.finess_et} asks {_euros(facility.equipment_budget_cents)}")


@_rule("N14", "[SEED]")
def funding_schedule(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N14 `funding_schedule`: 40 % at project start, 40 % at acceptance testing (recettage), 20 % after the usage
    criteria are verified [SEED]."""
    if tuple(facts.funding_schedule) != campaign.funding_schedule:
        expected = "/".join(map(str, campaign.funding_schedule))
        given = "/".join(map(str, facts.funding_schedule)) or "empty"
        yield _violation("N14", "fundingSchedule",
                         f"payments are split {expected} % (project start, acceptance testing, usage verified);"
                         f" this one is {given}")


@_rule("N15", "[S60][S69]")
def usage_targets(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N15 `usage_targets`: funding is conditional on reaching the usage targets ("cibles d'usage"); the
    active-DUI indicator is reported to the ARS, proofs kept [S60][S69]."""
    if not facts.usage_targets_declared:
        yield _violation("N15", "usageTargetsDeclared",
                         "funding is conditional on usage targets (cibles d'usage), which must be declared;"
                         " they are not")


@_rule("N16", "[S20]")
def ars_prevalidation(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N16 `ars_prevalidation`: a need is published on the SAD only if the ARS (or national) selection
    pre-validated the project [S20]: a reference and a date, after the application, not after the submission."""
    reference = facts.ars_prevalidation_reference
    if reference is None or not reference.strip():
        yield _violation("N16", "arsPrevalidationReference",
                         "a need is published only once its project was pre-validated by the ARS (or national)"
                         " selection; no pre-validation reference is given")
    prevalidated = facts.ars_prevalidated_on
    if prevalidated is None:
        yield _violation("N16", "arsPrevalidatedOn", "the date of the ARS pre-validation is missing")
        return
    if prevalidated > facts.submitted_on:
        yield _violation("N16", "arsPrevalidatedOn",
                         f"the ARS pre-validation ({prevalidated.isoformat()}) must come before the need is submitted"
                         f" ({facts.submitted_on.isoformat()})")
    if prevalidated < facts.applied_on:
        yield _violation("N16", "arsPrevalidatedOn",
                         f"the ARS pre-validation ({prevalidated.isoformat()}) cannot come before the application to"
                         f" the call ({facts.applied_on.isoformat()})")


def _call_label(facts: NeedFacts, campaign: Campaign) -> str:
    if facts.requested_call is Call.NATIONAL:
        return "national call"
    if facts.multiregional and campaign.multiregional_window is not None:
        return "multiregional ARS call"
    return "regional ARS call"


@_rule("N17", "[SEED][S72][S69]")
def call_window(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N17 `calendar`: the application falls within the campaign's window for its call (2021: 1 Feb–15 Apr;
    2022: regional 14 Mar–30 Sep, national 18 May–18 Jul; 2024: multiregional until 1 Jun, regional until
    15 Sep, national from 15 Feb) [SEED][S72][S69]. An unknown window or bound is not checked."""
    window: CallWindow | None = campaign.window_for(facts.requested_call, multiregional=facts.multiregional)
    if window is None:
        return
    applied = facts.applied_on
    label = f"the {_call_label(facts, campaign)} of campaign {campaign.year}"
    if window.opens is not None and applied < window.opens:
        yield _violation("N17", "appliedOn",
                         f"{label} opens on {window.opens.isoformat()}; the application is dated {applied.isoformat()}")
    if window.closes is not None and applied > window.closes:
        yield _violation("N17", "appliedOn",
                         f"{label} closed on {window.closes.isoformat()}; the application is dated"
                         f" {applied.isoformat()}")


@_rule("N18", "[INFER]")
def facilities_identified(facts: NeedFacts, campaign: Campaign) -> Iterator[Violation]:
    """N18 `sites[]`: every ESMS has a valid FINESS ET linked to one of the holder's OG FINESS EJ; no ESMS twice;
    none already in another active project of the same campaign [INFER]."""
    if not facts.facilities:
        yield _violation("N18", "facilities", "a need covers at least 1 ESMS; this one lists 0")
        return
    holder_ejs = {_finess_key(og.finess_ej) for og in facts.holder.ogs}
    seen: set[str] = set()
    for index, facility in enumerate(facts.facilities):
        field = f"facilities[{index}].finessEt"
        try:
            et = validate_finess(facility.finess_et)
        except InvalidIdentifier as exc:
            yield _violation("N18", field, f"FINESS ET {facility.finess_et!r} is invalid: {exc.reason}")
            et = normalise(facility.finess_et)
        if et in seen:
            yield _violation("N18", field, f"ESMS {et} is listed twice")
        seen.add(et)
        if _finess_key(facility.og_finess_ej) not in holder_ejs:
            yield _violation("N18", f"facilities[{index}].ogFinessEj",
                             f"ESMS {et} belongs to FINESS EJ {facility.og_finess_ej}, which is not an OG of the"
                             f" holder ({_plural(len(facts.holder.ogs), 'OG')})")
        if facility.in_other_active_project:
            yield _violation("N18", field,
                             f"ESMS {et} is already in another active project of campaign {campaign.year}")


@_rule("N19", "[S20]")
def sad_category(facts: NeedFacts, _campaign: Campaign) -> Iterator[Violation]:
    """N19 `sector`/`delivery_mode`: a need targets one SAD category, sector × delivery mode [S20]."""
    if facts.sector is None:
        yield _violation("N19", "sector",
                         "a need targets one SAD category (sector × delivery mode); the sector"
                         f" ({', '.join(Sector)}) is missing")
    if facts.delivery_mode is None:
        yield _violation("N19", "deliveryMode",
                         "a need targets one SAD category (sector × delivery mode); the delivery mode"
                         f" ({', '.join(DeliveryMode)}) is missing")


# ---------------------------------------------------------------------------------------------------- entry points


def applicable_rules(campaign: Campaign) -> tuple[str, ...]:
    """The ids of the rules the campaign has, in order (a rule whose threshold is unset does not apply)."""
    return tuple(rule.id for rule in RULES if rule.applies(campaign))


def _resolve(facts: NeedFacts, campaign: Campaign | None) -> Campaign | Violation:
    if campaign is None:
        found = CAMPAIGNS.get(facts.campaign)
        if found is None:
            known = ", ".join(str(year) for year in sorted(CAMPAIGNS))
            return Violation("campaign", "campaign",
                             f"campaign: there is no rule set for campaign {facts.campaign}; known campaigns: {known}")
        return found
    if campaign.year != facts.campaign:
        return Violation("campaign", "campaign",
                         f"campaign: the need belongs to campaign {facts.campaign} but was checked against the"
                         f" {campaign.year} rule set")
    return campaign


def check_need(facts: NeedFacts, campaign: Campaign | None = None) -> list[Violation]:
    """Every violation of the programme rules by `facts`, in rule order (N1…N19); empty if the need is valid.

    `campaign` defaults to the rule set of `facts.campaign`; an unknown campaign year, or a rule set of another
    year, gives a single violation on the field `campaign` (no threshold can be checked without it).
    """
    resolved = _resolve(facts, campaign)
    if isinstance(resolved, Violation):
        return [resolved]
    violations: list[Violation] = []
    for rule in RULES:
        if rule.applies(resolved):
            violations.extend(rule.check(facts, resolved))
    return violations


def raise_first(violations: Sequence[Violation]) -> None:
    """Raise `RuleViolation` (422) for the first violation, carrying all of them in `violations`; no-op if none."""
    if not violations:
        return
    first = violations[0]
    more = len(violations) - 1
    detail = first.message if more == 0 else f"{first.message} (and {_plural(more, 'more violation')})"
    payload: list[dict[str, Any]] = [v.as_dict() for v in violations]
    raise RuleViolation(detail, field=first.field, rule=first.rule, violations=payload)


def ensure_valid(facts: NeedFacts, campaign: Campaign | None = None) -> None:
    """Raise `RuleViolation` unless `facts` satisfies every programme rule of its campaign."""
    raise_first(check_need(facts, campaign))
