from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from marketplace.lib.access import public
from marketplace.lib.http import created
from marketplace.support.deps import provide_support_service
from marketplace.support.requests import SupportService
from marketplace.support.schemas import SupportRequestCreate, SupportRequestReceipt

Support = NamedDependency[SupportService]


class SupportController(Controller):
    path = "/support/requests"
    tags = ["Support"]
    dependencies = {"support": Provide(provide_support_service, sync_to_thread=False)}

    @post("/", opt=public("Anyone may write to the support desk."), summary="Send a request to support")
    async def create(self, data: JSONBody[SupportRequestCreate], support: Support) -> Response[SupportRequestReceipt]:
        receipt = await support.submit(data)
        return created(receipt, f"{self.path}/{receipt.id}")

    @get("/{request_id:uuid}", opt=public("Shows only arrival and status, never the content."),
         summary="Follow a support request")
    async def show(self, request_id: FromPath[uuid.UUID], support: Support) -> SupportRequestReceipt:
        return await support.receipt(request_id)
