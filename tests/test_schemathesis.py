"""Fuzzing the whole OpenAPI schema in-process: no input may produce a server error (G10).

`not_a_server_error` runs as its own blocking check: with `--checks all` a first conformance failure
on an operation hides later 500s (reliability.md §2.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from marketplace.app import create_app
from marketplace.settings import Settings


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> Litestar:
    # The relay is not under test here and would only add background noise to every case.
    return create_app(settings, run_relay=False)


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app: Litestar) -> Iterator[Any]:
    # One client (one lifespan, one connection pool) for every generated case.
    with asgi.get_client(fuzz_app) as client:
        yield client


@pytest.fixture(scope="module")
def openapi_schema(fuzz_app: Litestar) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("openapi_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_server_error(case: schemathesis.Case, fuzz_client: Any) -> None:
    response = case.call(session=fuzz_client)
    case.validate_response(response, checks=[not_a_server_error])
