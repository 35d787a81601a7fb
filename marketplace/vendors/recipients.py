"""Who hears of an admission request: the vendor's admins and bid managers, the buying organisation's buyers."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Membership, User
from marketplace.accounts.roles import DPS_WRITERS, VENDOR_WRITERS, Role
from marketplace.lib.clock import Clock, format_paris
from marketplace.notifications.notify import NotificationService
from marketplace.vendors.models import AdmissionRequest, Dps


async def recipients(session: AsyncSession, organisation_id: uuid.UUID, *roles: Role) -> list[str]:
    """The active members of the organisation holding one of `roles` (any role if none): their e-mails."""
    rows = (await session.execute(
        select(User.email, Membership.roles).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == organisation_id, User.is_active.is_(True)))).all()
    wanted = {r.value for r in roles}
    return sorted({email for email, held in rows if not wanted or wanted & set(held)})


async def notify_vendor(session: AsyncSession, clock: Clock, request: AdmissionRequest, kind: str, subject: str,
                        body: str, dps: Dps) -> None:
    notifications = NotificationService(session, clock)
    for email in await recipients(session, request.vendor_organisation_id, *VENDOR_WRITERS):
        await notifications.notify(recipient_email=email, kind=kind, about=request.id,
                                   subject=f"{subject} (demande {request.id})", body=body,
                                   sandbox=dps.is_sandbox)


async def notify_buyer_side(session: AsyncSession, clock: Clock, dps: Dps, request: AdmissionRequest, kind: str,
                            subject: str) -> None:
    notifications = NotificationService(session, clock)
    assert request.due_at
    for email in await recipients(session, dps.buyer_organisation_id, *DPS_WRITERS):
        await notifications.notify(
            recipient_email=email, kind=kind, about=request.id, subject=f"{subject} — {dps.title}",
            body=f"Demande {request.id} à évaluer avant le {format_paris(request.due_at)}.\n",
            sandbox=dps.is_sandbox)
