"""Needs review: the expressions of need awaiting the buying side, their N1-N19 checklist, funding (N16),
publishing.

The list and the file call `NeedReviewService` (tenders/review.py: the scope of the API's `GET /dps/{id}/needs`
across the caller's DPS, plus the intermediation holder's own, HC2), the funding `DecisionService.for_review`
(the need's call, status and decision, N16), and publishing the same `SpecificContractService.publish` as
`POST /needs/{id}/publish`, which checks who publishes (HC1-HC3), N16, D2, D9, D10, N19 and the openers' keys (D13).
Returning a need for correction is not offered: the API has no such act yet (a submitted need stays submitted).
Who may call: the list and the file, the buying side (BUYER_WRITERS, as the filed needs' readers and the
intermediation holder's evaluators); publishing, BUYER_ADMINS, as the API's route.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template

from marketplace.accounts.roles import BUYER_ADMINS, BUYER_WRITERS
from marketplace.errors import RuleViolation
from marketplace.funding.decisions import DecisionService
from marketplace.funding.deps import provide_decision_service
from marketplace.lib.access import requires
from marketplace.tenders import schemas
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.deps import provide_contract_service, provide_need_review_service
from marketplace.tenders.review import LIST_MAX, NeedReviewService
from marketplace.tenders.states import NeedProgress
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import ListFilters, csv_download, paris_cell

BASE = f"{PREFIX}/besoins"
PAGE_SIZES = (25, 50, 100)
_READERS = ("The buying side of the filed needs: the DPS's buying organisation (admins, evaluators), another one "
            "the holder named (D2), and in intermediation the holder's admins and evaluators (HC2).")
_PUBLISHERS = ("As POST /needs/{id}/publish: the holder's administrator (or the DPS's buying organisation's, on its "
               "behalf) in intermediation (HC2); centralised, the buying organisation's administrator (HC3).")

# The need's status as read (HC5), in French words (never colour alone).
STATUS_LABELS = {
    "draft": "brouillon", "submitted": "à publier", "published": "publié, ouvert aux offres",
    "closed_for_offers": "remise des offres close", "in_dialogue": "offres ouvertes, en analyse",
    "chosen": "attributaire choisi", "contracted": "marché signé", "unsuccessful": "infructueux",
    "cancelled": "sans suite"}
assert STATUS_LABELS.keys() == {s.value for s in NeedProgress}
VIEW_LABELS = {"submitted": "À publier", "all": "Tous",
               **{s: STATUS_LABELS[s] for s in STATUS_LABELS if s not in ("draft", "submitted")}}
FUNDING_LABELS = {None: "non déposé", "filed": "déposé, en attente de décision", "selected": "retenu",
                  "rejected": "rejeté"}
MODE_LABELS = {"intermediation": "intermédiation (le porteur achète, HC2)",
               "centralised": "centralisé (la centrale achète pour le porteur, HC3)"}
SECTOR_LABELS = {"grand_age": "grand âge", "handicap": "handicap", "domicile": "domicile"}
DELIVERY_LABELS = {"saas": "SaaS", "on_premise": "installé sur site", "hosted": "hébergé"}

Reviews = NamedDependency[NeedReviewService]
Contracts = NamedDependency[SpecificContractService]
Decisions = NamedDependency[DecisionService]
Form = RequestEncodingType.URL_ENCODED
Many = str | list[str]


class Filters(ListFilters, frozen=True):
    """The list's filters, as they stand in the URL (so a link, a reload or the export keeps them)."""

    base: ClassVar[str] = BASE
    statut: str = "submitted"
    campagne: int | None = None
    q: str = ""
    taille: int = 25
    page: int = 1

    def status(self) -> NeedProgress | None:
        return NeedProgress(self.statut) if self.statut in STATUS_LABELS else None


Statut = Annotated[str, QueryParameter(name="statut", pattern="^(all|" + "|".join(STATUS_LABELS) + ")$")]
Campagne = Annotated[int | None, QueryParameter(name="campagne", ge=2000, le=2100)]
Search = Annotated[str, QueryParameter(name="q", max_length=200)]
Taille = Annotated[int, QueryParameter(name="taille", ge=1, le=max(PAGE_SIZES))]
Numero = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


class PublishForm(msgspec.Struct):
    # A Paris wall-clock time from <input type="datetime-local">, as the API takes it (no zone).
    echeance: str = ""
    critere: Many = []
    poids: Many = []
    seuil: str = "1"


