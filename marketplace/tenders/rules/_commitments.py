"""What the project commits to (N8–N15): the core services, the declarations (GDPR, target map, continuity),
referenced software, the equipment cap, the funding schedule and the usage targets.
"""

from __future__ import annotations

from collections.abc import Iterator

from marketplace.tenders.campaigns import Campaign, CoreService
from marketplace.tenders.rules._facts import Couloir, NeedFacts, Violation
from marketplace.tenders.rules._registry import _euros, _rule, _services, _violation

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
