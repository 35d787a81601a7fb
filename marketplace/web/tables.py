"""What every list screen shares: its filters in the URL, and its CSV export.

- `ListFilters`: a list's filters as they stand in the URL, so that a link, a reload, an act's way back or the
  export keeps them. A screen subclasses it with its own fields (all with defaults) and its `base` path; a value
  equal to its default is left out of the URL.
- `csv_download`: the export of the current filter, UTF-8 with a byte-order mark, `;` between fields and CRLF line
  ends. That is what Excel in a French locale opens correctly with a double click (without the BOM it reads Latin-1
  and garbles "Éditeur"; with `,` it puts every row in one column, `,` being the decimal separator); LibreOffice
  reads it too. Every text cell goes through `cell`, so that no export can carry a formula (CSV injection, OWASP):
  a spreadsheet runs a cell starting with =, +, -, @, a tab or a CR. The file is personal to its reader's rights:
  never kept by a shared cache.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import msgspec
from litestar.response import Stream

from marketplace.lib.clock import to_paris
from storage import content_disposition

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number (a negative amount "-12,50") runs nothing: it stays a number for the spreadsheet.
_NUMBER = re.compile(r"-?\d+(?:[,.]\d+)?")


class ListFilters(msgspec.Struct, frozen=True):
    """A list's filters in the URL. Subclasses set `base` and declare their fields, each with a default; the
    sortable ones have `tri` (the column) and `ordre` (asc or desc), the paged ones `page`."""

    base: ClassVar[str] = "/"

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {**msgspec.structs.asdict(self), **changes}
        defaults = type(self)()
        return {k: v for k, v in values.items() if v not in (None, "") and v != getattr(defaults, k)}

    def link(self, path: str | None = None, **changes: Any) -> str:
        path = path or self.base
        query = urlencode(self.params(**changes))
        return f"{path}?{query}" if query else path

    def sort_link(self, key: str) -> str:
        """A column header's link: sorts by it, or flips the order if it is the current sort."""
        current = getattr(self, "tri", None) == key and getattr(self, "ordre", "asc") == "asc"
        return self.link(tri=key, ordre="desc" if current else "asc", page=1)

    def aria_sort(self, key: str) -> str:
        if getattr(self, "tri", None) != key:
            return "none"
        return "ascending" if getattr(self, "ordre", "asc") == "asc" else "descending"


def cell(value: object) -> object:
    """A cell as a spreadsheet should read it: text that would run as a formula is quoted; None is empty; numbers
    stay numbers (pass amounts and counts as numbers, never as preformatted text starting with a minus)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str):
        return f"'{value}" if value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value) else value
    if isinstance(value, int | float):
        return value
    return cell(str(value))


def paris_cell(at: datetime | None) -> str:
    """A time as spreadsheets read a date ("25/10/2026 14:30"); the column's header says the zone (Paris)."""
    return to_paris(at).strftime("%d/%m/%Y %H:%M") if at else ""


def euros_cell(cents: int | None) -> str:
    """An amount in euros with a decimal comma and no grouping ("12345,67"), as a French spreadsheet reads a
    number; empty when unknown."""
    if cents is None:
        return ""
    units, rest = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}{units},{rest:02d}"


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """The export line by line (see the module's docstring): the BOM and the header first, every cell guarded."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    yield ("\ufeff" + out.getvalue()).encode()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([cell(value) for value in row])
        yield out.getvalue().encode()


def csv_download(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Stream:
    """The export as a download named `filename`, streamed, never cached by anyone but its reader."""
    return Stream(csv_lines(header, rows), media_type="text/csv; charset=utf-8",
                  headers={"Content-Disposition": content_disposition(filename),
                           "Cache-Control": "private, no-store"})
