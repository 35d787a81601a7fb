"""Requests to the support desk: anyone may write; the requester can follow arrival and status, never content."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.errors import NotFound
from marketplace.lib.clock import Clock, format_paris
from marketplace.notifications.mail import deliverable_address
from marketplace.notifications.models import EmailStatus, Notification
from marketplace.notifications.notify import NotificationService
from marketplace.settings import Settings
from marketplace.support.models import SupportRequest
from marketplace.support.schemas import SupportRequestCreate, SupportRequestReceipt


class SupportService:
    def __init__(self, session: AsyncSession, clock: Clock, settings: Settings) -> None:
        self.session = session
        self.clock = clock
        self.settings = settings
        self.notifications = NotificationService(session, clock)

    async def submit(self, data: SupportRequestCreate) -> SupportRequestReceipt:
        # The acknowledgement is mailed to this address: one we can write to, or a 422 now.
        email = deliverable_address(data.email, self.settings, field="email")
        request = SupportRequest(name=data.name.strip(), email=email, subject=data.subject.strip(),
                                 message=data.message, organisation=data.organisation)
        self.session.add(request)
        await self.session.flush()
        received = format_paris(request.created_at)
        await self.notifications.notify(
            recipient_email=self.settings.support_email, kind="support.request_received",
            subject=f"[Support] {request.subject}", about=request.id,
            body=(f"Demande {request.id} reçue le {received}\n"
                  f"De : {request.name} <{request.email}>"
                  + (f" ({request.organisation})" if request.organisation else "")
                  + f"\n\n{request.message}\n"),
        )
        await self.notifications.notify(
            recipient_email=request.email, kind="support.request_acknowledged",
            subject=f"Votre demande a bien été reçue (réf. {request.id})", about=request.id,
            body=(f"Bonjour {request.name},\n\nNous avons bien reçu votre demande « {request.subject} » "
                  f"le {received}.\nRéférence : {request.id}\n"),
        )
        return await self.receipt(request.id)

    async def receipt(self, request_id: uuid.UUID) -> SupportRequestReceipt:
        request = await self.session.get(SupportRequest, request_id)
        if request is None:
            raise NotFound("No support request has this id.")
        # "forwarded" once the support desk's copy has left by e-mail.
        sent = await self.session.scalar(
            select(Notification.id).where(
                Notification.kind == "support.request_received",
                Notification.about_id == request.id,
                Notification.email_status == EmailStatus.SENT,
            )
        )
        return SupportRequestReceipt(id=request.id, received_at=request.created_at,
                                     status="forwarded" if sent else "received")
