"""Openers and the contract keys they hold together (D13, P6).

An opener is a person of a buying organisation with the buyer:opener or buyer:admin role, or of a holder with
the holder:opener or holder:admin role (the holder buys its own specific contract in intermediation, HC2), who has
registered an opener key: a key pair whose private half only their passphrase unlocks (lib/sealing).
When a need is published, its specific contract gets a key pair of its own; the private half is split
among the current openers of the contract's buying organisation (the holder's own in intermediation), any
`opening_threshold` of whom can rebuild it at the opening.
A buying organisation without an opener cannot publish: there would be nobody to open the offers.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE, OPENERS
from marketplace.errors import Forbidden, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.lib.sealing import LockedOpenerKey, associated_data, create_contract_key, fingerprint
from marketplace.tenders import schemas
from marketplace.tenders.models import ContractKey, OpenerKey, SpecificContract


def contract_key_context(contract_id: uuid.UUID) -> bytes:
    return associated_data(purpose="contract-key", contract=contract_id)


class OpenerService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def register(self, principal: Principal, data: schemas.OpenerKeyCreate) -> schemas.OpenerKey:
        if principal.user_id is None:
            raise Forbidden("An opener is a person: API keys cannot hold opener keys.")
        if not principal.has_role_in(data.organisation_id, *OPENERS):
            raise Forbidden("Only an opener or an administrator of the organisation (a buying organisation, or a "
                            "holder buying its own specific contract, HC2) holds an opener key.")
        key_id = uuid7()
        # Argon2id at 64 MiB is seconds of CPU on a busy machine: not on the event loop.
        locked = await asyncio.to_thread(LockedOpenerKey.create, str(key_id), data.passphrase)
        now = self.clock.now()
        # The previous key retires for contracts published from now on; those sealed for it still use it.
        await self.session.execute(update(OpenerKey).where(
            OpenerKey.user_id == principal.user_id, OpenerKey.organisation_id == data.organisation_id,
            OpenerKey.retired_at.is_(None)).values(retired_at=now))
        key = OpenerKey(id=key_id, user_id=principal.user_id, organisation_id=data.organisation_id,
                        record=locked.to_dict(), fingerprint=fingerprint(locked.public()))
        self.session.add(key)
        await self.session.flush()
        await audit.record(self.session, self.clock, "opener_key.registered", actor=principal.label,
                           organisation_id=data.organisation_id, target_type="opener_key", target_id=key.id,
                           details={"fingerprint": key.fingerprint})
        return opener_key_schema(key)

    async def list_for(self, principal: Principal, organisation_id: uuid.UUID) -> list[schemas.OpenerKey]:
        if not principal.has_role_in(organisation_id, *BUYING_SIDE):
            raise Forbidden("Only the buying organisation's members see its openers.")
        rows = (await self.session.scalars(select(OpenerKey).where(OpenerKey.organisation_id == organisation_id)
                                           .order_by(OpenerKey.created_at))).all()
        return [opener_key_schema(k) for k in rows]


async def seal_contract(session: AsyncSession, contract: SpecificContract) -> ContractKey:
    """Give a new specific contract its key pair, shared among the buying organisation's current openers."""
    keys = (await session.scalars(select(OpenerKey).where(
        OpenerKey.organisation_id == contract.buyer_organisation_id, OpenerKey.retired_at.is_(None))
        .order_by(OpenerKey.created_at))).all()
    if len(keys) < contract.opening_threshold:
        raise RuleViolation(
            f"openingThreshold: D13: the offers must be openable by {contract.opening_threshold} opener(s) of the "
            f"buying organisation, and it has {len(keys)} with an opener key (POST /my/opener-keys)",
            field="openingThreshold", rule="D13")
    openers = {str(k.id): LockedOpenerKey.from_dict(k.record).public() for k in keys}
    protected = create_contract_key(openers, contract.opening_threshold, contract_key_context(contract.id))
    key = ContractKey(specific_contract_id=contract.id, threshold=contract.opening_threshold,
                      protected=protected.to_dict(), fingerprint=fingerprint(protected.public()))
    session.add(key)
    await session.flush()
    return key


def opener_key_schema(key: OpenerKey) -> schemas.OpenerKey:
    return schemas.OpenerKey(id=key.id, organisation_id=key.organisation_id, user_id=key.user_id,
                             fingerprint=key.fingerprint, created_at=key.created_at, retired_at=key.retired_at)
