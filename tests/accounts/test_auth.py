"""Login, tokens, API keys, deactivation and throttling through the real API."""

from __future__ import annotations

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import asyncpg_dsn
from marketplace.settings import Settings
from tests.world import PASSWORD, World, email_of


async def _audit_actions(settings: Settings) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        return [r["action"] for r in await conn.fetch("SELECT action FROM audit_event ORDER BY id")]
    finally:
        await conn.close()


async def test_login_me_refresh_logout(client: AsyncTestClient[Litestar], world: World,
                                       settings: Settings) -> None:
    login = await client.post("/auth/login", json={"email": email_of("vendor_admin").upper(), "password": PASSWORD})
    assert login.status_code == 200, login.text
    pair = login.json()
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['accessToken']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email_of("vendor_admin")
    assert {tuple(m["roles"]) for m in me.json()["memberships"]} == {("vendor:admin", "vendor:bid_manager")}

    refreshed = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    bearer = {"Authorization": f"Bearer {new['accessToken']}"}
    assert (await client.get("/auth/me", headers=bearer)).status_code == 200
    out = await client.post("/auth/logout", json={"refreshToken": new["refreshToken"]}, headers=bearer)
    assert out.status_code == 204
    assert (await client.post("/auth/refresh", json={"refreshToken": new["refreshToken"]})).status_code == 401
    # Logging out ends the session: its access token too, not only when it expires.
    assert (await client.get("/auth/me", headers=bearer)).status_code == 401
    assert "auth.login_succeeded" in await _audit_actions(settings)


async def test_a_replayed_refresh_token_revokes_its_whole_family(client: AsyncTestClient[Litestar], world: World,
                                                                settings: Settings) -> None:
    """RFC 6819 §5.2.2.3: a spent refresh token presented again means it was copied. Whoever rotated it
    first (the thief, or the client) loses the session: every refresh and access token of the family."""
    login = await client.post("/auth/login", json={"email": email_of("vendor_admin"), "password": PASSWORD})
    a = login.json()
    other = (await client.post("/auth/login", json={"email": email_of("vendor_admin"), "password": PASSWORD})).json()
    b = (await client.post("/auth/refresh", json={"refreshToken": a["refreshToken"]})).json()
    b_bearer = {"Authorization": f"Bearer {b['accessToken']}"}
    assert (await client.get("/auth/me", headers=b_bearer)).status_code == 200

    replay = await client.post("/auth/refresh", json={"refreshToken": a["refreshToken"]})
    assert replay.status_code == 401
    # B, issued in exchange for A, is refused now, and so is the access token that came with it.
    assert (await client.post("/auth/refresh", json={"refreshToken": b["refreshToken"]})).status_code == 401
    assert (await client.get("/auth/me", headers=b_bearer)).status_code == 401
    assert (await client.get("/auth/me", headers={"Authorization": f"Bearer {a['accessToken']}"})).status_code == 401
    # Another session of the same person (another device) is not touched.
    other_bearer = {"Authorization": f"Bearer {other['accessToken']}"}
    assert (await client.get("/auth/me", headers=other_bearer)).status_code == 200
    assert (await client.post("/auth/refresh", json={"refreshToken": other["refreshToken"]})).status_code == 200

    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        event = await conn.fetchrow("SELECT actor, target_id, details FROM audit_event "
                                    "WHERE action = 'auth.refresh_token_reused'")
    finally:
        await conn.close()
    assert event is not None, "the reuse is a security event of the audit log"
    assert event["target_id"] == str(world["vendor_admin"].user_id)
    assert '"tokens_revoked": 1' in event["details"] and '"security": true' in event["details"]


async def test_login_failures_do_not_reveal_whether_the_account_exists(
    client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    wrong_password = await client.post("/auth/login", json={"email": email_of("holder_member"), "password": "nope"})
    unknown = await client.post("/auth/login", json={"email": "nobody@example.fr", "password": "nope"})
    assert wrong_password.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "instance"}  # noqa: E731
    assert strip(wrong_password.json()) == strip(unknown.json())
    assert (await _audit_actions(settings)).count("auth.login_failed") == 2


async def test_twenty_failures_are_throttled_known_or_unknown(client: AsyncTestClient[Litestar], world: World,
                                                             settings: Settings) -> None:
    for email in (email_of("vendor_member"), "ghost@example.fr"):
        statuses = []
        for _ in range(20):
            response = await client.post("/auth/login", json={"email": email, "password": "wrong password"})
            statuses.append(response.status_code)
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429] * 10, statuses
        assert 0 < int(response.headers["retry-after"]) <= 900 and response.json()["retryAfter"] > 0
    # Throttled, even with the right password: the lock is per address, not per guess.
    right = await client.post("/auth/login", json={"email": email_of("vendor_member"), "password": PASSWORD})
    assert right.status_code == 429
    actions = await _audit_actions(settings)
    assert actions.count("auth.login_failed") == 20 and actions.count("auth.login_throttled") == 21


async def test_deactivated_user_is_refused_on_the_next_request(client: AsyncTestClient[Litestar],
                                                               world: World) -> None:
    member = world["holder_member"]
    assert (await client.get("/auth/me", headers=member.headers)).status_code == 200
    response = await client.post(
        f"/organisations/{world.organisations['holder']}/members/{member.user_id}/deactivate",
        headers=world["holder_admin"].headers)
    assert response.status_code == 204, response.text
    refused = await client.get("/auth/me", headers=member.headers)
    assert refused.status_code == 401
    assert (await client.post("/auth/login", json={"email": member.email, "password": PASSWORD})).status_code == 401


async def test_api_key_works_until_revoked(client: AsyncTestClient[Litestar], world: World,
                                           settings: Settings) -> None:
    org = world.organisations["vendor"]
    created = await client.post(f"/organisations/{org}/api-keys", headers=world["vendor_admin"].headers,
                                json={"name": "ERP connector", "roles": ["vendor:bid_manager"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert created.headers["location"] == f"/organisations/{org}/api-keys"
    as_key = {"Authorization": f"Bearer {key}"}
    me = await client.get("/auth/me", headers=as_key)
    assert me.status_code == 200 and me.json()["apiKeyId"] == created.json()["id"]
    listed = await client.get(f"/organisations/{org}/api-keys", headers=world["vendor_admin"].headers)
    assert key not in listed.text and listed.json()[0]["prefix"] == created.json()["prefix"]

    revoke = await client.delete(f"/organisations/{org}/api-keys/{created.json()['id']}",
                                 headers=world["vendor_admin"].headers)
    assert revoke.status_code == 204
    assert (await client.get("/auth/me", headers=as_key)).status_code == 401
    actions = await _audit_actions(settings)
    assert "api_key.created" in actions and "api_key.revoked" in actions


async def test_forged_or_malformed_credentials_are_401(client: AsyncTestClient[Litestar], world: World) -> None:
    token = world["vendor_admin"].token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for header in (f"Bearer {forged}", "Bearer mpk_000000000000.nope", "Basic abc", "Bearer "):
        response = await client.get("/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["content-type"].startswith("application/problem+json")
