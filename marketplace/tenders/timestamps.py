"""The RFC 3161 time-stamps of a receipt and of an opening record (G4): asked for in the act's own transaction
through the outbox (lib/timestamps.py's job fetches the token and retries while the TSA is down), read back with
the document they cover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.lib.jobs import intent_values, record_job
from marketplace.lib.sealing import canonical_json
from marketplace.lib.timestamps import TIMESTAMP_JOB, b64, timestamp_of
from marketplace.tenders import schemas


def digest_of(document: Mapping[str, object]) -> str:
    """Hex SHA-256 of the document's RFC 8785 bytes: what its signature covers, and its token's imprint."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def stamp_later_values(clock: Clock, subject_type: str, subject_id: object,
                       document: Mapping[str, object]) -> tuple[dict[str, Any], schemas.EvidenceTimestamp]:
    """`stamp_later`'s job as a row to insert with the act's other writes (`lib.jobs.intent_values`)."""
    digest = digest_of(document)
    return (intent_values(clock, TIMESTAMP_JOB, subject_type, str(subject_id), digest),
            schemas.EvidenceTimestamp(status="pending", sha256=digest))


async def stamp_later(session: AsyncSession, clock: Clock, subject_type: str, subject_id: object,
                      document: Mapping[str, object]) -> schemas.EvidenceTimestamp:
    """Record the token's fetching with the act: it runs if the act commits, however long the TSA is down."""
    digest = digest_of(document)
    await record_job(session, clock, TIMESTAMP_JOB, subject_type, str(subject_id), digest)
    return schemas.EvidenceTimestamp(status="pending", sha256=digest)


async def timestamp_for(session: AsyncSession, subject_type: str, subject_id: object,
                        document: Mapping[str, object]) -> schemas.EvidenceTimestamp:
    """The token kept for this document, or `pending`. `sha256` is the document's as read now: a document
    altered since it was stamped no longer matches its token's imprint, and its verification says so."""
    digest = digest_of(document)
    row = await timestamp_of(session, subject_type, subject_id)
    if row is None:
        return schemas.EvidenceTimestamp(status="pending", sha256=digest)
    return schemas.EvidenceTimestamp(status="stamped", sha256=digest, token=b64(row.token), gen_time=row.gen_time)
