from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.lib.clock import Clock
from marketplace.vendors.admissions import AdmissionService
from marketplace.vendors.decisions import DecisionService
from marketplace.vendors.documents import AdmissionDocumentService, DpsDocumentService
from marketplace.vendors.dps import DpsService
from marketplace.vendors.register import BuyerRegisterService, RegisterService
from storage import ObjectStore


def provide_dps_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> DpsService:
    return DpsService(db_session, clock)


def provide_dps_document_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                                 store: NamedDependency[ObjectStore]) -> DpsDocumentService:
    return DpsDocumentService(db_session, clock, store)


def provide_admission_service(db_session: NamedDependency[AsyncSession],
                              clock: NamedDependency[Clock]) -> AdmissionService:
    return AdmissionService(db_session, clock)


def provide_admission_document_service(
        db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock], store: NamedDependency[ObjectStore],
        side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> AdmissionDocumentService:
    return AdmissionDocumentService(db_session, clock, store, side_sessions)


def provide_decision_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> DecisionService:
    return DecisionService(db_session, clock)


def provide_register_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> RegisterService:
    return RegisterService(db_session, clock)


def provide_optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """Public routes still see who calls (a buyer sees its own drafts)."""
    principal = request.scope.get("user")
    return principal if isinstance(principal, Principal) else None


def provide_buyer_register_service(db_session: NamedDependency[AsyncSession],
                                   clock: NamedDependency[Clock]) -> BuyerRegisterService:
    return BuyerRegisterService(db_session, clock)
