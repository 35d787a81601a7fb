"""Migrations: upgrade head → downgrade base → upgrade head on a scratch database, and no drift."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marketplace.lib.migrate import alembic_config, downgrade, not_a_partition, upgrade
from marketplace.models import metadata
from marketplace.settings import Settings
from tests.conftest import _recreate_database, _with_database

SCRATCH = "marketplace_migrations"


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        names = {r[0] for r in rows}
    await engine.dispose()
    return names


async def _drift(url: str) -> list[object]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(
                sync, opts={"compare_type": True, "compare_server_default": True,
                            "include_name": not_a_partition(sync)}), metadata))
    await engine.dispose()
    return list(diff)


def test_upgrade_downgrade_upgrade_and_no_drift(stack_settings: Settings) -> None:
    asyncio.run(_recreate_database(stack_settings.migration_url, SCRATCH))
    url = _with_database(stack_settings.migration_url, SCRATCH)
    model_tables = {t.name for t in metadata.sorted_tables}

    upgrade(url)
    assert model_tables <= asyncio.run(_tables(url))
    downgrade(url, "base")
    assert asyncio.run(_tables(url)) == {"alembic_version"}
    upgrade(url)
    assert model_tables <= asyncio.run(_tables(url))
    assert asyncio.run(_drift(url)) == [], "models and migrations disagree: autogenerate a revision"


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://unused/none"))
    assert len(script.get_heads()) == 1
