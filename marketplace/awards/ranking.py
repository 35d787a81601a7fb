"""The ranking of a specific contract's offers (D10).

For each offer and criterion, the mean of the evaluators' scores; the total is the sum of those means weighted
by the contract's weights (which add up to 100, D10), so it is on 0–100 too. Computed with exact fractions;
ties are broken by the exact total, then the earlier receipt, then the offer id, so the same scores always give
the same order. Offers rejected as irregular, unacceptable or inappropriate leave the ranking.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.awards import schemas
from marketplace.awards.models import ConflictDeclaration, EvaluationScore, OfferRejection
from marketplace.tenders.models import Offer, SpecificContract
from marketplace.tenders.states import OfferStatus

_CENT = Decimal("0.01")


def rounded(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_CENT, rounding=ROUND_HALF_UP)


def rejection_schema(row: OfferRejection, offer: Offer) -> schemas.Rejection:
    return schemas.Rejection(offer_id=offer.id, vendor_organisation_id=offer.vendor_organisation_id,
                             grounds=row.grounds, reasons=row.reasons, rejected_at=row.rejected_at)


async def rank(session: AsyncSession, contract: SpecificContract) -> tuple[schemas.Ranking, dict[uuid.UUID, Offer]]:
    """The contract's ranking as its scores stand, and its opened offers by id."""
    offers = (await session.scalars(select(Offer).where(
        Offer.specific_contract_id == contract.id, Offer.status == OfferStatus.OPENED)
        .order_by(Offer.received_at, Offer.id))).all()
    by_id = {o.id: o for o in offers}
    rejections = {r.offer_id: r for r in (await session.scalars(select(OfferRejection).where(
        OfferRejection.specific_contract_id == contract.id))).all()}
    admissible = [o for o in offers if o.id not in rejections]
    scores = (await session.scalars(select(EvaluationScore).where(
        EvaluationScore.specific_contract_id == contract.id,
        EvaluationScore.offer_id.in_([o.id for o in admissible])))).all() if admissible else []
    names = dict((await session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_([o.vendor_organisation_id for o in offers])))).tuples().all()) if offers else {}
    given: dict[tuple[uuid.UUID, str], dict[uuid.UUID, int]] = defaultdict(dict)
    for s in scores:
        given[s.offer_id, s.criterion][s.evaluator_id] = s.score
    # Who must score: every evaluator who declared no conflict for this contract.
    evaluators = sorted((await session.scalars(select(ConflictDeclaration.evaluator_id).where(
        ConflictDeclaration.specific_contract_id == contract.id, ConflictDeclaration.has_conflict.is_(False),
    ))).all())
    complete = bool(admissible) and bool(evaluators)
    entries: list[tuple[Fraction, Offer, list[schemas.CriterionResult]]] = []
    for offer in admissible:
        total = Fraction(0)
        results = []
        for criterion in contract.award_criteria:
            marks = given[offer.id, criterion["name"]]
            complete = complete and set(marks) == set(evaluators)
            mean = Fraction(sum(marks.values()), len(marks)) if marks else None
            if mean is not None:
                total += mean * int(criterion["weight"]) / 100
            results.append(schemas.CriterionResult(name=criterion["name"], weight=int(criterion["weight"]),
                                                   mean=None if mean is None else rounded(mean),
                                                   scores=len(marks)))
        entries.append((total, offer, results))
    far = datetime.max.replace(tzinfo=contract.tender_deadline.tzinfo)
    entries.sort(key=lambda e: (-e[0], e[1].received_at or far, e[1].id))
    ranked = [schemas.RankedOffer(rank=i, offer_id=o.id, vendor_organisation_id=o.vendor_organisation_id,
                                  vendor_name=names.get(o.vendor_organisation_id, ""), criteria=results,
                                  total=rounded(total), received_at=o.received_at)
              for i, (total, o, results) in enumerate(entries, start=1)]
    rejected = [rejection_schema(rejections[o.id], o) for o in offers if o.id in rejections]
    # Ties on the exact total are all first: receipt order is no award criterion (D10), so it only orders
    # the display; the award may go to any of them, its reasons saying which and why (D16).
    first = [o.id for total, o, _ in entries if total == entries[0][0]] if entries else []
    return schemas.Ranking(specific_contract_id=contract.id, status=contract.status.value, complete=complete,
                           evaluators=evaluators, offers=ranked, rejected=rejected,
                           first_offer_ids=first), by_id
