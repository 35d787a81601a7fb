"""D19: the quarterly grouped award notice of a DPS's specific contracts, through the real API, the worker's job, the
CLI and the work queue: the contracts notified in a Paris-time quarter (never a rehearsal's), the notice published
after the quarter's end, once and immutably (the database refuses an edit), its OCDS release valid against the
schema, its deadline 30 days after the quarter's end on the buying side's work queue from 7 days before it."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import PARIS, FrozenClock
from marketplace.opendata.jobs import publish_award_notices
from marketplace.opendata.notices import Quarter
from marketplace.settings import Settings
from tests.accounts.test_cli import _cli
from tests.awards.test_award import scores
from tests.opendata.schemas import record_package_errors, release_errors, release_package_errors
from tests.opendata.test_ocds import signed_contract
from tests.tenders.test_offers import open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps
from tests.vendors.test_sandbox import FACTOR, active_sandbox, sandbox_need, sandbox_now
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.web.pages import Browser, login
from tests.world import ORGANISATIONS, PASSWORD, World, email_of

pytestmark = pytest.mark.usefixtures("cpv")


async def awarded(client: Client, world: World, clock: FrozenClock, dps_id: str, deadline: datetime) -> tuple[str, str]:
    """A specific contract of the DPS published now, one offer of the vendor, opened at `deadline` and awarded to
    it: (its id, its need's title)."""
    need = await submitted_need(client, world)
    local = deadline.astimezone(PARIS).replace(tzinfo=None).isoformat()
    cid = expect(await publish(client, world, need["id"], dps_id, local), 201)["id"]
    offer = await prepared_offer(client, world, cid, "vendor_admin")
    expect(await submit(client, world, offer["id"], "vendor_admin"), 200)
    clock.set(deadline)
    await award_only_offer(client, world, cid, offer["id"])
    return cid, need["title"]


async def award_only_offer(client: Client, world: World, cid: str, offer_id: str) -> None:
    expect(await open_offers(client, world, cid), 200)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    expect(await client.put(f"/offers/{offer_id}/scores", headers=admin, json=scores(80, 80)), 200)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json={
        "offerId": offer_id, "reasons": "Meilleure offre.", "standstillRequired": False}), 201)


async def notified(client: Client, world: World, clock: FrozenClock, cid: str, amount_cents: int,
                   at: datetime) -> str:
    """The awarded contract signed by both at `at` (the last signature notifies it): the contract's id."""
    clock.set(at)
    return await signed_contract(client, world, cid, amount_cents)


