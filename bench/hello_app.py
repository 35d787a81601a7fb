"""The baseline of `bench/http.py`: the smallest Litestar app we can serve the same way as the real one.

One `GET /` returning a tiny JSON body, no plugins, no database, no dependencies. Whatever the real
endpoints cost beyond this app is the price of our own code and of the services behind it, measured with
the same server (granian), the same worker count and the same client on the same machine.

    granian --interface asgi --factory bench.hello_app:create_app   (from the repository root)
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    # JSON, like /health and the support receipt: the encoder is part of every real response too.
    return {"hello": "world"}


def create_app() -> Litestar:
    # A factory, so granian is started with exactly the flags used for `marketplace.app:create_app`.
    return Litestar(route_handlers=[hello])
