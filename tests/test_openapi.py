"""The OpenAPI document tells the truth: it validates, names the bearer scheme where a route needs it,
documents the problem+json actually sent for every error, the upload routes' raw bodies and media types, and
that unknown fields are refused (lib/openapi.py)."""

from __future__ import annotations

import inspect
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import schemathesis
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.awards import abnormally_low, contracts, dialogue
from marketplace.funding import base as funding_base
from marketplace.lib.access import ACCESS_KEY, FRAMEWORK_PREFIXES
from marketplace.lib.openapi import BEARER, PROBLEM, PROBLEM_MEDIA_TYPE
from marketplace.settings import Settings
from marketplace.sons import asp as sons_asp
from marketplace.sons import asp_statuses as sons_asp_statuses
from marketplace.sons import imports as sons_imports
from marketplace.tenders import amendments
from marketplace.tenders.schemas import DEFAULT_ATTACHMENT_TYPES
from marketplace.vendors.documents import DPS_DOCUMENT_TYPES
from tests.vendors.api import dps_body
from tests.world import World

METHODS = ("get", "put", "post", "delete", "patch")
# Every route whose body is a file read as a stream, and the media types its service accepts.
UPLOADS = {
    ("put", "/dps/{dps_id}/documents"): DPS_DOCUMENT_TYPES,
    ("put", "/admission-requests/{request_id}/documents/{kind}"): ("application/pdf",),
    ("put", "/specific-contracts/{contract_id}/documents"): amendments.DOCUMENT_TYPES,
    ("put", "/offers/{offer_id}/attachments"): DEFAULT_ATTACHMENT_TYPES,
    ("put", "/offers/{offer_id}/abnormally-low/justification/document"): abnormally_low.DOCUMENT_TYPES,
    ("post", "/contracts/{contract_id}/signatures"): tuple(contracts.SIGNATURE_TYPES),
    ("post", "/funding-calls/{call_id}/projects/{need_id}/selection"): funding_base.DOCUMENT_TYPES,
    ("put", "/needs/{need_id}/funding/tranches/{position}/evidence"): funding_base.DOCUMENT_TYPES,
    ("put", "/clarifications/{thread_id}/attachments"): dialogue.CLARIFICATION_TYPES,
    ("put", "/sons/orders/{order_id}/signature"): tuple(contracts.SIGNATURE_TYPES),
    ("put", "/sons/orders/{order_id}/acceptance"): tuple(contracts.SIGNATURE_TYPES),
    ("put", "/sons/orders/{order_id}/balance"): tuple(sons_asp.INVOICE_TYPES),
    ("post", "/sons/order-imports"): tuple(sons_imports.MEDIA_TYPES),
    ("post", "/sons/asp-status-imports"): tuple(sons_asp_statuses.MEDIA_TYPES),
}


@pytest.fixture(scope="module")
def offline_app() -> Litestar:
    # The document is built at startup from the handlers alone: no service is reached.
    settings = Settings.from_env().with_(database_url="postgresql+asyncpg://u:p@127.0.0.1:1/none",
                                         redis_url="redis://127.0.0.1:1/0", s3_endpoint="http://127.0.0.1:1",
                                         secret_key="k" * 40)
    return create_app(settings, run_relay=False)


@pytest.fixture(scope="module")
def document(offline_app: Litestar) -> dict[str, Any]:
    return offline_app.openapi_schema.to_schema()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, item[method]) for path, item in document["paths"].items() for method in METHODS
            if method in item and not path.startswith(FRAMEWORK_PREFIXES)]


def test_the_document_validates_against_the_openapi_schema(document: dict[str, Any]) -> None:
    # openapi-spec-validator is not a dependency: schemathesis validates against the OpenAPI 3.1 meta-schema.
    schemathesis.openapi.from_dict(document).validate()
    text = str(document)
    for ref in set(re.findall(r"'\$ref': '#/components/schemas/([^']+)'", text)):
        assert ref in document["components"]["schemas"], ref


