"""Providers of the awards package's services (litestar dependency injection), for its controllers.

`provide_opening_evaluation` gives the opening of the offers (tenders/opening/) what it needs of the
evaluation: the conflict-of-interest refusal, the clarification threads beside each offer, and the procedure
ended unsuccessful when the opening finds no offer. The app registers it (marketplace/app.py): tenders/ sits
below awards/ and never imports it, so the evaluation is handed to the opening rather than looked up by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.awards.abnormally_low import AbnormallyLowService
from marketplace.awards.award import AwardService
from marketplace.awards.cancellation import CancellationService
from marketplace.awards.conflicts import stay_out
from marketplace.awards.contracts import ContractService
from marketplace.awards.dialogue import DialogueService, clarification_summaries
from marketplace.awards.evaluation import EvaluationService
from marketplace.awards.reasons import ReasonsService
from marketplace.awards.sheet import SheetService
from marketplace.awards.unsuccessful import end_unsuccessful
from marketplace.lib.clock import Clock
from marketplace.lib.esign import SignaturePolicy
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.models import SpecificContract
from storage import ObjectStore


class OpeningEvaluation:
    """The evaluation as the opening sees it (tenders.opening.Evaluation), on the request's session."""

    def __init__(self, session: AsyncSession, clock: Clock,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.side_sessions = side_sessions

    async def stay_out(self, principal: Principal, contract: SpecificContract, what: str, *, target_type: str,
                       target_id: uuid.UUID) -> None:
        await stay_out(self.session, self.clock, principal, contract.id, contract.buyer_organisation_id, what,
                       target_type=target_type, target_id=target_id, side_sessions=self.side_sessions)

    async def clarifications(self, offer_ids: list[uuid.UUID]) -> Mapping[
            uuid.UUID, list[tender_schemas.ClarificationSummary]]:
        return await clarification_summaries(self.session, offer_ids)

    async def end_unsuccessful(self, contract: SpecificContract, *, actor: str, cause: str) -> None:
        await end_unsuccessful(self.session, self.clock, contract, actor=actor, cause=cause)


def provide_opening_evaluation(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                               side_sessions: NamedDependency[async_sessionmaker[AsyncSession]],
                               ) -> OpeningEvaluation:
    return OpeningEvaluation(db_session, clock, side_sessions)


def provide_evaluation_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                               side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> EvaluationService:
    return EvaluationService(db_session, clock, side_sessions)


def provide_award_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                          side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> AwardService:
    return AwardService(db_session, clock, side_sessions)


def provide_reasons_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                            side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> ReasonsService:
    return ReasonsService(db_session, clock, side_sessions)


def provide_cancellation_service(db_session: NamedDependency[AsyncSession],
                                 clock: NamedDependency[Clock]) -> CancellationService:
    return CancellationService(db_session, clock)


def provide_abnormally_low_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                                   store: NamedDependency[ObjectStore],
                                   side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]
                                   ) -> AbnormallyLowService:
    return AbnormallyLowService(db_session, clock, store, side_sessions)


def provide_contract_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                             store: NamedDependency[ObjectStore],
                             side_sessions: NamedDependency[async_sessionmaker[AsyncSession]],
                             signature_policy: NamedDependency[SignaturePolicy]) -> ContractService:
    return ContractService(db_session, clock, store, side_sessions, signature_policy)


def provide_dialogue_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                             store: NamedDependency[ObjectStore],
                             side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> DialogueService:
    return DialogueService(db_session, clock, store, side_sessions)


def provide_sheet_service(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                          side_sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> SheetService:
    return SheetService(db_session, clock, side_sessions)
