"""ESMS numérique programme rules N1–N19 for an expression of need, as pure validation (domain.md §6).

`NeedFacts` is a need as the rules see it: no database, no clock. Facts that need a lookup (is this ESMS already
in another active project of the campaign? — N18) are looked up by the caller and passed in. The thresholds come
from the need's `Campaign` (`marketplace.tenders.campaigns`), so a rule never branches on a year.

`check_need` runs every rule that applies to the campaign and returns all violations, in rule order;
`ensure_valid` raises the first as `RuleViolation` (422) with every violation in `violations`. Each violation
names the rule id, the field (the camelCase path of the `NeedFacts` attribute, as on the wire) and, in its
message, the numbers involved.

Two dates, because the programme has two steps [SEED]: the holder applies for aid in a call (ARS or national,
`applied_on`, N17's window), then submits the need (`submitted_on`); the call's selection (N16) is the funder's
decision on the need filed to its call (domain.md §11.2), checked at publication, not here.

The package's private modules: `_facts.py` (the need as the rules see it), `_registry.py` (the registry and
the shared helpers), one module per rule family, each registering its rules as it is imported:
`_holder.py` (N1–N7), `_commitments.py` (N8–N15), `_procedure.py` (N17–N19).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marketplace.errors import RuleViolation
from marketplace.tenders.campaigns import CAMPAIGNS, Call, Campaign, CoreService
from marketplace.tenders.rules import _commitments, _holder, _procedure  # noqa: F401  (each registers its family)
from marketplace.tenders.rules._facts import Couloir, Facility, Holder, NeedFacts, Og, ProjectType, Software, Violation
from marketplace.tenders.rules._registry import RULES, Rule, _plural

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

# The families register as they are imported, in the imports' order: `RULES` is put back in rule order (N1…N19).
RULES.sort(key=lambda rule: int(rule.id.removeprefix("N")))


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
