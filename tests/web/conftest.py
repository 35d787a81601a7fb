"""The back-office's tests talk HTTPS to the app (in process): its cookies are `Secure`, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.apps import shared_app
from tests.vendors.conftest import START
from tests.web.pages import BASE_URL


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return shared_app(settings, clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield client
