from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from marketplace.system.schemas import DependencyHealth, Health
from storage import ObjectStore

# Each probe answers within this bound, so /health answers within it too (probes run concurrently).
PROBE_TIMEOUT = 2.5


async def _probe(check: Callable[[], Awaitable[object]]) -> DependencyHealth:
    began = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=PROBE_TIMEOUT)
    except TimeoutError:
        error: str | None = f"no answer within {PROBE_TIMEOUT} s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    else:
        error = None
    latency = round((time.perf_counter() - began) * 1000, 2)
    return DependencyHealth(status="error" if error else "ok", latency_ms=latency, error=error)


def _select_one(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


async def check_health(engine: AsyncEngine, redis: ArqRedis, store: ObjectStore,
                       replica: AsyncEngine | None = None) -> Health:
    probes = [_probe(_select_one(engine)), _probe(redis.ping), _probe(store.ping)]
    if replica is not None:
        probes.append(_probe(_select_one(replica)))
    db, rd, s3, *rest = await asyncio.gather(*probes)
    checks = {"database": db, "redis": rd, "s3": s3}
    ok = all(c.status == "ok" for c in checks.values())
    if rest:
        # Reported, but no reason to take this process out of rotation: while the replica is down its reads go to
        # the primary (lib/database.py).
        checks["replica"] = rest[0]
    return Health(status="ok" if ok else "degraded", checks=checks)
