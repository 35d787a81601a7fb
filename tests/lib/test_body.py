"""Request bodies are decoded in one place (lib/body.py) and typed by CamelStruct (lib/schemas.py): whatever a
client sends, the answer is a problem naming what is wrong, never a 500 (G10, reliability.md §2.1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
import pytest
from litestar import Litestar, post
from litestar.testing import AsyncTestClient

from marketplace.errors import exception_handlers
from marketplace.lib.access import public
from marketplace.lib.body import MAX_DEPTH, MarketplaceRequest
from marketplace.lib.schemas import CamelStruct, UnstorableValue

PROBLEM = "application/problem+json"


class Line(CamelStruct):
    label: str
    quantity: int


class Order(CamelStruct):
    title: str
    lines: list[Line]
    delivery_on: date | None = None
    due_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


@post("/orders", opt=public(), status_code=200)
async def take_order(data: Order) -> dict[str, Any]:
    return {"title": data.title}


def _app() -> Litestar:
    return Litestar([take_order], request_class=MarketplaceRequest, request_max_body_size=1_000,
                    exception_handlers=exception_handlers)


async def _post(content: bytes) -> Any:
    async with AsyncTestClient(_app()) as client:
        response = await client.post("/orders", content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM) or response.status_code == 200
    return response


def _order(**changes: Any) -> bytes:
    body: dict[str, Any] = {"title": "Licences", "lines": [{"label": "DUI", "quantity": 1}], **changes}
    return msgspec.json.encode(body)


async def test_a_valid_body_passes() -> None:
    assert (await _post(_order())).json() == {"title": "Licences"}


@pytest.mark.parametrize(("content", "says"), [
    (b'{"title": "\xff\xfe"}', "not valid UTF-8"),
    (b'{"title": "\xed\xa0\x80"}', "not valid UTF-8"),  # a lone surrogate, UTF-8-encoded (CESU-8)
    (b"[" * 400 + b"]" * 400, "nested too deeply"),  # beyond the interpreter's recursion limit: 2000 would do
    (b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2), "nested too deeply"),
    (b'{"title": "\\ud800"}', "not valid JSON"),  # a lone surrogate, escaped
    (b'{"title": ', "not valid JSON"),
])
async def test_an_undecodable_body_is_a_400_naming_the_body(content: bytes, says: str) -> None:
    response = await _post(content)
    assert response.status_code == 400
    problem = response.json()
    assert problem["field"] == "body" and problem["status"] == 400
    assert problem["type"].endswith("/invalid-body") and says in problem["detail"]


async def test_nesting_a_thousand_levels_deep_is_refused_not_a_recursion_error() -> None:
    """The issue's 2 000-byte body: msgspec raised RecursionError, a 500 on every JSON route."""
    async with AsyncTestClient(Litestar([take_order], request_class=MarketplaceRequest,
                                        exception_handlers=exception_handlers)) as client:
        response = await client.post("/orders", content=b"[" * 1000 + b"]" * 1000,
                                     headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["field"] == "body"


async def test_an_oversized_body_is_a_413_naming_the_body() -> None:
    response = await _post(_order(title="x" * 2_000))
    assert response.status_code == 413
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(("changes", "field"), [
    ({"title": "a\x00b"}, "title"),
    ({"lines": [{"label": "a\x00", "quantity": 1}]}, "lines[0].label"),
    ({"lines": [{"label": "DUI", "quantity": 10**30}]}, "lines[0].quantity"),
    ({"lines": [{"label": "DUI", "quantity": 2**63}]}, "lines[0].quantity"),
    ({"lines": [{"label": "DUI", "quantity": -(2**63) - 1}]}, "lines[0].quantity"),
    ({"deliveryOn": "0001-01-01"}, "deliveryOn"),
    ({"deliveryOn": "9999-12-31"}, "deliveryOn"),
    ({"dueAt": "9999-12-31T23:59:59-14:00"}, "dueAt"),
    ({"dueAt": "0001-01-01T00:00:00+14:00"}, "dueAt"),
    ({"lines": [{"label": "DUI", "quantity": "many"}]}, "lines[0].quantity"),
    ({"extra": 1}, "extra"),
])
async def test_a_value_that_cannot_be_stored_is_a_400_naming_its_field(changes: dict[str, Any], field: str) -> None:
    response = await _post(_order(**changes))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    assert field.rsplit(".", 1)[-1].split("[")[0] in problem["detail"]


def test_the_limits_hold_at_the_edges() -> None:
    assert msgspec.json.decode(_order(deliveryOn="1900-01-01", dueAt="9899-12-31T23:59:59-14:00",
                                      lines=[{"label": "DUI", "quantity": 2**63 - 1}]), type=Order)
    with pytest.raises(msgspec.ValidationError, match="deliveryOn"):
        msgspec.json.decode(_order(deliveryOn="1899-12-31"), type=Order)


def test_a_struct_built_by_hand_from_parameters_refuses_as_a_domain_error() -> None:
    """Outside a decoder (a Struct built from query parameters), the refusal is still a 4xx, not a bare
    ValueError."""
    with pytest.raises(UnstorableValue) as refused:
        Line(label="a\x00", quantity=1)
    assert refused.value.status_code == 400 and refused.value.extra["field"] == "label"


# -- the real app: the routes the issue names ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/login", "/support/requests", "/auth/refresh"])
async def test_anonymous_json_routes_refuse_undecodable_bodies(client: AsyncTestClient[Litestar], path: str) -> None:
    for content in (b'{"email": "\xff"}', b"[" * 1000 + b"]" * 1000, b'{"email": "\\udc00"}'):
        response = await client.post(path, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, content[:20], response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["field"] == "body"


async def test_a_body_of_ten_megabytes_is_a_413(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/support/requests", content=b'{"name": "' + b"x" * 10_000_000 + b'"}',
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM) and response.json()["field"] == "body"


async def test_a_nul_in_a_support_request_names_the_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/support/requests", json={
        "name": "Claire Martin", "email": "claire.martin@exemple.fr", "subject": "Accès\x00", "message": "Bonjour"})
    assert response.status_code == 400
    assert response.json()["field"] == "subject"


@pytest.mark.parametrize(("parameter", "value"), [
    ("deadlineFrom", "0001-01-01T00:00:00"),  # naive: Paris time, which converted to UTC underflowed
    ("deadlineTo", "9999-12-31T23:59:59-14:00"),  # converted to UTC, overflowed
    ("deadlineTo", "0001-01-01T00:00:00+14:00"),
    ("deadlineFrom", "2026-03-29T02:30:00"),  # doesn't exist in Paris
])
async def test_search_deadlines_out_of_range_name_the_parameter(client: AsyncTestClient[Litestar], parameter: str,
                                                                value: str) -> None:
    response = await client.get("/discovery/needs", params={parameter: value})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == parameter
