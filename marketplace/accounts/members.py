"""Telling the members of many organisations at once: who of an organisation is told, and the one statement
that writes their notifications and delivery intents.

Each table's fragment lives with the package that owns it: the recipients (`membership`, `user_account`)
here, the notifications in notifications/notify.py, the delivery intents in lib/jobs.py. A caller names
the organisations (a CTE `targets` whose rows carry `organisation_id`) and what it selects at the end; the
whole is one statement, so ten thousand recipients cost one round trip (bench/fanout).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import TextClause, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Membership, User
from marketplace.lib.clock import Clock
from marketplace.notifications.notify import broadcast_params, notified_cte


def recipients_cte(targets: str, *, per_organisation: bool = False) -> str:
    """`recipients AS (...)`: the active members of the organisations of `targets` holding one of `:roles`.

    `per_organisation` keeps one row per (organisation, address): a person acting for two invited vendors
    is told once for each, as each invitation is its own."""
    columns = f"{targets}.organisation_id, u.email" if per_organisation else "u.email"
    return f"""recipients AS (
    SELECT DISTINCT {columns}
    FROM {targets}
    JOIN membership m ON m.organisation_id = {targets}.organisation_id
    JOIN user_account u ON u.id = m.user_id
    WHERE u.is_active AND m.roles && CAST(:roles AS varchar[])
)"""  # noqa: S608  # nosec B608  # names from code; values are bound


def tell_members_statement(targets: str, final_select: str, *, source: str = "targets",
                           per_organisation: bool = False) -> TextClause:
    """`WITH <targets>, recipients, notified, intents <final_select>`: `targets` is the caller's CTE (or
    CTEs) naming the organisations, `source` the one whose rows carry `organisation_id`."""
    # nosemgrep: sql-built-from-strings  # fragments written in code (the CTEs above, the caller's); values bound
    return text(f"WITH {targets},\n{recipients_cte(source, per_organisation=per_organisation)},\n"
                f"{notified_cte('recipients')}\n{final_select}")


async def tell_members(session: AsyncSession, clock: Clock, statement: TextClause, *, roles: Iterable[str],
                       kind: str, subject: str, body: str, about: uuid.UUID, sandbox: bool = False,
                       params: Mapping[str, Any] | None = None) -> Row[Any]:
    """Run a `tell_members_statement`; returns its one row. `clock` is the real one: it dates the notifications
    and their delivery intents, which the relay reads."""
    bound = {**broadcast_params(kind=kind, subject=subject, body=body, about=about, sandbox=sandbox,
                                now=clock.now()), "roles": [str(role) for role in roles], **(params or {})}
    return (await session.execute(statement, bound)).one()


async def member_emails(session: AsyncSession, organisation_id: uuid.UUID, roles: Iterable[str]) -> list[str]:
    """The addresses of the organisation's active members holding one of `roles`, each once, sorted: who of it
    is told, one by one (the notices that differ per recipient)."""
    return list((await session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.organisation_id == organisation_id, User.is_active,
            Membership.roles.overlap([str(role) for role in roles]))
        .distinct().order_by(User.email))).all())
