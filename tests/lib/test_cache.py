"""The public lists' cache degrades to a miss when Redis is hung or gone (G12): lib/cache.py."""

from __future__ import annotations

import asyncio
import time

from marketplace.app import make_redis
from marketplace.lib.cache import MissingCacheStore
from marketplace.settings import Settings
from tests.faults import FaultProxy


async def test_a_hung_redis_costs_one_lookup_its_timeout_then_the_cache_is_left_alone(settings: Settings) -> None:
    proxy = FaultProxy.for_url(settings.redis_url)
    proxy.start()
    redis = make_redis(settings.with_(redis_url=proxy.url(settings.redis_url)))
    store = MissingCacheStore(redis, namespace="test-cache", pause=1.0)
    try:
        await store.set("list", b"cached", expires_in=60)
        assert await store.get("list") == b"cached"

        proxy.set_mode("blackhole")
        began = time.monotonic()
        assert await store.get("list") is None  # a miss, after the client's socket timeout (make_redis: 2 s)
        first = time.monotonic() - began
        assert first < 4
        began = time.monotonic()
        for _ in range(5):  # left alone meanwhile: no wait at all
            assert await store.get("list") is None
            await store.set("list", b"other")
        assert time.monotonic() - began < 0.1

        proxy.set_mode("refuse")
        await asyncio.sleep(1.1)
        assert await store.get("list") is None  # gone: refused at once, a miss again
        proxy.set_mode("pass")
        await asyncio.sleep(1.1)
        assert await store.get("list") == b"cached"  # back: the value kept, nothing written meanwhile
    finally:
        await redis.aclose()
        proxy.stop()