async def dps_with_vendor(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    dps = await open_dps(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    return dps


async def run_job(settings: Settings, clock: FrozenClock) -> int:
    engine = create_async_engine(settings.database_url)
    try:
        return await publish_award_notices({"session_maker": async_sessionmaker(engine, expire_on_commit=False),
                                            "clock": clock, "settings": settings})
    finally:
        await engine.dispose()


async def queue_tile(client: Client, person: str) -> int | None:
    web = Browser(client)
    await login(web, email_of(person))
    answer = await web.get("/app/")
    assert answer.status_code == 200
    found = re.search(r'id="compte-avis-trimestriels">(\d+)<', answer.text)
    return int(found.group(1)) if found else None


def test_the_deadline_is_30_days_after_the_quarters_end_in_paris() -> None:
    q3 = Quarter.parse("2026-Q3")
    # Q3 runs from 1 July 00:00 to 1 October 00:00, Paris time (summer time: UTC+2).
    assert (q3.starts, q3.ends) == (datetime(2026, 6, 30, 22, 0, tzinfo=UTC), datetime(2026, 9, 30, 22, 0, tzinfo=UTC))
    # Its last day 30 September; the 30 days run from 1 October: due 30 October, until its end in Paris (winter
    # time by then: UTC+1).
    assert q3.due_on == date(2026, 10, 30)
    assert q3.due_at == datetime(2026, 10, 30, 23, 0, tzinfo=UTC)
    assert [Quarter.parse(f"2026-Q{n}").due_on for n in (1, 2, 4)] == [date(2026, 4, 30), date(2026, 7, 30),
                                                                        date(2027, 1, 30)]
    assert str(Quarter.of(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))) == "2027-Q1"
    for text in ("2026-Q5", "2026-Q0", "2026Q3", "26-Q3", "0001-Q1"):
        with pytest.raises(ValueError, match=r"out of range|not a quarter"):
            Quarter.parse(text)


def test_the_worker_publishes_the_ended_quarters_hourly() -> None:
    from marketplace.worker import CRON_JOBS

    schedule = {job.coroutine: (job.hour, job.minute) for job in CRON_JOBS}
    assert schedule[publish_award_notices] == (None, {26})


async def test_the_notice_lists_the_quarters_real_contracts_once_and_immutably(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await dps_with_vendor(client, world, clock)
    # A rehearsal on a sandbox DPS of the same buyer, notified in the first quarter too (on its own clock, at
    # the instant its offers are opened): never published.
    sandbox = await active_sandbox(client, world, clock)
    await admit(client, world, world["vendor_admin"], categories_by_pair(sandbox)["grand_age", "saas"])
    rehearsal_need = await sandbox_need(client, world, sandbox["id"])
    sandbox_deadline = await sandbox_now(client, sandbox["id"]) + timedelta(days=12)
    rehearsal = expect(await publish(client, world, rehearsal_need["id"], sandbox["id"],
                                     sandbox_deadline.isoformat()), 201)["id"]
    offer = await prepared_offer(client, world, rehearsal, "vendor_admin")
    expect(await submit(client, world, offer["id"], "vendor_admin"), 200)
    epoch = datetime.fromisoformat(sandbox["sandboxClock"]["epoch"])
    clock.set(epoch + (sandbox_deadline - epoch) / FACTOR)
    await award_only_offer(client, world, rehearsal, offer["id"])
    await signed_contract(client, world, rehearsal, 900_000)
    rows = await fetch(settings, "SELECT t.at FROM contract_transition t JOIN contract c ON c.id = t.contract_id "
                                 "WHERE c.specific_contract_id = $1 AND t.action = 'notified'", uuid.UUID(rehearsal))
    assert Quarter.of(rows[0]["at"]) == Quarter(2026, 1)

    first = await awarded(client, world, clock, dps["id"], datetime(2026, 2, 17, 8, 0, tzinfo=UTC))
    second = await awarded(client, world, clock, dps["id"], datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    first_kid = await notified(client, world, clock, first[0], 4_500_000, datetime(2026, 3, 18, 10, 0, tzinfo=UTC))
    second_kid = await notified(client, world, clock, second[0], 1_234_550, datetime(2026, 3, 19, 10, 0, tzinfo=UTC))
    # The quarter has not ended: nothing published, nothing owed.
    assert await run_job(settings, clock) == 0
    expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q1"), 404)

    # Ended, the worker not run: the buying side's queue shows the notice from 7 days before its deadline (30 April,
    # until 22:00 UTC), to the DPS's buying organisation's admin only.
    clock.set(datetime(2026, 4, 23, 21, 59, tzinfo=UTC))
    assert await queue_tile(client, "buyer_admin") is None
    clock.set(datetime(2026, 4, 23, 22, 0, tzinfo=UTC))
    assert await queue_tile(client, "buyer_admin") == 1
    assert await queue_tile(client, "other_buyer_admin") is None
    assert await queue_tile(client, "vendor_admin") is None

    assert await run_job(settings, clock) == 1
    assert await queue_tile(client, "buyer_admin") is None
    notice = expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q1"), 200)
    ocid = f"{settings.ocds_ocid_prefix}-{dps['id']}"
    assert notice["id"] == f"{ocid}-award-2026-Q1"
    assert (notice["quarter"], notice["dueOn"], notice["periodStart"], notice["periodEnd"]) == (
        "2026-Q1", "2026-04-30", "2025-12-31T23:00:00Z", "2026-03-31T22:00:00Z")
    assert notice["dps"] == {"id": dps["id"], "ocid": ocid, "title": dps["title"],
                             "buyer": {"name": ORGANISATIONS["buyer"][0], "siret": "55208131766522"}}
    vendor = {"name": ORGANISATIONS["vendor"][0], "siret": "44306184100047"}
    assert [(c["specificContractId"], c["object"], c["awardee"], c["amount"], c["notifiedAt"])
            for c in notice["contracts"]] == [
        (first[0], first[1], vendor, {"amount": 45000, "currency": "EUR"}, "2026-03-18T10:00:00Z"),
        (second[0], second[1], vendor, {"amount": 12345.5, "currency": "EUR"}, "2026-03-19T10:00:00Z")]
    assert rehearsal not in str(notice)
    release = notice["release"]
    assert release_errors(release) == []
    assert (release["tag"], release["id"], release["ocid"]) == (["award"], notice["id"], ocid)
    assert [c["awardID"] for c in release["contracts"]] == [first[0], second[0]]
    assert [c["id"] for c in release["contracts"]] == [first_kid, second_kid]
    # In the OCDS feed with the DPS's releases; its record still compiles and validates.
    package = expect(await client.get("/ocds/releases", params={"ocid": ocid}), 200)
    assert release_package_errors(package) == []
    assert [r for r in package["releases"] if r["id"] == notice["id"]] == [release]
    record = expect(await client.get(f"/ocds/records/{ocid}"), 200)
    assert record_package_errors(record) == []
    assert release_errors(record["records"][0]["compiledRelease"]) == []
    assert expect(await client.get(f"/dps/{dps['id']}/award-notices"), 200) == [notice]

    # Twice is once: the same stored notice, whoever runs it and whenever.
    rows = await fetch(settings, "SELECT id, sha256, release FROM ocds_release WHERE release_id = $1", notice["id"])
    clock.set(datetime(2026, 5, 20, 8, 0, tzinfo=UTC))
    assert await run_job(settings, clock) == 0
    assert await fetch(settings, "SELECT id, sha256, release FROM ocds_release WHERE release_id = $1",
                       notice["id"]) == rows
    assert expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q1"), 200) == notice
    # Immutable: the database refuses an edit, to the application's role and to the owner alike.
    for url in (settings.database_url, settings.migration_url):
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute("UPDATE ocds_release SET release = '{}'::jsonb WHERE release_id = $1",
                                   notice["id"])
        finally:
            await conn.close()


async def test_the_quarter_is_the_notifications_in_paris_time(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await dps_with_vendor(client, world, clock)
    # 31 March 23:30 in Paris (summer time, UTC+2) is the first quarter's; 1 April 00:30 the second's.
    last = await awarded(client, world, clock, dps["id"], datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    after = await awarded(client, world, clock, dps["id"], datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    await notified(client, world, clock, last[0], 5_000_000, datetime(2026, 3, 31, 21, 30, tzinfo=UTC))
    await notified(client, world, clock, after[0], 6_000_000, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    # The CLI runs on the real clock, where both quarters have ended: it publishes both notices, once.
    first = await asyncio.to_thread(_cli, settings, "publish-award-notices")
    assert first.returncode == 0, first.stderr
    assert "D19: 2 award notice(s) published." in first.stdout
    again = await asyncio.to_thread(_cli, settings, "publish-award-notices")
    assert "D19: 0 award notice(s) published." in again.stdout
    q1 = expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q1"), 200)
    q2 = expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q2"), 200)
    assert [c["specificContractId"] for c in q1["contracts"]] == [last[0]]
    assert [c["specificContractId"] for c in q2["contracts"]] == [after[0]]
    assert [n["quarter"] for n in expect(await client.get(f"/dps/{dps['id']}/award-notices"), 200)] == [
        "2026-Q1", "2026-Q2"]
    for notice in (q1, q2):
        assert release_errors(notice["release"]) == []
    # A malformed quarter is a 400 naming it; an unknown DPS, or a quarter without a notice, a 404.
    for bad in ("2026-Q5", "2026-3", "0001-Q1"):
        problem = expect(await client.get(f"/dps/{dps['id']}/award-notices/{bad}"), 400)
        assert (problem["type"].rsplit("/", 1)[-1], problem.get("field")) == ("invalid-request", "quarter"), problem
    expect(await client.get(f"/dps/{dps['id']}/award-notices/2026-Q3"), 404)
    expect(await client.get("/dps/01900000-0000-7000-8000-000000000000/award-notices"), 404)


@pytest.mark.slow
async def test_the_overdue_notices_on_the_work_queue_in_a_browser(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    """Two quarters' notices never published (the worker not run): the live server, on the real clock, reads both
    deadlines as passed; the queue shows them, alert, with no serious accessibility violation."""
    dps = await dps_with_vendor(client, world, clock)
    first = await awarded(client, world, clock, dps["id"], datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    second = await awarded(client, world, clock, dps["id"], datetime(2026, 3, 16, 8, 0, tzinfo=UTC))
    await notified(client, world, clock, first[0], 5_000_000, datetime(2026, 3, 31, 21, 30, tzinfo=UTC))
    await notified(client, world, clock, second[0], 6_000_000, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{live_server}/app/")
        page.get_by_label("Adresse électronique").fill(email_of("buyer_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        seen = {"tile": page.locator("#compte-avis-trimestriels").inner_text(),
                "alert": page.locator("li.tile-alert #compte-avis-trimestriels").count(),
                "rows": page.locator("#avis-trimestriels tbody tr").all_inner_texts(),
                "axe": serious_violations(page)}
        page.locator("#avis-trimestriels").scroll_into_view_if_needed()
        screenshot(page, "d19-avis-trimestriels")
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["tile"] == "2" and seen["alert"] == 1
    assert [r.split("\t")[:3] for r in seen["rows"]] == [[dps["title"], "2026-Q1", "1"], [dps["title"], "2026-Q2", "1"]]
    assert seen["axe"] == [], "\n".join(seen["axe"])
