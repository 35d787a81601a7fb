from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.access import public
from marketplace.lib.clock import Clock
from marketplace.lib.http import created
from marketplace.settings import Settings
from marketplace.support.schemas import SupportRequestCreate, SupportRequestReceipt
from marketplace.support.services import SupportService


class SupportController(Controller):
    path = "/support/requests"
    tags = ["Support"]

    @post("/", opt=public("Anyone may write to the support desk."), summary="Send a request to support")
    async def create(
        self, data: JSONBody[SupportRequestCreate], db_session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock], settings: NamedDependency[Settings],
    ) -> Response[SupportRequestReceipt]:
        receipt = await SupportService(db_session, clock, settings).submit(data)
        return created(receipt, f"{self.path}/{receipt.id}")

    @get("/{request_id:uuid}", opt=public("Shows only arrival and status, never the content."),
         summary="Follow a support request")
    async def show(self, request_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession],
                   clock: NamedDependency[Clock], settings: NamedDependency[Settings]) -> SupportRequestReceipt:
        return await SupportService(db_session, clock, settings).receipt(request_id)
