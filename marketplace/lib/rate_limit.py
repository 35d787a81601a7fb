"""The per-address rate limit of the login doors, counted in Redis so that every API process counts together.

Litestar's `RateLimitConfig` keeps its counts in the app's `rate_limit` store; unless the app names one, that
is a `MemoryStore`, one per process: behind N granian workers or N hosts a client would get N times the limit.
`create_app` registers a `RedisStore` under RATE_LIMIT_STORE instead.

A shared store is not enough on its own: Litestar reads the window's history, checks it and writes it back,
under a lock that only covers its own process, so two processes answering at the same instant both read the
same count and one request goes uncounted. SharedRateLimitMiddleware keeps Litestar's fixed window, its
429 and its RateLimit-* headers, and takes the count with one atomic INCR in the store's Redis instead.

If Redis can't be reached the request is let through (and logged) rather than answered 503: an API login
needs no Redis otherwise (tokens and their families are in PostgreSQL), a vendor must still be able to log in
and submit before a deadline while Redis is down (submission does not depend on Redis: the outbox), and the
per-account throttle of the login, kept in PostgreSQL (accounts/sessions.py), still stops password guessing.
"""

from __future__ import annotations

import logging
from time import time
from typing import TYPE_CHECKING, Any

from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    DurationUnit,
    RateLimitConfig,
    RateLimitMiddleware,
)
from litestar.stores.redis import RedisStore
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from litestar.middleware.base import DefineMiddleware
    from litestar.stores.base import Store
    from redis.asyncio import Redis

log = logging.getLogger("marketplace.rate_limit")

RATE_LIMIT_STORE = "rate_limit"  # Litestar's default store name for RateLimitConfig
RATE_LIMIT_NAMESPACE = "marketplace-rate-limit"
LOGIN_RATE_LIMIT: tuple[DurationUnit, int] = ("minute", 120)

# One round trip: count this request, start the window's expiry with its first request, and say how long
# the window has left. KEYS[1]: the counter; ARGV[1]: the window in seconds.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


def rate_limit_store(redis: Redis) -> RedisStore:
    return RedisStore(redis, namespace=RATE_LIMIT_NAMESPACE)


class SharedRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's fixed-window limit with an atomic count when the store is Redis (any other store: Litestar's
    own read-check-write, which is right within one process)."""

    async def retrieve_cached_history(self, key: str, store: Store) -> CacheObject:
        if not isinstance(store, RedisStore):
            return await super().retrieve_cached_history(key, store)
        now = int(time())  # nosemgrep: wall-clock-outside-clock  # Litestar's window and headers are on the wall clock
        window = DURATION_VALUES[self.unit]
        try:
            # The store's own client and key layout, so `store.delete_all()` and namespaces keep working.
            count, ttl = await store._redis.eval(_COUNT, 1, store._make_key(key), str(window))  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("rate_limit.store_unavailable: %s; request let through", exc)
            return CacheObject(history=[], reset=now + window)
        # The base class counts `history`: this request's predecessors in the window (no more than the limit
        # needs, however many a flood sent), then set_cached_history adds this one.
        return CacheObject(history=[now] * min(int(count) - 1, self.max_requests), reset=now + int(ttl))

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        if not isinstance(store, RedisStore):
            await super().set_cached_history(key, cache_object, store)
            return
        # Already counted by the INCR; only the headers of this answer still read the history.
        cache_object.history.insert(0, int(time()))  # nosemgrep: wall-clock-outside-clock  # as Litestar's window


def login_rate_limit(**options: Any) -> DefineMiddleware:
    """The per-address limit shared by the API's /auth routes and the back-office's login page: one counter
    per client address (Litestar's key names the middleware class and the address, not the route)."""
    return RateLimitConfig(rate_limit=LOGIN_RATE_LIMIT, store=RATE_LIMIT_STORE,
                           middleware_class=SharedRateLimitMiddleware, **options).middleware
