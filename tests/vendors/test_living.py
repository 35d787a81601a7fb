"""After admission: suspension, exclusion, updated self-declarations (D11), expiring documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock
from marketplace.lib.working_days import declaration_due_at
from marketplace.settings import Settings
from marketplace.vendors.jobs import warn_expiring_documents
from tests.vendors.api import (
    Client,
    admission_body,
    audit_actions,
    categories_by_pair,
    deliver_notifications,
    expect,
    minimal_pdf,
    open_dps,
    upload,
)
from tests.world import World


async def _admitted(client: Client, world: World, clock: FrozenClock, insurance_until: str) -> dict[str, Any]:
    dps = await open_dps(client, world, clock)
    category = next(iter(categories_by_pair(dps).values()))
    vendor = world["vendor_admin"]
    request = expect(await client.post("/admission-requests", headers=vendor.headers,
                                       json=admission_body(category)), 201)
    expect(await upload(client, vendor, request["id"], "kbis", minimal_pdf("kbis")), 201)
    expect(await upload(client, vendor, request["id"], "insurance", minimal_pdf("ins"),
                        valid_until=insurance_until), 201)
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=vendor.headers), 200)
    return expect(await client.post(f"/admission-requests/{request['id']}/admit",
                                    headers=world["buyer_admin"].headers), 200)


async def test_suspend_reinstate_exclude(client: Client, world: World, clock: FrozenClock,
                                         settings: Settings) -> None:
    request = await _admitted(client, world, clock, "2027-06-30")
    path = f"/admission-requests/{request['id']}"
    buyer = world["buyer_admin"].headers
    register = f"/register?dpsId={request['dpsId']}"
    assert expect(await client.get(register), 200)["total"] == 1

    suspended = expect(await client.post(f"{path}/suspend", headers=buyer, json={"reasons": "Assurance échue."}),
                       200)
    assert suspended["status"] == "suspended" and suspended["decisionReasons"] == "Assurance échue."
    assert expect(await client.get(register), 200)["total"] == 0  # off the register while suspended
    assert (await client.post(f"{path}/suspend", headers=buyer, json={"reasons": "x"})).status_code == 409
    assert expect(await client.post(f"{path}/reinstate", headers=buyer), 200)["status"] == "admitted"
    excluded = expect(await client.post(f"{path}/exclude", headers=buyer, json={"reasons": "Condamnation."}), 200)
    assert excluded["status"] == "excluded"
    assert (await client.post(f"{path}/reinstate", headers=buyer)).status_code == 409
    # The vendor can't sanction itself.
    assert (await client.post(f"{path}/suspend", headers=world["vendor_admin"].headers,
                              json={"reasons": "x"})).status_code == 403
    actions = await audit_actions(settings, request["id"])
    assert actions[-3:] == ["admission.suspended", "admission.admitted", "admission.excluded"]


async def test_updated_self_declaration_is_due_in_five_working_days(client: Client, world: World,
                                                                    clock: FrozenClock, settings: Settings,
                                                                    mail_sink: MailSink) -> None:
    request = await _admitted(client, world, clock, "2027-06-30")
    path = f"/admission-requests/{request['id']}"
    vendor = world["vendor_admin"].headers
    body = {"noExclusionGrounds": True, "taxAndSocialObligationsMet": True, "legalRepresentative": "Léa Fontaine"}
    # Admitted and not asked: the declaration is frozen.
    assert (await client.put(f"{path}/self-declaration", headers=vendor, json=body)).status_code == 409
    asked = expect(await client.post(f"{path}/declaration-request", headers=world["buyer_admin"].headers,
                                     json={"message": "Merci de mettre à jour votre DUME."}), 200)
    assert datetime.fromisoformat(asked["declarationDueAt"]) == declaration_due_at(clock.now())
    updated = expect(await client.put(f"{path}/self-declaration", headers=vendor, json=body), 200)
    assert updated["selfDeclaration"]["legalRepresentative"] == "Léa Fontaine"
    assert updated["declarationDueAt"] is None
    assert "admission.declaration_updated" in await audit_actions(settings, request["id"])
    await deliver_notifications(settings)
    assert any("DUME" in m["Subject"] for m in mail_sink.to(world["vendor_admin"].email))


async def test_expiring_documents_are_flagged_and_the_vendor_warned_once(client: Client, world: World,
                                                                         clock: FrozenClock, settings: Settings,
                                                                         mail_sink: MailSink) -> None:
    # open_dps moves the clock 31 days (the initial window): the insurance ends 60 days after admission.
    soon = (clock.now() + timedelta(days=91)).date().isoformat()
    request = await _admitted(client, world, clock, soon)
    engine = create_async_engine(settings.database_url)
    ctx = {"session_maker": async_sessionmaker(engine, expire_on_commit=False), "clock": clock}
    try:
        assert await warn_expiring_documents(ctx) == 0  # 60 days away: not yet
        clock.advance(timedelta(days=40))
        assert await warn_expiring_documents(ctx) == 1
        assert await warn_expiring_documents(ctx) == 0  # once
        clock.advance(timedelta(days=30))
    finally:
        await engine.dispose()
    shown = expect(await client.get(f"/admission-requests/{request['id']}", headers=world["buyer_admin"].headers),
                   200)
    assert shown["expiredDocuments"] == ["insurance"]
    await deliver_notifications(settings)
    warnings = [m for m in mail_sink.to(world["vendor_admin"].email) if "expiré" in m["Subject"]]
    assert len(warnings) == 1 and "insurance" in warnings[0].get_content()


async def test_cancelling_or_terminating_a_dps_closes_its_requests(client: Client, world: World,
                                                                   clock: FrozenClock, settings: Settings) -> None:
    request = await _admitted(client, world, clock, "2027-06-30")
    dps_path = f"/dps/{request['dpsId']}"
    buyer = world["buyer_admin"].headers
    assert (await client.post(f"{dps_path}/cancel", headers=buyer, json={"reasons": "x"})).status_code == 409
    assert (await client.post(f"{dps_path}/terminate", headers=world["other_buyer_admin"].headers,
                              json={"reasons": "x"})).status_code == 404
    ended = expect(await client.post(f"{dps_path}/terminate", headers=buyer,
                                     json={"reasons": "Fin anticipée du dispositif."}), 200)
    assert ended["status"] == "terminated"
    closed = expect(await client.get(f"/admission-requests/{request['id']}", headers=buyer), 200)
    assert closed["status"] == "closed"
    assert expect(await client.get(f"/register?dpsId={request['dpsId']}"), 200)["total"] == 0
    category = closed["categoryId"]
    refused = await client.post("/admission-requests", headers=world["other_vendor_admin"].headers,
                                json=admission_body(category))
    assert refused.status_code == 422 and refused.json()["rule"] == "D5"
    assert "dps.terminated" in await audit_actions(settings, request["dpsId"])

    draft = expect(await client.post("/dps", headers=buyer, json=_dps_body(clock)), 201)
    cancelled = expect(await client.post(f"/dps/{draft['id']}/cancel", headers=buyer,
                                         json={"reasons": "Besoin redéfini."}), 200)
    assert cancelled["status"] == "cancelled"


def _dps_body(clock: FrozenClock) -> dict[str, Any]:
    from tests.vendors.api import dps_body

    return dps_body(clock.now())
