"""Fuzzing the OpenAPI schema in-process, anonymously and as each role: no input may produce a server error
(G10), and the API does what its document says (no "API stricter than documented", no undocumented status).

Per role, the objects a role works on exist first (tests/fuzz_world.py) and path parameters are drawn from
their real identifiers, so generated requests reach the handlers rather than stopping at a 401 or a 404.
Each role fuzzes the operations its access declaration lets it call (lib/access.py), and `ignored_auth`
replays each operation it gets a 2xx from without a credential and with a forged one; the anonymous run
fuzzes the public operations. `not_a_server_error` runs as its own blocking check first: with every check at once
a first conformance failure on an operation would hide later 500s (reliability.md §2.1).

Under CI=true the seed is fixed and generation derandomized (MARKETPLACE_FUZZ_SEED overrides the seed);
the example count, the seed and the time of each run are printed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    status_code_conformance,
    use_after_free,
)

from marketplace.app import create_app
from marketplace.lib.access import Access, route_inventory
from marketplace.settings import Settings
from tests.conftest import _reset, report_figure
from tests.fuzz_world import FuzzWorld, build_fuzz_world, office_file
from tests.vendors.api import minimal_pdf
from tests.world import PEOPLE

CI = os.environ.get("CI", "").lower() == "true"
SEED = int(os.environ.get("MARKETPLACE_FUZZ_SEED") or (20261205 if CI else int(time.time())))
# At least 50 under CI; a developer may lower it locally (MARKETPLACE_FUZZ_EXAMPLES) while chasing a failure.
_ASKED = int(os.environ.get("MARKETPLACE_FUZZ_EXAMPLES", "50"))
EXAMPLES = max(50, _ASKED) if CI else _ASKED
STATEFUL_EXAMPLES = 50
ROLES = ("platform_admin", "buyer_admin", "buyer_evaluator", "holder_admin", "vendor_admin")
# A schema-valid request may still break a business rule (422, its `rule` named), meet the state of the
# resource (409), or a resource gone (410): these are documented answers to well-formed input. What must
# never answer valid data is 400 (the document would be stricter than the API) or 413/415 (a documented
# media type or size refused).
ACCEPTED_FOR_VALID_DATA = ["2xx", "3xx", "401", "403", "404", "409", "410", "422", "429"]
# A path parameter name that means different things on different routes: real values only where they fit.
PATH_SCOPED = {"kind": "/admission-requests/"}  # a document kind there (only there, since FU7 took the milestones)


def auth_enforced(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's `ignored_auth`, except that a probe refused by the /auth routes' per-address rate limit
    (429, before any credential is read) is a refusal too, not an "unexpected response"."""
    try:
        return ignored_auth(ctx, response, case)
    except Exception as exc:
        if "got `429" in str(exc):
            return None
        raise


DOCUMENT: dict[str, Any] = {}
CHECKS = [negative_data_rejection, positive_data_acceptance, status_code_conformance, auth_enforced,
          use_after_free]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=CI, database=None if CI else settings().database,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large])

# The raw-body upload routes document their media types: fuzzing sends real files of each, so that a
# "valid" body is one the content sniffer accepts (uploads.py), not random bytes under a PDF label.
_payload = st.binary(min_size=0, max_size=64)
schemathesis.openapi.media_type("application/pdf", _payload.map(lambda b: minimal_pdf(b.hex())))
for _media_type in ("application/zip",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet"):
    schemathesis.openapi.media_type(_media_type, _payload.map(lambda b, t=_media_type: office_file(t, b)))


@pytest.fixture(autouse=True)
def _clean_state() -> None:
    """Overrides the suite's per-test reset: the world built once for the module serves every run."""


@pytest.fixture(scope="module")
def fuzz_world(settings: Settings) -> FuzzWorld:
    asyncio.run(_reset(settings))
    return asyncio.run(build_fuzz_world(settings))


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings, fuzz_world: FuzzWorld) -> Litestar:
    # The relay is not under test here and would only add background noise to every case.
    return create_app(settings, clock=fuzz_world.clock, run_relay=False)


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app: Litestar) -> Iterator[Any]:
    # One client (one lifespan, one connection pool) for every generated case.
    with asgi.get_client(fuzz_app) as client:
        yield client


def _access_by_operation(app: Litestar) -> dict[tuple[str, str], Access]:
    import re

    return {(method, re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)): access
            for method, path, access in route_inventory(app) if access is not None}


def _may_call(person: str | None, access: Access) -> bool:
    if access.audience == "public":
        return person is None  # fuzzed by the anonymous run
    if person is None:
        return False  # only a 401 to see: each role's run probes every route without and with a bad credential
    roles = {role.value for role in PEOPLE[person][1]}
    return not access.roles or bool(roles & {str(getattr(r, "value", r)) for r in access.roles})


# The role of the run being loaded: the lazy schema's operation filter is declared once, at import.
_CURRENT: dict[str, Any] = {}


