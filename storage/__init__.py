"""Async object storage over S3 (the blocking minio SDK, run in worker threads).

Standalone on purpose: the application depends on this package, never the reverse.
"""

from __future__ import annotations

from storage._headers import content_disposition
from storage._store import ObjectStore
from storage._types import ObjectInfo, StoreConfig, StoredObject
from storage.errors import AccessDenied, ObjectNotFound, ObjectTooLarge, StorageError, StorageUnavailable

__all__ = [
    "AccessDenied",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageError",
    "StorageUnavailable",
    "StoreConfig",
    "StoredObject",
    "content_disposition",
]
