"""Migrations: upgrade head → downgrade base → upgrade head on a scratch database, and no drift."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from marketplace.app import asyncpg_dsn
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


SCRATCH_ROWS = "marketplace_migrations_rows"


async def _fill_places(url: str) -> None:
    """300 search documents and their département rows, as migration 0036's trigger writes them, for needs the
    test does not create: foreign keys and triggers are off for these inserts (`session_replication_role`, as a
    restore sets it), so the documents' own references stay unchecked."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("""
                INSERT INTO need_search (need_id, specific_contract_id, holder_organisation_id, category_id, status,
                                         departements, cpv_codes, published_at, tender_deadline, document)
                SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'open',
                       ARRAY[(ARRAY['75', '2A', '971', '13', '59', 'ZZ'])[1 + n % 6]], '{}',
                       timestamptz '2026-01-01 00:00+00' + n * interval '1 hour',
                       timestamptz '2027-01-01 00:00+00', to_tsvector('simple', 'besoin numero ' || n)
                FROM generate_series(1, 300) AS n""")
            await conn.execute("""
                INSERT INTO need_search_place (departement, published_at, need_id, document)
                SELECT d, s.published_at, s.need_id, s.document FROM need_search AS s, unnest(s.departements) AS d""")
    finally:
        await conn.close()


async def _places(url: str) -> set[tuple[str, str, object, str]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tableoid::regclass::text AS part, departement, published_at, need_id, "
                                "document::text FROM need_search_place")
        return {(r["part"], r["departement"], r["published_at"], f"{r['need_id']} {r['document']}") for r in rows}
    finally:
        await conn.close()


def test_the_departement_partitions_keep_every_row_both_ways(stack_settings: Settings) -> None:
    """Migration 0038 moves the search's département rows into one partition per département (any other code into
    the default one), and its downgrade moves them back: none lost, none changed."""
    asyncio.run(_recreate_database(stack_settings.migration_url, SCRATCH_ROWS))
    url = _with_database(stack_settings.migration_url, SCRATCH_ROWS)
    upgrade(url, "0037")
    asyncio.run(_fill_places(url))
    before = asyncio.run(_places(url))
    assert len(before) == 300 and {part for part, *_ in before} == {"need_search_place"}

    upgrade(url, "0038")
    after = asyncio.run(_places(url))
    assert {row[1:] for row in after} == {row[1:] for row in before}
    assert all(part == ("need_search_place_other" if code == "ZZ" else f"need_search_place_{code.lower()}")
               for part, code, *_ in after)

    downgrade(url, "0037")
    assert asyncio.run(_places(url)) == before
