"""Every route declares who may call it; an undeclared route fails this test."""

from __future__ import annotations

from litestar import Litestar, get

from marketplace.app import create_app
from marketplace.lib.access import ACCESS_KEY, Access, route_inventory, unclassified_routes
from marketplace.settings import Settings


def test_every_route_declares_its_audience(app: Litestar) -> None:
    rows = route_inventory(app)
    assert rows, "the inventory found no routes at all"
    assert unclassified_routes(app) == []
    for _method, _path, access in rows:
        assert isinstance(access, Access) and access.describe()


def test_an_unclassified_route_is_caught(settings: Settings) -> None:
    @get("/undeclared")
    async def undeclared() -> str:
        return "who may call me?"

    @get("/declared", opt={ACCESS_KEY: Access("public", reason="declared")})
    async def declared() -> str:
        return "anyone"

    app = create_app(settings, run_relay=False)
    app.register(undeclared)
    assert unclassified_routes(app) == ["GET /undeclared"]

    app = create_app(settings, run_relay=False)
    app.register(declared)
    assert unclassified_routes(app) == []


def test_declarations_are_published_in_openapi(app: Litestar) -> None:
    schema = app.openapi_schema.to_schema()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "**Access.**" in operation.get("description", ""), f"{method.upper()} {path}"
    support = schema["paths"]["/support/requests"]["post"]["description"]
    assert "Public: anyone" in support
