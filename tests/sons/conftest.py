"""SONS tests: the app runs on a frozen clock the tests move (the dispositif's calendar is set around it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.apps import shared_app

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    """Overrides the root `app`: the same app, reading the test's clock (so `client` uses it too)."""
    return shared_app(settings, clock)