def test_authenticated_routes_require_the_bearer_scheme_and_public_ones_none(
        offline_app: Litestar, document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"][BEARER]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and "mpk_" in scheme["description"]
    audiences = {}
    for route in offline_app.routes:
        for handler in getattr(route, "route_handlers", []):
            # The back-office's pages (marketplace/web) are not API operations: they stay out of the document.
            if isinstance(handler, HTTPRouteHandler) and ACCESS_KEY in handler.opt \
                    and handler.resolve_include_in_schema():
                for method in handler.http_methods - {"HEAD", "OPTIONS"}:
                    path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
                    audiences[method.lower(), path] = handler.opt[ACCESS_KEY].audience
    checked = 0
    for method, path, operation in operations(document):
        if audiences[method, path] == "public":
            assert operation["security"] == [{}, {BEARER: []}], (method, path)  # anonymous, or a valid bearer
            assert "403" not in operation["responses"], (method, path)
        else:
            assert operation["security"] == [{BEARER: []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        checked += 1
    assert checked == len(audiences) > 100


def test_every_error_is_the_one_problem_schema_and_litestars_400_body_is_gone(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"][PROBLEM]
    assert {"type", "title", "status", "detail", "instance", "field", "rule"} <= set(problem["properties"])
    assert problem["additionalProperties"] is True
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "503" in responses and "401" in responses, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in responses, (method, path)
        if operation.get("requestBody"):
            assert {"413", "422"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}}, (method, path)
    assert "Validation Exception" not in str(document)
    assert "429" in document["paths"]["/auth/login"]["post"]["responses"]


def test_upload_routes_document_their_raw_body_media_types(offline_app: Litestar, document: dict[str, Any]) -> None:
    # Every handler that streams its body is listed above: a new upload route fails here until documented.
    streaming = set()
    for route in offline_app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                source = inspect.getsource(handler.fn)
                if "request.stream()" in source or "raw_upload(request)" in source:
                    for method in handler.http_methods - {"HEAD", "OPTIONS"}:
                        streaming.add((method.lower(), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)))
    assert streaming == set(UPLOADS)
    for (method, path), media_types in UPLOADS.items():
        operation = document["paths"][path][method]
        body = operation["requestBody"]
        assert body["required"] is True and list(body["content"]) == list(media_types), (method, path)
        for content in body["content"].values():
            assert content["schema"] == {"type": "string", "format": "binary"}
        assert {"413", "415"} <= set(operation["responses"]), (method, path)
    header = [p for p in document["paths"]["/offers/{offer_id}/attachments"]["put"]["parameters"]
              if p["in"] == "header"]
    assert [p["name"] for p in header] == ["X-Filename"]


def test_request_schemas_forbid_unknown_fields_and_keep_their_items_constraints(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("LoginRequest", "NeedCreate", "OpeningRequest", "DpsCreate", "AdmissionCreate"):
        assert schemas[name]["additionalProperties"] is False, name
    # msgspec refuses an empty CPV code; the document said any string (Litestar drops list items' constraints).
    assert schemas["NeedCreate"]["properties"]["cpvCodes"]["items"] == {"type": "string", "minLength": 1,
                                                                          "maxLength": 20}
    assert schemas["SelfDeclaration"]["properties"]["references"]["items"]["minLength"] == 1


def test_no_body_field_or_parameter_is_named_like_a_dependency(offline_app: Litestar) -> None:
    """Litestar takes a client value whose name is also a dependency's for a failed dependency: its
    validation error becomes a 500 (the opening's `openers` field met the `openers` service)."""
    clashes = []
    for route in offline_app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            dependencies = set(handler.resolve_dependencies())
            names = set(handler.parsed_fn_signature.parameters) - dependencies - {"data", "request"}
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                body_type = data.annotation.__args__[0] if hasattr(data.annotation, "__args__") else data.annotation
                if isinstance(body_type, type) and issubclass(body_type, msgspec.Struct):
                    names |= {f.encode_name for f in msgspec.structs.fields(body_type)}
            clashes += [f"{route.path}: {name}" for name in names & dependencies]
    assert clashes == []


async def test_an_unknown_field_is_a_400_naming_it_and_a_short_list_a_400_not_a_500(
        settings: Settings, world: World) -> None:
    async with AsyncTestClient(app=create_app(settings, run_relay=False)) as client:
        response = await client.post("/auth/login", json={"email": "a@exemple.fr", "password": "x", "admin": True})
        assert response.status_code == 400 and response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert "admin" in response.json()["detail"]
        response = await client.post("/specific-contracts/01a24740-0000-7000-8000-000000000000/opening",
                                     headers=world["buyer_admin"].headers, json={"openers": []})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "openers"
        # The served document is the corrected one.
        served = (await client.get("/schema/openapi.json")).json()
        assert BEARER in served["components"]["securitySchemes"]


def test_the_email_pattern_refuses_the_same_characters_in_python_and_in_the_document() -> None:
    """The document's regex is JavaScript's: `\\s` there is not Python's (\\x1c-\\x1f, \\x85 vs \\ufeff), so
    characters the server refused were documented as valid (found by fuzzing an invitation)."""
    import re as python_re

    from marketplace.lib.schemas import EMAIL_PATTERN

    for address in ("\x1fa@exemple.fr", "a\x85@exemple.fr", "a\ufeff@exemple.fr", "a@exem\x1cple.fr"):
        assert python_re.search(EMAIL_PATTERN, address) is None, repr(address)
    assert python_re.search(EMAIL_PATTERN, "zoé@exemple.fr")
    assert r"\x00-\x1f\x7f-\x9f\ufeff" in EMAIL_PATTERN  # named explicitly, so both dialects agree


def test_the_documented_ranges_are_the_decoders(document: dict[str, Any]) -> None:
    """lib/schemas.py refuses years outside 1900-9899 and integers past 64 bits: the document says so, or a
    client would be refused values it was told are valid (found by fuzzing after the decoder landed)."""
    schemas = document["components"]["schemas"]
    assert schemas["DpsCreate"]["properties"]["validityStart"]["pattern"].startswith("^(19")
    assert schemas["NeedCreate"]["properties"]["arsPrevalidatedOn"]["oneOf"][0]["pattern"].startswith("^(19")
    assert schemas["SelfDeclaration"]["properties"]["annualTurnoverEur"]["oneOf"][0]["maximum"] == 2**63 - 1


async def test_a_number_for_a_date_time_in_a_body_is_a_400(settings: Settings, world: World) -> None:
    """Litestar converts bodies in msgspec's lax mode, where a number reads as a Unix time: lib/body.py checks
    the JSON types strictly first."""
    async with AsyncTestClient(app=create_app(settings, run_relay=False)) as client:
        body = dps_body(datetime.now(UTC)) | {"validityStart": 1_900_000_000}  # 2030, as a Unix time
        response = await client.post("/dps", headers=world["buyer_admin"].headers, json=body)
    assert response.status_code == 400 and response.json()["field"] == "validityStart", response.text


SNAPSHOT = Path(__file__).parent / "data" / "openapi.json"


def rendered(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_document_is_its_reviewed_snapshot(document: dict[str, Any]) -> None:
    """Any change to the public API shows up as a diff of tests/data/openapi.json in review, and a refactoring
    proves it changed nothing. After an intended change: `MARKETPLACE_WRITE_OPENAPI=1 ./run test
    tests/test_openapi.py -k snapshot`, then read the diff."""
    if os.environ.get("MARKETPLACE_WRITE_OPENAPI") == "1":
        SNAPSHOT.write_text(rendered(document), encoding="utf-8")
    assert rendered(document) == SNAPSHOT.read_text(encoding="utf-8"), "the OpenAPI document changed"


def test_every_declared_bound_of_a_parameter_is_in_the_document(offline_app: Litestar,
                                                                 document: dict[str, Any]) -> None:
    """A bound of 0 (`ge=0`) on an optional query parameter vanished from the document: a reader sent `after=-1`
    to the audit log and got a 400 the document did not announce (lib/openapi.py `_zero_bounds`)."""
    from litestar.handlers import HTTPRouteHandler
    from litestar.params import ParameterKwarg

    names = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
    checked = 0
    for route in offline_app.routes:
        item = document["paths"].get(re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path))
        for handler in getattr(route, "route_handlers", []):
            if item is None or not isinstance(handler, HTTPRouteHandler):
                continue
            for verb in handler.http_methods - {"HEAD", "OPTIONS"}:
                documented = {p["name"]: p["schema"] for p in item.get(verb.lower(), {}).get("parameters", [])}
                for name, field in handler.parsed_fn_signature.parameters.items():
                    kwarg = field.kwarg_definition
                    if not isinstance(kwarg, ParameterKwarg) or (kwarg.query or name) not in documented:
                        continue
                    for bound, key in names.items():
                        if getattr(kwarg, bound) is not None:
                            checked += 1
                            schema = documented[kwarg.query or name]
                            assert schema.get(key) == getattr(kwarg, bound), (route.path, name, bound, schema)
    assert checked >= 20
    after = next(p for p in document["paths"]["/audit-events"]["get"]["parameters"] if p["name"] == "after")
    assert after["schema"]["minimum"] == 0
