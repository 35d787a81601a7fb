"""A dependency down: /health says which within 5 s; what doesn't need it keeps answering (G12)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app, make_store
from marketplace.devstack.s3 import EmbeddedS3
from marketplace.settings import Settings

REQUEST = {"name": "Marc Durand", "email": "marc.durand@example.fr", "subject": "Question",
           "message": "Bonjour"}


@pytest.fixture
async def own_s3(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    s3 = EmbeddedS3(tmp_path, bucket=settings.s3_bucket)
    s3.start()
    own = settings.with_(s3_endpoint=s3.endpoint, s3_access_key=s3.access_key, s3_secret_key=s3.secret_key)
    await make_store(own).ensure_bucket()
    try:
        yield s3, own
    finally:
        if s3._proc is not None and s3._proc.poll() is None:
            os.kill(s3._proc.pid, signal.SIGCONT)
        s3.stop()


async def _health_within(client: AsyncTestClient, limit: float) -> dict:  # type: ignore[type-arg]
    began = time.monotonic()
    response = await client.get("/health")
    elapsed = time.monotonic() - began
    assert elapsed < limit, f"/health took {elapsed:.1f} s"
    assert response.status_code == 503, response.text
    return response.json()


async def test_s3_stopped_health_says_so_and_other_endpoints_answer(own_s3) -> None:  # type: ignore[no-untyped-def]
    s3, settings = own_s3
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.get("/health")).status_code == 200

        # Hung: the process is frozen, connections are accepted by the kernel but never answered.
        os.kill(s3._proc.pid, signal.SIGSTOP)
        body = await _health_within(client, 5)
        assert body["checks"]["s3"]["status"] == "error"
        assert body["checks"]["database"]["status"] == "ok" and body["checks"]["redis"]["status"] == "ok"
        created = await client.post("/support/requests", json=REQUEST)
        assert created.status_code == 201
        assert (await client.get(created.headers["location"])).status_code == 200

        # Gone: the process is killed, connections are refused.
        os.kill(s3._proc.pid, signal.SIGCONT)
        s3.stop()
        body = await _health_within(client, 5)
        assert body["checks"]["s3"]["status"] == "error"
        assert (await client.post("/support/requests", json=REQUEST)).status_code == 201
        assert (await client.get("/schema/openapi.json")).status_code == 200
