"""Providers of the tenders package's services (litestar dependency injection), for its controllers.

`provide_opening_service` takes the evaluation (tenders.opening.Evaluation) as a dependency the app registers
from awards/deps.py: tenders/ never imports awards/.
"""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.lib.clock import Clock
from marketplace.settings import Settings
from marketplace.tenders.amendments import AmendmentService
from marketplace.tenders.contracts import NoticeReader, SpecificContractService
from marketplace.tenders.deposits import DepositService
from marketplace.tenders.dps_time import DpsTimeService
from marketplace.tenders.needs import NeedService
from marketplace.tenders.offers import OfferService
from marketplace.tenders.openers import OpenerService
from marketplace.tenders.opening import Evaluation, OpeningService, scanner_from
from marketplace.tenders.questions import QuestionService
from marketplace.tenders.review import NeedReviewService
from marketplace.tenders.search import NeedSearchService
from marketplace.tenders.vault import Vault
from storage import ObjectStore


def provide_need_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> NeedService:
    return NeedService(db_session, clock)


def provide_contract_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> SpecificContractService:
    return SpecificContractService(db_session, clock)


def provide_notice_reader(state: State, clock: NamedDependency[Clock]) -> NoticeReader:
    # The pool of one-statement reads (app.py): no request session opened.
    return NoticeReader(state.statements, clock)


def provide_question_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> QuestionService:
    return QuestionService(db_session, clock)


def provide_amendment_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                              store: NamedDependency[ObjectStore]) -> AmendmentService:
    return AmendmentService(db_session, clock, store)


def provide_search_service(db_session: NamedDependency[AsyncSession],
                           clock: NamedDependency[Clock]) -> NeedSearchService:
    return NeedSearchService(db_session, clock)


def provide_offer_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                          vault: NamedDependency[Vault], store: NamedDependency[ObjectStore],
                          side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> OfferService:
    return OfferService(db_session, clock, vault, store, side_sessions)


def provide_opening_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            vault: NamedDependency[Vault], store: NamedDependency[ObjectStore],
                            side_sessions: NamedDependency[async_sessionmaker[AsyncSession]],
                            settings: NamedDependency[Settings],
                            opening_evaluation: NamedDependency[Evaluation]) -> OpeningService:
    return OpeningService(db_session, clock, vault, store, side_sessions, scanner_from(settings),
                          opening_evaluation)


def provide_deposit_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> DepositService:
    return DepositService(db_session, clock, side_sessions)


def provide_opener_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock]) -> OpenerService:
    return OpenerService(db_session, clock)


def provide_dps_time_service(db_session: NamedDependency[AsyncSession],
                             clock: NamedDependency[Clock]) -> DpsTimeService:
    return DpsTimeService(db_session, clock)


def provide_need_review_service(db_session: NamedDependency[AsyncSession],
                                clock: NamedDependency[Clock]) -> NeedReviewService:
    return NeedReviewService(db_session, clock)
