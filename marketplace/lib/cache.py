"""A response cache in Redis that degrades to a miss (G12).

The public lists are kept in Redis a few seconds (app.py `ResponseCacheConfig`), and every lookup reads Redis,
even with caching off. A cache must never cost an answer: with Redis down or hung, a lookup is a miss and a store
is skipped, so the lists are computed from PostgreSQL as if nothing were cached. After a failure the cache is
left alone for `pause` seconds, so a hung Redis costs one request its socket timeout, not every request.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("marketplace.cache")

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class MissingCacheStore(RedisStore):
    """`RedisStore` whose failures to reach Redis are misses (reads) and no-ops (writes)."""

    __slots__ = ("_pause", "_resume_at")

    def __init__(self, redis: Redis, *, namespace: str, pause: float = 5.0) -> None:
        super().__init__(redis, namespace=namespace)
        self._pause = pause
        self._resume_at = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._resume_at

    def _failed(self, exc: BaseException) -> None:
        if self._available():
            log.warning("cache.unavailable: %r; answering uncached for %.0f s", exc, self._pause)
        self._resume_at = time.monotonic() + self._pause

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        if not self._available():
            return None
        try:
            return await super().get(key, renew_for)
        except _UNAVAILABLE as exc:
            self._failed(exc)
            return None

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        if not self._available():
            return
        try:
            await super().set(key, value, expires_in)
        except _UNAVAILABLE as exc:
            self._failed(exc)

    async def delete(self, key: str) -> None:
        if not self._available():
            return
        try:
            await super().delete(key)
        except _UNAVAILABLE as exc:
            self._failed(exc)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        if not self._available():
            return None
        try:
            return await super().expires_in(key)
        except _UNAVAILABLE as exc:
            self._failed(exc)
            return None
