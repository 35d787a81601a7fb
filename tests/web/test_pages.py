"""The back-office's foundation over HTTP (no browser): session, CSRF, CSP, login and logout, the work queue.

Each person browses with a client of its own (tests/web/pages.py): its cookies, over HTTPS, as a browser would.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from marketplace.accounts.sessions import LOGIN_MAX_FAILURES
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.web.security import CONTENT_SECURITY_POLICY, CSRF_COOKIE, IDLE_TIMEOUT, MAX_LIFETIME, SESSION_COOKIE
from tests.vendors.api import apply, categories_by_pair, create_dps, expect, fetch, publish, upload_all
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]


def _cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    jar: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            jar[name] = cookie
    return jar


def _count(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)<', html)
    assert match, f"no #{element_id} in the page"
    return int(match.group(1))


async def test_an_anonymous_visitor_is_sent_to_the_login_form(client: Client) -> None:
    web = Browser(client)
    answer = await web.get("/app/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/connexion?suivant=%2Fapp"
    # An htmx request gets HX-Redirect, so the whole page changes rather than a fragment.
    hx = await web.get("/app/", headers={"HX-Request": "true"})
    assert hx.status_code == 401 and hx.headers["hx-redirect"].startswith("/app/connexion")
    form = await web.get(answer.headers["location"])
    assert form.status_code == 200 and 'lang="fr"' in form.text and "Connexion" in form.text
    assert 'name="suivant" value="/app"' in form.text


async def test_login_sets_an_httponly_samesite_lax_secure_session_cookie(client: Client, app: Litestar,
                                                                         world: World, settings: Settings) -> None:
    web = Browser(client)
    form = await web.get("/app/connexion")
    planted = "a" * 64  # an id chosen by someone else before the login (session fixation)
    planted_header = f"{CSRF_COOKIE}={web.cookies[CSRF_COOKIE]}; {SESSION_COOKIE}={planted}"
    answer = await web.post("/app/connexion", headers={"cookie": planted_header},
                            data={"email": email_of("buyer_admin"), "password": "correct horse battery staple",
                                  "_csrf_token": csrf_token(form.text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/app/"
    morsel = _cookies(answer)[SESSION_COOKIE][SESSION_COOKIE]
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/app" and int(morsel["max-age"]) == IDLE_TIMEOUT
    session_id = morsel.value
    assert session_id != planted and len(session_id) == 64
    # Server-side: the cookie is only an id; what it names lives in Redis, not in the browser.
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [k.decode() for k in await redis.keys("marketplace-web-session*")]
        assert any(k.endswith(session_id) for k in keys) and not any(k.endswith(planted) for k in keys)
        # Idle expiry is Redis's own: the entry lives IDLE_TIMEOUT seconds from the last request.
        key = next(k for k in keys if k.endswith(session_id))
        assert IDLE_TIMEOUT - 5 <= await redis.ttl(key) <= IDLE_TIMEOUT
    finally:
        await redis.aclose()
    csrf = _cookies(form)[CSRF_COOKIE][CSRF_COOKIE]
    assert csrf["httponly"] and csrf["secure"] and csrf["samesite"].lower() == "lax"
    page = await web.get("/app/")
    assert page.status_code == 200
    assert "Buyer Admin" in page.text and "Centrale d&#39;achat du numérique médico-social" in page.text


async def test_a_wrong_password_is_refused_and_throttled_like_the_api(client: Client, app: Litestar,
                                                                      world: World) -> None:
    web = Browser(client)
    for _ in range(LOGIN_MAX_FAILURES):
        refused = await login(web, email_of("buyer_admin"), "not the password")
        assert refused.status_code == 401 and "incorrect" in refused.text
        assert SESSION_COOKIE not in _cookies(refused)
    # The account is now locked, for the API as for the pages: the same service, the same counter.
    locked = await login(web, email_of("buyer_admin"))
    assert locked.status_code == 429 and "Trop de tentatives" in locked.text and "retry-after" in locked.headers
    api = await client.post("/auth/login", json={"email": email_of("buyer_admin"),
                                                 "password": "correct horse battery staple"})
    assert api.status_code == 429


async def test_a_post_without_the_csrf_token_is_refused(client: Client, app: Litestar, world: World) -> None:
    web = Browser(client)
    await web.get("/app/connexion")  # the CSRF cookie is set; the token is not sent below
    bare = await web.post("/app/connexion", data={"email": email_of("buyer_admin"),
                                                  "password": "correct horse battery staple"})
    assert bare.status_code == 403 and "CSRF" in bare.text
    assert bare.headers["content-type"].startswith("text/html")
    forged = await web.post("/app/connexion", data={"email": email_of("buyer_admin"), "password": "x",
                                                    "_csrf_token": "forged" * 12})
    assert forged.status_code == 403
    assert (await login(web, email_of("buyer_admin"))).status_code == 303
    token = csrf_token((await web.get("/app/")).text)
    refused = await web.post("/app/deconnexion")
    assert refused.status_code == 403  # logged in, still no token: refused
    # The error page keeps the signed-in header and the buyer's navigation (read from the roles, no database).
    assert "Se déconnecter" in refused.text and "Se connecter<" not in refused.text
    assert 'aria-label="Navigation principale"' in refused.text and 'href="/app/admissions"' in refused.text
    assert 'href="/app/mes-besoins"' not in refused.text
    # The header htmx sends (hx-headers on <body>) is accepted like the form field.
    assert (await web.post("/app/deconnexion", headers={"x-csrftoken": token})).status_code == 303
    # The JSON API carries bearer tokens, not cookies: it asks for no CSRF token.
    api = await client.post("/auth/login", json={"email": email_of("buyer_admin"),
                                                 "password": "correct horse battery staple"})
    assert api.status_code == 200


async def test_every_page_carries_a_strict_content_security_policy(client: Client, app: Litestar,
                                                                    world: World, settings: Settings) -> None:
    # Requests may go to the app and to the object store itself (the offer workspace's presigned uploads).
    store = urlsplit(settings.s3_endpoint)
    policy = CONTENT_SECURITY_POLICY.replace("connect-src 'self'",
                                             f"connect-src 'self' {store.scheme}://{store.netloc}")
    web = Browser(client)
    answers = [await web.get("/app/connexion"), await web.get("/app/"),
               await web.post("/app/connexion", data={"email": "x@example.fr"})]  # a 403 raised by middleware
    await login(web, email_of("buyer_admin"))
    answers += [await web.get("/app/"), await web.get("/app/static/css/app.css")]
    for answer in answers:
        assert answer.headers["content-security-policy"] == policy, answer.request.url
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    page = answers[3]
    assert page.headers["cache-control"] == "no-store"
    # No inline script, no script or style from elsewhere; htmx configured for that policy.
    assert not re.search(r"<script(?![^>]*\bsrc=\"/app/static/)", page.text)
    assert "<style" not in page.text and " style=" not in page.text and "https://" not in page.text
    assert '"allowEval":false' in page.text and '"includeIndicatorStyles":false' in page.text
    # The API's answers are left alone.
    assert "content-security-policy" not in (await client.get("/health")).headers


async def test_htmx_is_served_from_the_app_with_its_integrity(client: Client, app: Litestar, world: World) -> None:
    from marketplace.devstack import htmx

    web = Browser(client)
    await login(web, email_of("buyer_admin"))
    page = await web.get("/app/")
    script = await web.get("/app/static/htmx.min.js")
    assert script.status_code == 200 and script.content.startswith(b"var htmx=")
    assert f'integrity="{htmx.sri(script.content)}"' in page.text
    assert 'src="/app/static/htmx.min.js"' in page.text


async def test_logout_ends_the_server_side_session(client: Client, app: Litestar, world: World,
                                                   settings: Settings) -> None:
    web = Browser(client)
    await login(web, email_of("buyer_admin"))
    session_id = web.cookies[SESSION_COOKIE]
    token = csrf_token((await web.get("/app/")).text)
    out = await web.post("/app/deconnexion", data={"_csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/app/connexion?fin=deconnexion"
    assert "Vous êtes déconnecté" in (await web.get(out.headers["location"])).text
    # The same service methods as the API's, so the same audit trail.
    actions = [r["action"] for r in await fetch(settings, "SELECT action FROM audit_event WHERE action LIKE 'auth.%' "
                                                          "ORDER BY id")]
    assert actions == ["auth.login_succeeded", "auth.logout"]
    # The old cookie, replayed by whoever kept it, opens nothing: the Redis entry and the token family are gone.
    thief = Browser(client)
    thief.cookies.set(SESSION_COOKIE, session_id, domain="testserver.local", path="/app")
    assert (await thief.get("/app/")).status_code == 303
    redis = Redis.from_url(settings.redis_url)
    try:
        assert not [k for k in await redis.keys("marketplace-web-session*") if k.decode().endswith(session_id)]
    finally:
        await redis.aclose()


async def test_a_session_expires_after_its_lifetime(client: Client, app: Litestar, world: World,
                                                    clock: FrozenClock) -> None:
    web = Browser(client)
    await login(web, email_of("buyer_admin"))
    assert (await web.get("/app/")).status_code == 200
    clock.advance(timedelta(seconds=MAX_LIFETIME + 1))
    expired = await web.get("/app/")
    assert expired.status_code == 303 and "fin=expiree" in expired.headers["location"]
    assert "Votre session a expiré" in (await web.get(expired.headers["location"])).text


async def test_a_deactivated_user_loses_the_session_at_once(client: Client, app: Litestar, world: World) -> None:
    web = Browser(client)
    await login(web, email_of("holder_member"))
    assert (await web.get("/app/")).status_code == 200
    holder = world.organisations["holder"]
    expect(await client.post(f"/organisations/{holder}/members/{world['holder_member'].user_id}/deactivate",
                             headers=world["holder_admin"].headers), 204)
    assert (await web.get("/app/")).status_code == 303


async def test_the_work_queue_counts_what_waits_for_the_buyer_and_nothing_of_others(
        client: Client, app: Litestar, world: World, clock: FrozenClock) -> None:
    # The buyer's DPS (published, in its initial window): three requests submitted by two vendors.
    dps = await create_dps(client, world, clock)
    expect(await publish(client, world, clock, dps["id"]), 200)
    categories = list(categories_by_pair(dps).values())
    for person, category in (("vendor_admin", categories[0]), ("vendor_admin", categories[1]),
                             ("other_vendor_admin", categories[0])):
        request = await apply(client, world[person], category)
        await upload_all(client, world[person], request["id"], f"{person} {category}")
        expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world[person].headers), 200)
    # Another buying organisation's DPS, with a request of its own: never on this buyer's page.
    other = expect(await client.post("/dps", headers=world["other_buyer_admin"].headers,
                                     json={**_dps_body(clock), "title": "SAD du groupement régional"}), 201)
    expect(await client.post(f"/dps/{other['id']}/publish", headers=world["other_buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    third = await apply(client, world["third_vendor_admin"], other["categories"][0]["id"])
    await upload_all(client, world["third_vendor_admin"], third["id"], "third")
    expect(await client.post(f"/admission-requests/{third['id']}/submit",
                             headers=world["third_vendor_admin"].headers), 200)

    web = Browser(client)
    await login(web, email_of("buyer_admin"))
    page = (await web.get("/app/")).text
    assert _count(page, "compte-admissions") == 3 and _count(page, "compte-retard") == 0
    assert dps["title"] in page and "SAD du groupement régional" not in page
    # D6: past the evaluation period the requests are overdue (the session ended meanwhile: 12 h at most).
    queue = expect(await client.get(f"/dps/{dps['id']}/admission-queue", headers=world["buyer_admin"].headers), 200)
    clock.advance(max(datetime.fromisoformat(r["dueAt"]) for r in queue) - clock.now() + timedelta(minutes=1))
    assert (await web.get("/app/")).status_code == 303
    await login(web, email_of("buyer_admin"))
    page = (await web.get("/app/")).text
    assert _count(page, "compte-admissions") == 3 and _count(page, "compte-retard") == 3
    web = Browser(client)
    await login(web, email_of("other_buyer_admin"))
    page = (await web.get("/app/")).text
    assert _count(page, "compte-admissions") == 1 and dps["title"] not in page
    web = Browser(client)
    await login(web, email_of("vendor_admin"))  # a vendor runs no DPS: nothing to decide
    page = (await web.get("/app/")).text
    assert _count(page, "compte-admissions") == 0 and dps["title"] not in page


def _dps_body(clock: FrozenClock) -> dict[str, object]:
    from tests.vendors.api import dps_body

    return dps_body(clock.now())


@pytest.mark.usefixtures("cpv")
async def test_the_work_queue_lists_the_buying_sides_contracts_closing_within_seven_days(
        client: Client, app: Litestar, world: World, clock: FrozenClock) -> None:
    from tests.tenders.test_publication import admit, publish, submitted_need
    from tests.vendors.api import open_dps

    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    await admit(client, world, world["vendor_admin"], category)
    need = await submitted_need(client, world)
    deadline = clock.now() + timedelta(days=12)
    contract = expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)

    async def closing(person: str) -> tuple[int, str]:
        web = Browser(client)
        await login(web, email_of(person))
        page = (await web.get("/app/")).text
        return _count(page, "compte-clotures"), page

    count, page = await closing("buyer_admin")
    assert count == 0  # 12 days ahead: not yet
    clock.advance(timedelta(days=6))
    count, page = await closing("buyer_admin")
    assert count == 1 and contract["title"] in page and contract["tenderDeadlineParis"] in page
    # The buying side only: another buying organisation's admin, and the vendor invited, see none of it.
    for person in ("other_buyer_admin", "vendor_admin"):
        count, page = await closing(person)
        assert count == 0 and contract["title"] not in page
    clock.advance(deadline - clock.now())  # at the deadline it is closed for offers (HC6): no longer listed
    count, _ = await closing("buyer_admin")
    assert count == 0
