"""Plain values crossing the storage API."""

from __future__ import annotations

import base64
import hashlib
import secrets
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
    # Seconds. A read waits at most `read_timeout` for the server's next bytes (an S3 answers a part's PUT
    # as soon as it has the body; minutes-long waits are a hung server), and a timed-out read is not retried:
    # a blackholed S3 costs one request `read_timeout`, and an upload answers 503 within 10 s (G12).
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    # For refused connections, resets and 5xx answers (with a short backoff), never for a timed-out read.
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


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """A 256-bit SSE-C key: S3 encrypts the object with it and keeps only its MD5.

    Every request that writes or reads the object must carry it (`headers`); the caller keeps it
    (wrapped) and never stores it in the clear.
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("an SSE-C key is 32 bytes")

    @classmethod
    def generate(cls) -> CustomerKey:
        return cls(secrets.token_bytes(32))

    @property
    def md5(self) -> str:
        """Base64 MD5 of the key: what S3 stores and echoes to identify it."""
        return base64.b64encode(hashlib.md5(self.secret, usedforsecurity=False).digest()).decode()

    def headers(self) -> dict[str, str]:
        return {
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": base64.b64encode(self.secret).decode(),
            "x-amz-server-side-encryption-customer-key-md5": self.md5,
        }


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """A presigned PUT and the headers the client must send with it, verbatim.

    The headers are signed: leaving one out or changing it is refused (403), and the body must
    then be exactly ``size`` bytes with SHA-256 ``sha256`` or S3 refuses it (400 BadDigest).
    """

    key: str
    url: str = field(repr=False)
    # Holds the SSE-C key when there is one: never log it.
    headers: dict[str, str] = field(repr=False)
    size: int
    sha256: str
    expires_at: datetime
    method: str = "PUT"


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    last_modified: datetime | None


@dataclass(frozen=True, slots=True)
class IncompleteUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime | None
