"""The OpenAPI document says what the API does: who may call, what it answers, what it takes.

Litestar generates the operations from the handlers; this module corrects what it cannot know:
- the security scheme (`Authorization: Bearer <JWT access token or API key>`), applied per route from the
  access declaration every handler carries (lib/access.py): an anonymous route requires none;
- every error status a route can answer, each with the one problem+json schema actually sent
  (errors.py), instead of Litestar's own 400 body, which the API never sends;
- the raw-body upload routes' request bodies (media types, binary), declared next to the handler with
  `raw_body(...)`;
- request schemas that refuse unknown fields say so (`additionalProperties: false`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import ParameterKwarg

from marketplace.lib.access import ACCESS_KEY, FRAMEWORK_PREFIXES, Access
from marketplace.lib.clock import FIRST_YEAR, LAST_YEAR
from marketplace.lib.schemas import INT_MAX, INT_MIN

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

RAW_BODY_KEY = "raw_body"
ANSWERS_KEY = "answers"
BEARER = "bearerAuth"
PROBLEM = "Problem"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class RawBody:
    """A route that reads its request body as a stream of bytes (a file), not as JSON."""

    media_types: tuple[str, ...]
    description: str = ""


def raw_body(*media_types: str, description: str = "") -> dict[str, Any]:
    """Declare, in a handler's `opt`, the file media types its raw body accepts (the service's own list)."""
    return {RAW_BODY_KEY: RawBody(tuple(media_types), description)}


def answers(*statuses: int) -> dict[str, Any]:
    """Declare, in a handler's `opt`, error statuses the route answers beyond those derived below."""
    return {ANSWERS_KEY: frozenset(statuses)}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schemas, plus `additionalProperties: false` where the Struct refuses unknown fields
    (`forbid_unknown_fields=True`, lib/schemas.py): a generated client learns that an extra field is a 400."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            for field in info.fields:
                _constraints((schema.properties or {}).get(field.encode_name), field.type)
        return schema


# msgspec constraint → OpenAPI Schema attribute.
_CONSTRAINTS = {"min_length": "min_length", "max_length": "max_length", "pattern": "pattern", "ge": "minimum",
                "le": "maximum", "gt": "exclusive_minimum", "lt": "exclusive_maximum", "multiple_of": "multiple_of"}


# The years FIRST_YEAR..LAST_YEAR (1900..9899) as a regex on an ISO 8601 date or date-time.
assert (FIRST_YEAR, LAST_YEAR) == (1900, 9899), "YEAR_PATTERN spells these years out"
YEAR_PATTERN = r"^(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2})-"
_JSON_TYPES = {msgspec.inspect.StrType: "string", msgspec.inspect.IntType: "integer",
               msgspec.inspect.FloatType: "number", msgspec.inspect.DateType: "string",
               msgspec.inspect.DateTimeType: "string"}
_ARRAYS = (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.FrozenSetType,
           msgspec.inspect.VarTupleType)


def _constraints(schema: Schema | Reference | None, type_: msgspec.inspect.Type) -> None:
    """Litestar drops the constraints of a list's items (`list[Annotated[str, Meta(min_length=1)]]` becomes
    `items: {type: string}`) and of an optional value (`Annotated[int, Meta(ge=0)] | None`), so a client
    reading the document would send an empty CPV code or a negative staff count and get a 400: they are
    copied from what msgspec enforces."""
    if not isinstance(schema, Schema):
        return
    if isinstance(type_, msgspec.inspect.UnionType):
        for option in type_.types:
            wanted = _JSON_TYPES.get(type(option)) or ("array" if isinstance(option, _ARRAYS) else None)
            for branch in schema.one_of or [schema]:
                if isinstance(branch, Schema) and wanted is not None and _type_name(branch) == wanted:
                    _constraints(branch, option)
        return
    if isinstance(type_, _ARRAYS):
        _constraints(schema.items if isinstance(schema.items, Schema) else None, type_.item_type)
        return
    for constraint, attribute in _CONSTRAINTS.items():
        value = getattr(type_, constraint, None)
        if value is not None and getattr(schema, attribute, None) is None:
            setattr(schema, attribute, value)
    # What lib/schemas.py refuses beyond the annotations: integers past 64 bits, years out of the range.
    if isinstance(type_, msgspec.inspect.IntType):
        if type_.ge is None and type_.gt is None and schema.minimum is None:
            schema.minimum = INT_MIN
        if type_.le is None and type_.lt is None and schema.maximum is None:
            schema.maximum = INT_MAX
    elif isinstance(type_, (msgspec.inspect.DateType, msgspec.inspect.DateTimeType)) and schema.pattern is None:
        schema.pattern = YEAR_PATTERN


