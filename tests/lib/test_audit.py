"""The audit log is append-only and tamper-evident (P8, G14)."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from marketplace.app import asyncpg_dsn
from marketplace.settings import Settings
from tests.world import World


def _verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run([sys.executable, "-m", "marketplace", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_verify_names_the_first_tampered_row(settings: Settings, world: World) -> None:
    ok = _verify(settings)
    assert ok.returncode == 0, ok.stderr
    assert "chain intact" in ok.stdout

    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        ids = [r["id"] for r in await owner.fetch("SELECT id FROM audit_event ORDER BY id")]
        assert len(ids) > 10
        victim = ids[len(ids) // 2]
        # Even the owner is refused while the triggers are on…
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await owner.execute("UPDATE audit_event SET actor = 'someone else' WHERE id = $1", victim)
        # …so a superuser has to switch them off to tamper.
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("UPDATE audit_event SET details = '{\"name\": \"forged\"}' WHERE id = $1", victim)
    finally:
        await owner.close()

    broken = _verify(settings)
    assert broken.returncode == 1
    assert f"BROKEN at audit event {victim}:" in broken.stderr
    assert "edited" in broken.stderr


async def test_deleting_a_row_breaks_the_chain_at_the_next_one(settings: Settings, world: World) -> None:
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        ids = [r["id"] for r in await owner.fetch("SELECT id FROM audit_event ORDER BY id")]
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("DELETE FROM audit_event WHERE id = $1", ids[3])
    finally:
        await owner.close()
    broken = _verify(settings)
    assert broken.returncode == 1 and f"BROKEN at audit event {ids[4]}:" in broken.stderr


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'x'",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
])
async def test_the_application_role_cannot_rewrite_the_log(settings: Settings, world: World,
                                                           statement: str) -> None:
    assert settings.database_url != settings.migration_url, "the app must not connect as the schema owner"
    app = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(statement)
        # It can still append and read.
        assert await app.fetchval("SELECT count(*) FROM audit_event") > 0
    finally:
        await app.close()
