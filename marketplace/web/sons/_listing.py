"""The SONS list's filters as they stand in the URL, its query parameters, the chart of its counts by status and
its CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar.params import QueryParameter

from marketplace.lib.clock import to_paris
from marketplace.sons import schemas
from marketplace.sons.listing import LIST_SORTS
from marketplace.web.security import PREFIX
from marketplace.web.sons._labels import ASP_LABELS, ORDER_LABELS, REGION_LABELS, RISKS

BASE = f"{PREFIX}/sons"
PAGE_SIZES = (25, 50, 100)


class Filters(msgspec.Struct, frozen=True):
    """The list's filters as they stand in the URL (a link, a reload and the export keep them)."""

    dispositif: str = ""
    vague: int | None = None
    editeur: uuid.UUID | None = None
    og: uuid.UUID | None = None
    region: str = ""
    statut_asp: str = ""
    risque: str = ""
    q: str = ""
    tri: str = "deadline"
    ordre: str = "asc"
    taille: int = 25
    page: int = 1

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {**msgspec.structs.asdict(self), **changes}
        defaults = Filters()
        return {k: v for k, v in values.items() if v not in (None, "") and v != getattr(defaults, k)}

    def link(self, path: str = BASE, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"{path}?{query}" if query else path

    def sort_link(self, key: str) -> str:
        flip = "desc" if self.tri == key and self.ordre == "asc" else "asc"
        return self.link(tri=key, ordre=flip, page=1)

    def aria_sort(self, key: str) -> str:
        return ("ascending" if self.ordre == "asc" else "descending") if self.tri == key else "none"

    def service_args(self) -> dict[str, Any]:
        return {"dispositif": self.dispositif or None, "wave": self.vague, "vendor": self.editeur,
                "holder": self.og, "region": self.region or None, "asp_status": self.statut_asp or None,
                "risk": RISKS[self.risque] if self.risque else None, "search": self.q,
                "sort": self.tri, "descending": self.ordre == "desc"}


Dispositif = Annotated[str, QueryParameter(name="dispositif", max_length=60)]
# The form sends every select, its "Tous" empty: an empty value is no filter (not a 400).
_UUID = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
Vague = Annotated[str, QueryParameter(name="vague", pattern=r"^([1-9]|1[0-9]|20)?$")]
Editeur = Annotated[str, QueryParameter(name="editeur", pattern=_UUID)]
Og = Annotated[str, QueryParameter(name="og", pattern=_UUID)]
Region = Annotated[str, QueryParameter(name="region", pattern=r"^([0-9]{2}|unknown)?$")]
Asp = Annotated[str, QueryParameter(name="statut_asp", pattern=r"^(" + "|".join(ASP_LABELS) + ")?$")]
Risque = Annotated[str, QueryParameter(name="risque", pattern=r"^(" + "|".join(RISKS) + ")?$")]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Tri = Annotated[str, QueryParameter(name="tri", pattern=r"^(" + "|".join(LIST_SORTS) + ")$")]
Ordre = Annotated[str, QueryParameter(name="ordre", pattern="^(asc|desc)$")]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: int


CHART_WIDTH, BAR_AREA, BAR_HEIGHT, BAR_GAP = 560, 300, 22, 8


def chart_bars(report: schemas.OrderReport) -> list[Bar]:
    """The horizontal bars of the counts by status (an inline SVG; its hidden table carries the same numbers)."""
    peak = max((row.orders for row in report.rows), default=0) or 1
    return [Bar(label=ORDER_LABELS.get(row.key, row.key), count=row.orders, y=i * (BAR_HEIGHT + BAR_GAP),
                width=max(2, round(BAR_AREA * row.orders / peak)))
            for i, row in enumerate(report.rows)]


def _paris_cell(at: datetime | None) -> str:
    return to_paris(at).strftime("%d/%m/%Y %H:%M") if at else ""


def _cell(text: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    text = text or ""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def euros_cell(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def csv_lines(items: list[schemas.OrderListItem]) -> Iterator[bytes]:
    """The export of the current filter: UTF-8 with a BOM, `;`, CRLF (what Excel in French opens as is), amounts in
    euros with a decimal comma."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Identifiant", "Référence", "Éditeur", "OG", "FINESS EJ", "Dispositif", "Vague", "Tranche",
                     "Statut", "Statut ASP", "Montant HT (€)", "Montant TTC (€)", "Payé (€)",
                     "Échéance de déploiement (heure de Paris)", "Déploiement dans les 30 jours",
                     "Demande à modifier", "Régions", "Créée le (heure de Paris)"])
    yield ("\ufeff" + out.getvalue()).encode()
    for item in items:
        out.seek(0)
        out.truncate()
        writer.writerow([str(item.id), _cell(item.order_ref), _cell(item.vendor_name), _cell(item.holder_name),
                         item.og_finess_ej, item.dispositif_code, item.wave, _cell(item.tranche),
                         ORDER_LABELS[item.status.value], ASP_LABELS.get(item.asp_status, item.asp_status),
                         euros_cell(item.amount_ht_cents), euros_cell(item.amount_ttc_cents),
                         euros_cell(item.paid_cents), _paris_cell(item.deployment_deadline),
                         "oui" if item.deadline_risk else "non", "oui" if item.to_modify else "non",
                         ", ".join(REGION_LABELS.get(r, r) for r in item.regions), _paris_cell(item.created_at)])
        yield out.getvalue().encode()
