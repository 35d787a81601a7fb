"""Alembic environment: async engine, metadata from `marketplace.models` where it is compared."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from marketplace.lib.migrate import not_a_partition
from marketplace.settings import Settings

config = context.config


def _metadata() -> MetaData | None:
    """The models' metadata, for `revision --autogenerate` (the only command that compares against it). An
    upgrade or a downgrade runs the migrations' own statements and needs none, and importing every model takes
    about two seconds of each `marketplace dev` start."""
    if getattr(config.cmd_opts, "autogenerate", False):
        from marketplace.models import metadata

        return metadata
    return None


def _url() -> str:
    url = config.attributes.get("database_url") or Settings.from_env().database_url
    if not url:
        raise RuntimeError("no database URL: set MARKETPLACE_DATABASE_URL or use `marketplace migrate`")
    return str(url)


def _configure(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=_metadata(), compare_type=True,
                      compare_server_default=True, transaction_per_migration=True,
                      include_name=not_a_partition(connection))
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
