from __future__ import annotations

from arq.connections import ArqRedis
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy.ext.asyncio import AsyncEngine

from marketplace.lib.access import public
from marketplace.lib.database import ReadReplica
from marketplace.system.health import check_health
from marketplace.system.schemas import Health
from storage import ObjectStore


class HealthController(Controller):
    path = "/health"
    tags = ["System"]

    @get("/", opt=public("Load balancers and operators probe it."), summary="Health of each dependency",
         responses={503: ResponseSpec(data_container=Health, description="A dependency is down.")})
    async def health(self, db_engine: NamedDependency[AsyncEngine], redis: NamedDependency[ArqRedis],
                     store: NamedDependency[ObjectStore],
                     read_replica: NamedDependency[ReadReplica]) -> Response[Health]:
        health = await check_health(db_engine, redis, store, read_replica.engine)
        status = HTTP_200_OK if health.status == "ok" else HTTP_503_SERVICE_UNAVAILABLE
        return Response(health, status_code=status, headers={"Cache-Control": "no-store"})
