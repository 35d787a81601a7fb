"""Providers of the funding services (litestar dependency injection), for its controllers."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.funding.calls import CallService
from marketplace.funding.decisions import DecisionService
from marketplace.funding.filing import FilingService
from marketplace.funding.tranches import TrancheService
from marketplace.lib.clock import Clock
from storage import ObjectStore


def provide_call_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> CallService:
    return CallService(db_session, clock)


def provide_filing_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> FilingService:
    return FilingService(db_session, clock)


def provide_decision_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                             store: NamedDependency[ObjectStore],
                             side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> DecisionService:
    return DecisionService(db_session, clock, store, side_sessions)


def provide_tranche_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            store: NamedDependency[ObjectStore],
                            side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> TrancheService:
    return TrancheService(db_session, clock, store, side_sessions)
