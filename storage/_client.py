"""The blocking minio client, configured so failures are fast and bounded, and its errors translated."""

from __future__ import annotations

from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool

from storage._types import StoreConfig
from storage.errors import AccessDenied, ObjectNotFound, StorageError, StorageUnavailable

# Exceptions a blocking call may raise that `translate` turns into `StorageError`s.
TRANSLATABLE: tuple[type[BaseException], ...] = (MinioException, urllib3.exceptions.HTTPError, OSError)

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchVersion"})
_DENIED = frozenset({
    "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken",
    "ExpiredToken", "AuthorizationHeaderMalformed", "AllAccessDisabled",
})
_BUSY = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})


def _timed_out(error: Exception | None) -> bool:
    """A read (or a send) that waited its whole timeout: the server is hung, not merely flaky."""
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return True
    # A send blocked on a server that stopped reading surfaces as a socket timeout wrapped as "aborted".
    return isinstance(error, urllib3.exceptions.ProtocolError) and any(
        isinstance(arg, TimeoutError) for arg in error.args)


class _Retry(urllib3.Retry):
    """Retries refused connects, resets and 5xx, but never a timed-out read.

    A hung server (frozen, or a network dropping packets) accepts the connection and never answers: each
    retry would wait the whole read timeout again, and the built-in retries were measured multiplying a
    0.5 s timeout into 9.7 s (reliability.md §2.4). One timeout is the answer: unavailable (G12).
    """

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None, _stacktrace: TracebackType | None = None) -> Self:
        retry = self.new(total=0) if _timed_out(error) else self
        # On an exhausted copy the base class raises MaxRetryError naming this error.
        return urllib3.Retry.increment(retry, method, url, response, error, _pool, _stacktrace)


def build_client(config: StoreConfig, *, pool_size: int) -> Minio:
    url = urlsplit(config.endpoint)
    if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
        raise ValueError(f"storage endpoint must look like http(s)://host:port, got {config.endpoint!r}")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
        retries=_Retry(
            total=config.retries,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
            # A server's Retry-After could park a request thread for minutes; the backoff stays ours.
            respect_retry_after_header=False,
        ),
        # One connection per worker thread, so concurrent calls never wait for (or churn) sockets.
        maxsize=pool_size,
    )
    return Minio(
        endpoint=url.netloc,
        access_key=config.access_key,
        secret_key=config.secret_key,
        secure=url.scheme == "https",
        region=config.region,
        http_client=http,
    )


def _s3_error_class(exc: S3Error) -> type[StorageError]:
    code = exc.code or ""
    if code in _NOT_FOUND:
        return ObjectNotFound
    if code in _DENIED:
        return AccessDenied
    status = exc.response.status if exc.response is not None else 0
    return StorageUnavailable if status >= 500 or code in _BUSY else StorageError


def _status_class(status: object) -> type[StorageError]:
    if status == 403:
        return AccessDenied
    return StorageUnavailable if not isinstance(status, int) or status >= 500 else StorageError


def translate(exc: BaseException, *, key: str | None = None) -> StorageError:
    cls: type[StorageError]
    if isinstance(exc, S3Error):
        cls = _s3_error_class(exc)
    elif isinstance(exc, ServerError):
        cls = _status_class(exc.status_code)
    elif isinstance(exc, InvalidResponseError):
        # A non-XML answer usually comes from a proxy in front of S3; the SDK keeps its status private.
        cls = _status_class(getattr(exc, "_code", None))
    elif isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        cls = StorageUnavailable
    else:
        cls = StorageError
    return cls(f"{exc}" + (f" ({key})" if key else ""))
