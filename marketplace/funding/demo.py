"""The demo's funding (`marketplace dev --demo`, `marketplace seed`), two parts:

- the demo sandbox (tenders/demo.py) funded end to end: its need filed to a rehearsal call of the ARS
  Île-de-France (one per sandbox, hidden from the listing of calls), selected with a signed funding decision,
  then published by the holder (N16, HC2), so that the walk goes on to the grant's tranches once the contract
  is signed, the ARS validating and paying;
- the ARS's real open call for projects of campaign 2025, and a real project of the demo holder filed to it and
  selected, waiting on a published real DPS for its publication.

Built through the services, with the same rules and audit as the API. Idempotent: a start that finds the demo
call reuses it and its project, and one that finds the demo sandbox open for offers reuses it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.funding import schemas
from marketplace.funding.calls import CallService
from marketplace.funding.decisions import DecisionService
from marketplace.funding.filing import FilingService
from marketplace.funding.models import FundingCall
from marketplace.lib.clock import Clock, to_paris
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.demo import (
    _DPS,
    _NEED,
    BUYER,
    SandboxSummary,
    _principal,
    demo_pdf,
    open_demo_sandbox,
    prepare_demo_sandbox,
    publish_demo_need,
)
from marketplace.tenders.models import Need
from marketplace.tenders.needs import NeedService
from marketplace.vendors import schemas as dps_schemas
from marketplace.vendors.dps import DpsService
from storage import ObjectStore

FUNDER = "instruction@ars-idf.example"
HOLDER = "direction@les-tilleuls.example"
DEMO_CALL_REFERENCE = "AAP-IDF-ESMS-2025-DEMO"
DEMO_DECISION_REFERENCE = "ARS-IDF-DEC-2025-0042"
# Each demo sandbox's own rehearsal call and decision: the prefix, then the rank of the rehearsal.
REHEARSAL_CALL_REFERENCE = "AAP-IDF-ESMS-2025-REPETITION"
REHEARSAL_DECISION_REFERENCE = "ARS-IDF-DEC-REPETITION"
DEMO_ENVELOPE_CENTS = 250_000_000   # 2,5 M€
DEMO_GRANT_CENTS = 6_000_000        # 60 000 €: 24 000 €, 24 000 €, 12 000 € (40/40/20, FU5)
# The call's window around the seeding: opened a month ago, closing in three (N17: filings within the window).
OPENED_BEFORE, CLOSES_AFTER = timedelta(days=30), timedelta(days=90)
_FUNDED_NEED = {**_NEED, "sandbox": False, "arsPrevalidationReference": None, "arsPrevalidatedOn": None,
                "title": "Mise en conformité Ségur du DUI de l'EHPAD Les Tilleuls (projet financé, démonstration)",
                "description": "Projet de démonstration déposé à l'appel à projets de l'ARS Île-de-France et retenu."}


@dataclass(frozen=True, slots=True)
class FundingSummary:
    created: bool
    call_id: uuid.UUID
    need_id: uuid.UUID
    decision_reference: str
    amount_cents: int


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def seed_demo_funding(session: AsyncSession, clock: Clock, store: ObjectStore) -> FundingSummary:
    existing = await session.scalar(select(FundingCall).where(FundingCall.reference == DEMO_CALL_REFERENCE))
    if existing is not None:
        need_id = await session.scalar(select(Need.id).where(Need.call_id == existing.id).order_by(Need.created_at)
                                       .limit(1))
        assert need_id is not None, "the demo call is seeded with its selected project"
        return FundingSummary(created=False, call_id=existing.id, need_id=need_id,
                              decision_reference=DEMO_DECISION_REFERENCE, amount_cents=DEMO_GRANT_CENTS)
    funder, holder = await _principal(session, FUNDER), await _principal(session, HOLDER)
    now = clock.now()
    call = await CallService(session, clock).create(funder, schemas.FundingCallCreate(
        title="Appel à projets ESMS numérique 2025 — Île-de-France (démonstration)", reference=DEMO_CALL_REFERENCE,
        campaign=2025, opens_at=now - OPENED_BEFORE, closes_at=now + CLOSES_AFTER,
        envelope_cents=DEMO_ENVELOPE_CENTS))
    # D2: a real need is filed to a published real DPS: the central purchasing body's, published (its admission
    # window open), never activated by the demo; the project waits there for its publication.
    buyer = await _principal(session, BUYER)
    dps_service = DpsService(session, clock)
    dps = await dps_service.create(buyer, msgspec.convert({
        **_DPS, "title": "SAD ESMS numérique — Île-de-France (démonstration)",
        "validityStart": now.isoformat(), "validityEnd": (now + timedelta(days=4 * 365)).isoformat()},
        dps_schemas.DpsCreate))
    await dps_service.publish(buyer, dps.id, dps_schemas.DpsPublish(initial_window_end=now + timedelta(days=31,
                                                                                                       hours=2)))
    needs = NeedService(session, clock)
    need = await needs.create(holder, msgspec.convert({**_FUNDED_NEED, "dpsId": str(dps.id)},
                                                      tender_schemas.NeedCreate))
    await needs.submit(holder, need.id)
    await _select(session, clock, store, call.id, need.id, DEMO_DECISION_REFERENCE)
    return FundingSummary(created=True, call_id=call.id, need_id=need.id, decision_reference=DEMO_DECISION_REFERENCE,
                          amount_cents=DEMO_GRANT_CENTS)


async def _select(session: AsyncSession, clock: Clock, store: ObjectStore, call_id: uuid.UUID, need_id: uuid.UUID,
                  reference: str) -> None:
    """The holder files `need_id` to `call_id`, the ARS selects it with a signed decision (a generated PDF)."""
    funder, holder = await _principal(session, FUNDER), await _principal(session, HOLDER)
    await FilingService(session, clock).file(holder, need_id, schemas.FilingCreate(call_id=call_id))
    decision = demo_pdf(f"Décision de financement {reference} — ARS Île-de-France (démonstration)")
    await DecisionService(session, clock, store).select(
        funder, call_id, need_id, amount_cents=DEMO_GRANT_CENTS, decided_on=to_paris(clock.now()).date(),
        reference=reference, filename="decision-financement.pdf", declared_type="application/pdf",
        declared_size=len(decision), body=_once(decision))


async def seed_demo_sandbox(session: AsyncSession, clock: Clock, store: ObjectStore) -> SandboxSummary:
    """The demo sandbox, its need funded by its own rehearsal call, published by the holder; or the one still
    open for offers."""
    reused = await open_demo_sandbox(session, clock)
    if reused is not None:
        return reused
    prepared = await prepare_demo_sandbox(session, clock, store)
    funder = await _principal(session, FUNDER)
    rank = 1 + len((await session.scalars(select(FundingCall.id).where(
        FundingCall.sandbox.is_(True), FundingCall.reference.startswith(REHEARSAL_CALL_REFERENCE)))).all())
    now = clock.now()
    call = await CallService(session, clock).create(funder, schemas.FundingCallCreate(
        title=f"Appel à projets ESMS numérique 2025 — Île-de-France (répétition n° {rank})",
        reference=f"{REHEARSAL_CALL_REFERENCE}-{rank:04d}", campaign=2025, opens_at=now - OPENED_BEFORE,
        closes_at=now + CLOSES_AFTER, envelope_cents=DEMO_ENVELOPE_CENTS, sandbox=True))
    await _select(session, clock, store, call.id, prepared.need_id, f"{REHEARSAL_DECISION_REFERENCE}-{rank:04d}")
    return await publish_demo_need(session, clock, prepared, call.id)