def _included(ctx: Any) -> bool:
    person, access = _CURRENT["role"], _CURRENT["access"]
    return _may_call(person, access[ctx.operation.method.upper(), ctx.operation.path])


def _load(app: Litestar, world: FuzzWorld, person: str | None) -> schemathesis.BaseSchema:
    config = SchemathesisConfig.from_dict({"seed": SEED, "generation": {"allow-x00": False}, "checks": {
        "positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_DATA}}})
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=config)
    DOCUMENT.update(app.openapi_schema.to_schema())
    _CURRENT.update(role=person, access=_access_by_operation(app))

    def flatmap_case(context: Any, case: schemathesis.Case) -> Any:
        # Real identifiers for the path parameters the world knows, unless the case is about a malformed one.
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
            return st.just(case)
        known = {name: world.ids[name] for name in case.path_parameters or {}
                 if world.ids.get(name) and case.operation.path.startswith(PATH_SCOPED.get(name, "/"))}
        if not known:
            return st.just(case)

        def apply(values: dict[str, str]) -> schemathesis.Case:
            case.path_parameters.update(values)
            return case

        return st.fixed_dictionaries({name: st.sampled_from(ids) for name, ids in known.items()}).map(apply)

    schema.hook(flatmap_case)
    return schema


@pytest.fixture
def role_schema(fuzz_app: Litestar, fuzz_world: FuzzWorld, role: str | None) -> schemathesis.BaseSchema:
    return _load(fuzz_app, fuzz_world, role)


STATS: dict[str | None, list[float]] = {}


@pytest.fixture
def timed(role: str | None) -> Iterator[None]:
    started = time.monotonic()
    STATS[role] = [0, 0]
    yield
    cases, operations = STATS[role]
    report_figure(f"schemathesis[{role or 'anonymous'}]: {operations:.0f} operations, {cases:.0f} cases "
                  f"(≥ {EXAMPLES} generated per operation), seed {SEED}{' derandomized' if CI else ''}, "
                  f"{time.monotonic() - started:.1f} s")


schema = schemathesis.pytest.from_fixture("role_schema").include(_included)
_seen: set[tuple[str | None, str]] = set()


@pytest.mark.parametrize("role", [None, *ROLES])
@schema.parametrize()
@FUZZ_SETTINGS
@seed(SEED)
def test_fuzz(case: schemathesis.Case, fuzz_client: Any, fuzz_world: FuzzWorld, role: str | None,
              timed: None) -> None:
    headers = fuzz_world.world[role].headers if role else {}
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        # The case is about the credential, left out or malformed: putting the role's back (or over it) would
        # make it a valid request, and its other negated parts may not reach the wire (a query value that
        # serialises to nothing), so it would be judged as negative data accepted.
        headers = {}
    response = case.call(session=fuzz_client, headers=headers)
    stats = STATS[role]
    stats[0] += 1
    if (role, case.operation.label) not in _seen:
        _seen.add((role, case.operation.label))
        stats[1] += 1
    case.validate_response(response, checks=[not_a_server_error], headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


# The stateful phase: schemathesis chains operations through the links it infers from the document (response
# schemas, path parameters, the Location header of every 201), so that calls reach objects made in the run.
STATEFUL_ROLES = ROLES


@pytest.mark.parametrize("role", STATEFUL_ROLES)
def test_stateful(role_schema: schemathesis.BaseSchema, fuzz_client: Any, fuzz_world: FuzzWorld, role: str) -> None:
    headers = fuzz_world.world[role].headers
    started, steps = time.monotonic(), [0]
    base = role_schema.include(_included).as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"session": fuzz_client, "headers": headers}

        def validate_response(self, response: Any, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            steps[0] += 1
            case.validate_response(response, checks=[not_a_server_error], headers=headers)

    # The scenarios share one database (the world is built once per role): what a scenario created is still there
    # for the next, so the same generated choices can meet an answer that differs (a 201, then a 409) and fill a
    # bundle differently. Hypothesis then stops the run with FlakyStrategyDefinition: a statement about the
    # generation, not about the API (a failed check raises its own error, and a failure that doesn't replay is
    # FlakyFailure, never caught here). The run is started again, at most twice, and the figure says so.
    restarts = 0
    while True:
        try:
            Machine.run(settings=settings(
                max_examples=STATEFUL_EXAMPLES, stateful_step_count=10, deadline=None, derandomize=CI,
                database=None if CI else settings().database,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large]))
            break
        except FlakyStrategyDefinition:
            restarts += 1
            if restarts > 2:
                raise
    restarted = f", restarted {restarts}× (shared state)" if restarts else ""
    report_figure(f"schemathesis stateful[{role}]: {steps[0]} calls in {STATEFUL_EXAMPLES} scenarios, "
                  f"{time.monotonic() - started:.1f} s{restarted}")
    assert steps[0] > STATEFUL_EXAMPLES, "the stateful phase found no chain of operations to run"
