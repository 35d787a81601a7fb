"""Open-data tests: the app on the DPS tests' frozen clock, the worker's jobs run in process on the same clock, and
a recording double of the national portal that validates what would be sent against DECP 2.0.3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock
from marketplace.opendata.jobs import publish_decp_records, publish_ocds_releases
from marketplace.opendata.publisher import PublicationFailed
from marketplace.settings import Settings
from tests.opendata.schemas import decp_errors

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401


@dataclass
class RecordingPortal:
    """The national portal's stand-in: checks each document against the schema, keeps it, or fails when told."""

    name: str = "recording"
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failing: bool = False

    async def publish(self, file_name: str, document: dict[str, Any]) -> dict[str, Any]:
        if self.failing:
            raise PublicationFailed("portal unreachable (test)")
        problems = decp_errors(document)
        assert not problems, problems
        self.sent.append((file_name, document))
        return {"publisher": self.name, "file": file_name, "resource": f"res-{len(self.sent)}"}


@dataclass
class Jobs:
    settings: Settings
    clock: FrozenClock
    portal: RecordingPortal

    async def run(self) -> tuple[int, int]:
        """The worker's two open-data jobs, once each: (releases stored, DECP records published)."""
        engine = create_async_engine(self.settings.database_url)
        try:
            ctx = {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": self.clock,
                   "settings": self.settings, "decp_publisher": self.portal}
            return await publish_ocds_releases(ctx), await publish_decp_records(ctx)
        finally:
            await engine.dispose()


@pytest.fixture
def portal() -> RecordingPortal:
    return RecordingPortal()


@pytest.fixture
async def jobs(settings: Settings, clock: FrozenClock, portal: RecordingPortal) -> AsyncIterator[Jobs]:
    yield Jobs(settings, clock, portal)