def _type_name(schema: Schema) -> str | None:
    value = getattr(schema.type, "value", schema.type)
    return value if isinstance(value, str) else None


SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    BEARER: SecurityScheme(
        type="http", scheme="bearer", bearer_format="JWT or API key",
        description="`Authorization: Bearer <token>`, where the token is either a JWT access token from "
                    "`POST /auth/login` or `POST /auth/refresh` (valid 15 minutes), or an organisation's API "
                    "key (`mpk_<prefix>.<secret>`, from `POST /organisations/{organisationId}/api-keys`). "
                    "Every request re-reads the user or key: a deactivated user or a revoked key is refused at "
                    "once."),
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details: every error the API answers has this shape. `field` names the "
                "parameter, header or body field at fault; `rule` the business rule id (domain.md); other "
                "members may follow (`errors`, `accepted`, `limit`, `retryAfter`…).",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI,
                       description="Identifies the kind of problem."),
        "title": Schema(type=OpenAPIType.STRING, description="Short summary of the kind of problem."),
        "status": Schema(type=OpenAPIType.INTEGER, description="The HTTP status code."),
        "detail": Schema(type=OpenAPIType.STRING, description="What is wrong with this request, in words."),
        "instance": Schema(type=OpenAPIType.STRING, description="The request path."),
        "field": Schema(type=OpenAPIType.STRING, description="The input at fault."),
        "rule": Schema(type=OpenAPIType.STRING, description="The business rule that refused the request."),
        "dependency": Schema(type=OpenAPIType.STRING, enum=["database", "storage", "redis", "service"],
                             description="For a 503: what is unavailable. Nothing was changed by the request."),
        "errors": Schema(
            type=OpenAPIType.ARRAY, description="For a malformed request: each input at fault.",
            items=Schema(type=OpenAPIType.OBJECT, properties={
                "field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING),
                "source": Schema(type=OpenAPIType.STRING)})),
    },
    additional_properties=True,
)

DESCRIPTIONS = {
    400: "Malformed request: a parameter or the body does not match this schema (an unknown field included); "
         "`field` names it.",
    401: "No credential, or one that is invalid, expired or revoked.",
    403: "The caller's roles or organisation do not allow this.",
    404: "No such resource, or none the caller may see.",
    409: "The resource's current state does not allow this (or a concurrent change came first).",
    410: "Gone: the resource existed and no longer can be used.",
    413: "The body is over its size limit (`limit`).",
    415: "The Content-Type is not accepted, or the content is not what it declares (`accepted` lists the "
         "types).",
    422: "Well formed, but a business rule refuses it: `rule` names it, `field` the input.",
    429: "Too many attempts: retry after `Retry-After` seconds.",
    503: "A service the platform depends on is unavailable (`dependency` names it) and nothing was changed: "
         "retry after `Retry-After` seconds.",
}
_PUBLIC_401 = ("A credential was sent and is invalid, expired or revoked (the route is public: send none to "
               "call it anonymously).")


def error_statuses(method: str, access: Access, *, has_parameters: bool, has_path_parameters: bool,
                   has_query_parameters: bool, has_body: bool, raw: bool,
                   extra: frozenset[int] = frozenset()) -> set[int]:
    """The error statuses a route can answer, from what it takes and who may call it."""
    statuses = {401, 503} | set(extra)  # any request may carry a bad credential; any may meet an outage
    if has_parameters or has_body:
        statuses.add(400)
    if access.audience != "public":
        statuses.add(403)
    if has_path_parameters or has_body:
        statuses.add(404)
    if has_path_parameters or method != "GET":
        statuses.add(409)  # a resource's state can refuse a read too (no ranking before the evaluation)
    if method != "GET" or has_query_parameters:
        statuses.add(422)  # well-formed values that name nothing known, or break a rule (search codes, dates)
    if has_body:
        statuses.add(413)
    if raw:
        statuses.add(415)
    return statuses


