"""SONS orders through the API (issue 16, must show 1): from a referenced solution to PAID, and each guard refused
with its rule named (domain.md §5 with §12)."""

from __future__ import annotations

from datetime import timedelta

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import (
    HT,
    IBAN,
    SIGNATORY,
    T1_CEILING,
    TTC,
    Client,
    accept,
    asp,
    balance,
    dispositif,
    draft,
    facturx,
    ok,
    problem,
    request_of,
    sign,
    solution,
)
from tests.vendors.api import fetch, minimal_pdf
from tests.world import World


async def test_from_a_referenced_solution_to_paid_with_every_guard(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    assert found["calendar"]["version"] == 1
    assert [c["tranche"] for c in found["ceilingTable"]["ceilings"]] == ["T1", "T2", "T3"]
    sol = await solution(client, world, found["id"], start)
    listed = ok(await client.get("/sons/solutions", headers=world["holder_member"].headers), 200)
    assert [s["id"] for s in listed] == [sol["id"]]

    # The ASP enrolment: the IBAN checked (ISO 13616, RIB key, §2.6), the ANS number one of the vendor's (SN3).
    vendor = world["vendor_admin"].headers
    bad_iban = await client.post("/sons/enrolments", headers=vendor, json={
        "iban": IBAN[:-1] + "8", "vatStatus": "liable", "enrolmentReference": "ASP-1",
        "referencingNumber": sol["referencingNumber"]})
    problem(bad_iban, 422, "domain.md §2.6")
    unknown_number = await client.post("/sons/enrolments", headers=vendor, json={
        "iban": IBAN, "vatStatus": "liable", "enrolmentReference": "ASP-1", "referencingNumber": "ANS-NOPE"})
    problem(unknown_number, 422, "SN3")
    enrolled = ok(await client.post("/sons/enrolments", headers=vendor, json={
        "iban": "FR76 3000 6000 0112 3456 7890 189", "ribKey": "89", "vatStatus": "liable",
        "enrolmentReference": "ASP-1", "referencingNumber": sol["referencingNumber"]}), 201)
    assert (enrolled["iban"], enrolled["ribKey"]) == (IBAN, "89")

    # Drafting: the ceiling (SN1), TTC to the cent (§5.3), a site of another OG (§2.3).
    over = await draft(client, world, sol["id"], amountHtCents=T1_CEILING + 1,
                       amountTtcCents=(T1_CEILING + 1) * 12 // 10)
    assert problem(over, 422, "SN1")["field"] == "amountHtCents"
    problem(await draft(client, world, sol["id"], amountTtcCents=TTC + 1), 422, "domain.md §5.3")
    foreign = await draft(client, world, sol["id"], sites=[{"finessEt": "970100418"}])
    assert problem(foreign, 422, "domain.md §2.3")["field"] == "sites[0].finessEt"
    order = ok(await draft(client, world, sol["id"]), 201)
    assert (order["status"], order["amountTtcCents"], order["ceilingHtCents"]) == ("draft", TTC, T1_CEILING)

    # SN4: a second order for the same site on the same dispositif and wave.
    twice = await draft(client, world, sol["id"], orderRef="BDC-0002")
    assert problem(twice, 409, "SN4")["field"] == "sites[0]"

    # G16: an unsigned document is refused, naming the check; the vendor does not sign for the OG.
    problem(await sign(client, world, order["id"], minimal_pdf("non signé")), 415, "G16")
    assert (await sign(client, world, order["id"], person="vendor_admin")).status_code == 403
    order = ok(await sign(client, world, order["id"]), 200)
    assert order["status"] == "signed"
    assert order["signature"]["method"] == "pro_sante_connect"
    assert order["signature"]["verification"]["verdict"] == "valid"

    # The advance (SN1's ratio of the TTC), decided and paid by the ASP as the operator records it (SN5).
    order = ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=vendor), 201)
    advance = request_of(order, "advance")
    assert (order["status"], advance["amountCents"]) == ("advance_requested", TTC * 3000 // 10_000)
    problem(await asp(client, world, advance["id"], "DECIDED_PAID"), 409, "SN5")  # not validated yet
    order = ok(await asp(client, world, advance["id"], "TO_MODIFY", note="RIB illisible"), 200)
    assert order["status"] == "advance_to_modify"
    order = ok(await client.post(f"/sons/asp-requests/{advance['id']}/refile", headers=vendor), 200)
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    order = ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)
    assert (order["status"], order["paidCents"]) == ("advance_paid", advance["amountCents"])
    problem(await asp(client, world, advance["id"], "DECIDED_PAID"), 409, "SN5")  # never paid twice
    assert [e["status"] for e in request_of(order, "advance")["history"]] == [
        "REQUESTED", "TO_MODIFY", "REQUESTED", "VALIDATED", "DECIDED_PAID"]

    # An amendment of the advance; deployment; the VA with its MSS case (SN6).
    order = ok(await client.post(f"/sons/orders/{order['id']}/amendments", headers=vendor,
                                 json={"amountCents": 10_000}), 201)
    amendment = request_of(order, "amendment", 1)
    order = ok(await client.post(f"/sons/orders/{order['id']}/deployment", headers=vendor), 200)
    assert order["status"] == "deployed"
    order = ok(await accept(client, world, order["id"], mss_case="CAS_1"), 200)
    assert (order["status"], order["acceptance"]["kind"], order["acceptance"]["mssCase"]) == (
        "accepted", "VA", "CAS_1")

    # The balance: refused while the amendment is not DECIDED_PAID (SN5), with another MSS case than the VA's
    # (SN6), with an invoice whose totals or buyer differ (SN7).
    invoice = facturx()
    problem(await balance(client, world, order["id"], invoice), 409, "SN5")
    ok(await asp(client, world, amendment["id"], "VALIDATED"), 200)
    ok(await asp(client, world, amendment["id"], "DECIDED_PAID"), 200)
    problem(await balance(client, world, order["id"], invoice, mss_case="CAS_2"), 422, "SN6")
    wrong_total = problem(await balance(client, world, order["id"], facturx(ttc=TTC - 100)), 422, "SN7")
    assert wrong_total["check"] == "total"
    wrong_name = problem(await balance(client, world, order["id"], facturx(buyer="Paul Durand")), 422, "SN7")
    assert wrong_name["check"] == "buyer"
    problem(await balance(client, world, order["id"], minimal_pdf("pas une facture")), 422, "SN7")
    order = ok(await balance(client, world, order["id"], facturx(buyer=SIGNATORY.upper())), 201)
    final = request_of(order, "balance")
    assert order["status"] == "balance_requested"
    assert final["amountCents"] == TTC - order["paidCents"]
    assert final["invoice"]["grandTotalCents"] == TTC
    order = ok(await asp(client, world, final["id"], "DECIDED_PAID"), 200)
    assert (order["status"], order["paidCents"]) == ("paid", TTC)
    problem(await client.post(f"/sons/orders/{order['id']}/cancellation", headers=world["platform_admin"].headers,
                              json={"swornStatement": "Trop tard."}), 409, "SN5")
    # Everyone else: the other OG and another vendor don't learn the order exists.
    assert (await client.get(f"/sons/orders/{order['id']}",
                             headers=world["other_holder_admin"].headers)).status_code == 404
    assert (await client.get(f"/sons/orders/{order['id']}",
                             headers=world["other_vendor_admin"].headers)).status_code == 404
    assert HT < T1_CEILING


