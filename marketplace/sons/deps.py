"""Providers of the SONS services (litestar dependency injection), for its controllers."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.lib.clock import Clock
from marketplace.lib.esign import SignaturePolicy
from marketplace.sons.asp import AspService
from marketplace.sons.asp_statuses import AspStatusImports
from marketplace.sons.dispositifs import DispositifService
from marketplace.sons.exports import ExportService
from marketplace.sons.imports import OrderImports
from marketplace.sons.listing import OrderListService
from marketplace.sons.reports import ReportService
from marketplace.sons.solutions import EnrolmentService, SolutionService
from storage import ObjectStore


def provide_dispositif_service(db_session: NamedDependency[AsyncSession],
                               clock: NamedDependency[Clock]) -> DispositifService:
    return DispositifService(db_session, clock)


def provide_solution_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> SolutionService:
    return SolutionService(db_session, clock)


def provide_enrolment_service(db_session: NamedDependency[AsyncSession],
                              clock: NamedDependency[Clock]) -> EnrolmentService:
    return EnrolmentService(db_session, clock)


def provide_order_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                          store: NamedDependency[ObjectStore],
                          side_sessions: NamedDependency[async_sessionmaker[AsyncSession]],
                          signature_policy: NamedDependency[SignaturePolicy]) -> AspService:
    # One service for the order and its ASP requests (AspService extends OrderService).
    return AspService(db_session, clock, store, side_sessions, signature_policy)


def provide_order_imports(clock: NamedDependency[Clock],
                          side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> OrderImports:
    # An import commits chunk by chunk (imports.py), in sessions of its own rather than the request's.
    return OrderImports(side_sessions, clock)


def provide_asp_status_imports(clock: NamedDependency[Clock], store: NamedDependency[ObjectStore],
                               side_sessions: NamedDependency[async_sessionmaker[AsyncSession]],
                               signature_policy: NamedDependency[SignaturePolicy]) -> AspStatusImports:
    # One transaction per row (asp_statuses.py), in sessions of its own rather than the request's.
    return AspStatusImports(side_sessions, clock, store, signature_policy)


def provide_report_service(db_session: NamedDependency[AsyncSession],
                           clock: NamedDependency[Clock]) -> ReportService:
    return ReportService(db_session, clock)


def provide_export_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> ExportService:
    return ExportService(db_session, clock)


def provide_order_list_service(db_session: NamedDependency[AsyncSession],
                               clock: NamedDependency[Clock]) -> OrderListService:
    return OrderListService(db_session, clock)
