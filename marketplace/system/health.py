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


async def check_health(engine: AsyncEngine, redis: ArqRedis, store: ObjectStore) -> Health:
    async def database() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    db, rd, s3 = await asyncio.gather(_probe(database), _probe(redis.ping), _probe(store.ping))
    checks = {"database": db, "redis": rd, "s3": s3}
    ok = all(c.status == "ok" for c in checks.values())
    return Health(status="ok" if ok else "degraded", checks=checks)
