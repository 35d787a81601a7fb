"""The DPS routes whose use case the contracts under the DPS constrain (tenders/dps_time.py): its validity and a
sandbox's clock. Same paths and tag as the rest of the DPS (vendors/controllers.py)."""

from __future__ import annotations

import uuid

from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import Role
from marketplace.lib.access import requires
from marketplace.tenders.deps import provide_dps_time_service
from marketplace.tenders.dps_time import DpsTimeService
from marketplace.vendors import schemas

DpsTime = NamedDependency[DpsTimeService]
Caller = NamedDependency[Principal]


class DpsTimeController(Controller):
    path = "/dps"
    tags = ["DPS"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "dps_time": Provide(provide_dps_time_service, sync_to_thread=False)}

    @post("/{dps_id:uuid}/validity", opt=requires(Role.BUYER_ADMIN, reason="The DPS's buying organisation."),
          status_code=HTTP_200_OK,
          summary="Change the DPS's end of validity, with reasons: every admitted vendor is told (§1.1)")
    async def change_validity(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.DpsValidityChange],
                              dps_time: DpsTime, principal: Caller) -> schemas.Dps:
        return await dps_time.change_validity(principal, dps_id, data)

    @post("/{dps_id:uuid}/sandbox/fast-forward",
          opt=requires(Role.BUYER_ADMIN, reason="The sandbox DPS's buying organisation."), status_code=HTTP_200_OK,
          summary="Sandbox only: skip sandbox time at once (never during an open tender period or a standstill)")
    async def fast_forward(self, dps_id: FromPath[uuid.UUID], data: JSONBody[schemas.SandboxFastForward],
                           dps_time: DpsTime, principal: Caller) -> schemas.Dps:
        return await dps_time.fast_forward(principal, dps_id, data)
