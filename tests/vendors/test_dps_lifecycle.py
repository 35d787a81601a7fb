"""What time does to a DPS: its validity end (machine (a), D5), a change of validity (§1.1), the initial
window's requests decided after it and before activation (D4, D6), and the D6 alerts to the buyer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.vendors.jobs import alert_admission_due_dates, close_ended_dps
from tests.tenders.test_needs import cpv  # noqa: F401  (a fixture)
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import (
    Client,
    admission_body,
    apply,
    audit_actions,
    categories_by_pair,
    dps_body,
    expect,
    fetch,
    open_dps,
    upload_all,
)
from tests.world import World

VALIDITY = timedelta(days=60)


@asynccontextmanager
async def job_context(settings: Settings, clock: FrozenClock) -> AsyncIterator[dict[str, Any]]:
    """What the worker gives a job (marketplace/worker.py), on the test's clock."""
    engine = create_async_engine(settings.database_url)
    try:
        yield {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": clock}
    finally:
        await engine.dispose()


async def short_dps(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """Active (its window of 31 days over), valid for 60 days from its creation."""
    body = dps_body(clock.now()) | {"validityEnd": (clock.now() + VALIDITY).isoformat()}
    dps = expect(await client.post("/dps", headers=world["buyer_admin"].headers, json=body), 201)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=world["buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    clock.advance(timedelta(days=31))
    return dict(expect(await client.post(f"/dps/{dps['id']}/activate", headers=world["buyer_admin"].headers), 200))


async def notified(settings: Settings, kind: str) -> list[str]:
    rows = await fetch(settings, "SELECT recipient_email FROM notification WHERE kind = $1 ORDER BY recipient_email",
                       kind)
    return [r["recipient_email"] for r in rows]


@pytest.mark.usefixtures("cpv")
async def test_a_dps_ends_at_its_validity_end_and_the_job_closes_it(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    end = clock.now() + VALIDITY
    dps = await short_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    await admit(client, world, world["vendor_admin"], category)
    need = await submitted_need(client, world)
    deadline = (clock.now() + timedelta(days=12)).isoformat()
    contract = expect(await publish(client, world, need["id"], dps["id"], deadline), 201)
    draft = await apply(client, world["other_vendor_admin"], category)
    await upload_all(client, world["other_vendor_admin"], draft["id"], "draft")

    # One microsecond before the end: still active, still receiving requests.
    clock.set(end - timedelta(microseconds=1))
    assert expect(await client.get(f"/dps/{dps['id']}"), 200)["status"] == "active"
    early = await apply(client, world["third_vendor_admin"], category)
    await upload_all(client, world["third_vendor_admin"], early["id"], "early")
    expect(await client.post(f"/admission-requests/{early['id']}/submit", headers=world["third_vendor_admin"].headers),
           200)

    # At the end, before any job: read as terminated, and nothing new is taken (D5, machine (a)).
    clock.set(end)
    assert expect(await client.get(f"/dps/{dps['id']}"), 200)["status"] == "terminated"
    assert [r["status"] for r in await fetch(settings, "SELECT status FROM dps WHERE id = $1",
                                             uuid.UUID(dps["id"]))] == ["active"]
    refused = expect(await client.post("/admission-requests", headers=world["third_vendor_admin"].headers,
                                       json=admission_body(categories_by_pair(dps)["handicap", "saas"])), 409)
    assert refused["rule"] == "D5"
    refused = expect(await client.post(f"/admission-requests/{draft['id']}/submit",
                                       headers=world["other_vendor_admin"].headers), 409)
    assert refused["rule"] == "D5"
    assert expect(await client.post(f"/admission-requests/{early['id']}/admit",
                                    headers=world["buyer_admin"].headers), 409)["rule"] == "D5"

    # The job stores it once: admissions and requests close, their vendors are told; the contract runs on.
    async with job_context(settings, clock) as ctx:
        assert await close_ended_dps(ctx) == 1
        assert await close_ended_dps(ctx) == 0
    assert [r["status"] for r in await fetch(settings, "SELECT status FROM dps WHERE id = $1",
                                             uuid.UUID(dps["id"]))] == ["terminated"]
    assert "dps.terminated" in await audit_actions(settings, dps["id"])
    statuses = await fetch(settings, "SELECT status FROM admission_request WHERE dps_id = $1", uuid.UUID(dps["id"]))
    assert {r["status"] for r in statuses} == {"closed"}
    assert sorted(set(await notified(settings, "admission.closed"))) == sorted(
        {world["vendor_admin"].email, world["other_vendor_admin"].email, world["third_vendor_admin"].email})
    # The procedure under way goes on: its deadline passed, so it reads closed for offers (HC6), and the DPS's end
    # neither cancelled nor moved it (its stored stage is still open, awaiting the opening).
    shown = expect(await client.get(f"/specific-contracts/{contract['id']}", headers=world["buyer_admin"].headers), 200)
    assert shown["status"] == "closed_for_offers"
    assert [r["status"] for r in await fetch(settings, "SELECT status FROM specific_contract WHERE id = $1",
                                             uuid.UUID(contract["id"]))] == ["open"]


@pytest.mark.usefixtures("cpv")
async def test_a_need_is_not_published_on_a_dps_past_its_validity_end(
        client: Client, world: World, clock: FrozenClock) -> None:
    end = clock.now() + VALIDITY
    dps = await short_dps(client, world, clock)
    need = await submitted_need(client, world)
    clock.set(end)
    refused = expect(await publish(client, world, need["id"], dps["id"], (end + timedelta(days=12)).isoformat()), 409)
    assert (refused["rule"], refused["field"]) == ("D5", "dpsId")


@pytest.mark.usefixtures("cpv")
async def test_the_validity_is_changed_with_reasons_audited_and_every_admitted_vendor_is_told(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    await admit(client, world, world["vendor_admin"], category)
    await apply(client, world["other_vendor_admin"], category)  # not admitted: not told
    need = await submitted_need(client, world)
    deadline = clock.now() + timedelta(days=12)
    expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)
    url = f"/dps/{dps['id']}/validity"

    async def change(end: datetime, person: str = "buyer_admin") -> Any:
        return await client.post(url, headers=world[person].headers,
                                 json={"validityEnd": end.isoformat(), "reasons": "Besoins couverts plus tôt."})

    assert (await change(deadline + timedelta(days=1), "buyer_evaluator")).status_code == 403
    assert (await change(deadline + timedelta(days=1), "other_buyer_admin")).status_code == 404
    # Never into the past, nor before the tender deadline of a contract open for offers.
    for too_early in (clock.now() - timedelta(days=1), deadline - timedelta(microseconds=1)):
        refused = expect(await change(too_early), 422)
        assert refused["field"] == "validityEnd"
    old = dps["validityEnd"]
    shortened = expect(await change(deadline + timedelta(days=1)), 200)
    assert shortened["status"] == "active"
    assert datetime.fromisoformat(shortened["validityEnd"]) == deadline + timedelta(days=1)
    assert await notified(settings, "dps.validity_changed") == [world["vendor_admin"].email]
    [row] = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'dps.validity_changed'")
    assert datetime.fromisoformat(old).isoformat() in row["details"]
    assert (deadline + timedelta(days=1)).isoformat() in row["details"]
    extended = expect(await change(deadline + timedelta(days=800)), 200)
    assert datetime.fromisoformat(extended["validityEnd"]) == deadline + timedelta(days=800)
    assert len(await notified(settings, "dps.validity_changed")) == 2


async def test_requests_of_the_initial_window_are_decided_after_it_and_before_activation(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    buyer = world["buyer_admin"].headers
    dps = expect(await client.post("/dps", headers=buyer, json=dps_body(clock.now())), 201)
    window_end = clock.now() + timedelta(days=31)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": window_end.isoformat()}), 200)
    category = categories_by_pair(dps)["grand_age", "saas"]
    request = await apply(client, world["vendor_admin"], category)
    await upload_all(client, world["vendor_admin"], request["id"], "in time")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world["vendor_admin"].headers),
           200)

    # During the window: no decision, no request for documents (D4, D6).
    clock.set(window_end - timedelta(microseconds=1))
    for action, body in (("admit", None), ("reject", {"reasons": "Trop tôt."}),
                         ("request-documents", {"message": "Un Kbis récent."})):
        refused = expect(await client.post(f"/admission-requests/{request['id']}/{action}", headers=buyer,
                                           json=body), 409)
        assert (refused["rule"], refused["field"]) == ("D6", "status")

    # After it: the DPS doesn't become active while a request of the window is undecided.
    clock.set(window_end)
    refused = expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 409)
    assert refused["rule"] == "D6" and refused["undecided"] == 1 and "1 request" in refused["detail"]
    expect(await client.post(f"/admission-requests/{request['id']}/admit", headers=buyer), 200)
    assert expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200)["status"] == "active"


async def test_the_buyers_admins_are_alerted_once_before_and_once_after_an_evaluation_due_date(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)  # Thursday 5 February 2026
    request = await apply(client, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    await upload_all(client, world["vendor_admin"], request["id"], "alerts")
    receipt = expect(await client.post(f"/admission-requests/{request['id']}/submit",
                                       headers=world["vendor_admin"].headers), 200)
    # Due Tue 17 Feb (10 working days, Mon–Sat), end of the Paris day.
    assert datetime.fromisoformat(receipt["dueAt"]) == datetime(2026, 2, 17, 22, 59, 59, 999999, tzinfo=UTC)
    # Documents awaited: the clock runs on (R2162-45), so the alerts still come.
    expect(await client.post(f"/admission-requests/{request['id']}/request-documents",
                             headers=world["buyer_evaluator"].headers, json={"message": "Kbis illisible."}), 200)
    async with job_context(settings, clock) as ctx:
        # Fri 13 Feb: Sat 14, Mon 16, Tue 17 are three working days left: not yet.
        clock.set(datetime(2026, 2, 13, 12, 0, tzinfo=UTC))
        assert await alert_admission_due_dates(ctx) == 0
        # Sat 14 Feb: two working days left (Mon 16, Tue 17): the admins are told, once.
        clock.set(datetime(2026, 2, 14, 9, 0, tzinfo=UTC))
        assert await alert_admission_due_dates(ctx) == 1
        assert await alert_admission_due_dates(ctx) == 0
        assert await notified(settings, "admission.due_soon") == [world["buyer_admin"].email]
        # One microsecond after the due date: overdue, told once; the listing shows it.
        clock.set(datetime(2026, 2, 17, 23, 0, tzinfo=UTC))
        assert await alert_admission_due_dates(ctx) == 1
        assert await alert_admission_due_dates(ctx) == 0
    assert await notified(settings, "admission.overdue") == [world["buyer_admin"].email]
    queue = expect(await client.get(f"/dps/{dps['id']}/admission-queue", headers=world["buyer_evaluator"].headers),
                   200)
    assert [(r["id"], r["status"], r["overdue"]) for r in queue] == [(request["id"], "awaiting_documents", True)]


def test_the_tests_initial_window_meets_d4_across_an_autumn_clock_change() -> None:
    """Sent 7 October 2026 00:20 Paris (22:20 UTC the day before), D4's limit is 7 November 00:00 Paris:
    31 days + 40 min later, as 25 October has 25 hours. Publishing with a bare 31 days was refused there."""
    from marketplace.lib.clock import FrozenClock
    from marketplace.lib.working_days import earliest_franc_deadline
    from tests.vendors.api import initial_window

    clock = FrozenClock(datetime(2026, 10, 6, 22, 20, tzinfo=UTC))
    limit = earliest_franc_deadline(clock.now(), 30)
    assert limit - clock.now() > timedelta(days=31)
    assert clock.now() + initial_window(clock) >= limit
