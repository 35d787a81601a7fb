"""A member of the buying side who declared a conflict of interest for a specific contract stays out of its
offers (EvaluationService.declare files the declaration; one per person and contract, never edited).

From the declaration on, that person reads nothing of the offers (the list of opened offers with their files,
their unsealed parts, their files, the ranking) and takes no part in judging them (scores, rejections, the
D15 procedure, the award) nor in the dialogue with their vendors (clarification threads, read or written).
The refusal is a 403 naming the rule: the contract is the caller's organisation's own, so it is no secret
that it exists (another organisation's object would be a 404). Each refusal is audited, in a transaction of
its own when the caller gives one (the request's rolls back with the refusal), like the other refused reads.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.awards.errors import ConflictOfInterest
from marketplace.awards.models import ConflictDeclaration
from marketplace.lib import audit
from marketplace.lib.clock import Clock

RULE = "conflict-of-interest-declaration"


async def declared_conflict(session: AsyncSession, contract_id: uuid.UUID, principal: Principal) -> bool:
    if principal.user_id is None:
        return False
    return bool(await session.scalar(select(ConflictDeclaration.has_conflict).where(
        ConflictDeclaration.specific_contract_id == contract_id,
        ConflictDeclaration.evaluator_id == principal.user_id)))


async def stay_out(session: AsyncSession, clock: Clock, principal: Principal, contract_id: uuid.UUID,
                   organisation_id: uuid.UUID, what: str, *, target_type: str, target_id: uuid.UUID,
                   side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
    """Refuse (403, audited) a member of the buying side who declared a conflict of interest for the contract."""
    if not await declared_conflict(session, contract_id, principal):
        return
    details = {"specific_contract": str(contract_id), "what": what}
    if side_sessions is not None:
        async with side_sessions() as side, side.begin():
            await audit.record(side, clock, "evaluation.refused_conflict_of_interest", actor=principal.label,
                               organisation_id=organisation_id, target_type=target_type, target_id=target_id,
                               details=details)
    else:
        await audit.record(session, clock, "evaluation.refused_conflict_of_interest", actor=principal.label,
                           organisation_id=organisation_id, target_type=target_type, target_id=target_id,
                           details=details)
    raise ConflictOfInterest(f"You declared a conflict of interest for this contract: you stay out of {what}.",
                             field="declaration", rule=RULE)
