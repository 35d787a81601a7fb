"""The holder and the size of its project (N1–N7): one OG or a grappe, the three project types, where the
project is routed, the grouping and the grappe's cap.
"""

from __future__ import annotations

from collections.abc import Iterator

from marketplace.lib.identifiers import InvalidIdentifier, validate_finess
from marketplace.tenders.campaigns import Call, Campaign
from marketplace.tenders.rules._facts import NeedFacts, ProjectType, Violation
from marketplace.tenders.rules._registry import (
    _esms_count,
    _finess_key,
    _in_corsica_or_overseas,
    _og_count,
    _owning_og_count,
    _plural,
    _rule,
    _services,
    _violation,
)


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