def _problem_response(status: int, access: Access) -> OpenAPIResponse:
    description = _PUBLIC_401 if status == 401 and access.audience == "public" else DESCRIPTIONS[status]
    headers: dict[str, OpenAPIHeader | Reference] | None = (
        {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="Seconds to wait.")}
        if status in {429, 503} else None)
    return OpenAPIResponse(description=description, headers=headers, content={
        PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{PROBLEM}"))})


def _raw_request_body(raw: RawBody) -> RequestBody:
    description = raw.description or "The file itself, as the raw body (not multipart)."
    return RequestBody(required=True, description=description, content={
        media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
        for media_type in raw.media_types})


def _handlers(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    rows: list[tuple[str, str, HTTPRouteHandler]] = []
    for route in app.routes:
        if route.path.startswith(FRAMEWORK_PREFIXES):
            continue
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                    rows.append((str(method), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path), handler))
    return rows


_BOUNDS = {"ge": "minimum", "gt": "exclusive_minimum", "le": "maximum", "lt": "exclusive_maximum"}


def _zero_bounds(parameters: list[Parameter], handler: HTTPRouteHandler) -> None:
    """Litestar writes a parameter's bound only when it is truthy: `ge=0` on an optional query parameter (the
    audit log's `after`) vanished from the document, whose readers then sent -1 and got a 400. Written back
    from the handler's own declarations."""
    declared: dict[str, ParameterKwarg] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            declared[kwarg.query or kwarg.header or kwarg.cookie or name] = kwarg
    for parameter in parameters:
        kwarg = declared.get(parameter.name)
        if kwarg is None or not isinstance(parameter.schema, Schema):
            continue
        for bound, attribute in _BOUNDS.items():
            value = getattr(kwarg, bound)
            if value == 0 and getattr(parameter.schema, attribute) is None:
                setattr(parameter.schema, attribute, value)


def document_contract(app: Litestar, schema: OpenAPI) -> None:
    """Write security, error responses and raw request bodies into the app's OpenAPI document."""
    components = schema.components if isinstance(schema.components, Components) else Components()
    components.security_schemes = {**(components.security_schemes or {}), **SECURITY_SCHEMES}
    components.schemas[PROBLEM] = PROBLEM_SCHEMA
    schema.components = components
    for method, path, handler in _handlers(app):
        item = (schema.paths or {}).get(path)
        operation: Operation | None = getattr(item, method.lower(), None) if item is not None else None
        access = handler.opt.get(ACCESS_KEY)
        if operation is None or not isinstance(access, Access):
            continue
        raw = handler.opt.get(RAW_BODY_KEY)
        if isinstance(raw, RawBody):
            operation.request_body = _raw_request_body(raw)
        # An anonymous route still refuses a bad credential, so its bearer is optional ({} = none needed).
        operation.security = [{BEARER: []}] if access.audience != "public" else [{}, {BEARER: []}]
        parameters = [p for p in operation.parameters or [] if not isinstance(p, Reference)]
        _zero_bounds(parameters, handler)
        statuses = error_statuses(
            method, access, has_parameters=bool(parameters),
            has_path_parameters=any(p.param_in == "path" for p in parameters),
            has_query_parameters=any(p.param_in == "query" for p in parameters),
            has_body=operation.request_body is not None, raw=isinstance(raw, RawBody),
            extra=handler.opt.get(ANSWERS_KEY, frozenset()))
        responses = {code: response for code, response in (operation.responses or {}).items()
                     if not code.startswith(("4", "5"))}
        for status in sorted(statuses):
            responses[str(status)] = _problem_response(status, access)
        operation.responses = responses
