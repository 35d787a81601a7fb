"""DPS and admission tests: the app runs on a frozen clock the tests move (the initial window lasts ≥ 30 days)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.apps import shared_app

# A Monday in a month without public holidays, so working days are easy to follow by eye.
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    """Overrides the root `app`: the same app, reading the test's clock (so `client` uses it too)."""
    return shared_app(settings, clock)
