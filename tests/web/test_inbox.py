"""Everyone's inbox (marketplace/web/inbox.py) over HTTP, in process: a notification sent by a real act appears in
its recipient's inbox and in the header's unread count on every page; marking read drops the count (read back
through the API); nobody else sees it or marks it (404)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from markupsafe import escape

from marketplace.accounts.roles import OrganisationKind
from marketplace.accounts.schemas import MembershipView
from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.notifications.models import EmailStatus
from marketplace.notifications.schemas import InboxNotification
from marketplace.web.inbox import object_link
from marketplace.web.pages import PageViewer
from tests.vendors.api import apply, categories_by_pair, expect, open_dps, upload_all
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]
_COUNT = re.compile(r'id="inbox-count">Notifications \((\d+)<span class="visually-hidden"> non lues</span>\)</a>')


async def _signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def _count(html: str) -> int:
    match = _COUNT.search(html)
    assert match, "no unread count in the header"
    return int(match.group(1))


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr(?: class=\"inbox-unread\")?>(.*?)</tr>", body, re.S)


async def _submitted_request(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """A vendor submits an admission request: the buyer's DPS writers are told (vendors/admissions.py)."""
    dps = await open_dps(client, world, clock)
    category = next(iter(categories_by_pair(dps).values()))
    request = await apply(client, world["vendor_admin"], category)
    await upload_all(client, world["vendor_admin"], request["id"], "inbox")
    expect(await client.post(f"/admission-requests/{request['id']}/submit",
                             headers=world["vendor_admin"].headers), 200)
    return request


async def _inbox(client: Client, world: World, person: str, **params: Any) -> dict[str, Any]:
    return expect(await client.get("/my/notifications", headers=world[person].headers, params=params), 200)  # type: ignore[no-any-return]


async def test_a_notification_is_in_its_recipients_inbox_and_header_until_read(
        client: Client, world: World, clock: FrozenClock) -> None:
    request = await _submitted_request(client, world, clock)
    [sent] = (await _inbox(client, world, "buyer_admin"))["items"]
    assert sent["kind"] == "admission.submitted" and sent["aboutId"] == request["id"] and not sent["read"]

    buyer = await _signed_in(client, "buyer_admin")
    queue = await buyer.get("/app/")
    assert queue.status_code == 200 and _count(queue.text) == 1  # every page's header

    page = await buyer.get("/app/notifications")
    assert page.status_code == 200, page.text
    assert _count(page.text) == 1
    [row] = _rows(page.text)
    assert "non lue" in row and str(escape(sent["subject"])) in row
    assert format_paris(datetime.fromisoformat(sent["createdAt"])) in row
    assert f'href="/app/admissions/{request["id"]}"' in row  # the request's page, on the buying side
    assert f'action="/app/notifications/{sent["id"]}/lue"' in row

    # Someone else never sees it, and can't mark it: as absent as a notification that doesn't exist.
    vendor = await _signed_in(client, "vendor_admin")
    theirs = await vendor.get("/app/notifications")
    assert sent["id"] not in theirs.text and str(escape(sent["subject"])) not in theirs.text
    refused = await vendor.post(f"/app/notifications/{sent['id']}/lue",
                                data={"_csrf_token": csrf_token(theirs.text)})
    assert refused.status_code == 404 and "404" in refused.text
    assert (await _inbox(client, world, "buyer_admin"))["unread"] == 1

    done = await buyer.post(f"/app/notifications/{sent['id']}/lue",
                            data={"_csrf_token": csrf_token(page.text), "filtre": "non-lues", "taille": "25"})
    assert done.status_code == 303 and done.headers["location"] == "/app/notifications?filtre=non-lues"
    after = await buyer.get(done.headers["location"])
    assert "Notification marquée comme lue." in after.text
    assert _count(after.text) == 0 and "Aucune notification non lue." in after.text
    mine = await _inbox(client, world, "buyer_admin")
    assert mine["unread"] == 0 and mine["items"][0]["read"] is True and mine["items"][0]["readAt"]
    [row] = _rows((await buyer.get("/app/notifications?filtre=toutes")).text)
    assert "non lue" not in row and "lue le" in row


async def test_filters_pages_and_marks_all_read(client: Client, world: World) -> None:
    holder = world.organisations["holder"]
    for role in ("holder:member", "holder:project_lead", "holder:admin"):  # three invitations to one address
        expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                 json={"email": world["vendor_admin"].email, "roles": [role]}), 201)
    expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                             json={"email": world["other_vendor_admin"].email, "roles": ["holder:member"]}), 201)
    items = (await _inbox(client, world, "vendor_admin"))["items"]
    web = await _signed_in(client, "vendor_admin")

    first = await web.get("/app/notifications?taille=2")
    assert _count(first.text) == 3 and "page 1 sur 2" in first.text
    assert len(_rows(first.text)) == 2 and items[0]["id"] in first.text and items[2]["id"] not in first.text
    assert 'href="/app/notifications?taille=2&amp;page=2"' in first.text
    second = await web.get("/app/notifications?taille=2&page=2")
    assert len(_rows(second.text)) == 1 and items[2]["id"] in second.text
    assert "—" in _rows(second.text)[0]  # an invitation has no page of its own to link to

    assert (await web.get("/app/notifications?filtre=autre")).status_code == 400

    done = await web.post("/app/notifications/lues", data={"_csrf_token": csrf_token(first.text), "filtre": "non-lues",
                                                           "taille": "2"})
    assert done.status_code == 303 and done.headers["location"] == "/app/notifications?filtre=non-lues&taille=2"
    after = await web.get(done.headers["location"])
    assert "3 notification(s) marquée(s) comme lue(s)." in after.text and _count(after.text) == 0
    assert (await _inbox(client, world, "vendor_admin"))["unread"] == 0
    assert (await _inbox(client, world, "other_vendor_admin"))["unread"] == 1  # not touched by my read-all
    assert "Tout marquer comme lu" not in after.text


def test_links_follow_what_the_notification_is_about_and_the_readers_side() -> None:
    about = uuid.uuid4()

    def item(kind: str) -> InboxNotification:
        return InboxNotification(id=uuid.uuid4(), kind=kind, subject="s", body="b", about_id=about,
                                 created_at=datetime.now(UTC), read=False, read_at=None,
                                 delivery_status=EmailStatus.PENDING, emailed_at=None, delivery_attempts=0,
                                 delivery_failure=None)

    def viewer(kind: OrganisationKind) -> PageViewer:
        return PageViewer(id=None, email="a@example.fr", full_name=None, api_key_id=None, memberships=[
            MembershipView(organisation_id=uuid.uuid4(), organisation_name="O", kind=kind, roles=[])])

    vendor, buyer = viewer(OrganisationKind.VENDOR), viewer(OrganisationKind.BUYER)
    assert object_link(item("tender.invitation"), vendor) == (f"/app/offres/{about}", "Voir la consultation")
    assert object_link(item("tender.amended"), buyer) == (f"/app/marches/{about}", "Voir le marché spécifique")
    assert object_link(item("admission.submitted"), buyer) == (f"/app/admissions/{about}",
                                                               "Voir la demande d'admission")
    assert object_link(item("accounts.invitation"), buyer) is None
    holder = viewer(OrganisationKind.HOLDER)
    assert object_link(item("funding.selected"), holder) == (f"/app/mes-besoins/{about}", "Voir le besoin")
    assert object_link(item("funding.selected"), vendor) is None
