"""Each domain error maps to its status and an RFC 9457 body; unexpected errors never leak internals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from marketplace.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RuleViolation,
    ServiceUnavailable,
    exception_handlers,
)
from marketplace.lib.access import public
from storage import StorageUnavailable


def _app_raising(exc: Exception) -> Litestar:
    @get("/boom", opt=public())
    async def boom() -> None:
        raise exc

    return Litestar([boom], exception_handlers=exception_handlers)


@pytest.mark.parametrize(("error", "status", "slug"), [
    (DomainError("bad"), 400, "bad-request"),
    (NotFound("no such need"), 404, "not-found"),
    (Forbidden("sealed"), 403, "forbidden"),
    (Conflict("already awarded"), 409, "conflict"),
    (RuleViolation("N2: a type-1 project needs 3 OGs", field="organisations", rule="N2"), 422,
     "rule-violated"),
    (ServiceUnavailable("S3 down"), 503, "service-unavailable"),
])
async def test_domain_errors_become_problem_details(error: DomainError, status: int, slug: str) -> None:
    async with AsyncTestClient(_app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + slug)
    assert body["detail"] == error.detail
    assert body["instance"] == "/boom"
    for key, value in error.extra.items():
        assert body[key] == value


async def test_unexpected_error_is_a_500_without_internals() -> None:
    async with AsyncTestClient(_app_raising(RuntimeError("password=hunter2"))) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in response.text


async def test_lost_connection_is_a_503_not_a_500() -> None:
    async with AsyncTestClient(_app_raising(ConnectionRefusedError("db down"))) as client:
        response = await client.get("/boom")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def _pool_exhausted() -> Exception:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return PoolTimeout("QueuePool limit of size 10 overflow 10 reached")


def _redis_down() -> Exception:
    import redis.exceptions

    return redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.mark.parametrize(("make", "dependency"), [
    (lambda: StorageUnavailable("read timed out (offers/abc)"), "storage"),
    (_pool_exhausted, "database"),
    (_redis_down, "redis"),
    (lambda: ConnectionRefusedError("who knows"), "service"),
], ids=["storage", "pool-timeout", "redis", "bare-oserror"])
async def test_an_unavailable_dependency_is_a_503_naming_it(make: Callable[[], Exception], dependency: str) -> None:
    """G12: never a 500, a problem saying what is down, with Retry-After; no internals."""
    error = make()
    async with AsyncTestClient(_app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["dependency"] == dependency and body["title"] == "Service unavailable"
    assert str(error) not in response.text


async def test_a_constraint_violation_is_a_409_not_a_500() -> None:
    from sqlalchemy.exc import IntegrityError

    error = IntegrityError("INSERT …", {}, Exception("duplicate key value violates unique constraint"))
    async with AsyncTestClient(_app_raising(error)) as client:
        response = await client.get("/boom")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/conflict")
    assert "duplicate key" not in response.text


async def test_a_malformed_host_header_still_gets_its_problem_not_a_500() -> None:
    """Found by schemathesis: building `request.url` parses the Host header, and `:<` has no valid port."""
    async with AsyncTestClient(_app_raising(NotFound("no such offer"))) as client:
        response = await client.get("/boom", headers={"host": ":<"})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
