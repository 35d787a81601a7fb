"""Refusals in French (marketplace/web/rule_labels.py, web/errors.py, templates/error.html, holder_checklist.html):
every rule id of docs/rules.md has a French statement, every field the code refuses by name a French label; a
refusal through a real page shows "Règle X : <statement>", the field's French name, then the service's own detail,
with the status unchanged; a rule id without a statement reads as itself."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.web.rule_labels import FIELD_LABELS, RULE_LABELS, field_label, language_of, rule_label
from tests.funding_api import fund
from tests.tenders.test_publication import ensure_opener
from tests.test_rules_index import index
from tests.vendors.api import expect, open_dps
from tests.web import test_admissions, test_holder_needs, test_needs
from tests.web.pages import csrf_token
from tests.world import World

Client = AsyncTestClient[Litestar]
ROOT = Path(__file__).resolve().parents[2]

# What a French sentence has and an English one has not (a simple heuristic, as the brief of the labels says).
FRENCH = re.compile(r"[àâçéèêëîïôûùüœ]|\b(?:le|la|les|des|du|de|une|un|est|et|pour|dans|avec|sans|au|aux|à)\b",
                    re.IGNORECASE)
ENGLISH = (" the ", " must ", " shall ", " is ", " of ", " and ")


def _page_text(page: str) -> str:
    """The page as read: blocks and line breaks as spaces, inline tags dropped, entities decoded, white space
    collapsed."""
    blocks = re.sub(r"</?(?:p|li|ul|br|tr|td|th|div|h\d)\b[^>]*>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", blocks)))


def _part(pattern: str, page: str) -> str:
    found = re.search(pattern, page, re.S)
    assert found is not None, f"no {pattern} in the page"
    return _page_text(found.group(0))


# -- the labels themselves --------------------------------------------------------------------------------


def test_every_rule_of_the_index_has_a_french_statement_and_no_other() -> None:
    rules = set(index())
    assert len(rules) >= 50
    assert sorted(rules - set(RULE_LABELS)) == [], "ids of docs/rules.md without a French statement"
    assert sorted(set(RULE_LABELS) - rules) == [], "French statements of ids docs/rules.md has no row for"
    for rule, label in RULE_LABELS.items():
        assert label.strip() and rule_label(rule) == label, rule
        padded = f" {label.lower()} "
        assert FRENCH.search(label), f"{rule} does not read as French: {label}"
        assert not [word for word in ENGLISH if word in padded], f"{rule} is left in English: {label}"
        # One sentence: it ends with a full stop and no other sentence starts inside it.
        assert label.endswith(".") and not re.search(r"[.!?] [A-ZÀÉÈ]", label[:-1]), f"{rule}: one sentence, {label}"


def test_a_rule_or_field_without_a_label_reads_as_nothing_not_an_error() -> None:
    for unknown in ("§1.4", "CSV", "RFC 5322 §3.4.1", "D1", "N20", "", None, 42):
        assert rule_label(unknown) is None, unknown
    for unknown in ("", "   ", None, "noSuchField", "a.b[3].c"):
        assert field_label(unknown) is None, unknown
    assert field_label("tenderDeadline") == "date limite de remise des offres"
    # An item of a list is named with its position (from 1), by its path or else by its last part's name.
    assert field_label("facilities[2].equipmentBudgetCents") == "budget d'équipement de l'établissement (n° 3)"
    assert field_label("awardCriteria[0].weight") == "pondération du critère d'attribution (n° 1)"
    assert field_label("sites[1].finessEt") == "FINESS ET du site (n° 2)"
    assert field_label("categories[0].somethingNew") is None
    assert language_of("tenderDeadline: must be at least 10 days after the invitation") == "en"
    assert language_of("montant : un montant en euros, par exemple 20 000,00") == "fr"


def _refused_fields() -> set[str]:
    """Every field a refusal names by a literal in marketplace/: `field="…"` (an f-string's placeholders read as
    an item `[0]` or dropped before a dot) and the rule engine's `_violation("N…", "field", …)`."""
    found: set[str] = set()
    for path in sorted((ROOT / "marketplace").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            values = [k.value for k in node.keywords if k.arg == "field"]
            if getattr(node.func, "id", None) == "_violation" and len(node.args) >= 2:
                values.append(node.args[1])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    parts = [p.value if isinstance(p, ast.Constant) else "\0" for p in value.values]
                    text = "".join(str(p) for p in parts)
                    text = re.sub(r"\[\0\]", "[0]", text).replace("\0.", "").replace("\0", "")
                    if re.match(r"[A-Za-z]", text.strip(".")):  # a name, not only placeholders
                        found.add(text.strip("."))
    return found


def test_every_field_the_code_refuses_by_name_has_a_french_label() -> None:
    fields = _refused_fields()
    assert {"tenderDeadline", "holder.ogs", "facilities[0].equipmentBudgetCents", "reasons"} <= fields, fields
    missing = sorted(f for f in fields if field_label(f) is None)
    assert missing == [], f"fields refused by name without a French label in web/rule_labels.py: {missing}"
    for name, label in FIELD_LABELS.items():
        assert label.strip() and not [word for word in ENGLISH if word in f" {label.lower()} "], (name, label)


# -- refusals through the pages ---------------------------------------------------------------------------


@pytest.mark.usefixtures("cpv")
async def test_a_refused_need_submission_and_its_checklist_read_in_french(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock)
    web = await test_holder_needs.signed_in(client, "holder_admin")
    # Type 1 (acquisition) by one OG of one ESMS: N2 wants a grappe of at least 3 OGs and 15 ESMS.
    need_id = await test_holder_needs.written(web, dps["id"], "1")
    summary = await web.get(f"{test_holder_needs.BASE}/{need_id}/modifier?etape=5")
    # The checklist: beside the rule id, its French statement, then the field's French name and the engine's detail.
    failures = _part(r'<ul class="rule-failures">.*?</ul>', summary.text)
    assert f"N2 — {RULE_LABELS['N2']} Champ : porteur en grappe (holder.isGrappe). Détail : N2: " in failures, \
        failures
    # Once per rule, however many messages the engine has for it (here the OGs and the ESMS of N2).
    assert failures.count(RULE_LABELS["N2"]) == 1 and failures.count("Détail : N2: ") == 2, failures
    assert "Champ : établissements (ESMS) (facilities). Détail : N2: " in failures, failures
    row = _part(r'<tr id="regle-N9">.*?</tr>', summary.text)
    assert RULE_LABELS["N9"] in row and "respectée" in row

    # The API's own refusal of the same submission, for the status and the detail the page must keep.
    problem = await client.post(f"/needs/{need_id}/submit", headers=world["holder_admin"].headers)
    assert problem.status_code == 422 and problem.json()["rule"] == "N2", problem.text
    refused = await web.post(f"{test_holder_needs.BASE}/{need_id}/soumettre",
                             data={"_csrf_token": csrf_token(summary.text)})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    shown = _page_text(refused.text)
    statement = f"Règle N2 : {RULE_LABELS['N2']}"
    field = f"Champ concerné : {field_label(problem.json()['field'])} (champ {problem.json()['field']})"
    detail = f"Détail : {problem.json()['detail']}"
    assert statement in shown and field in shown and detail in shown, shown
    # French first: the statement, then the field, then the service's English detail (marked as English).
    assert shown.index(statement) < shown.index(field) < shown.index(detail)
    assert '<span lang="en">N2: ' in refused.text
    assert expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers), 200)["status"] == \
        "draft"


