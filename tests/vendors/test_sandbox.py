"""Sandbox procedures in process, on a frozen real clock the tests move (issue 8): a sandbox DPS keeps every
rule on its accelerated clock (D4, D6, D9, D14, D13) while a real one created at the same instant stays on
real time; sandbox objects appear in no public list, search or register; a need is sandbox or real for life
and never crosses (the API refuses, the database backs it); what a sandbox produces says so (responses,
receipts, notifications); its daily job runs on its own clock. The same flow over HTTP against a running
server, waiting for real deadlines to pass: tests/test_sandbox_e2e.py."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock
from marketplace.lib.sandbox import NOTICE, SUBJECT_PREFIX
from marketplace.lib.working_days import evaluation_due_at
from marketplace.settings import Settings
from marketplace.vendors.jobs import warn_expiring_documents, warn_expiring_sandbox_documents
from marketplace.worker import CRON_JOBS
from tests.tenders.test_needs import create
from tests.tenders.test_offers import open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import (
    Client,
    admission_body,
    categories_by_pair,
    dps_body,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
    upload,
)
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
FACTOR = 1440  # a sandbox day per real minute


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def sandbox_dps(client: Client, world: World, clock: FrozenClock, factor: int = FACTOR) -> dict[str, Any]:
    return expect(await client.post("/dps", headers=world["buyer_admin"].headers,
                                    json={**dps_body(clock.now()), "sandbox": {"factor": factor}}), 201)


async def active_sandbox(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """Created now, its 30-day window (D4, a délai franc: 31 days cover it) published and over: 31 sandbox days
    are 31 real minutes."""
    dps = await sandbox_dps(client, world, clock)
    window_end = _at(dps["sandboxClock"]["now"]) + timedelta(days=31)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=world["buyer_admin"].headers,
                             json={"initialWindowEnd": window_end.isoformat()}), 200)
    clock.advance(timedelta(minutes=31))
    return expect(await client.post(f"/dps/{dps['id']}/activate", headers=world["buyer_admin"].headers), 200)


async def sandbox_now(client: Client, dps_id: str) -> datetime:
    return _at(expect(await client.get(f"/dps/{dps_id}"), 200)["sandboxClock"]["now"])


async def sandbox_need(client: Client, world: World, dps_id: str, **overrides: Any) -> dict[str, Any]:
    need = await create(client, world, sandbox=True, dpsId=dps_id, **overrides)
    assert need["sandbox"] is True
    return dict(expect(await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers),
                       200))


async def test_a_sandbox_dps_keeps_its_rules_on_its_accelerated_clock(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    buyer = world["buyer_admin"].headers
    for factor in (1, 86_401):
        expect(await client.post("/dps", headers=buyer, json={**dps_body(clock.now()), "sandbox": {"factor": factor}}),
               400)
    created = await sandbox_dps(client, world, clock)
    assert created["sandbox"] is True and created["sandboxClock"]["factor"] == FACTOR
    assert created["sandboxClock"]["notice"] == NOTICE
    # Sandbox time starts at real time.
    assert _at(created["sandboxClock"]["now"]) == _at(created["sandboxClock"]["epoch"]) == clock.now()
    real = expect(await client.post("/dps", headers=buyer, json=dps_body(clock.now())), 201)
    assert real["sandbox"] is False and real["sandboxClock"] is None

    # D4 holds in sandbox days: 30 full days after the day of sending, so 30 × 24 h are refused, 31 days accepted.
    for dps, days, status in ((created, 30, 422), (created, 31, 200), (real, 31, 200)):
        answer = expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer, json={
            "initialWindowEnd": (clock.now() + timedelta(days=days)).isoformat()}), status)
        if status == 422:
            assert answer["rule"] == "D4"
    # 31 real minutes: the sandbox's window is over, the real one's isn't.
    clock.advance(timedelta(minutes=31))
    assert await sandbox_now(client, created["id"]) == _at(created["sandboxClock"]["epoch"]) + timedelta(days=31)
    assert expect(await client.post(f"/dps/{created['id']}/activate", headers=buyer), 200)["status"] == "active"
    assert expect(await client.post(f"/dps/{real['id']}/activate", headers=buyer), 422)["rule"] == "D4"

    # D6: the receipt and the evaluation due date are on the sandbox clock, and say it is a sandbox's.
    vendor = world["vendor_admin"]
    category = categories_by_pair(created)["grand_age", "saas"]
    request = expect(await client.post("/admission-requests", headers=vendor.headers,
                                       json=admission_body(category)), 201)
    assert request["sandbox"] is True
    for kind in ("kbis", "insurance"):
        expect(await upload(client, vendor, request["id"], kind, minimal_pdf(kind)), 201)
    receipt = expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=vendor.headers), 200)
    submitted_real = clock.now()
    now = await sandbox_now(client, created["id"])
    assert (receipt["sandbox"], receipt["notice"]) == (True, NOTICE)
    assert _at(receipt["receivedAt"]) == now
    assert _at(receipt["dueAt"]) == evaluation_due_at(now)
    shown = expect(await client.get(f"/admission-requests/{request['id']}", headers=buyer), 200)
    assert shown["overdue"] is False
    clock.advance(timedelta(minutes=20))  # 20 sandbox days: past the 10 working days
    assert expect(await client.get(f"/admission-requests/{request['id']}", headers=buyer), 200)["overdue"] is True

    # The buyer's notification says plainly that it is about a sandbox; the audit log keeps real time.
    told = await fetch(settings, "SELECT subject, body FROM notification WHERE about_id = $1",
                       uuid.UUID(request["id"]))
    assert told and all(r["subject"].startswith(SUBJECT_PREFIX) and NOTICE in r["body"] for r in told)
    audited = await fetch(settings, "SELECT at FROM audit_event WHERE action = 'admission.submitted' AND "
                                    "target_id = $1", request["id"])
    assert audited[0]["at"] == submitted_real != now


async def test_sandbox_objects_never_appear_in_public_lists_search_or_the_register(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    real = await open_dps(client, world, clock)
    sandbox = await active_sandbox(client, world, clock)
    vendor = world["vendor_admin"]
    for dps in (real, sandbox):
        await admit(client, world, vendor, categories_by_pair(dps)["grand_age", "saas"])
    real_need = await submitted_need(client, world)
    real_contract = expect(await publish(client, world, real_need["id"], real["id"],
                                         (clock.now() + timedelta(days=11)).isoformat()), 201)
    assert real_contract["sandbox"] is False
    rehearsal = await sandbox_need(client, world, sandbox["id"], title="Répétition générale du dossier usager")
    deadline = await sandbox_now(client, sandbox["id"]) + timedelta(days=11)
    contract = expect(await publish(client, world, rehearsal["id"], sandbox["id"], deadline.isoformat()), 201)
    assert contract["sandbox"] is True and contract["sandboxClock"]["factor"] == FACTOR

    # Public DPS list: the real one only; the sandbox stays readable by id (integrators need it).
    listed = expect(await client.get("/dps"), 200)
    assert [d["id"] for d in listed["items"]] == [real["id"]] and listed["total"] == 1
    assert expect(await client.get(f"/dps/{sandbox['id']}"), 200)["sandbox"] is True
    # The register: the sandbox admission is nowhere, whatever the filter.
    register = expect(await client.get("/register"), 200)
    assert {e["dpsId"] for e in register["items"]} == {real["id"]} and register["total"] == 1
    assert expect(await client.get(f"/register?dpsId={sandbox['id']}"), 200)["total"] == 0
    sandbox_category = categories_by_pair(sandbox)["grand_age", "saas"]
    assert expect(await client.get(f"/register?categoryId={sandbox_category}"), 200)["total"] == 0
    # Discovery: never the sandbox need, by listing, by its own words, or by its category.
    found = expect(await client.get("/discovery/needs"), 200)
    assert [n["needId"] for n in found["items"]] == [real_need["id"]]
    assert expect(await client.get("/discovery/needs", params={"q": "répétition générale"}), 200)["items"] == []
    assert expect(await client.get("/discovery/needs", params={"categoryId": sandbox_category}), 200)["items"] == []
    assert await fetch(settings, "SELECT 1 FROM need_search WHERE need_id = $1", uuid.UUID(rehearsal["id"])) == []
    # The vendor's own invitations show both, the rehearsal marked as such.
    mine = expect(await client.get("/my/invitations", headers=vendor.headers), 200)
    assert {(i["specificContractId"], i["sandbox"]) for i in mine} == {(real_contract["id"], False),
                                                                        (contract["id"], True)}
    # Its invitations were mailed as a sandbox's.
    invited = await fetch(settings, "SELECT subject, body FROM notification WHERE about_id = $1",
                          uuid.UUID(contract["id"]))
    assert invited and all(r["subject"].startswith(SUBJECT_PREFIX) and NOTICE in r["body"] for r in invited)


async def test_sandbox_and_real_objects_never_mix(client: Client, world: World, clock: FrozenClock,
                                                  settings: Settings) -> None:
    real = await open_dps(client, world, clock)
    sandbox = await active_sandbox(client, world, clock)
    for dps in (real, sandbox):
        await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    # N18 counts the active needs of one world only: a real submitted need doesn't block a rehearsal of the
    # same facility, and two rehearsals of it still conflict.
    real_need = await create(client, world)  # the facility of the rehearsals below
    expect(await client.post(f"/needs/{real_need['id']}/submit", headers=world["holder_admin"].headers), 200)
    rehearsal = await sandbox_need(client, world, sandbox["id"])
    twin = await create(client, world, sandbox=True, dpsId=sandbox["id"])
    refused = expect(await client.post(f"/needs/{twin['id']}/submit", headers=world["holder_admin"].headers), 422)
    assert refused["rule"] == "N18"

    deadline = (await sandbox_now(client, sandbox["id"]) + timedelta(days=11)).isoformat()
    crossed = expect(await publish(client, world, rehearsal["id"], real["id"], deadline), 422)
    assert (crossed["field"], crossed["rule"]) == ("dpsId", "sandbox")
    crossed = expect(await publish(client, world, real_need["id"], sandbox["id"], deadline), 422)
    assert (crossed["field"], crossed["rule"]) == ("dpsId", "sandbox")
    contract = expect(await publish(client, world, rehearsal["id"], sandbox["id"], deadline), 201)
    # A published rehearsal holds no ESMS (services.NeedService._busy_facilities): the twin is submitted now.
    expect(await client.post(f"/needs/{twin['id']}/submit", headers=world["holder_admin"].headers), 200)

    # Whatever writes them, the database refuses a crossing and any change of a sandbox flag (migration 0018).
    statements = [
        ("UPDATE specific_contract SET dps_id = $1 WHERE id = $2", uuid.UUID(real["id"]), uuid.UUID(contract["id"])),
        ("UPDATE need SET sandbox = false WHERE id = $1", uuid.UUID(rehearsal["id"])),
        ("UPDATE need SET sandbox = true WHERE id = $1", uuid.UUID(real_need["id"])),
        ("UPDATE dps SET sandbox_factor = NULL, sandbox_epoch = NULL WHERE id = $1", uuid.UUID(sandbox["id"])),
        ("UPDATE dps SET sandbox_factor = 2 WHERE id = $1", uuid.UUID(sandbox["id"])),
        ("UPDATE dps SET sandbox_factor = 100000 WHERE id = $1", uuid.UUID(real["id"])),
    ]
    for statement, *args in statements:
        with pytest.raises(asyncpg.CheckViolationError):
            await fetch(settings, statement, *args)
    rows = await fetch(settings, "SELECT sc.dps_id, n.sandbox FROM specific_contract sc JOIN need n ON "
                                 "n.id = sc.need_id WHERE sc.id = $1", uuid.UUID(contract["id"]))
    assert (str(rows[0]["dps_id"]), rows[0]["sandbox"]) == (sandbox["id"], True)


async def test_offers_are_sealed_until_the_accelerated_deadline_then_late_and_open(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await active_sandbox(client, world, clock)
    epoch = _at(dps["sandboxClock"]["epoch"])
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await sandbox_need(client, world, dps["id"])
    # D9 holds in sandbox days too.
    now = await sandbox_now(client, dps["id"])
    early = expect(await publish(client, world, need["id"], dps["id"], (now + timedelta(days=9)).isoformat()), 422)
    assert early["rule"] == "D9"
    # 42 days and an hour after the epoch (D9 is a délai franc): 2 522.5 real seconds, so a real instant reads
    # it exactly.
    deadline = epoch + timedelta(days=42, hours=1)
    cid = expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)["id"]

    offer = await prepared_offer(client, world, cid)
    signed = expect(await submit(client, world, offer["id"]), 200)
    receipt = signed["receipt"]
    assert receipt["sandbox"]["notice"] == NOTICE and receipt["sandbox"]["factor"] == FACTOR
    assert _at(receipt["receivedEnd"]) == await sandbox_now(client, dps["id"])
    pdf = expect_pdf(await client.get(f"/offers/{offer['id']}/receipt.pdf", headers=world["vendor_admin"].headers))
    assert "BAC À SABLE" in pdf

    # Sealed until the sandbox deadline: a millisecond of real time before it (1.44 sandbox seconds).
    clock.set(epoch + (deadline - epoch) / FACTOR - timedelta(milliseconds=1))
    assert (await client.get(f"/specific-contracts/{cid}/offers", headers=world["buyer_admin"].headers)
            ).status_code == 403
    refused = expect(await open_offers(client, world, cid), 403)
    assert refused["reason"] == "before-deadline"
    second = await prepared_offer(client, world, cid)
    # At the sandbox deadline exactly: late (D14), and opening works.
    clock.set(epoch + (deadline - epoch) / FACTOR)
    assert await sandbox_now(client, dps["id"]) == deadline
    late = expect(await submit(client, world, second["id"]), 409)
    assert late["rule"] == "D14"
    record = expect(await open_offers(client, world, cid), 200)
    assert record["document"]["sandbox"]["notice"] == NOTICE
    assert _at(record["openedAt"]) == deadline
    assert [e["offer"] for e in record["document"]["offers"]] == [offer["id"]]
    assert [e["offer"] for e in record["document"]["late"]] == [second["id"]]


def expect_pdf(response: Any) -> str:
    assert response.status_code == 200, response.text
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


async def test_a_sandbox_daily_job_runs_on_its_clock_and_the_real_one_leaves_it_alone(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await active_sandbox(client, world, clock)
    vendor = world["vendor_admin"]
    today = (await sandbox_now(client, dps["id"])).date()
    request = expect(await client.post("/admission-requests", headers=vendor.headers,
                                       json=admission_body(categories_by_pair(dps)["grand_age", "saas"])), 201)
    expect(await upload(client, vendor, request["id"], "kbis", minimal_pdf("kbis")), 201)
    # Insurance valid 60 sandbox days from today: warned once within 30 days of its end.
    expect(await upload(client, vendor, request["id"], "insurance", minimal_pdf("ins"),
                        valid_until=(today + timedelta(days=60)).isoformat()), 201)
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=vendor.headers), 200)
    expect(await client.post(f"/admission-requests/{request['id']}/admit", headers=world["buyer_admin"].headers),
           200)
    engine = create_async_engine(settings.database_url)
    ctx = {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": clock}
    try:
        assert await warn_expiring_sandbox_documents(ctx) == 0
        clock.advance(timedelta(minutes=40))  # 40 sandbox days, 40 real minutes
        assert await warn_expiring_documents(ctx) == 0  # the daily real pass never touches a sandbox
        assert await warn_expiring_sandbox_documents(ctx) == 1
        assert await warn_expiring_sandbox_documents(ctx) == 0  # once
    finally:
        await engine.dispose()
    warned = await fetch(settings, "SELECT subject FROM notification WHERE kind = 'admission.document_expiring'")
    assert [r["subject"][:len(SUBJECT_PREFIX)] for r in warned] == [SUBJECT_PREFIX]
    # The worker runs the sandbox pass every minute (a sandbox day may be a minute), the real one daily.
    schedule = {job.coroutine: (job.hour, job.minute) for job in CRON_JOBS}
    assert schedule[warn_expiring_sandbox_documents] == (None, None)
    assert schedule[warn_expiring_documents] == ({6}, {0})


async def test_a_sandbox_clock_that_runs_out_is_a_410_not_a_500(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps = await sandbox_dps(client, world, clock, factor=86_400)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=world["buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    # A day per second for 40 real days (3.5 million days): past what the clock serves.
    clock.advance(timedelta(days=40))
    gone = expect(await client.get(f"/dps/{dps['id']}"), 410)
    assert gone["rule"] == "sandbox" and "new sandbox" in gone["detail"]
    # Only the sandbox's time ran out: the real procedures go on.
    expect(await client.get("/dps"), 200)


async def test_fast_forward_skips_sandbox_time_but_never_a_vendors_period(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    buyer = world["buyer_admin"].headers
    dps = await sandbox_dps(client, world, clock)
    path = f"/dps/{dps['id']}/sandbox/fast-forward"
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer, json={
        "initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}), 200)
    # Only the buying organisation's admin; a real DPS's clock never moves; nothing to skip is refused.
    expect(await client.post(path, headers=world["buyer_evaluator"].headers, json={"days": 31}), 403)
    expect(await client.post(path, headers=world["other_buyer_admin"].headers, json={"days": 31}), 404)
    real = expect(await client.post("/dps", headers=buyer, json=dps_body(clock.now())), 201)
    refused = expect(await client.post(f"/dps/{real['id']}/sandbox/fast-forward", headers=buyer, json={"days": 31}),
                     409)
    assert (refused["field"], refused["rule"]) == ("sandbox", "sandbox")
    expect(await client.post(path, headers=buyer, json={}), 422)
    expect(await client.post(path, headers=buyer, json={"days": -1}), 400)

    # D4's window skipped at once: the DPS activates without a real minute passing.
    moved = expect(await client.post(path, headers=buyer, json={"days": 31, "hours": 2}), 200)
    assert moved["sandboxClock"]["skippedSeconds"] == (31 * 24 + 2) * 3600
    assert _at(moved["sandboxClock"]["now"]) == clock.now() + timedelta(days=31, hours=2)
    expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer), 200)

    # While a tender period runs, the clock only runs: the vendors keep every second of it.
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    need = await sandbox_need(client, world, dps["id"])
    deadline = await sandbox_now(client, dps["id"]) + timedelta(days=11, hours=1)
    cid = expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)["id"]
    held = expect(await client.post(path, headers=buyer, json={"days": 11}), 409)
    assert held["rule"] == "sandbox" and held["specificContractId"] == cid
    assert await sandbox_now(client, dps["id"]) < deadline
    # The database never lets the clock go back either.
    with pytest.raises(asyncpg.CheckViolationError):
        await fetch(settings, "UPDATE dps SET sandbox_skipped = '1 hour' WHERE id = $1", uuid.UUID(dps["id"]))
    assert "dps.sandbox_fast_forwarded" in [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE target_id = $1", dps["id"])]
