"""The registry of the programme rules (`RULES`, in rule order: each family module registers its rules as it is
imported) and the helpers the rules share: how FINESS numbers, ESMS and OGs are counted, how amounts read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from marketplace.lib.identifiers import InvalidIdentifier, normalise, validate_finess
from marketplace.tenders.campaigns import Campaign, CoreService, is_corsica_or_overseas
from marketplace.tenders.rules._facts import NeedFacts, Violation

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