def _many(value: Many) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _publication(dps_id: uuid.UUID, data: PublishForm) -> schemas.NeedPublish:
    """The API's body, decoded with the API's own constraints; what it refuses is named by its field."""
    deadline = data.echeance.strip()
    if len(deadline) == 16:  # datetime-local gives minutes only
        deadline += ":00"
    names, weights = _many(data.critere), _many(data.poids)
    if len(names) != len(weights):
        raise RuleViolation("awardCriteria: one weight per criterion", field="awardCriteria", rule="D10")
    try:
        criteria = [{"name": name, "weight": int(weight)} for name, weight in zip(names, weights, strict=True)]
        threshold = int(data.seuil or "1")
    except ValueError as exc:
        raise RuleViolation("awardCriteria: each weight is a whole number", field="awardCriteria",
                            rule="D10") from exc
    try:
        return msgspec.convert({"dpsId": str(dps_id), "tenderDeadline": deadline, "awardCriteria": criteria,
                                "openingThreshold": threshold}, schemas.NeedPublish)
    except msgspec.ValidationError as exc:
        path = str(exc).rpartition("at `$.")[2].rstrip("`") or "tenderDeadline"
        raise RuleViolation(f"{path}: {exc}", field=path.split("[")[0]) from exc


CSV_HEADER = ("Identifiant", "Intitulé", "Porteur", "ESMS", "Campagne", "SAD", "Statut", "Financement",
              "Déposé le (heure de Paris)")


def csv_rows(items: list[schemas.ReviewedNeed]) -> Iterator[tuple[object, ...]]:
    for item in items:
        yield (str(item.id), item.title, item.holder_name, item.facility_count, item.campaign, item.dps_title,
               STATUS_LABELS[item.status.value],
               FUNDING_LABELS[item.funding_status.value if item.funding_status else None],
               paris_cell(item.submitted_at))


class NeedReviewPagesController(Controller):
    path = BASE
    dependencies = {**BASE_DEPENDENCIES,
                    "reviews": Provide(provide_need_review_service, sync_to_thread=False),
                    "contracts": Provide(provide_contract_service, sync_to_thread=False),
                    "funding_decisions": Provide(provide_decision_service, sync_to_thread=False)}

    @get("/", opt=requires(*BUYER_WRITERS, reason=_READERS), name="web.needs.list")
    async def index(self, principal: Caller, viewer: Viewer, reviews: Reviews, statut: Statut = "submitted",
                    campagne: Campagne = None, q: Search = "", taille: Taille = 25, page: Numero = 1) -> Template:
        filters = Filters(statut=statut, campagne=campagne, q=q, taille=taille, page=page)
        found = await reviews.needs(principal, status=filters.status(), campaign=campagne, search=q, limit=taille,
                                   offset=(page - 1) * taille)
        return Template("needs_list.html", context={
            "viewer": viewer, "title": "Besoins à examiner", "found": found, "filters": filters,
            "pages": max(1, -(-found.total // taille)), "labels": STATUS_LABELS, "views": VIEW_LABELS,
            "funding": FUNDING_LABELS, "sizes": PAGE_SIZES})

    @get("/export.csv", opt=requires(*BUYER_WRITERS, reason=_READERS), name="web.needs.export")
    async def export(self, principal: Caller, reviews: Reviews, statut: Statut = "submitted",
                     campagne: Campagne = None, q: Search = "") -> Stream:
        # The whole filter, not the page on screen; read inside the request, encoded as it is sent.
        found = await reviews.needs(principal, status=Filters(statut=statut).status(), campaign=campagne, search=q,
                                   limit=LIST_MAX, offset=0)
        return csv_download("besoins.csv", CSV_HEADER, csv_rows(found.items))

    @get("/{need_id:uuid}", opt=requires(*BUYER_WRITERS, reason=_READERS), name="web.needs.show")
    async def show(self, need_id: FromPath[uuid.UUID], principal: Caller, viewer: Viewer, reviews: Reviews,
                   funding_decisions: Decisions) -> Template:
        file = await reviews.file(principal, need_id)
        return Template("needs_review.html", context={
            "viewer": viewer, "title": f"Besoin : {file.need.title}", "file": file, "need": file.need,
            "funding": await funding_decisions.for_review(principal, need_id), "labels": STATUS_LABELS,
            "funding_labels": FUNDING_LABELS, "modes": MODE_LABELS, "sectors": SECTOR_LABELS,
            "deliveries": DELIVERY_LABELS,
            "failed": [rule for rule in file.checklist if not rule.passed], "base": f"{BASE}/{need_id}"})

    @post("/{need_id:uuid}/publier", opt=requires(*BUYER_ADMINS, reason=_PUBLISHERS), status_code=303,
          name="web.needs.publish")
    async def publish(self, request: Request[Any, Any, Any], need_id: FromPath[uuid.UUID], principal: Caller,
                      reviews: Reviews, contracts: Contracts,
                      data: Annotated[PublishForm, Body(media_type=Form)]) -> Redirect:
        file = await reviews.file(principal, need_id)  # the DPS it is filed to (D2); another's need: 404
        contract = await contracts.publish(principal, need_id, _publication(file.dps_id, data))
        return done(request, f"{BASE}/{need_id}",
                    f"Le besoin est publié : {contract.invitation_count} éditeur(s) invité(s), date limite de "
                    f"remise des offres le {contract.tender_deadline_paris}.")


CONTROLLERS: list[type[Controller]] = [NeedReviewPagesController]
