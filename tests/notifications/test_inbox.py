"""The in-app inbox (README, "Notifications"): my notifications, newest first, paginated, with read state and
delivery status; the unread count; marking one or all read. Nobody reads another person's inbox."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.vendors.api import expect
from tests.world import World

Client = AsyncTestClient[Litestar]


async def _invite(client: Client, world: World, person: str, role: str) -> str:
    holder = world.organisations["holder"]
    invitation = expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                          json={"email": world[person].email.upper(), "roles": [role]}), 201)
    return str(invitation["id"])


async def test_my_inbox_lists_newest_first_counts_unread_and_marks_read(
        client: Client, world: World, settings: Settings) -> None:
    about = [await _invite(client, world, "vendor_admin", role)
             for role in ("holder:member", "holder:project_lead", "holder:admin")]
    await _invite(client, world, "other_vendor_admin", "holder:member")  # someone else's
    me = world["vendor_admin"].headers

    inbox = expect(await client.get("/my/notifications", headers=me), 200)
    assert inbox["total"] == 3 and inbox["unread"] == 3
    assert [i["aboutId"] for i in inbox["items"]] == about[::-1]  # newest first
    first = inbox["items"][0]
    assert first["kind"] == "accounts.invitation" and "rejoindre" in first["subject"]
    assert first["read"] is False and first["readAt"] is None
    # No SMTP job has run: the mail is still on its way, and the inbox says so.
    assert first["deliveryStatus"] == "pending" and first["deliveryAttempts"] == 0

    page = expect(await client.get("/my/notifications", params={"limit": 2, "offset": 1}, headers=me), 200)
    assert [i["aboutId"] for i in page["items"]] == about[1::-1]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert (await client.get("/my/notifications", params={"limit": 0}, headers=me)).status_code == 400

    read = expect(await client.post(f"/my/notifications/{first['id']}/read", headers=me), 200)
    assert read["read"] is True and read["readAt"]
    again = expect(await client.post(f"/my/notifications/{first['id']}/read", headers=me), 200)
    assert again["readAt"] == read["readAt"]  # the first reading is kept
    assert expect(await client.get("/my/notifications/unread-count", headers=me), 200) == {"unread": 2}
    unread = expect(await client.get("/my/notifications", params={"unread": "true"}, headers=me), 200)
    assert [i["aboutId"] for i in unread["items"]] == about[1::-1]

    assert expect(await client.post("/my/notifications/read-all", headers=me), 200) == {"marked": 2}
    assert expect(await client.get("/my/notifications/unread-count", headers=me), 200) == {"unread": 0}
    assert expect(await client.post("/my/notifications/read-all", headers=me), 200) == {"marked": 0}
    # The other person's notification was not touched by my read-all.
    other = world["other_vendor_admin"].headers
    assert expect(await client.get("/my/notifications/unread-count", headers=other), 200) == {"unread": 1}


async def test_nobody_reads_or_marks_another_persons_notification(client: Client, world: World) -> None:
    await _invite(client, world, "vendor_admin", "holder:member")
    [mine] = expect(await client.get("/my/notifications", headers=world["vendor_admin"].headers), 200)["items"]
    for person in ("other_vendor_admin", "platform_admin", "holder_admin"):
        response = await client.post(f"/my/notifications/{mine['id']}/read", headers=world[person].headers)
        assert response.status_code == 404, person
        assert expect(await client.get("/my/notifications", headers=world[person].headers), 200)["total"] == 0
    assert (await client.get("/my/notifications")).status_code == 401
    assert expect(await client.get("/my/notifications/unread-count",
                                   headers=world["vendor_admin"].headers), 200) == {"unread": 1}


async def test_an_api_key_has_no_inbox(client: Client, world: World) -> None:
    holder = world.organisations["holder"]
    key = expect(await client.post(f"/organisations/{holder}/api-keys", headers=world["holder_admin"].headers,
                                   json={"name": "Connecteur", "roles": ["holder:member"]}), 201)
    response = await client.get("/my/notifications", headers={"Authorization": f"Bearer {key['key']}"})
    assert response.status_code == 403