async def test_the_order_deadline_and_a_new_calendar_version(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    sol = await solution(client, world, found["id"], start)
    order = ok(await draft(client, world, sol["id"]), 201)
    clock.advance(timedelta(days=30))  # at the order deadline exactly: too late (SN1)
    late = problem(await sign(client, world, order["id"]), 409, "SN1")
    assert late["field"] == "signedAt"
    problem(await draft(client, world, sol["id"], orderRef="BDC-LATE"), 409, "SN1")
    # An arrêté moves the deadline: a new version, the first kept; the order is then signed under it.
    from tests.sons.api import calendar
    amended = calendar(start, orderDeadline=(start + timedelta(days=45)).isoformat(), reason="Arrêté modificatif")
    updated = ok(await client.post(f"/sons/dispositifs/{found['id']}/calendars",
                                   headers=world["platform_admin"].headers, json=amended), 201)
    assert [c["version"] for c in updated["calendars"]] == [2, 1]
    signed_order = ok(await sign(client, world, order["id"]), 200)
    assert signed_order["calendarVersion"] == 2


async def test_pre_referencing_needs_the_mention_and_the_window(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    # Not referenced yet; its complete proof file is due in 200 days, beyond the 120-day window (SN3).
    early = await solution(client, world, found["id"], start, referenced=False, proof_in_days=200, name="Pré-réf")
    problem(await draft(client, world, early["id"]), 422, "SN3")
    mention = "Commande passée sous condition de référencement Ségur"
    order = ok(await draft(client, world, early["id"], preReferencingMention=mention), 201)
    assert order["preReferencing"] is True
    assert problem(await sign(client, world, order["id"]), 422, "SN3")["field"] == "signedAt"
    clock.advance(timedelta(days=25))  # 175 days before the proof file: still too early
    problem(await sign(client, world, order["id"]), 422, "SN3")


async def test_saas_orders_exclude_the_subscription_and_cancellation_orders_recovery(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    saas = await solution(client, world, found["id"], start, saas=True, name="DUI en ligne")
    problem(await draft(client, world, saas["id"]), 422, "SN2")
    order = ok(await draft(client, world, saas["id"], subscriptionExcluded=True), 201)
    ok(await sign(client, world, order["id"]), 200)
    order = ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=world["vendor_admin"].headers), 201)
    advance = request_of(order, "advance")
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)
    cancelled = ok(await client.post(f"/sons/orders/{order['id']}/cancellation",
                                     headers=world["platform_admin"].headers,
                                     json={"swornStatement": "Changement d'éditeur.", "clientRenunciation": True}), 200)
    assert (cancelled["status"], cancelled["recoveryCents"]) == ("cancelled", advance["amountCents"])
    # SN4: the cancelled order no longer holds the site's service.
    again = ok(await draft(client, world, saas["id"], orderRef="BDC-0002", subscriptionExcluded=True), 201)
    assert again["status"] == "draft"


