"""The SONS list's filters as they stand in the URL, its query parameters, the chart of its counts by status and
its CSV export."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from litestar.params import QueryParameter

from marketplace.sons import schemas
from marketplace.sons.listing import LIST_SORTS
from marketplace.web.security import PREFIX
from marketplace.web.sons._labels import ASP_LABELS, ORDER_LABELS, REGION_LABELS, RISKS
from marketplace.web.tables import ListFilters, euros_cell, paris_cell

BASE = f"{PREFIX}/sons"
PAGE_SIZES = (25, 50, 100)


class Filters(ListFilters, frozen=True):
    """The list's filters as they stand in the URL (a link, a reload and the export keep them)."""

    base: ClassVar[str] = BASE
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


CSV_HEADER = ("Identifiant", "Référence", "Éditeur", "OG", "FINESS EJ", "Dispositif", "Vague", "Tranche", "Statut",
              "Statut ASP", "Montant HT (€)", "Montant TTC (€)", "Payé (€)",
              "Échéance de déploiement (heure de Paris)", "Déploiement dans les 30 jours", "Demande à modifier",
              "Régions", "Créée le (heure de Paris)")


def csv_rows(items: list[schemas.OrderListItem]) -> Iterator[tuple[object, ...]]:
    """The export of the current filter, amounts in euros with a decimal comma."""
    for item in items:
        yield (str(item.id), item.order_ref, item.vendor_name, item.holder_name, item.og_finess_ej,
               item.dispositif_code, item.wave, item.tranche, ORDER_LABELS[item.status.value],
               ASP_LABELS.get(item.asp_status, item.asp_status), euros_cell(item.amount_ht_cents),
               euros_cell(item.amount_ttc_cents), euros_cell(item.paid_cents), paris_cell(item.deployment_deadline),
               item.deadline_risk, item.to_modify, ", ".join(REGION_LABELS.get(r, r) for r in item.regions),
               paris_cell(item.created_at))
