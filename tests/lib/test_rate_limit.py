"""The app keeps no store in its own process (lib/rate_limit.py, app.py); the login doors' count is in Redis.

That two processes count together is shown over HTTP in tests/test_two_processes.py; here, the in-process
parts: which stores the app holds, and what a login does when Redis can't be reached.
"""

from __future__ import annotations

from litestar.stores.redis import RedisStore
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from marketplace.app import create_app
from marketplace.devstack._proc import free_port
from marketplace.lib.rate_limit import LOGIN_RATE_LIMIT, RATE_LIMIT_NAMESPACE, RATE_LIMIT_STORE
from marketplace.settings import Settings
from marketplace.web.security import SESSION_STORE
from tests.world import PASSWORD, World, email_of


def test_every_store_the_app_names_or_makes_is_in_redis(settings: Settings) -> None:
    app = create_app(settings)
    # Named ones, and any a plugin or a later config asks for by a new name (Litestar would make a MemoryStore).
    for name in (RATE_LIMIT_STORE, SESSION_STORE, "response_cache", "some-future-store"):
        assert isinstance(app.stores.get(name), RedisStore), name


async def test_the_login_count_is_kept_in_redis_under_its_namespace(settings: Settings, world: World) -> None:
    async with AsyncTestClient(create_app(settings)) as client:
        for _ in range(3):
            answer = await client.get("/app/connexion")
            assert answer.status_code == 200
        assert int(answer.headers["ratelimit-remaining"]) == LOGIN_RATE_LIMIT[1] - 3
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [k.decode() for k in await redis.keys(f"{RATE_LIMIT_NAMESPACE}:*")]
        assert len(keys) == 1 and int(await redis.get(keys[0]) or 0) == 3
        assert 0 < await redis.ttl(keys[0]) <= 60  # the window expires by itself
    finally:
        await redis.aclose()


async def test_an_unreachable_redis_lets_an_api_login_through(settings: Settings, world: World) -> None:
    """The per-address count fails open: the per-account throttle, in PostgreSQL, still guards the password,
    and a bearer login needs no Redis otherwise."""
    dead = settings.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with AsyncTestClient(create_app(dead, run_relay=False)) as client:
        answer = await client.post("/auth/login", json={"email": email_of("buyer_admin"), "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        assert "ratelimit-remaining" in answer.headers
