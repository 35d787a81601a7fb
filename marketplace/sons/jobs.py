"""SONS work the worker runs on a schedule (marketplace/worker.py)."""

from __future__ import annotations

from typing import Any

from marketplace.accounts.principal import SYSTEM_ACTOR
from marketplace.sons.asp import AspService


async def expire_sons_orders(ctx: dict[str, Any]) -> int:
    """§12: every day, the orders still open past their dispositif's deployment deadline expire (their funding is
    lost), as the operator's POST /sons/orders/expiry does at once; the audit names the platform as the actor."""
    async with ctx["session_maker"]() as session, session.begin():
        return len(await AspService(session, ctx["clock"]).expire(SYSTEM_ACTOR))
