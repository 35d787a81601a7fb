"""Async object storage over S3 (the blocking minio SDK, run in worker threads).

Standalone on purpose: the application depends on this package, never the reverse.
"""

from __future__ import annotations

from storage._headers import content_disposition
from storage._store import ObjectStore
from storage._types import (
    CustomerKey,
    IncompleteUpload,
    ListedObject,
    ObjectInfo,
    PresignedUpload,
    StoreConfig,
    StoredObject,
)
from storage.errors import (
    AccessDenied,
    ObjectMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
)

__all__ = [
    "AccessDenied",
    "CustomerKey",
    "IncompleteUpload",
    "ListedObject",
    "ObjectInfo",
    "ObjectMismatch",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "PresignedUpload",
    "StorageError",
    "StorageUnavailable",
    "StoreConfig",
    "StoredObject",
    "content_disposition",
]
