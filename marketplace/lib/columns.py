"""Column types every domain's models share."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


def value_enum(cls: type[enum.Enum], name: str, *, create: bool = True) -> Enum:
    """A PostgreSQL enum type named `name` holding the members' values (what the API and the migrations
    spell), not their Python names; `create=False` for a type another table's column created already."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], create_type=create)
