"""Where the need stands in the programme's procedure (N17–N19): the call's window, the facilities identified, the
SAD category it targets.

N16 (published on the SAD only once selected) is no longer a check of the need as submitted: it is the funder's
decision on the call the need is filed to (domain.md §11.2, FU4), guarded at publication (tenders/contracts.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from marketplace.lib.identifiers import InvalidIdentifier, normalise, validate_finess
from marketplace.tenders.campaigns import Call, CallWindow, Campaign
from marketplace.tenders.rules._facts import NeedFacts, Violation
from marketplace.tenders.rules._registry import _finess_key, _plural, _rule, _violation
from marketplace.vendors.models import DeliveryMode, Sector


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
