"""A hostile-input corpus over every operation of the OpenAPI document: no 5xx, and every 4xx a problem.

The operations are read from the app's own OpenAPI document, so a new route is covered without touching
this file. Each is called as a person whose role its access declaration admits (lib/access.py; anonymously
when public), with path parameters naming real objects (a DPS with admitted vendors, a need, a published
specific contract and its submitted offers), so that the hostile value reaches the decoding, the guards and,
where it gets that far, the service. Kinds (reliability.md G10, §2.1): bodies that are not UTF-8, nested a
thousand levels, of 10 MB, holding NUL or lone surrogates, extreme numbers and dates, Europe/Paris times
that don't exist, wrong content types; hostile query and path parameters; `Authorization: Bearer` with
nothing after it and two Authorization headers. Every offending call of a test is reported at once.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar

from marketplace.lib.access import route_inventory
from marketplace.settings import Settings
from tests.awards.test_award import submitted_offers
from tests.conftest import report_figure
from tests.vendors.api import Client, categories_by_pair, expect, fetch, minimal_pdf
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
# The person who acts for each role: the one owning the corpus's objects.
ACTOR = {"buyer:admin": "buyer_admin", "buyer:evaluator": "buyer_evaluator", "buyer:opener": "buyer_opener",
         "vendor:admin": "vendor_admin", "vendor:bid_manager": "vendor_admin", "vendor:member": "vendor_member",
         "holder:admin": "holder_admin", "holder:project_lead": "holder_admin", "holder:member": "holder_member",
         "platform:admin": "platform_admin"}

TEN_MB_BODY = b'{"x": "' + b"x" * 10 * 1024 * 1024 + b'"}'
NUMBERS = (1e308, -1, 2**31, 2**63, 10**30, -(2**63) - 1)
DATES = ("0001-01-01", "9999-12-31", "1900-01-01", "9899-12-31")
DATE_TIMES = ("0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
              "1900-01-01T00:00:00", "9899-12-31T23:59:59-14:00",  # the first and last years accepted
              "2026-03-29T02:30:00",  # doesn't exist in Europe/Paris (the clocks skip it)
              "2026-10-25T02:30:00")  # exists twice
STRINGS = ("a\x00b", "\ud800", "\udfff", "x" * 100_000)
# Raw query values: NUL, invalid UTF-8, a UTF-8-encoded lone surrogate, a long value.
RAW_PARAMS = ("%00", "%FF%FE", "%ED%A0%80", "x" * 5_000, "-1", "99999999999999999999999999999",
              "1e308", "0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "2026-03-29T02:30:00",
              "0001-01-01", "9999-12-31", "true", "[]", "null")
CONTENT_TYPES = ("text/plain", "application/xml", "multipart/form-data", "application/x-www-form-urlencoded",
                 "application/json; charset=latin-1", "")


@dataclass
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    actor: str | None  # None: anonymous

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass
class Corpus:
    client: Client
    world: World
    document: dict[str, Any]
    operations: list[Operation]
    ids: dict[str, str]
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def url(self, op: Operation, overrides: dict[str, str] | None = None) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if overrides and name in overrides:
                return overrides[name]
            return self.path_value(op, name)

        return re.sub(r"\{(\w+)\}", value, op.path)

    def path_value(self, op: Operation, name: str) -> str:
        parameter = next((p for p in op.spec.get("parameters", []) if p["in"] == "path" and p["name"] == name), {})
        schema = self.resolve(parameter.get("schema", {}))
        if "enum" in schema:
            return str(schema["enum"][0])
        if name == "contract_id" and op.path.startswith("/contracts/"):
            return str(uuid.uuid4())  # an awarded contract: none in the corpus
        if name == "request_id" and op.path.startswith("/support/"):
            return self.ids["support_request"]
        if name == "organisation_id":
            actor = self.world[op.actor] if op.actor else self.world["buyer_admin"]
            return str(self.world.organisations[actor.organisation])
        if name == "kind":
            return "kbis"
        return self.ids.get(name, str(uuid.uuid4()))

    def headers(self, op: Operation) -> dict[str, str]:
        return dict(self.world[op.actor].headers) if op.actor else {}

    async def call(self, op: Operation, label: str, *, url: str | None = None, content: bytes | None = None,
                   content_type: str | None = "application/json",
                   headers: list[tuple[str, str | bytes]] | None = None) -> None:
        sent = headers if headers is not None else list(self.headers(op).items())
        if content is not None and content_type is not None:
            sent = [*sent, ("Content-Type", content_type)]
        request = self.client.build_request(op.method.upper(), url or self.url(op), content=content, headers=sent)
        response = await self.client.send(request)
        self.statuses[response.status_code] += 1
        self.check(op, label, response)

    def check(self, op: Operation, label: str, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            self.failures.append(f"{op.name} [{label}]: {status} {response.text[:200]}")
        elif status >= 400 and not response.headers.get("content-type", "").startswith(PROBLEM):
            self.failures.append(f"{op.name} [{label}]: {status} as {response.headers.get('content-type')}")

    def report(self, kind: str, started: float) -> None:
        report_figure(f"hostile {kind}: {sum(self.statuses.values())} calls over {len(self.operations)} "
                      f"operations in {time.perf_counter() - started:.1f} s; "
                      f"statuses {dict(sorted(self.statuses.items()))}")
        assert not self.failures, f"{len(self.failures)} hostile {kind} calls failed:\n" + "\n".join(self.failures)


def _access(app: Litestar) -> dict[tuple[str, str], Any]:
    return {(method.lower(), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)): access
            for method, path, access in route_inventory(app)}


def _operations(app: Litestar, document: dict[str, Any]) -> list[Operation]:
    access = _access(app)
    operations = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            declared = access.get((method, path))
            if declared is None or declared.audience == "public":
                actor = None
            else:
                # The first role listed that has an actor; "any authenticated user": the buyer's admin.
                actor = next((ACTOR[r] for r in declared.roles if r in ACTOR), "buyer_admin")
            operations.append(Operation(method, path, item[method], actor))
    return operations


@pytest.fixture
async def corpus(client: Client, world: World, clock: Any, app: Litestar, settings: Settings) -> Corpus:
    contract_id, _ = await submitted_offers(client, world, clock)
    contract = expect(await client.get(f"/specific-contracts/{contract_id}", headers=world["buyer_admin"].headers),
                      200)
    dps_id = contract.get("dpsId")
    admission = await fetch(settings, "SELECT id FROM admission_request WHERE vendor_organisation_id = $1",
                            world.organisations["vendor"])
    support = expect(await client.post("/support/requests", json={
        "name": "Claire Martin", "email": "claire.martin@exemple.fr", "subject": "Accès", "message": "Bonjour"}),
        201)
    # A new version of the vendor's offer, still a draft: the routes that fill an offer reach their service.
    draft = expect(await client.post(f"/specific-contracts/{contract_id}/offers",
                                     headers=world["vendor_admin"].headers), 201)
    ids = {"contract_id": contract_id, "offer_id": draft["id"], "support_request": support["id"],
           "need_id": contract.get("needId", ""), "dps_id": dps_id or "",
           "request_id": str(admission[0]["id"])}
    if dps_id:
        dps = expect(await client.get(f"/dps/{dps_id}", headers=world["buyer_admin"].headers), 200)
        ids["category_id"] = categories_by_pair(dps)["grand_age", "saas"]
    ids = {k: v for k, v in ids.items() if v}
    document = (await client.get("/schema/openapi.json")).json()
    return Corpus(client, world, document, _operations(app, document), ids)


# -- bodies ---------------------------------------------------------------------------------------------


def _example(corpus: Corpus, schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value of `schema`: what a hostile value is put into, so that the rest looks right."""
    schema = corpus.resolve(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [corpus.resolve(s) for s in schema[key]]
            options = [s for s in options if s.get("type") != "null"] or options
            return _example(corpus, options[0], depth)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        return {name: _example(corpus, sub, depth + 1) for name, sub in schema.get("properties", {}).items()
                if name in schema.get("required", [])}
    if kind == "array":
        return [_example(corpus, schema.get("items", {}), depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 1.5)
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format", "")
        if fmt == "date-time":
            return "2026-02-10T10:00:00+01:00"
        if fmt == "date":
            return "2027-06-30"
        if fmt == "uuid":
            return corpus.ids.get("category_id", str(uuid.uuid4()))
        if fmt == "email":
            return "claire.martin@exemple.fr"
        return "x" * max(1, int(schema.get("minLength", 1)))
    return None


def _leaves(corpus: Corpus, schema: dict[str, Any], path: tuple[Any, ...] = (), depth: int = 0
            ) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(path, schema) of every scalar a body can hold, optional fields included."""
    schema = corpus.resolve(schema)
    if depth > 6:
        return
    for key in ("oneOf", "anyOf"):
        for option in schema.get(key, []):
            if corpus.resolve(option).get("type") != "null":
                yield from _leaves(corpus, option, path, depth + 1)
                break
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield from _leaves(corpus, sub, (*path, name), depth + 1)
    elif kind == "array":
        yield from _leaves(corpus, schema.get("items", {}), (*path, 0), depth + 1)
    elif kind in ("string", "integer", "number"):
        yield path, schema


def _put(corpus: Corpus, body: Any, schema: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    """`body` with `value` at `path`, building what lies between from the schema."""
    if not path:
        return value
    schema = corpus.resolve(schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [corpus.resolve(s) for s in schema[key] if corpus.resolve(s).get("type") != "null"]
            schema = options[0] if options else schema
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [_example(corpus, schema.get("items", {}))]
        items[0] = _put(corpus, items[0], schema.get("items", {}), rest, value)
        return items
    container = dict(body) if isinstance(body, dict) else {}
    sub = schema.get("properties", {}).get(head, {})
    container[head] = _put(corpus, container.get(head, _example(corpus, sub)), sub, rest, value)
    return container


def _json_schema(op: Operation) -> dict[str, Any] | None:
    content = op.spec.get("requestBody", {}).get("content", {})
    return content.get("application/json", {}).get("schema") if "application/json" in content else None


def _with_json_body(corpus: Corpus) -> list[Operation]:
    return [op for op in corpus.operations if _json_schema(op) is not None]


def _without_json_body(corpus: Corpus) -> list[Operation]:
    """Raw-body uploads (streamed, never buffered) and actions without a body: a body they don't expect
    must not break them either."""
    return [op for op in corpus.operations if op.method in ("post", "put", "patch") and _json_schema(op) is None]


def _hostile_values(schema: dict[str, Any]) -> tuple[Any, ...]:
    kind, fmt = schema.get("type"), schema.get("format", "")
    if kind in ("integer", "number"):
        return NUMBERS
    if fmt == "date-time":
        return DATE_TIMES
    if fmt == "date":
        return DATES
    return STRINGS


def _encode(value: Any) -> bytes:
    # json.dumps, not msgspec: it writes a lone surrogate as the escape "\ud800", as a hostile client would.
    return json.dumps(value).encode()


async def _undecodable(corpus: Corpus, op: Operation, content_type: str = "application/json") -> None:
    await corpus.call(op, "invalid UTF-8", content=b'{"title": "\xff\xfe\xed\xa0\x80"}', content_type=content_type)
    await corpus.call(op, "nested 1000 deep", content=b"[" * 1000 + b"]" * 1000, content_type=content_type)
    await corpus.call(op, "nested objects", content=b'{"a":' * 500 + b"1" + b"}" * 500, content_type=content_type)
    await corpus.call(op, "10 MB", content=TEN_MB_BODY, content_type=content_type)
    await corpus.call(op, "lone surrogate escape", content=b'{"title": "\\ud800"}', content_type=content_type)


async def test_hostile_bodies(corpus: Corpus) -> None:
    started = time.perf_counter()
    for op in _with_json_body(corpus):
        await _undecodable(corpus, op)
        schema = _json_schema(op)
        assert schema is not None
        base = _example(corpus, schema)
        for content_type in CONTENT_TYPES:
            await corpus.call(op, f"content type {content_type!r}", content=_encode(base),
                              content_type=content_type or None)
        for path, leaf in _leaves(corpus, schema):
            for value in _hostile_values(leaf):
                label = f"{'.'.join(map(str, path)) or 'body'} = {str(value)[:40]!r}"
                await corpus.call(op, label, content=_encode(_put(corpus, base, schema, path, value)))
    corpus.report("bodies", started)


async def test_hostile_raw_bodies(corpus: Corpus) -> None:
    started = time.perf_counter()
    for op in _without_json_body(corpus):
        for content_type in ("application/pdf", "application/json", "application/octet-stream"):
            await _undecodable(corpus, op, content_type)
        for content_type in CONTENT_TYPES:
            await corpus.call(op, f"content type {content_type!r}", content=b"%PDF-1.4\n%\xe2\xe3",
                              content_type=content_type or None)
    corpus.report("raw bodies", started)


# -- query and path parameters -------------------------------------------------------------------------


async def test_hostile_parameters(corpus: Corpus) -> None:
    started = time.perf_counter()
    for op in corpus.operations:
        for parameter in op.spec.get("parameters", []):
            if parameter["in"] not in ("query", "path"):
                continue
            for raw in RAW_PARAMS:
                label = f"{parameter['in']} {parameter['name']} = {raw[:40]!r}"
                if parameter["in"] == "path":
                    url = corpus.url(op, {parameter["name"]: raw})
                else:
                    url = f"{corpus.url(op)}?{parameter['name']}={raw}"
                await corpus.call(op, label, url=url, content_type=None)
    corpus.report("parameters", started)


async def test_hostile_header_parameters(corpus: Corpus) -> None:
    """Header parameters (file names, idempotency keys) with a body the route takes, to reach their use."""
    started = time.perf_counter()
    pdf = minimal_pdf("hostile")
    for op in corpus.operations:
        for parameter in op.spec.get("parameters", []):
            if parameter["in"] != "header":
                continue
            for raw in (*RAW_PARAMS, b"\xff\xfe", "a%2F..%2F..%2Fetc%2Fpasswd", "%E2%80%AE.pdf", "\t"):
                label = f"header {parameter['name']} = {raw[:40]!r}"
                headers = [*corpus.headers(op).items(), (parameter["name"], raw), ("Content-Type", "application/pdf")]
                await corpus.call(op, label, content=pdf, content_type=None, headers=headers)
    corpus.report("header parameters", started)


# -- authorization headers -----------------------------------------------------------------------------


async def test_hostile_authorization_headers(corpus: Corpus) -> None:
    started = time.perf_counter()
    for op in corpus.operations:
        own = corpus.headers(op).get("Authorization", "Bearer " + corpus.world["buyer_admin"].token)
        for label, headers in (("Bearer with nothing after it", [("Authorization", "Bearer")]),
                               ("Bearer and a space", [("Authorization", "Bearer ")]),
                               ("not a bearer", [("Authorization", "Basic Zm9vOmJhcg==")]),
                               ("non-ASCII token", [("Authorization", "Bearer \xe9\xe8".encode("latin-1"))]),
                               ("two Authorization headers, garbage first",
                                [("Authorization", "Bearer garbage"), ("Authorization", own)]),
                               ("two Authorization headers", [("Authorization", own), ("Authorization", own)])):
            await corpus.call(op, label, headers=headers, content_type=None)
    corpus.report("authorization headers", started)


def test_corpus_covers_every_operation_of_the_document(app: Litestar) -> None:
    """Nothing to register: the operations come from the document, and each has a declared audience."""
    document = app.openapi_schema.to_schema()
    count = sum(1 for item in document["paths"].values() for method in METHODS if method in item)
    operations = _operations(app, copy.deepcopy(document))
    assert len(operations) == count > 100
