"""GET /specific-contracts/{id}: who may read a contract's notice, and what each sees, with the caller read in the
notice's own statement (`requires(..., caller_in_statement=True)`, tenders/contracts.py `NoticeReader`).

The authentication middleware only checks a token's signature on this route, and the guard lets its claim
through: the reader reads the account, its memberships and its session with the notice and applies the route's
access itself. So every way a caller loses the right to read must still apply on the very next request."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from litestar.security.jwt import Token

from marketplace.accounts.auth import ALGORITHM
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_offers import Client, open_contract
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import PASSWORD, World

pytestmark = pytest.mark.usefixtures("cpv")

INVALID = "The credential is invalid, expired or revoked."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def read(client: Client, contract_id: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = await client.get(f"/specific-contracts/{contract_id}", headers=headers)
    return response.status_code, response.json()


async def test_each_reader_sees_what_its_side_may_see(client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    invited = {world.organisations["vendor"], world.organisations["other_vendor"]}

    status, buyer_view = await read(client, contract["id"], world["buyer_admin"].headers)
    assert status == 200
    assert {uuid.UUID(i["vendorOrganisationId"]) for i in buyer_view["invitations"]} == invited
    assert buyer_view["invitationCount"] == 2 and buyer_view["status"] == "open"
    assert buyer_view == contract | {"status": buyer_view["status"]}, "the read shows what the publication answered"
    # The holder reads its own contract, every invitation included (HC3).
    status, holder_view = await read(client, contract["id"], world["holder_member"].headers)
    assert status == 200 and holder_view["invitationCount"] == 2
    # An invited vendor sees its own invitation only; one of another category is not told the contract exists.
    status, vendor_view = await read(client, contract["id"], world["vendor_member"].headers)
    assert status == 200
    assert [i["vendorOrganisationId"] for i in vendor_view["invitations"]] == [str(world.organisations["vendor"])]
    assert vendor_view["invitationCount"] == 1
    assert (await read(client, contract["id"], world["third_vendor_admin"].headers))[0] == 404
    # Another holder's member holds a role of the route's audience, not this contract: 404 as for a vendor.
    assert (await read(client, contract["id"], world["other_holder_member"].headers))[0] == 404
    # A funder holds none of the route's roles: refused by the route's access, as the guard refuses elsewhere.
    status, refused = await read(client, contract["id"], world["funder_admin"].headers)
    assert status == 403 and refused["detail"] == "Your roles do not allow this."
    # No contract with this id, and no credential at all.
    assert (await read(client, str(uuid.uuid4()), world["buyer_admin"].headers))[0] == 404
    assert (await client.get(f"/specific-contracts/{contract['id']}")).status_code == 401


async def test_a_role_withdrawn_applies_on_the_next_read(client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    evaluator = world["buyer_evaluator"]
    assert (await read(client, contract["id"], evaluator.headers))[0] == 200
    changed = await client.patch(f"/organisations/{world.organisations['buyer']}/members/{evaluator.user_id}",
                                 json={"roles": ["buyer:opener"]}, headers=world["buyer_admin"].headers)
    assert changed.status_code == 200, changed.text
    # The same token, whose signature was verified and kept: the roles are read again with the notice.
    status, body = await read(client, contract["id"], evaluator.headers)
    assert status == 403 and body["detail"] == "Your roles do not allow this."


async def test_deactivation_and_logout_apply_on_the_next_read(client: Client, world: World,
                                                              clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    # A session's access token names its refresh family: logging out ends it at once.
    pair = (await client.post("/auth/login", json={"email": world["vendor_admin"].email,
                                                   "password": PASSWORD})).json()
    assert (await read(client, contract["id"], bearer(pair["accessToken"])))[0] == 200
    out = await client.post("/auth/logout", json={"refreshToken": pair["refreshToken"]},
                            headers=bearer(pair["accessToken"]))
    assert out.status_code == 204
    response = await client.get(f"/specific-contracts/{contract['id']}", headers=bearer(pair["accessToken"]))
    assert response.status_code == 401 and response.json()["detail"] == INVALID
    assert response.headers["www-authenticate"] == "Bearer"

    member = world["holder_member"]
    assert (await read(client, contract["id"], member.headers))[0] == 200
    deactivated = await client.post(
        f"/organisations/{world.organisations['holder']}/members/{member.user_id}/deactivate",
        headers=world["holder_admin"].headers)
    assert deactivated.status_code == 204, deactivated.text
    status, body = await read(client, contract["id"], member.headers)
    assert status == 401 and body["detail"] == INVALID


async def test_an_expired_token_is_refused_though_its_signature_was_kept(client: Client, world: World,
                                                                        clock: FrozenClock,
                                                                        settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    # JWT expiry is read on the wall clock (the JWT library's), so the token is signed to expire in 2 s of it.
    issued = datetime.now(UTC)  # nosemgrep: wall-clock-outside-clock  # the JWT library's clock
    expires = issued + timedelta(seconds=2)
    token = Token(sub=str(world["buyer_admin"].user_id), exp=expires, iat=issued,
                  jti=uuid.uuid4().hex).encode(settings.secret_key, ALGORITHM)
    assert (await read(client, contract["id"], bearer(token)))[0] == 200
    left = expires.timestamp() - time.time()  # nosemgrep: wall-clock-outside-clock  # the JWT library's clock
    await asyncio.sleep(max(0.0, left) + 0.05)
    status, body = await read(client, contract["id"], bearer(token))
    assert status == 401 and body["detail"] == INVALID
    # A token whose signature does not match is refused, and so is it the second time.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await read(client, contract["id"], bearer(forged)))[0] == 401
    assert (await read(client, contract["id"], bearer(forged)))[0] == 401


async def test_an_api_key_reads_through_its_own_principal(client: Client, world: World, clock: FrozenClock) -> None:
    """An API key's read stamps its last use, so it is read apart (the notice alone in the handler's statement),
    and its roles are the key's, not its creator's."""
    contract = await open_contract(client, world, clock)
    org = world.organisations["vendor"]
    created = await client.post(f"/organisations/{org}/api-keys", headers=world["vendor_admin"].headers,
                                json={"name": "ERP connector", "roles": ["vendor:bid_manager"]})
    assert created.status_code == 201, created.text
    as_key = bearer(created.json()["key"])
    status, view = await read(client, contract["id"], as_key)
    assert status == 200 and view["invitationCount"] == 1
    revoked = await client.delete(f"/organisations/{org}/api-keys/{created.json()['id']}",
                                  headers=world["vendor_admin"].headers)
    assert revoked.status_code == 204
    assert (await read(client, contract["id"], as_key))[0] == 401

    # A key whose role is outside the route's audience is refused, though its creator reads the contract.
    buyer = world.organisations["buyer"]
    opener = await client.post(f"/organisations/{buyer}/api-keys", headers=world["buyer_admin"].headers,
                               json={"name": "Coffre", "roles": ["buyer:opener"]})
    assert opener.status_code == 201, opener.text
    assert (await read(client, contract["id"], world["buyer_admin"].headers))[0] == 200
    status, body = await read(client, contract["id"], bearer(opener.json()["key"]))
    assert status == 403 and body["detail"] == "Your roles do not allow this."
