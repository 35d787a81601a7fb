"""HTTP basics: health, OpenAPI and docs, problem+json errors, 201 + Location."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings

PROBLEM = "application/problem+json"


async def test_health_reports_each_dependency_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "s3"}
    for name, check in body["checks"].items():
        assert check["status"] == "ok", (name, check)
        assert check["latencyMs"] >= 0
    assert response.headers["cache-control"] == "no-store"


async def test_openapi_document_and_docs_ui(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["info"]["title"] == "Marketplace SAD API"
    assert "/health" in schema["paths"] and "/support/requests" in schema["paths"]
    docs = await client.get("/schema")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    swagger = await client.get("/schema/swagger")
    assert swagger.status_code == 200 and "swagger" in swagger.text.lower()


async def test_malformed_json_is_a_400_problem(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/support/requests", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == 400


async def test_invalid_field_is_a_400_naming_the_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/support/requests", json={
        "name": "Claire Martin", "email": "not-an-address", "subject": "Accès", "message": "Bonjour"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert any("email" in e["field"] for e in problem["errors"]), problem
    assert "email" in problem["detail"]


async def test_missing_and_unknown_fields_are_named(client: AsyncTestClient[Litestar]) -> None:
    missing = await client.post("/support/requests", json={"name": "A", "email": "a@b.fr", "subject": "x"})
    assert missing.status_code == 400
    assert "message" in missing.json()["detail"]
    unknown = await client.post("/support/requests", json={
        "name": "A", "email": "a@b.fr", "subject": "x", "message": "y", "isAdmin": True})
    assert unknown.status_code == 400
    assert "isAdmin" in unknown.json()["detail"]


async def test_unknown_route_and_resource_are_404_problems(client: AsyncTestClient[Litestar]) -> None:
    route = await client.get("/no/such/route")
    assert route.status_code == 404 and route.headers["content-type"].startswith(PROBLEM)
    resource = await client.get("/support/requests/0190f5d2-7a3c-7000-8000-000000000000")
    assert resource.status_code == 404 and resource.headers["content-type"].startswith(PROBLEM)
    assert resource.json()["type"].endswith("/not-found")


async def test_201_carries_location_of_a_readable_resource(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/support/requests", json={
        "name": "Claire Martin", "email": "claire.martin@ehpad-les-tilleuls.fr",
        "subject": "Accès au SAD", "message": "Comment candidater ?", "organisation": "EHPAD Les Tilleuls"})
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location == f"/support/requests/{response.json()['id']}"
    followed = await client.get(location)
    assert followed.status_code == 200
    assert followed.json()["id"] == response.json()["id"]
    # The public follow-up never shows the content of the request.
    assert "Comment candidater" not in followed.text and "claire" not in followed.text.lower()


async def test_unstorable_text_is_a_400_not_a_500(client: AsyncTestClient[Litestar]) -> None:
    # JSON escapes, as a client would send them (a lone surrogate can't even be encoded as UTF-8).
    for bad in (r"lone \ud962 surrogate", r"nul\u0000byte"):
        body = '{"name": "A", "email": "a@b.fr", "message": "x", "subject": "' + bad + '"}'
        response = await client.post("/support/requests", content=body.encode(),
                                     headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
    # The NUL decodes fine as JSON, so the refusal names the field (the surrogate fails JSON decoding).
    assert "subject" in response.json()["detail"] or "subject" in str(response.json().get("errors"))


async def test_framework_refusals_are_complete_problems(client: AsyncTestClient[Litestar]) -> None:
    unauthenticated = await client.get("/auth/me")
    method = await client.delete("/health")
    for response, status, slug in ((unauthenticated, 401, "unauthorized"), (method, 405, "method-not-allowed")):
        assert response.status_code == status
        assert response.headers["content-type"].startswith(PROBLEM)
        body = response.json()
        assert body["type"].endswith("/" + slug) and body["instance"] and body["title"] and body["detail"]
    assert unauthenticated.headers["www-authenticate"] == "Bearer"


async def test_route_dependencies_resolve_in_the_requests_task_and_the_guard_is_a_coroutine(
        client: AsyncTestClient[Litestar]) -> None:
    """lib/dependencies.py: sibling dependencies run in order in the request's own task (Litestar would open a task
    group, a task each), so a context variable one sets reaches the handler. `client` builds the real app, whose
    `create_app` installs this for every app of the process. The access guard is a coroutine: Litestar dispatches
    a plain-function guard to a worker thread on every request (accounts/guards.py)."""
    import asyncio
    import contextvars
    import inspect

    from litestar import get
    from litestar.di import Provide

    from marketplace.accounts.guards import access_guard

    assert inspect.iscoroutinefunction(access_guard)
    mark: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")
    seen: dict[str, object] = {}

    async def first() -> int:
        seen["first"] = asyncio.current_task()
        mark.set("set by the first dependency")
        return 1

    async def second() -> int:
        seen["second"] = asyncio.current_task()
        return 2

    @get("/probe", dependencies={"a": Provide(first), "b": Provide(second)}, sync_to_thread=False)
    async def probe(a: int, b: int) -> dict[str, object]:
        seen["handler"] = asyncio.current_task()
        return {"sum": a + b, "mark": mark.get()}

    async with AsyncTestClient(Litestar(route_handlers=[probe])) as probe_client:
        answer = (await probe_client.get("/probe")).json()
    assert answer == {"sum": 3, "mark": "set by the first dependency"}
    assert seen["first"] is seen["second"] is seen["handler"]


def test_an_app_started_again_on_another_event_loop_uses_redis_at_once_from_many_tasks(settings: Settings) -> None:
    """An app's lifespan can run more than once, each time on a new loop (tests/apps.py reuses one app for every
    test, each on its own loop): its Redis client gets a fresh pool at each stop. A pool's lock binds to the loop
    that first waited on it, so without that, tasks of the second loop that wait on it fail ("bound to a
    different event loop"). Four pings at once through the app's client, as concurrent requests and the outbox
    relay use it, make the lock wait (each first opens its connection, one at a time under the lock: twenty once
    met the 1 s connect timeout on a loaded machine)."""
    import asyncio

    from marketplace.app import create_app

    app = create_app(settings, run_relay=False)

    async def burst() -> list[bool]:
        async with app.lifespan():
            return list(await asyncio.gather(*(app.state.redis.ping() for _ in range(4))))

    for _ in range(3):
        assert asyncio.run(burst()) == [True] * 4


async def test_an_app_started_again_on_another_loop_gets_fresh_database_connections(settings: Settings) -> None:
    """Each test client runs the app on an event loop of its own. advanced-alchemy disposes the request engine
    at shutdown only for the first app of a process (later ones get a suffixed app-state key), so a later
    app started a second time got the first loop's pooled connections (a 500, then 503s). marketplace/app.py
    disposes it itself."""
    from marketplace.app import create_app

    create_app(settings, run_relay=False)  # not the process's first app, whatever ran before
    app = create_app(settings, run_relay=False)
    for _ in range(2):
        async with AsyncTestClient(app=app) as client:
            for _ in range(3):
                response = await client.get("/dps")
                assert response.status_code == 200, response.text
