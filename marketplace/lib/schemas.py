from __future__ import annotations

import re
from typing import Any

import msgspec

# PostgreSQL text can't hold NUL, and UTF-8 can't encode an unpaired surrogate (JSON "\ud800" decodes to
# one): refused at the door with a 400 naming the field, rather than failing in the database as a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(path: str, value: Any) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise ValueError(f"`{path}` contains a NUL or an unpaired surrogate character, which can't be stored")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            _check_text(f"{path}[{index}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(f"{path}.{key}", key)
            _check_text(f"{path}.{key}", item)


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of every request and response body: camelCase on the wire, unknown fields refused."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            _check_text(name, getattr(self, name))
