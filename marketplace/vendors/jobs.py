"""Scheduled work on admissions and on the DPS's validity."""

from __future__ import annotations

from typing import Any

from marketplace.vendors.documents import AdmissionDocumentService
from marketplace.vendors.lifecycle import DpsLifecycle


async def warn_expiring_documents(ctx: dict[str, Any]) -> int:
    """Daily: vendors hear, once per document, that a certificate expires within 30 days (or has)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await AdmissionDocumentService(session, ctx["clock"]).warn_expiring_documents()


async def warn_expiring_sandbox_documents(ctx: dict[str, Any]) -> int:
    """Every minute: the same warning for sandboxes, each on its own accelerated clock (a day may be a minute)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await AdmissionDocumentService(session, ctx["clock"]).warn_expiring_documents(sandbox=True)


async def close_ended_dps(ctx: dict[str, Any]) -> int:
    """Store TERMINATED on every real DPS past its validity end, closing admissions (machine (a), D5).

    Decisions never wait for it: they read the status on the DPS's clock (vendors/states.py `dps_status_at`)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await DpsLifecycle(session, ctx["clock"]).close_ended()


async def alert_admission_due_dates(ctx: dict[str, Any]) -> int:
    """The buying organisation's admins hear once that an evaluation is due within 2 working days, once that
    it is overdue (D6)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await DpsLifecycle(session, ctx["clock"]).alert_due_dates()


async def sandbox_timers(ctx: dict[str, Any]) -> int:
    """Every minute: the same two for sandboxes, each on its own accelerated clock."""
    async with ctx["session_maker"]() as session, session.begin():
        lifecycle = DpsLifecycle(session, ctx["clock"])
        return await lifecycle.close_ended(sandbox=True) + await lifecycle.alert_due_dates(sandbox=True)
