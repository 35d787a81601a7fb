"""Programme rules N1–N19 for an expression of need (domain.md §6): for each rule a passing and a failing need.

Pure: no database, no settings. `valid_need()` is a realistic 2024 need that breaks no rule; every failing case is
a minimal change of a valid need, and must be reported under its rule id with the numbers involved.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
from stdnum import luhn

from marketplace.errors import RuleViolation
from marketplace.tenders.campaigns import CAMPAIGNS, Call, CallWindow, CoreService, Phase, is_corsica_or_overseas
from marketplace.tenders.rules import (
    RULES,
    Couloir,
    Facility,
    Holder,
    NeedFacts,
    Og,
    ProjectType,
    Software,
    Violation,
    applicable_rules,
    check_need,
    ensure_valid,
    raise_first,
)
from marketplace.vendors.models import DeliveryMode, Sector


def finess(body: str) -> str:
    """A FINESS number with its Luhn key (§2.3) — `body` is the first 8 characters."""
    assert len(body) == 8
    return body + luhn.calc_check_digit(body)


EJ_PARIS = finess("75000001")
EJ_LYON = finess("69000002")
EJ_MARSEILLE = finess("13000003")
EJ_AJACCIO = "2A0000040"  # Corsican numbers are checked on format only (§2.3)
EJ_REUNION = finess("97040005")


def facility(ej: str, number: int, departement: str, *, budget: int = 800_000) -> Facility:
    prefix = ej[:4] if ej.startswith("97") else ej[:2]
    body = f"{prefix}{number:0{8 - len(prefix)}d}"
    et = body + "0" if body.startswith("2") and body[1].isalpha() else finess(body)
    return Facility(finess_et=et, og_finess_ej=ej, departement=departement, equipment_budget_cents=budget)


def facilities(ej: str, count: int, departement: str, start: int = 100) -> tuple[Facility, ...]:
    return tuple(facility(ej, start + i, departement) for i in range(count))


def valid_need(**changes: object) -> NeedFacts:
    """A 2024 type-1 need: a grappe of 3 OGs (lead: Paris) and 16 ESMS, filed in its ARS call."""
    need = NeedFacts(
        campaign=2024,
        project_type=ProjectType.ACQUISITION,
        holder=Holder(is_grappe=True, ogs=(Og(finess_ej=EJ_PARIS), Og(finess_ej=EJ_LYON), Og(finess_ej=EJ_MARSEILLE)),
                      lead_finess_ej=EJ_PARIS),
        facilities=facilities(EJ_PARIS, 6, "75") + facilities(EJ_LYON, 5, "69") + facilities(EJ_MARSEILLE, 5, "13"),
        requested_call=Call.REGIONAL,
        multiregional=False,
        core_services=frozenset({CoreService.INS, CoreService.MSS, CoreService.DMP}),
        gdpr_compliance=True,
        target_map_convergence=True,
        business_continuity=True,
        software=Software(couloir=Couloir.MS1, referenced=True),
        funding_schedule=(40, 40, 20),
        usage_targets_declared=True,
        applied_on=date(2024, 5, 2),
        submitted_on=date(2024, 11, 4),
        sector=Sector.GRAND_AGE,
        delivery_mode=DeliveryMode.SAAS,
    )
    return replace(need, **changes)  # type: ignore[arg-type]


def single_og(ej: str = EJ_PARIS) -> Holder:
    return Holder(is_grappe=False, ogs=(Og(finess_ej=ej),))


def valid_type2_need(**changes: object) -> NeedFacts:
    """Type 2 (conformity): one OG with 20 ESMS, interoperable with every core service."""
    need = valid_need(project_type=ProjectType.CONFORMITY, holder=single_og(),
                      facilities=facilities(EJ_PARIS, 20, "75"), core_services=frozenset(CoreService))
    return replace(need, **changes)  # type: ignore[arg-type]


def valid_type3_need(**changes: object) -> NeedFacts:
    """Type 3 (equipment): one small OG with 10 ESMS, which also carries a DUI acquisition project."""
    need = valid_need(project_type=ProjectType.EQUIPMENT, holder=single_og(),
                      facilities=facilities(EJ_PARIS, 10, "75"), companion_dui_acquisition=True)
    return replace(need, **changes)  # type: ignore[arg-type]


def valid_2021_need(**changes: object) -> NeedFacts:
    """Amorçage: applied within 1 Feb–15 Apr 2021, no Ségur couloir yet."""
    need = valid_need(campaign=2021, applied_on=date(2021, 3, 1), submitted_on=date(2021, 6, 1), software=None)
    return replace(need, **changes)  # type: ignore[arg-type]


def spread(ejs: tuple[str, ...], count: int, departement: str) -> tuple[Facility, ...]:
    """`count` ESMS shared among the OGs as evenly as can be (N2 counts the OGs whose ESMS the need lists)."""
    return tuple(facility(ejs[i % len(ejs)], 100 + i, departement) for i in range(count))


def grappe_of(count: int, departement: str = "75") -> dict[str, object]:
    """The grappe of 3 OGs of `valid_need`, with `count` ESMS spread over its three OGs."""
    return {"facilities": spread((EJ_PARIS, EJ_LYON, EJ_MARSEILLE), count, departement)}


def corsican_grappe(count: int) -> dict[str, object]:
    ejs = (EJ_AJACCIO, "2B0000050", "2A0000060")
    return {"holder": Holder(is_grappe=True, ogs=tuple(Og(finess_ej=ej) for ej in ejs), lead_finess_ej=EJ_AJACCIO),
            "facilities": spread(ejs, count, "2A")}


def with_facility(need: NeedFacts, index: int, **changes: object) -> NeedFacts:
    items = list(need.facilities)
    items[index] = replace(items[index], **changes)  # type: ignore[arg-type]
    return replace(need, facilities=tuple(items))


Factory = Callable[[], NeedFacts]

# (rule, a need that passes every rule, a minimally altered need that breaks `rule`, what its message must say)
CASES: list[tuple[str, Factory, Factory, str]] = [
    ("N1", valid_need, lambda: valid_need(holder=replace(valid_need().holder, lead_finess_ej=None)),
     "names its lead OG"),
    ("N1", valid_need, lambda: valid_need(holder=replace(valid_need().holder, lead_finess_ej=finess("33000009"))),
     "not one of the grappe's 3 OGs"),
    ("N1", valid_need,
     lambda: valid_need(holder=replace(valid_need().holder, ogs=(*valid_need().holder.ogs, Og(finess_ej="330000091")))),
     "'330000091' is invalid"),
    ("N1", valid_need,
     lambda: valid_need(holder=replace(valid_need().holder, ogs=(*valid_need().holder.ogs, Og(finess_ej=EJ_LYON)))),
     f"{EJ_LYON} is listed twice"),
    ("N1", valid_type2_need, lambda: valid_type2_need(holder=replace(valid_need().holder, is_grappe=False)),
     "lists 3 OGs"),
    ("N2", valid_need,
     lambda: valid_need(holder=Holder(is_grappe=True, ogs=(Og(finess_ej=EJ_PARIS), Og(finess_ej=EJ_LYON)),
                                      lead_finess_ej=EJ_PARIS),
                        facilities=facilities(EJ_PARIS, 11, "75") + facilities(EJ_LYON, 5, "69")),
     "needs the facilities of at least 3 OGs and at least 15 facilities; this grappe has 2 OGs (this one lists 16 "
     "facilities of 2 OGs)"),
    ("N2", valid_2021_need, lambda: valid_2021_need(**grappe_of(14)),
     "needs the facilities of at least 3 OGs and at least 15 facilities; this one lists 14 facilities of 3 OGs"),
    # A grappe of 3 OGs whose need lists the ESMS of 2 of them: the dormant third member does not count.
    ("N2", valid_need, lambda: valid_need(facilities=facilities(EJ_PARIS, 11, "75") + facilities(EJ_LYON, 5, "69")),
     "needs the facilities of at least 3 OGs and at least 15 facilities; this one lists 16 facilities of 2 OGs"),
    ("N2", valid_need, lambda: valid_need(holder=single_og(), facilities=facilities(EJ_PARIS, 16, "75")),
     "this one is a single OG"),
    ("N3", valid_type2_need, lambda: valid_type2_need(facilities=facilities(EJ_PARIS, 31, "75")),
     "at most 30 facilities; this one has 31"),
    ("N3", valid_type2_need,
     lambda: valid_type2_need(core_services=frozenset({CoreService.INS, CoreService.MSS, CoreService.DMP})),
     "lacks e-prescription"),
    ("N3", valid_type2_need, lambda: valid_type2_need(holder=valid_need().holder), "grappe of 3 OGs"),
    ("N4", valid_type3_need, lambda: valid_type3_need(facilities=facilities(EJ_PARIS, 15, "75")),
     "fewer than 15 facilities; this one has 15"),
    ("N4", valid_type3_need, lambda: valid_type3_need(companion_dui_acquisition=False), "DUI acquisition project"),
    ("N5", valid_need, lambda: valid_need(requested_call=Call.NATIONAL),
     "fewer than 50 ESSMS goes to its regional ARS call; this one has 16"),
    ("N5", lambda: valid_need(**grappe_of(50), requested_call=Call.NATIONAL), lambda: valid_need(**grappe_of(50)),
     "50 or more ESSMS goes to the national call (CNSA/DNS); this one has 50"),
    ("N6", valid_need, lambda: valid_need(**grappe_of(14)),
     "at least 15 ESSMS (8 in Corsica and overseas); this one has 14"),
    ("N6", lambda: valid_need(**corsican_grappe(8)), lambda: valid_need(**corsican_grappe(7)),
     "Corsica or overseas needs at least 8 ESSMS; this one has 7"),
    ("N6", lambda: valid_need(multiregional=True),
     lambda: valid_need(multiregional=True, requested_call=Call.NATIONAL),
     "multiregional grouping of fewer than 50 ESSMS goes to an ARS call; this one has 16"),
    ("N7", valid_2021_need, lambda: valid_2021_need(**grappe_of(50), requested_call=Call.NATIONAL),
     "in campaign 2021 a grappe has at most 49 ESMS; this one has 50"),
    ("N8", valid_need, lambda: valid_need(core_services=frozenset({CoreService.INS})),
     "at least 1 optional core service among MSS, DMP or e-prescription is required (INS does not count);"
     " this one has 0"),
    ("N8", valid_need, lambda: valid_need(core_services=frozenset({CoreService.MSS, CoreService.DMP})),
     "INS is mandatory"),
    ("N9", valid_need, lambda: valid_need(gdpr_compliance=False), "RGPD"),
    ("N10", valid_need, lambda: valid_need(target_map_convergence=False), "target map"),
    ("N11", valid_need, lambda: valid_need(business_continuity=False), "business-continuity plan"),
    ("N12", valid_need, lambda: valid_need(software=Software(couloir=Couloir.MS1, referenced=False)),
     "couloir MS1 the chosen software version must be Ségur-referenced"),
    ("N12", lambda: valid_need(software=Software(couloir=Couloir.MS2, referenced=True)),
     lambda: valid_need(software=Software(couloir=Couloir.MS2, registered_at_desk=True)), "couloir MS2"),
    ("N12", lambda: valid_need(software=Software(couloir=Couloir.AHI, registered_at_desk=True)),
     lambda: valid_need(software=Software(couloir=Couloir.AHI, referenced=True)), "couloir AHI"),
    ("N12", lambda: valid_need(software=Software(couloir=Couloir.PJM)), lambda: valid_need(software=None),
     "from campaign 2024"),
    ("N13", lambda: with_facility(valid_need(), 3, equipment_budget_cents=1_000_000),
     lambda: with_facility(valid_need(), 3, equipment_budget_cents=1_000_001),
     f"at most 10 000 € per ESSMS in campaign 2024; ESSMS {finess('75000103')} asks 10 000.01 €"),
    ("N14", valid_need, lambda: valid_need(funding_schedule=(50, 30, 20)),
     "split 40/40/20 % (project start, acceptance testing, usage verified); this one is 50/30/20"),
    ("N14", valid_need, lambda: valid_need(funding_schedule=(40, 40)), "this one is 40/40"),
    ("N15", valid_need, lambda: valid_need(usage_targets_declared=False), "usage targets"),
    ("N17", lambda: valid_need(applied_on=date(2024, 9, 15)), lambda: valid_need(applied_on=date(2024, 9, 16)),
     "regional ARS call of campaign 2024 closed on 2024-09-15; the application is dated 2024-09-16"),
    ("N17", lambda: valid_need(multiregional=True, applied_on=date(2024, 6, 1)),
     lambda: valid_need(multiregional=True, applied_on=date(2024, 6, 2)),
     "multiregional ARS call of campaign 2024 closed on 2024-06-01"),
    ("N17", lambda: valid_need(**grappe_of(60), requested_call=Call.NATIONAL, applied_on=date(2024, 2, 15)),
     lambda: valid_need(**grappe_of(60), requested_call=Call.NATIONAL, applied_on=date(2024, 2, 14)),
     "national call of campaign 2024 opens on 2024-02-15"),
    ("N17", lambda: valid_2021_need(applied_on=date(2021, 4, 15)),
     lambda: valid_2021_need(applied_on=date(2021, 4, 16)), "campaign 2021 closed on 2021-04-15"),
    ("N17", lambda: valid_need(campaign=2022, applied_on=date(2022, 3, 14), submitted_on=date(2022, 10, 10)),
     lambda: valid_need(campaign=2022, applied_on=date(2022, 3, 11), submitted_on=date(2022, 10, 10)),
     "campaign 2022 opens on 2022-03-14"),
    ("N18", valid_need, lambda: with_facility(valid_need(), 0, finess_et="750001001"), "'750001001' is invalid"),
    ("N18", valid_need, lambda: with_facility(valid_need(), 1, finess_et=valid_need().facilities[0].finess_et),
     "is listed twice"),
    ("N18", valid_need, lambda: with_facility(valid_need(), 2, og_finess_ej=finess("33000009")),
     "which is not an OG of the holder"),
    ("N18", valid_need, lambda: with_facility(valid_need(), 4, in_other_active_project=True),
     "already in another active project of campaign 2024"),
    ("N18", valid_need, lambda: valid_need(facilities=()), "at least 1 ESMS; this one lists 0"),
    ("N19", valid_need, lambda: valid_need(sector=None), "the sector (grand_age, handicap, domicile) is missing"),
    ("N19", valid_need, lambda: valid_need(delivery_mode=None), "delivery mode (saas, on_premise, hosted) is missing"),
]


def _case_ids() -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for rule, *_ in CASES:
        seen[rule] = seen.get(rule, 0) + 1
        ids.append(f"{rule}-{seen[rule]}")
    return ids


@pytest.mark.parametrize(("rule", "passing", "failing", "expected"), CASES, ids=_case_ids())
def test_rule_passes_and_fails(rule: str, passing: Factory, failing: Factory, expected: str) -> None:
    assert check_need(passing()) == []
    violations = check_need(failing())
    messages = [v.message for v in violations if v.rule == rule]
    assert messages, f"{rule} not reported; got {violations}"
    assert all(message.startswith(f"{rule}: ") for message in messages)
    assert any(expected in message for message in messages), messages


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    assert {case[0] for case in CASES} == {rule.id for rule in RULES}


def test_the_valid_needs_are_valid() -> None:
    for need in (valid_need(), valid_type2_need(), valid_type3_need(), valid_2021_need()):
        assert check_need(need) == []
        ensure_valid(need)


def test_the_issue_example_message() -> None:
    need = valid_need(holder=Holder(is_grappe=True, ogs=(Og(finess_ej=EJ_PARIS), Og(finess_ej=EJ_LYON)),
                                    lead_finess_ej=EJ_PARIS),
                      facilities=facilities(EJ_PARIS, 11, "75") + facilities(EJ_LYON, 5, "69"))
    message = ("N2: a type-1 project needs the facilities of at least 3 OGs and at least 15 facilities; this grappe "
               "has 2 OGs (this one lists 16 facilities of 2 OGs)")
    assert check_need(need) == [Violation("N2", "holder.ogs", message)]


def test_violations_name_the_field() -> None:
    need = with_facility(valid_need(sector=None, funding_schedule=(50, 50, 0)), 2, og_finess_ej=finess("33000009"))
    assert [(v.rule, v.field) for v in check_need(need)] == [
        ("N14", "fundingSchedule"), ("N18", "facilities[2].ogFinessEj"), ("N19", "sector")]


# --------------------------------------------------------------------------------------------- campaigns


def test_n7_applies_in_2021_not_in_2024() -> None:
    assert "N7" in applicable_rules(CAMPAIGNS[2021])
    assert "N7" not in applicable_rules(CAMPAIGNS[2024])
    big_grappe = {**grappe_of(60), "requested_call": Call.NATIONAL}
    assert "N7" in {v.rule for v in check_need(valid_2021_need(**big_grappe))}
    assert check_need(valid_need(**big_grappe)) == []


def test_n6_applies_from_2022_with_a_lower_threshold_in_corsica_and_overseas() -> None:
    assert "N6" not in applicable_rules(CAMPAIGNS[2021])
    assert all("N6" in applicable_rules(CAMPAIGNS[year]) for year in (2022, 2023, 2024, 2025))
    # 10 ESSMS in Corsica: a grouping in 2024 (N6: 8, and N2 follows it), too small in 2021 (N2: 15).
    assert check_need(valid_need(**corsican_grappe(10))) == []
    assert [v.rule for v in check_need(valid_2021_need(**corsican_grappe(10)))] == ["N2"]
    # The same 10 ESSMS in Paris are too few in 2024.
    assert {v.rule for v in check_need(valid_need(**grappe_of(10)))} == {"N2", "N6"}


def test_overseas_grouping_uses_the_lower_threshold() -> None:
    reunion = {"holder": Holder(is_grappe=True, ogs=(Og(finess_ej=EJ_REUNION), Og(finess_ej=finess("97040013")),
                                                       Og(finess_ej=finess("97040021"))), lead_finess_ej=EJ_REUNION),
               "facilities": spread((EJ_REUNION, finess("97040013"), finess("97040021")), 9, "974")}
    assert check_need(valid_need(**reunion)) == []


def test_a_mixed_metropolitan_and_corsican_grouping_uses_the_general_threshold() -> None:
    need = valid_need(**corsican_grappe(9))
    need = replace(need, facilities=(*need.facilities[:-1], replace(need.facilities[-1], departement="13")))
    assert {v.rule for v in check_need(need)} == {"N2", "N6"}


def test_n12_does_not_apply_before_the_segur_referencing() -> None:
    assert "N12" not in applicable_rules(CAMPAIGNS[2021])
    assert check_need(valid_2021_need(software=Software(couloir=Couloir.MS1, referenced=False))) == []


def test_n13_cap_is_known_for_2024_only() -> None:
    assert [year for year, campaign in CAMPAIGNS.items() if "N13" in applicable_rules(campaign)] == [2024]
    costly = with_facility(valid_need(campaign=2025), 0, equipment_budget_cents=5_000_000)
    assert check_need(costly) == []


def test_n17_passes_when_the_campaign_gives_no_window() -> None:
    assert CAMPAIGNS[2023].regional_window is None and CAMPAIGNS[2025].national_window is None
    assert check_need(valid_need(campaign=2023, applied_on=date(2023, 12, 31))) == []
    # 2024 gives only the regional deadline: an early application is not refused.
    assert check_need(valid_need(applied_on=date(2024, 1, 2))) == []


def test_unknown_campaign_is_refused() -> None:
    [violation] = check_need(valid_need(campaign=2019))
    assert (violation.rule, violation.field) == ("campaign", "campaign")
    assert "2019" in violation.message and "2021, 2022, 2023, 2024, 2025" in violation.message


def test_a_rule_set_of_another_year_is_refused() -> None:
    [violation] = check_need(valid_need(), CAMPAIGNS[2021])
    assert violation.field == "campaign"
    assert "campaign 2024" in violation.message and "2021 rule set" in violation.message
    assert check_need(valid_need(), CAMPAIGNS[2024]) == []


def test_campaign_table() -> None:
    assert sorted(CAMPAIGNS) == [2021, 2022, 2023, 2024, 2025]
    assert all(campaign.year == year for year, campaign in CAMPAIGNS.items())
    assert CAMPAIGNS[2021].phase is Phase.AMORCAGE
    assert {CAMPAIGNS[year].phase for year in (2022, 2023, 2024, 2025)} == {Phase.GENERALISATION}
    assert CAMPAIGNS[2024].equipment_cap_cents == 1_000_000
    assert CAMPAIGNS[2021].max_grappe_esms == 49
    assert all(c.national_threshold == 50 and c.funding_schedule == (40, 40, 20) for c in CAMPAIGNS.values())
    with pytest.raises(ValueError, match="close"):
        CallWindow(opens=date(2024, 3, 1), closes=date(2024, 2, 1))


@pytest.mark.parametrize(("code", "expected"), [
    ("2A", True), ("2b", True), ("971", True), ("974", True), ("976", True), ("988", True), ("9D", True),
    ("75", False), ("13", False), ("20", False), ("97", False), ("01", False),
])
def test_corsica_and_overseas(code: str, expected: bool) -> None:
    assert is_corsica_or_overseas(code) is expected


# --------------------------------------------------------------------------------------------- raising


def test_ensure_valid_raises_the_first_violation_with_all_of_them() -> None:
    need = valid_need(gdpr_compliance=False, sector=None, requested_call=Call.NATIONAL)
    with pytest.raises(RuleViolation) as raised:
        ensure_valid(need)
    error = raised.value
    assert error.status_code == 422
    assert error.extra["rule"] == "N5" and error.extra["field"] == "requestedCall"
    assert [v["rule"] for v in error.extra["violations"]] == ["N5", "N9", "N19"]
    assert all(set(v) == {"rule", "field", "message"} for v in error.extra["violations"])
    assert error.detail.startswith("N5: a need with fewer than 50 ESSMS")
    assert error.detail.endswith("(and 2 more violations)")


def test_ensure_valid_refuses_an_unknown_campaign() -> None:
    with pytest.raises(RuleViolation) as raised:
        ensure_valid(valid_need(campaign=2030))
    assert raised.value.extra["field"] == "campaign"
    assert raised.value.extra["rule"] == "campaign"


def test_n16_is_not_a_submission_rule_any_more() -> None:
    """FU4: N16 is the funder's selection of the need filed to its call, checked at publication
    (tests/funding/test_funding.py), not a free-text reference at submission: a need with none is valid."""
    assert "N16" not in {rule.id for rule in RULES}
    assert check_need(valid_need()) == []
    assert not any("arsPrevalid" in v.field for v in check_need(valid_need(usage_targets_declared=False)))


def test_raise_first_with_nothing_to_raise() -> None:
    raise_first([])
    with pytest.raises(RuleViolation) as raised:
        raise_first([Violation("N9", "gdprCompliance", "N9: RGPD (GDPR) compliance must be declared; it is not")])
    assert raised.value.detail == "N9: RGPD (GDPR) compliance must be declared; it is not"
    assert len(raised.value.extra["violations"]) == 1


def test_rules_are_registered_in_order_and_cite_their_row_and_source() -> None:
    # N16 is no longer a check of the need as submitted: the funder's selection, guarded at publication (FU4).
    assert [rule.id for rule in RULES] == [f"N{i}" for i in range(1, 20) if i != 16]
    for rule in RULES:
        doc = inspect.getdoc(rule.check) or ""
        assert doc.startswith(f"{rule.id} "), rule.id
        tags = re.findall(r"\[[^\]]+\]", rule.source)
        assert tags and all(tag in doc for tag in tags), rule.id


def test_a_thoroughly_broken_need_reports_every_rule() -> None:
    need = NeedFacts(campaign=2024, project_type=ProjectType.ACQUISITION,
                     holder=Holder(is_grappe=True, ogs=()), facilities=(), requested_call=Call.NATIONAL,
                     multiregional=True, applied_on=date(2024, 1, 1), submitted_on=date(2024, 1, 1))
    rules = {v.rule for v in check_need(need)}
    assert rules == {"N1", "N2", "N5", "N6", "N8", "N9", "N10", "N11", "N12", "N14", "N15", "N17", "N18", "N19"}
    assert all(v.message.startswith(f"{v.rule}: ") for v in check_need(need))