async def test_orders_past_the_deployment_deadline_expire(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    sol = await solution(client, world, found["id"], start)
    order = ok(await draft(client, world, sol["id"]), 201)
    ok(await sign(client, world, order["id"]), 200)
    order = ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=world["vendor_admin"].headers), 201)
    advance = request_of(order, "advance")
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)
    ok(await client.post(f"/sons/orders/{order['id']}/deployment", headers=world["vendor_admin"].headers), 200)
    admin = world["platform_admin"].headers
    assert ok(await client.post("/sons/orders/expiry", headers=admin), 200) == []
    clock.advance(timedelta(days=200))
    expired = ok(await client.post("/sons/orders/expiry", headers=admin), 200)
    assert [(o["id"], o["status"]) for o in expired] == [(order["id"], "expired")]


async def test_the_worker_expires_orders_past_the_deployment_deadline_every_day(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    """The same expiry without the operator: a daily job of the worker, the platform named in the audit."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from marketplace.sons.jobs import expire_sons_orders
    from marketplace.worker import CRON_JOBS

    assert expire_sons_orders in [job.coroutine for job in CRON_JOBS]
    start = clock.now()
    found = await dispositif(client, world, settings, start)
    sol = await solution(client, world, found["id"], start)
    order = ok(await draft(client, world, sol["id"]), 201)
    ok(await sign(client, world, order["id"]), 200)
    order = ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=world["vendor_admin"].headers), 201)
    advance = request_of(order, "advance")
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)
    ok(await client.post(f"/sons/orders/{order['id']}/deployment", headers=world["vendor_admin"].headers), 200)
    engine = create_async_engine(settings.database_url)
    ctx = {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": clock}
    try:
        assert await expire_sons_orders(ctx) == 0
        clock.advance(timedelta(days=200))
        assert await expire_sons_orders(ctx) == 1
        assert await expire_sons_orders(ctx) == 0  # once
    finally:
        await engine.dispose()
    shown = ok(await client.get(f"/sons/orders/{order['id']}", headers=world["vendor_admin"].headers), 200)
    assert shown["status"] == "expired"
    rows = await fetch(settings, "SELECT actor FROM audit_event WHERE action = 'sons_order.expired' AND target_id = $1",
                       order["id"])
    assert [r["actor"] for r in rows] == ["system"]
