"""Run Alembic programmatically (the CLI, `marketplace dev` and the tests share this)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def not_a_partition(connection: Connection) -> Callable[[str | None, str, Any], bool]:
    """alembic's `include_name` for comparing the models with a database: the partitions of a partitioned table
    (migration 0038, one per département) are how PostgreSQL stores that table, not tables of their own."""
    partitions: list[set[str]] = []

    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ != "table":
            return True
        if not partitions:
            # Read when first asked, during a comparison only: an upgrade never calls it, and reading
            # before alembic begins its own transaction would begin one in its place.
            partitions.append(set(connection.execute(
                text("SELECT relname FROM pg_class WHERE relispartition")).scalars()))
        return name not in partitions[0]

    return include
