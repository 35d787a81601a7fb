"""Plain values crossing the storage API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoreConfig:
    endpoint: str
    """Base URL such as ``http://127.0.0.1:9000``; its scheme decides TLS."""
    access_key: str
    # Kept out of repr so configs can be logged and show up in tracebacks safely.
    secret_key: str = field(repr=False)
    bucket: str
    # Set explicitly so the SDK never asks the server for it (presigning stays offline).
    region: str = "us-east-1"
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    retries: int = 2


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What was written (or re-read): size and SHA-256 of the exact bytes at ``key``."""

    key: str
    size: int
    sha256: str
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None
    content_type: str | None
    metadata: dict[str, str]
    last_modified: datetime | None
