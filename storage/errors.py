"""What storage operations raise: callers handle these, never SDK or transport exceptions."""

from __future__ import annotations


class StorageError(Exception):
    """Any storage failure; the subclasses are the ones a caller can act on."""


class StorageUnavailable(StorageError):
    """The server is unreachable, timed out, or answered 5xx: retrying later may succeed."""


class ObjectNotFound(StorageError):
    """No object at this key."""


class AccessDenied(StorageError):
    """The server refused our credentials or signature: a configuration problem, not a transient one."""


class ObjectTooLarge(StorageError):
    """The stream went past the caller's size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"object larger than {limit} bytes")
        self.limit = limit


class ObjectMismatch(StorageError):
    """The stored object is not what was declared (size, SHA-256 or encryption key)."""
