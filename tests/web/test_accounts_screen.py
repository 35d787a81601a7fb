"""The back-office's organisations, members and API keys screens (marketplace/web/accounts.py) over HTTP, in process:
what an organisation's admin sees and does, read back through the API; the secret of an API key shown once."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.vendors.api import expect
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]
HOLDER = "Association Les Tilleuls"
OTHER_HOLDER = "Fondation Bellevue"
_SECRET = re.compile(r'id="f-secret"[^>]*value="(mpk_[^"]+)"')


async def _signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


async def _act(web: Browser, page: str, action: str, **fields: Any) -> Any:
    token = csrf_token((await web.get(page)).text)
    return await web.post(action, data={"_csrf_token": token, **fields})


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r'<th scope="row"><a href="/app/organisations/[^"]+">([^<]+)</a>', body)


async def _audit(client: Client, world: World, action: str) -> list[dict[str, Any]]:
    page = expect(await client.get("/audit-events", headers=world["holder_admin"].headers,
                                   params={"action": action, "limit": 50}), 200)
    return page["items"]  # type: ignore[no-any-return]


async def test_an_admin_sees_its_own_organisation_and_not_another(client: Client, world: World) -> None:
    holder, other = world.organisations["holder"], world.organisations["other_holder"]
    web = await _signed_in(client, "holder_admin")
    listed = await web.get("/app/organisations")
    assert listed.status_code == 200, listed.text
    assert _rows(listed.text) == [HOLDER]
    members = expect(await client.get(f"/organisations/{holder}/members", headers=world["holder_admin"].headers), 200)
    assert re.search(rf"<td>{len(members)}</td>\s*</tr>", listed.text)  # the active members' count
    assert "77567227200017" in listed.text and "750712184" in listed.text  # SIRET, FINESS EJ

    page = await web.get(f"/app/organisations/{holder}")
    assert page.status_code == 200
    for member in members:
        assert member["email"] in page.text
    assert "Holder Member" in page.text and "(holder:member)" in page.text
    foreign = await web.get(f"/app/organisations/{other}")
    assert foreign.status_code == 404 and OTHER_HOLDER not in foreign.text
    refused = await _act(web, f"/app/organisations/{holder}", f"/app/organisations/{other}/cles-api",
                         name="Intrus", roles="holder:member")
    assert refused.status_code == 404

    # A plain member administers nothing: an empty list, and its organisation's file is refused by role.
    member = await _signed_in(client, "holder_member")
    assert _rows((await member.get("/app/organisations")).text) == []
    assert (await member.get(f"/app/organisations/{holder}")).status_code == 403


async def test_platform_admin_lists_every_organisation_with_filters_and_export(client: Client, world: World) -> None:
    web = await _signed_in(client, "platform_admin")
    everything = _rows((await web.get("/app/organisations", params={"taille": 100})).text)
    assert HOLDER in everything and OTHER_HOLDER in everything and len(everything) == len(world.organisations)
    vendors = _rows((await web.get("/app/organisations", params={"type": "vendor"})).text)
    assert sorted(vendors) == sorted(["Logiciels Médico-Sociaux SAS", "Éditions Santé Numérique",
                                      "Atelier Logiciel Domicile SARL"])
    assert _rows((await web.get("/app/organisations", params={"q": "tilleuls"})).text) == [HOLDER]
    assert _rows((await web.get("/app/organisations", params={"q": "970100"})).text) == [OTHER_HOLDER]  # FINESS
    first = await web.get("/app/organisations", params={"taille": 25})
    assert "page 1 sur 1" in first.text
    paged = await web.get("/app/organisations", params={"type": "vendor", "taille": 2, "page": 2})
    assert len(_rows(paged.text)) == 1 and "page 2 sur 2" in paged.text
    assert 'href="/app/organisations?type=vendor&amp;taille=2" rel="prev"' in paged.text  # the filter is kept

    export = await web.get("/app/organisations/export.csv", params={"type": "holder"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Identifiant", "Nom", "Type"]
    assert sorted(r[1] for r in rows[1:]) == [HOLDER, OTHER_HOLDER]
    assert (await web.get("/app/organisations", params={"type": "nope"})).status_code == 400


async def test_members_are_managed_through_the_forms(client: Client, world: World) -> None:
    holder = world.organisations["holder"]
    page = f"/app/organisations/{holder}"
    api = world["holder_admin"].headers
    web = await _signed_in(client, "holder_admin")

    invited = await _act(web, page, f"{page}/invitations", email="nouvelle.collegue@example.fr",
                         roles=["holder:member", "holder:evaluator"])
    assert invited.status_code == 303 and invited.headers["location"] == page
    shown = await web.get(page)
    assert "Invitation envoyée à nouvelle.collegue@example.fr" in shown.text
    pending = shown.text.split('id="titre-invitations"', 1)[1].split("</table>", 1)[0]
    assert "nouvelle.collegue@example.fr" in pending and "évaluateur" in pending
    assert [e["details"]["roles"] for e in await _audit(client, world, "member.invited")] == \
        [["holder:evaluator", "holder:member"]]

    member_id = world["holder_member"].user_id
    changed = await _act(web, page, f"{page}/membres/{member_id}/roles", roles=["holder:member", "holder:opener"])
    assert changed.status_code == 303
    members = expect(await client.get(f"/organisations/{holder}/members", headers=api), 200)
    assert next(m for m in members if m["userId"] == str(member_id))["roles"] == ["holder:member", "holder:opener"]
    assert any(e["targetId"] == str(member_id) for e in await _audit(client, world, "member.roles_changed"))

    # Refusals are the service's, shown with their status and field: no role; a role of another kind; oneself.
    none = await _act(web, page, f"{page}/membres/{member_id}/roles")
    assert none.status_code == 422 and "roles" in none.text
    foreign_role = await _act(web, page, f"{page}/membres/{member_id}/roles", roles="vendor:admin")
    assert foreign_role.status_code == 422 and "vendor:admin" in foreign_role.text
    myself = await _act(web, page, f"{page}/membres/{world['holder_admin'].user_id}/desactivation")
    assert myself.status_code == 422 and "userId" in myself.text

    evaluator_id = world["holder_evaluator"].user_id
    removed = await _act(web, page, f"{page}/membres/{evaluator_id}/desactivation")
    assert removed.status_code == 303
    members = expect(await client.get(f"/organisations/{holder}/members", headers=api), 200)
    assert next(m for m in members if m["userId"] == str(evaluator_id))["isActive"] is False
    assert (await client.get("/auth/me", headers=world["holder_evaluator"].headers)).status_code == 401
    assert [e["targetId"] for e in await _audit(client, world, "user.deactivated")] == [str(evaluator_id)]
    assert "désactivé" in (await web.get(page)).text


async def test_an_api_key_secret_is_shown_once_and_the_key_works_until_revoked(client: Client, world: World) -> None:
    holder = world.organisations["holder"]
    page = f"/app/organisations/{holder}"
    web = await _signed_in(client, "holder_admin")

    created = await _act(web, page, f"{page}/cles-api", name="Connecteur GED", roles="holder:member")
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    match = _SECRET.search(created.text)
    assert match, created.text[:2000]
    secret = match.group(1)
    assert "elle ne sera plus jamais affichée" in created.text
    keys = expect(await client.get(f"/organisations/{holder}/api-keys", headers=world["holder_admin"].headers), 200)
    (key,) = keys
    assert key["name"] == "Connecteur GED" and secret.startswith(key["prefix"] + ".")

    again = await web.get(page)
    assert secret not in again.text and secret.split(".", 1)[1] not in again.text
    assert f"{key['prefix']}…" in again.text and "Connecteur GED" in again.text

    bearer = {"Authorization": f"Bearer {secret}"}
    me = expect(await client.get("/auth/me", headers=bearer), 200)
    assert me["apiKeyId"] == key["id"]
    assert [e["targetId"] for e in await _audit(client, world, "api_key.created")] == [key["id"]]

    revoked = await _act(web, page, f"{page}/cles-api/{key['id']}/revocation")
    assert revoked.status_code == 303
    assert (await client.get("/auth/me", headers=bearer)).status_code == 401
    after = await web.get(page)
    assert "est révoquée : elle est refusée" in after.text and "révoquée</span> le" in after.text
    assert [e["targetId"] for e in await _audit(client, world, "api_key.revoked")] == [key["id"]]

    # Platform administration is never delegated to a key: the service's refusal, named.
    refused = await _act(web, page, f"{page}/cles-api", name="Trop puissante", roles="platform:admin")
    assert refused.status_code == 422 and "roles" in refused.text


async def test_a_plain_member_is_refused_every_act(client: Client, world: World) -> None:
    holder = world.organisations["holder"]
    page = f"/app/organisations/{holder}"
    admin = await _signed_in(client, "holder_admin")
    await _act(admin, page, f"{page}/cles-api", name="Clé existante", roles="holder:member")
    (key,) = expect(await client.get(f"/organisations/{holder}/api-keys", headers=world["holder_admin"].headers), 200)

    web = await _signed_in(client, "holder_member")
    token = csrf_token((await web.get("/app/compte")).text)
    target = world["holder_evaluator"].user_id
    for action, fields in ((f"{page}/invitations", {"email": "x@example.fr", "roles": "holder:member"}),
                           (f"{page}/membres/{target}/roles", {"roles": "holder:admin"}),
                           (f"{page}/membres/{target}/desactivation", {}),
                           (f"{page}/cles-api", {"name": "Clé", "roles": "holder:member"}),
                           (f"{page}/cles-api/{key['id']}/revocation", {})):
        refused = await web.post(action, data={"_csrf_token": token, **fields})
        assert refused.status_code == 403, (action, refused.status_code)
        assert "Accès refusé" in refused.text
    keys = expect(await client.get(f"/organisations/{holder}/api-keys", headers=world["holder_admin"].headers), 200)
    assert [k["revokedAt"] for k in keys] == [None]
    assert await _audit(client, world, "member.invited") == []


async def test_my_account_shows_my_memberships_and_roles(client: Client, world: World) -> None:
    web = await _signed_in(client, "holder_admin")
    page = await web.get("/app/compte")
    assert page.status_code == 200
    assert "Holder Admin" in page.text and email_of("holder_admin") in page.text
    assert HOLDER in page.text and "(holder:admin)" in page.text and "(holder:project_lead)" in page.text
    assert f'href="/app/organisations/{world.organisations["holder"]}"' in page.text
    member = await (await _signed_in(client, "holder_member")).get("/app/compte")
    assert HOLDER in member.text and "(holder:member)" in member.text
    assert f'href="/app/organisations/{world.organisations["holder"]}"' not in member.text
