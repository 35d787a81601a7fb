"""Organisations, facilities, grappes, invitations and roles through the API."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.devstack.smtp import MailSink
from marketplace.settings import Settings
from tests.world import World


def _org(kind: str, name: str, **fields: object) -> dict[str, object]:
    return {"kind": kind, "name": name, **fields}


@pytest.mark.parametrize(("payload", "field", "reason"), [
    (_org("vendor", "Bad checksum", siret="73282932000075"), "siret", "check digit"),
    (_org("vendor", "Too short", siret="7328293200007"), "siret", "14 digits"),
    (_org("vendor", "Letters", siret="7328293200007A"), "siret", "only digits"),
    (_org("vendor", "SIREN mismatch", siret="73282932000074", siren="552081317"), "siren", "not the SIREN"),
    (_org("buyer", "SIREN checksum", siret="55208131766522", siren="552081318"), "siren", "check digit"),
    (_org("holder", "Bad FINESS", siret="78467169500087", finessEj="750712185"), "finessEj", "check"),
    (_org("holder", "FINESS length", siret="78467169500087", finessEj="75071218"), "finessEj", "9 characters"),
    (_org("holder", "FINESS letters", siret="78467169500087", finessEj="75O712184"), "finessEj", "character"),
    (_org("holder", "No FINESS", siret="78467169500087"), "finessEj", "FINESS EJ"),
    (_org("vendor", "No SIRET"), "siret", "SIRET"),
])
async def test_invalid_identifiers_are_422_naming_the_field(client: AsyncTestClient[Litestar], world: World,
                                                           payload: dict[str, object], field: str,
                                                           reason: str) -> None:
    response = await client.post("/organisations", json=payload, headers=world["platform_admin"].headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field
    assert reason.lower() in problem["detail"].lower(), problem["detail"]
    assert field in problem["detail"].split(":")[0]


@pytest.mark.parametrize("payload", [
    _org("vendor", "La Poste (établissement)", siret="35600000049837"),
    _org("vendor", "La Poste (siège)", siret="356 000 000 00048"),
    _org("holder", "OG corse", siret="78467169500087", finessEj="2A0000012"),
    _org("holder", "OG Guadeloupe", siret="78467169500087", finessEj="970100400"),
])
async def test_special_but_valid_identifiers_are_accepted(client: AsyncTestClient[Litestar], world: World,
                                                          payload: dict[str, object]) -> None:
    # The world already holds 78467169500087 / 970100400: use a fresh database row each time.
    if payload.get("siret") == "78467169500087":
        payload = {**payload, "siret": "44306184100013" if "corse" in str(payload["name"]) else "44306184100039"}
    if payload.get("finessEj") == "970100400":
        payload = {**payload, "finessEj": "970100459"}
    response = await client.post("/organisations", json=payload, headers=world["platform_admin"].headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/organisations/{body['id']}"
    assert body["siret"] == str(payload["siret"]).replace(" ", "")
    assert body["siren"] == body["siret"][:9]


async def test_duplicate_siret_is_409(client: AsyncTestClient[Litestar], world: World) -> None:
    response = await client.post("/organisations", json=_org("vendor", "Copy", siret="44306184100047"),
                                 headers=world["platform_admin"].headers)
    assert response.status_code == 409 and response.json()["field"] == "siret"


async def test_grappe_groups_ogs_under_a_lead(client: AsyncTestClient[Litestar], world: World) -> None:
    ogs = [str(world.organisations["holder"]), str(world.organisations["other_holder"])]
    grappe = await client.post("/organisations", headers=world["platform_admin"].headers, json=_org(
        "holder", "Grappe Sud", isGrappe=True, grappeMemberIds=ogs, leadOrganisationId=ogs[0]))
    assert grappe.status_code == 201, grappe.text
    assert grappe.json()["grappeMemberIds"] == ogs and grappe.json()["leadOrganisationId"] == ogs[0]
    no_lead = await client.post("/organisations", headers=world["platform_admin"].headers, json=_org(
        "holder", "Grappe Nord", isGrappe=True, grappeMemberIds=ogs))
    assert no_lead.status_code == 422 and no_lead.json()["field"] == "leadOrganisationId"
    vendor_in = await client.post("/organisations", headers=world["platform_admin"].headers, json=_org(
        "holder", "Grappe Est", isGrappe=True, leadOrganisationId=ogs[0],
        grappeMemberIds=[ogs[0], str(world.organisations["vendor"])]))
    assert vendor_in.status_code == 422 and vendor_in.json()["field"] == "grappeMemberIds"


async def test_facilities_need_a_valid_finess_et_of_their_own(client: AsyncTestClient[Litestar],
                                                             world: World) -> None:
    org = world.organisations["holder"]
    admin = world["holder_admin"].headers
    bad = await client.post(f"/organisations/{org}/facilities", headers=admin,
                            json={"name": "SSIAD", "finessEt": "750000011"})
    assert bad.status_code == 422 and bad.json()["field"] == "finessEt"
    ej = await client.post(f"/organisations/{org}/facilities", headers=admin,
                           json={"name": "Siège", "finessEt": "750712184"})
    assert ej.status_code == 422 and ej.json()["field"] == "finessEt"
    ok = await client.post(f"/organisations/{org}/facilities", headers=admin,
                           json={"name": "SSIAD Les Tilleuls", "finessEt": "750000028", "categoryCode": "354"})
    assert ok.status_code == 201, ok.text
    listed = await client.get(f"/organisations/{org}/facilities", headers=world["holder_member"].headers)
    assert {f["finessEt"] for f in listed.json()} == {"750000010", "750000028"}


async def test_another_organisations_objects_answer_404(client: AsyncTestClient[Litestar], world: World) -> None:
    org = world.organisations["holder"]
    for path in (f"/organisations/{org}", f"/organisations/{org}/facilities"):
        response = await client.get(path, headers=world["other_holder_admin"].headers)
        assert response.status_code == 404, path
    members = await client.get(f"/organisations/{org}/members", headers=world["vendor_admin"].headers)
    assert members.status_code == 404
    # Inside the organisation, a plain member isn't its admin: that is a 403, existence is no secret.
    assert (await client.get(f"/organisations/{org}/members",
                             headers=world["holder_member"].headers)).status_code == 403


async def test_invitation_by_email_then_roles_change(client: AsyncTestClient[Litestar], world: World,
                                                     mail_sink: MailSink) -> None:
    from tests.lib.test_outbox import _run_worker  # the real worker delivers the e-mail

    org = world.organisations["vendor"]
    admin = world["vendor_admin"].headers
    wrong_role = await client.post(f"/organisations/{org}/invitations", headers=admin,
                                   json={"email": "new.colleague@example.fr", "roles": ["buyer:opener"]})
    assert wrong_role.status_code == 422 and wrong_role.json()["field"] == "roles"
    invited = await client.post(f"/organisations/{org}/invitations", headers=admin,
                                json={"email": "New.Colleague@example.fr", "roles": ["vendor:member"]})
    assert invited.status_code == 201, invited.text

    import asyncio
    for _ in range(50):  # the relay hands the job to arq at commit
        if await _run_worker(client.app.state.settings):
            break
        await asyncio.sleep(0.1)
    [mail] = mail_sink.to("new.colleague@example.fr")
    token = re.search(r"code d'invitation : (\S+)", mail.get_content()).group(1)  # type: ignore[union-attr]

    accepted = await client.post("/invitations/accept",
                                 json={"token": token, "fullName": "Nouvelle Collègue", "password": "x" * 16})
    assert accepted.status_code == 200, accepted.text
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {accepted.json()['accessToken']}"})
    assert me.json()["memberships"][0]["roles"] == ["vendor:member"]
    again = await client.post("/invitations/accept", json={"token": token, "fullName": "X", "password": "y" * 16})
    assert again.status_code == 404

    user_id = me.json()["id"]
    changed = await client.patch(f"/organisations/{org}/members/{user_id}", headers=admin,
                                 json={"roles": ["vendor:bid_manager"]})
    assert changed.status_code == 200 and changed.json()["roles"] == ["vendor:bid_manager"]


async def test_an_invitation_code_does_not_open_an_existing_account(client: AsyncTestClient[Litestar],
                                                                   world: World, settings: Settings) -> None:
    from tests.world import PASSWORD

    invited = await client.post(f"/organisations/{world.organisations['vendor']}/invitations",
                                headers=world["vendor_admin"].headers,
                                json={"email": world["holder_member"].email, "roles": ["vendor:member"]})
    assert invited.status_code == 201
    token = await _invitation_code(settings)
    no_password = await client.post("/invitations/accept", json={"token": token, "fullName": "X"})
    wrong = await client.post("/invitations/accept", json={"token": token, "fullName": "X", "password": "z" * 12})
    assert no_password.status_code == wrong.status_code == 401
    right = await client.post("/invitations/accept", json={"token": token, "fullName": "X", "password": PASSWORD})
    assert right.status_code == 200, right.text


async def test_an_org_admin_removes_a_shared_member_without_closing_the_account(
    client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    from tests.world import PASSWORD

    person = world["holder_member"]
    await client.post(f"/organisations/{world.organisations['other_holder']}/invitations",
                      headers=world["other_holder_admin"].headers,
                      json={"email": person.email, "roles": ["holder:member"]})
    token = await _invitation_code(settings)
    joined = await client.post("/invitations/accept", json={"token": token, "fullName": "X", "password": PASSWORD})
    assert joined.status_code == 200
    removed = await client.post(
        f"/organisations/{world.organisations['other_holder']}/members/{person.user_id}/deactivate",
        headers=world["other_holder_admin"].headers)
    assert removed.status_code == 204
    me = await client.get("/auth/me", headers=person.headers)
    assert me.status_code == 200
    assert [m["organisationId"] for m in me.json()["memberships"]] == [str(world.organisations["holder"])]


async def _invitation_code(settings: Settings) -> str:
    import asyncpg

    from marketplace.app import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        body = await conn.fetchval("SELECT body FROM notification WHERE kind = 'accounts.invitation' "
                                   "ORDER BY created_at DESC LIMIT 1")
    finally:
        await conn.close()
    match = re.search(r"code d'invitation : (\S+)", body)
    assert match
    return match.group(1)
