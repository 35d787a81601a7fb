"""DECP 2.0.3 (domain.md §4): the 40,000 € HT threshold (39,999.99 € not published, 40,000 € published), the
two-month deadline computed from the notification's Paris date, and the deadline driving a work-queue item and a
notification to the buying side before it passes, when the portal could not take the record."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock
from marketplace.opendata.decp import add_months, deadline_instant, due_on
from marketplace.opendata.jobs import sequence_feed
from marketplace.settings import Settings
from tests.opendata.conftest import Jobs, RecordingPortal
from tests.opendata.schemas import decp_errors
from tests.opendata.test_ocds import VENDORS, award, procedure, signed_contract
from tests.vendors.api import Client, expect, fetch
from tests.web.pages import Browser, login
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")


def test_two_months_after_the_notification_date_in_paris() -> None:
    assert add_months(date(2026, 1, 15), 2) == date(2026, 3, 15)
    assert add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)
    assert add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 2) == date(2027, 1, 30)
    # 31 March 23:30 UTC is 1 April in Paris (summer time): due 1 June, until the end of that day in Paris.
    notified = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert due_on(notified) == date(2026, 6, 1)
    assert deadline_instant(date(2026, 6, 1)) == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    # Winter time: 17 February 08:00 UTC is 09:00 in Paris, due 17 April.
    assert due_on(datetime(2026, 2, 17, 8, 0, tzinfo=UTC)) == date(2026, 4, 17)


async def _notified_contract(client: Client, world: World, clock: FrozenClock, amount_cents: int) -> str:
    _, cid, offers = await procedure(client, world, clock, {p: secrets.token_hex(8) for p in VENDORS})
    await award(client, world, clock, cid, offers)
    return await signed_contract(client, world, cid, amount_cents)


@pytest.mark.parametrize(("amount_cents", "published"), [(3_999_999, False), (4_000_000, True)])
async def test_only_contracts_of_at_least_40000_euros_are_published(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs, portal: RecordingPortal,
        amount_cents: int, published: bool) -> None:
    kid = await _notified_contract(client, world, clock, amount_cents)
    _, count = await jobs.run()
    marches = expect(await client.get("/decp/marches"), 200)["marches"]["marche"]
    obligations = await fetch(settings, "SELECT due_on, published_at FROM decp_obligation")
    if not published:
        assert (count, marches, portal.sent, obligations) == (0, [], [], [])
        return
    assert count == 1 and len(marches) == 1 and len(portal.sent) == 1
    assert decp_errors({"marches": {"marche": marches}}) == []
    assert marches[0]["montant"] == 40000
    assert marches[0]["dateNotification"] == "2026-02-17" and marches[0]["datePublicationDonnees"] == "2026-02-17"
    assert len(marches[0]["id"]) <= 16 and kid.replace("-", "")[-12:] in marches[0]["id"]
    assert obligations[0]["due_on"] == date(2026, 4, 17) and obligations[0]["published_at"] is not None


async def queue_tile(client: Client, person: str) -> int | None:
    web = Browser(client)
    await login(web, email_of(person))
    answer = await web.get("/app/")
    assert answer.status_code == 200
    found = re.search(r'id="compte-decp">(\d+)<', answer.text)
    return int(found.group(1)) if found else None


async def test_the_deadline_drives_a_queue_item_and_a_reminder_before_it_passes(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs,
        portal: RecordingPortal) -> None:
    kid = await _notified_contract(client, world, clock, 6_000_000)
    # The portal can't be reached: the record stays owed, its deadline runs.
    portal.failing = True
    assert (await jobs.run())[1] == 0
    rows = await fetch(settings, "SELECT due_on, published_at, reminded_at FROM decp_obligation")
    assert [(r["due_on"], r["published_at"], r["reminded_at"]) for r in rows] == [(date(2026, 4, 17), None, None)]
    assert expect(await client.get("/decp/marches"), 200)["marches"]["marche"] == []
    # The work queue shows it to the buying side's admin, to no one else.
    assert await queue_tile(client, "buyer_admin") == 1
    assert await queue_tile(client, "other_buyer_admin") is None
    assert await queue_tile(client, "vendor_admin") is None

    async def reminders() -> list[str]:
        return [r["recipient_email"] for r in await fetch(
            settings, "SELECT recipient_email FROM notification WHERE kind = 'decp.deadline' AND about_id::text = $1",
            kid)]

    # Fifteen days before the deadline: not yet. Fourteen: the buying side's admins are told, once.
    clock.set(datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    await jobs.run()
    assert await reminders() == []
    clock.set(datetime(2026, 4, 3, 8, 0, tzinfo=UTC))
    await jobs.run()
    assert await reminders() == [email_of("buyer_admin")]
    body = (await fetch(settings, "SELECT body FROM notification WHERE kind = 'decp.deadline'"))[0]["body"]
    assert "17/04/2026" in body
    await jobs.run()
    assert await reminders() == [email_of("buyer_admin")]
    # The portal back: published before the deadline, the queue item gone.
    portal.failing = False
    assert (await jobs.run())[1] == 1
    assert len(expect(await client.get("/decp/marches"), 200)["marches"]["marche"]) == 1
    assert await queue_tile(client, "buyer_admin") is None
    published = await fetch(settings, "SELECT published_at, portal_receipt FROM decp_obligation")
    assert published[0]["published_at"] is not None and "res-1" in published[0]["portal_receipt"]


async def test_a_published_record_enters_the_feed_with_its_link(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs) -> None:
    """The feed (opendata/feed.py) lists the DECP record once published, beside the releases of its procedure,
    and its link answers that contract's record only."""
    kid = await _notified_contract(client, world, clock, 4_000_000)
    await jobs.run()
    engine = create_async_engine(settings.database_url)
    try:
        await sequence_feed({"session_maker": async_sessionmaker(engine), "clock": clock, "settings": settings})
    finally:
        await engine.dispose()
    page = expect(await client.get("/feed", params={"limit": 1000}), 200)
    kinds = [item["kind"] for item in page["items"]]
    assert kinds.count("decp.record") == 1 and "ocds.release" in kinds
    assert [item["position"] for item in page["items"]] == list(range(1, len(kinds) + 1))
    record = next(item for item in page["items"] if item["kind"] == "decp.record")
    assert record["subjectKey"] == kid and record["objectId"] == f"{kid}/0"
    link = record["url"].removeprefix(settings.public_base_url.rstrip("/"))
    assert link == f"/decp/marches?contract={kid}"
    marches = expect(await client.get(link), 200)["marches"]["marche"]
    assert len(marches) == 1 and kid.replace("-", "")[-12:] in marches[0]["id"]
    # Nothing sealed reaches the feed: it carries ids and links only, never a document's content.
    assert set(record) == {"position", "id", "kind", "objectId", "subjectKey", "occurredAt", "url"}
