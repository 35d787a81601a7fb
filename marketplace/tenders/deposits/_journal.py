"""D14b: the journal of failed deposit attempts.

Each deposit act of a vendor (starting an offer, giving its parts, streaming a file, asking for a presigned
upload or completing one, submitting) runs inside `Journal.attempt`. The act binds it to its contract and
vendor as soon as the caller is known to be of the vendor (before that, a refusal is a 404 to a stranger, and
nothing of the vendor's to journal); a streamed body is counted as it is read. When the act is refused, one
row is written in a transaction of its own (the request's rolls back with the refusal): who, when on the
contract's clock, how many bytes had come, the error's status, rule, detail and the limit it quoted (D14a).
Never the content, never a file's name: the details of refusals name neither, and an archive's refusal,
whose reasons name its members, is journaled with the reasons alone (`ArchiveRefused.unnamed`).

The vendor reads its own rows at any time; the buying side reads every row from the deadline on, as it learns
how many offers were received (before it, who tries to deposit is as sealed as the offers: D13, P3).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYING_SIDE
from marketplace.errors import DomainError, NotFound
from marketplace.lib import audit
from marketplace.lib.clock import Clock, format_paris, reading_at
from marketplace.tenders import schemas
from marketplace.tenders.access import CONTRACT_NOT_FOUND, for_buying_side, invited_vendors
from marketplace.tenders.errors import ArchiveRefused, OffersSealed
from marketplace.tenders.models import DepositAttempt, SpecificContract
from marketplace.tenders.states import deadline_passed
from marketplace.vendors.sandbox import clock_of

log = logging.getLogger("marketplace.tenders.deposits")


class Attempt:
    """One deposit act: its contract and vendor once known, the bytes its body brought."""

    def __init__(self, actor: str, action: str, started: datetime, declared_bytes: int | None) -> None:
        self.actor = actor
        self.action = action
        self.started = started  # real time, before anything was read
        self.declared_bytes = declared_bytes
        self.bytes_received = 0
        self.contract: SpecificContract | None = None
        self.vendor: uuid.UUID | None = None
        self.offer_id: uuid.UUID | None = None

    def bind(self, contract: SpecificContract, vendor: uuid.UUID, offer_id: uuid.UUID | None = None) -> None:
        self.contract, self.vendor, self.offer_id = contract, vendor, offer_id

    async def counted(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """`body` passed through, its bytes counted as they arrive."""
        async for chunk in body:
            self.bytes_received += len(chunk)
            yield chunk


class Journal:
    """Runs deposit acts and journals the refused ones apart."""

    def __init__(self, session: AsyncSession, clock: Clock,
                 side_sessions: async_sessionmaker[AsyncSession] | None) -> None:
        self.session = session
        self.clock = clock
        self.side_sessions = side_sessions

    @asynccontextmanager
    async def attempt(self, principal: Principal, action: str, *,
                      declared_bytes: int | None = None) -> AsyncIterator[Attempt]:
        attempt = Attempt(principal.label, action, self.clock.now(), declared_bytes)
        try:
            yield attempt
        except DomainError as error:
            await self._journal(attempt, error)
            raise

    async def _journal(self, attempt: Attempt, error: DomainError) -> None:
        contract, vendor = attempt.contract, attempt.vendor
        if contract is None or vendor is None or self.side_sessions is None:
            return
        # The DPS is in the session's identity map since the act read the contract's clock: no query here.
        clock = await clock_of(self.session, self.clock, contract.dps_id)
        extra = error.extra
        row = DepositAttempt(
            specific_contract_id=contract.id, vendor_organisation_id=vendor, offer_id=attempt.offer_id,
            actor=attempt.actor, action=attempt.action, started_at=reading_at(clock, attempt.started),
            refused_at=clock.now(), bytes_received=attempt.bytes_received, declared_bytes=attempt.declared_bytes,
            status=error.status_code, problem=error.slug, rule=_text(extra.get("rule"), 30),
            field=_text(extra.get("field"), 100),
            detail=error.unnamed if isinstance(error, ArchiveRefused) else error.detail,
            limit_name=_text(extra.get("limitName"), 50), limit_value=extra.get("limit"))
        try:
            async with self.side_sessions() as side, side.begin():
                side.add(row)
        except Exception:
            # The refusal itself must still reach the vendor: a journal that can't be written is an alert.
            log.exception("deposit_attempt.not_journaled", extra={"specific_contract": str(contract.id),
                                                                   "vendor": str(vendor), "action": attempt.action})


def _text(value: object, length: int) -> str | None:
    return None if value is None else str(value)[:length]


def attempt_schema(row: DepositAttempt) -> schemas.DepositAttempt:
    return schemas.DepositAttempt(
        id=row.id, specific_contract_id=row.specific_contract_id, vendor_organisation_id=row.vendor_organisation_id,
        offer_id=row.offer_id, actor=row.actor, action=row.action, started_at=row.started_at,
        refused_at=row.refused_at, refused_at_paris=format_paris(row.refused_at), bytes_received=row.bytes_received,
        declared_bytes=row.declared_bytes, status=row.status, problem=row.problem, rule=row.rule, field=row.field,
        detail=row.detail, limit_name=row.limit_name, limit=row.limit_value)


class JournalReading:
    """The journal as its readers see it: the vendor its own rows, the buying side every row after the deadline."""

    def __init__(self, session: AsyncSession, clock: Clock,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.side_sessions = side_sessions

    async def mine(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.DepositAttempt]:
        contract = await self.session.get(SpecificContract, contract_id)
        if contract is None:
            raise NotFound(CONTRACT_NOT_FOUND)
        vendors = await invited_vendors(self.session, principal, contract)
        if not vendors:
            raise NotFound(CONTRACT_NOT_FOUND)
        return await self._rows(contract, DepositAttempt.vendor_organisation_id.in_(vendors))

    async def every(self, principal: Principal, contract_id: uuid.UUID) -> list[schemas.DepositAttempt]:
        contract = for_buying_side(principal, await self.session.get(SpecificContract, contract_id), *BUYING_SIDE)
        now = (await clock_of(self.session, self.clock, contract.dps_id)).now()
        if not deadline_passed(contract, now):
            # Who tries to deposit, and how, is as sealed as the offers before the deadline (D13, P3): refused,
            # and that refusal audited apart (P8: the request's transaction rolls back with it).
            if self.side_sessions is not None:
                async with self.side_sessions() as side, side.begin():
                    await audit.record(side, self.clock, "deposit_attempts.read_refused_sealed",
                                       actor=principal.label, organisation_id=contract.buyer_organisation_id,
                                       target_type="specific_contract", target_id=contract.id, details={})
            raise OffersSealed("The journal of deposit attempts is sealed until the deadline, "
                               f"{format_paris(contract.tender_deadline)}, as the offers are.", rule="D13")
        return await self._rows(contract)

    async def _rows(self, contract: SpecificContract, *where: Any) -> list[schemas.DepositAttempt]:
        rows = (await self.session.scalars(select(DepositAttempt).where(
            DepositAttempt.specific_contract_id == contract.id, *where).order_by(DepositAttempt.id))).all()
        return [attempt_schema(r) for r in rows]
