"""The columns of a row that names a file in the object store, declared once (house rules 9 and 12).

The database stores an object's key, size and SHA-256, never a URL. A table of files takes its columns from
one of these mixins, and that is also how it is found: the orphan sweeper (`marketplace/sweeper.py`) keeps
every key named in the table of a class that uses one, so a new table of files is swept right without being
listed anywhere.

- `StoredObject`: the key, the size and the SHA-256 a file was received with.
- `StoredFile`: the same, with the name it was given (`safe_filename`'s form) and its media type.
- `OptionalStoredObject`: a key that is named only once a file is given, or never (a funding decision's
  signed document, none for a rejection; an abnormally-low justification's PDF); such a row keeps the size
  and hash under names of its own.

Each only declares columns: using one never changes a table's schema (tests/test_migrations.py checks the
models against the migrations).
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class NamesStoredObject:
    """A row that may name an object of the store in its `object_key` column: the sweeper keeps that object."""


class StoredObject(NamesStoredObject):
    """An object in the store: its key (a UUID under a prefix, never the client's name), size and SHA-256.

    `object_key_length` and `object_key_unique` are the key column's, for the tables created with a longer
    or shared key (a contract's signatures)."""

    object_key_length: ClassVar[int] = 200
    object_key_unique: ClassVar[bool] = True

    @declared_attr
    @classmethod
    def object_key(cls) -> Mapped[str]:
        return mapped_column(String(cls.object_key_length), unique=cls.object_key_unique)

    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class StoredFile(StoredObject):
    """A stored object as a document: also the name it was sent under and the media type it was received as."""

    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))


class OptionalStoredObject(NamesStoredObject):
    """A row that names an object only once its file is given: the key is None until then."""

    @declared_attr
    @classmethod
    def object_key(cls) -> Mapped[str | None]:
        return mapped_column(String(500), default=None)
