"""Scheduled work on admissions."""

from __future__ import annotations

from typing import Any

from marketplace.vendors.services import DpsService


async def warn_expiring_documents(ctx: dict[str, Any]) -> int:
    """Daily: vendors hear, once per document, that a certificate expires within 30 days (or has)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await DpsService(session, ctx["clock"]).warn_expiring_documents()


async def warn_expiring_sandbox_documents(ctx: dict[str, Any]) -> int:
    """Every minute: the same warning for sandboxes, each on its own accelerated clock (a day may be a minute)."""
    async with ctx["session_maker"]() as session, session.begin():
        return await DpsService(session, ctx["clock"]).warn_expiring_documents(sandbox=True)