@pytest.mark.usefixtures("cpv")
async def test_a_too_short_tender_period_names_d9_and_the_deadline_in_french(
        client: Client, world: World, clock: FrozenClock) -> None:
    _, need = await test_needs.filed(client, world, clock)
    await fund(client, world, need["id"])
    await ensure_opener(client, world)
    buyer = await test_needs.signed_in(client, "buyer_admin")
    short = await test_needs.publish_form(buyer, need["id"], "2026-02-07T09:00")
    assert short.status_code == 422, short.text[:800]
    shown = _page_text(short.text)
    assert f"Règle D9 : {RULE_LABELS['D9']}" in shown, shown
    assert "Champ concerné : date limite de remise des offres (champ tenderDeadline)" in shown, shown
    assert re.search(r"Détail : tenderDeadline: .*10", shown), shown
    assert expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers),
                  200)["status"] == "submitted"


async def test_a_rule_without_a_statement_reads_as_its_id_with_the_field_in_french(
        client: Client, world: World, clock: FrozenClock) -> None:
    scene = await test_admissions._scene(client, world, clock)
    request_id = scene["theirs"]["id"]
    web = await test_admissions._buyer(client)
    token = csrf_token((await web.get(f"/app/admissions/{request_id}")).text)
    # Rejecting without reasons: the page's own check names "§1.4" (no id of docs/rules.md) and `reasons`.
    refused = await web.post(f"/app/admissions/{request_id}/rejeter", data={"_csrf_token": token, "reasons": " "})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    shown = _page_text(refused.text)
    assert "Règle §1.4 Champ concerné : motifs (champ reasons) Détail : reasons: required" in shown, shown
    assert 'class="rule-statement"' not in refused.text
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["buyer_admin"].headers), 200)
    assert api["status"] == "under_evaluation"
