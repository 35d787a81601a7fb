from __future__ import annotations

import pytest

from marketplace.settings import Settings
from tests.world import World, build_world


@pytest.fixture
async def world(settings: Settings) -> World:
    return await build_world(settings)
