"""One error tree for the whole product, mapped once to RFC 9457 problem details.

Services raise `DomainError` subclasses (never HTTP exceptions); this module turns them, framework
errors, repository errors and unavailable dependencies into `application/problem+json`. A 500 is
always a bug: it is logged with its traceback and answered without internals.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from advanced_alchemy.exceptions import (
    DuplicateKeyError,
    ForeignKeyError,
    IntegrityError,
    NotFoundError,
    RepositoryError,
)
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ExceptionHandlersMap

from marketplace.lib.clock import ClockExhausted
from marketplace.lib.sealing import SealingError
from storage import StorageUnavailable

log = logging.getLogger("marketplace.errors")

PROBLEM_TYPE_BASE = "https://marketplace.localhost/problems/"
# Seconds a client is asked to wait when a dependency is down: about what the pool and the store need to
# notice it is back (a new connection per request, no manual step: G12).
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A rule said no. Subclasses set the status and a stable slug; `detail` says why in words."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, rule: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extra: dict[str, Any] = dict(extra)
        if field is not None:
            self.extra["field"] = field
        if rule is not None:
            self.extra["rule"] = rule


class NotFound(DomainError):
    status_code = 404
    title = "Not found"
    slug = "not-found"


class Forbidden(DomainError):
    status_code = 403
    title = "Forbidden"
    slug = "forbidden"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"
    slug = "conflict"


class RuleViolation(DomainError):
    """Well-formed input that breaks a business rule (the rule id goes in `rule`)."""

    status_code = 422
    title = "Business rule violated"
    slug = "rule-violated"


class ServiceUnavailable(DomainError):
    status_code = 503
    title = "Service unavailable"
    slug = "service-unavailable"


def storage_down(field: str) -> ServiceUnavailable:
    """The file store did not answer (G12): a refusal of the act like any other, so a deposit journals it
    (D14b), with Retry-After. The caller raises it from the `StorageUnavailable`."""
    return ServiceUnavailable("The file store is unavailable at the moment: the file was not received and "
                              "nothing was changed. Retry in a few seconds.", field=field, dependency="storage",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _problem(request: Request[Any, Any, Any], *, status: int, title: str, detail: str, slug: str,
             extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response[Any]:
    return ProblemDetailsException(
        status_code=status, title=title, detail=detail, type_=PROBLEM_TYPE_BASE + slug,
        instance=_path(request), extra=extra or None, headers=headers,
    ).to_response(request)


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _problem(request, status=exc.status_code, title=exc.title, detail=exc.detail,
                    slug=exc.slug, extra=exc.extra, headers=exc.headers)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    # Litestar's extra is a list of {message, key, source}; name the field plainly for clients.
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            errors.append({"field": _field_of(str(item.get("key") or ""), message), "message": message,
                           "source": item.get("source", "body")})
    fields = ", ".join(e["field"] for e in errors) or "the request"
    detail = f"Invalid {fields}: " + "; ".join(e["message"] for e in errors) if errors else str(exc.detail)
    # `field` as in every other problem: the first thing wrong (all of them are in `errors`).
    return _problem(request, status=400, title="Invalid request", detail=detail, slug="invalid-request",
                    extra={"field": errors[0]["field"] if errors else "body", "errors": errors})


# msgspec names a field in its message when the error is about the object holding it (a missing or unknown
# field) and lib/schemas.py when a value can't be stored: "`name` contains a NUL…".
_NAMED_FIELD = re.compile(r"^(?:Object (?:missing required|contains unknown) field )?`([^`]+)`")


def _field_of(key: str, message: str) -> str:
    """The wire path of what is wrong: Litestar's key ("data" for the body itself) completed by the field
    the message names."""
    base = "" if key in ("", "data") else key
    named = _NAMED_FIELD.match(message)
    if named:
        return f"{base}.{named.group(1)}" if base else named.group(1)
    return base or "body"


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
             413: "Content too large", 415: "Unsupported media type", 429: "Too many requests"}.get(
        exc.status_code, "Error")
    extra = exc.extra if isinstance(exc.extra, dict) else None
    if exc.status_code == 413:
        # Raised by the framework's `request_max_body_size` before anything is decoded.
        extra = {"field": "body", **(extra or {})}
    return _problem(request, status=exc.status_code, title=title, detail=str(exc.detail),
                    slug=title.lower().replace(" ", "-"), extra=extra, headers=exc.headers)


def _repository_error(request: Request[Any, Any, Any], exc: RepositoryError) -> Response[Any]:
    if isinstance(exc, NotFoundError):
        return _problem(request, status=404, title="Not found", detail="No such resource.",
                        slug="not-found")
    if isinstance(exc, (DuplicateKeyError, IntegrityError, ForeignKeyError)):
        return _problem(request, status=409, title="Conflict",
                        detail="The request conflicts with the current state of the resource.",
                        slug="conflict")
    return _unexpected(request, exc)


_WHAT_IS_DOWN = {"database": "The database", "storage": "The file store",
                 "redis": "The session and job store (Redis)", "service": "A service the platform depends on"}


def unavailable_problem(request: Request[Any, Any, Any], exc: BaseException, dependency: str) -> Response[Any]:
    """503 naming what is down, with Retry-After: never a 500, never a hang (G12)."""
    log.warning("dependency.unavailable", extra={"dependency": dependency, "error": repr(exc)[:500],
                                                 "path": _path(request)})
    return _problem(request, status=503, title="Service unavailable",
                    detail=f"{_WHAT_IS_DOWN[dependency]} is unavailable at the moment; nothing was changed by "
                           f"this request. Retry in a few seconds.",
                    slug="service-unavailable", extra={"dependency": dependency},
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return unavailable_problem(request, exc, _dependency_of(exc))


def _storage_unavailable(request: Request[Any, Any, Any], exc: StorageUnavailable) -> Response[Any]:
    return unavailable_problem(request, exc, "storage")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _is_connection_failure(exc):
        return _unavailable(request, exc)
    from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

    if isinstance(exc, DatabaseIntegrityError):
        # The database's constraints are the last line against races (two identical requests at once):
        # the loser gets a conflict, as it would have from the service's own check.
        return _problem(request, status=409, title="Conflict",
                        detail="The request conflicts with the current state of the resource (it may have "
                               "been changed by a concurrent request).", slug="conflict")
    log.exception("request.failed", exc_info=exc)
    return _problem(request, status=500, title="Internal server error",
                    detail="An unexpected error occurred; it has been logged.", slug="internal-error")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from or during, outermost first."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_connection_failure(exc: BaseException) -> bool:
    """True for a database or network outage rather than a bug (so it is a 503, not a 500).

    Recovery needs nothing more: SQLAlchemy invalidates a connection that failed this way (and the pool's
    older ones), so the next request opens a new one, with or without `pool_pre_ping`."""
    import asyncpg
    import redis.exceptions
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for current in _causes(exc):
        if isinstance(current, (OSError, TimeoutError, PoolTimeout, StorageUnavailable,
                                redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                asyncpg.exceptions.ConnectionDoesNotExistError,
                                asyncpg.exceptions.CannotConnectNowError,
                                asyncpg.exceptions.TooManyConnectionsError, InterfaceError, OperationalError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
    return False


def _dependency_of(exc: BaseException) -> str:
    """Which dependency failed, for the problem's `dependency` and its words. A refused or reset connection
    is a bare OSError: the code it was raised through says whose it was."""
    import asyncpg
    import redis.exceptions
    from sqlalchemy.exc import SQLAlchemyError

    chain = _causes(exc)
    for current in chain:
        if isinstance(current, StorageUnavailable):
            return "storage"
        if isinstance(current, (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)):
            return "database"
        if isinstance(current, redis.exceptions.RedisError):
            return "redis"
    for current in chain:
        raised_through = _packages_of(current)
        for package, dependency in (("asyncpg", "database"), ("sqlalchemy", "database"),
                                    ("advanced_alchemy", "database"), ("redis", "redis"), ("arq", "redis"),
                                    ("storage", "storage"), ("minio", "storage"), ("urllib3", "storage")):
            if package in raised_through:
                return dependency
    return "service"


def _packages_of(exc: BaseException) -> set[str]:
    """The top-level packages of the frames `exc` was raised through."""
    packages: set[str] = set()
    tb = exc.__traceback__
    while tb is not None:
        packages.add(str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0])
        tb = tb.tb_next
    return packages


def _tampered(request: Request[Any, Any, Any], exc: SealingError) -> Response[Any]:
    # Sealed data that no longer opens was altered behind the application (P9): say so, never a 500.
    log.error("sealed_data.tampered", extra={"path": _path(request), "error": str(exc)})
    return _problem(request, status=409, title="Integrity failure", slug="integrity-failure",
                    detail="Sealed data of this object was altered outside the platform and no longer opens; "
                           "it is blocked.")


def _clock_exhausted(request: Request[Any, Any, Any], exc: ClockExhausted) -> Response[Any]:
    # A sandbox left running for weeks at a high factor: its time can go no further (lib/clock.py).
    return _problem(request, status=410, title="Sandbox clock exhausted", slug="sandbox-clock-exhausted",
                    detail=f"{exc} Create a new sandbox.", extra={"field": "sandbox", "rule": "sandbox"})


exception_handlers: ExceptionHandlersMap = {
    DomainError: _domain_error,
    ClockExhausted: _clock_exhausted,
    SealingError: _tampered,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    RepositoryError: _repository_error,
    StorageUnavailable: _storage_unavailable,
    Exception: _unexpected,
}


def _path(request: Request[Any, Any, Any]) -> str:
    # From the ASGI scope, not `request.url`: building the URL parses the client's Host header, and a
    # malformed one (":<") would turn any 4xx into a 500.
    return str(request.scope.get("path", ""))
