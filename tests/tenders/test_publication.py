"""Publishing a submitted need on an active DPS: every admitted vendor invited at one instant (D8), the
tender deadline (D9), the award criteria's weights (D10), and the fan-out at scale."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.tenders.contracts import SpecificContractService
from marketplace.tenders.models import SpecificContract
from tests.funding_api import fund
from tests.tenders.test_needs import create, finess
from tests.vendors.api import (
    Client,
    apply,
    audit_actions,
    categories_by_pair,
    dps_body,
    expect,
    fetch,
    open_dps,
    upload_all,
)
from tests.world import Person, World

# A Monday; the DPS opens 31 days later (2026-02-05), in winter time.
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
WEIGHTS = [{"name": "Prix", "weight": 40}, {"name": "Valeur technique", "weight": 60}]

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: E402, F401

pytestmark = pytest.mark.usefixtures("cpv")




async def admit(client: Client, world: World, person: Person, category_id: str) -> str:
    request = await apply(client, person, category_id)
    await upload_all(client, person, request["id"], f"{person.email} {category_id}")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=person.headers), 200)
    decided = expect(await client.post(f"/admission-requests/{request['id']}/admit",
                                       headers=world["buyer_admin"].headers), 200)
    assert decided["status"] == "admitted"
    return str(request["id"])


_FACILITY_NUMBERS = itertools.count(1)


async def submitted_need(client: Client, world: World) -> dict[str, Any]:
    """A submitted need of the holder for an ESMS of its own, registered for it: a published need keeps its
    ESMS for the campaign (N18), so each need of a test covers a facility no other need has claimed."""
    et = finess(f"7509{next(_FACILITY_NUMBERS):04d}")
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities",
                             headers=world["holder_admin"].headers, json={"name": f"EHPAD {et}", "finessEt": et}), 201)
    need = await create(client, world, facilities=[{"finessEt": et}])  # grand_age × saas
    return dict(expect(await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers),
                       200))


OPENER_PASSPHRASE = "la clé de l'ouverture des plis 2026"


async def ensure_opener(client: Client, world: World, person: str = "buyer_admin") -> str:
    """`person` holds an opener key of its own organisation (publishing needs one of the buyer's, D13: the buying
    organisation's when centralised, the holder's in intermediation, HC2); its id."""
    if person not in world.opener_keys:
        organisation = world.organisations[world[person].organisation]
        key = expect(await client.post("/my/opener-keys", headers=world[person].headers, json={
            "organisationId": str(organisation), "passphrase": OPENER_PASSPHRASE}), 201)
        world.opener_keys[person] = key["id"]
    return world.opener_keys[person]


async def publish(client: Client, world: World, need_id: str, dps_id: str, deadline: str,
                  weights: list[dict[str, Any]] | None = None, person: str = "buyer_admin",
                  openers: tuple[str, ...] = ("buyer_admin",), **options: Any) -> Any:
    """Publish as `person` (the buying organisation's admin when centralised; the holder's, or the buying
    organisation's on its behalf, in intermediation), once each of `openers` holds an opener key (the contract is
    sealed to its buyer's openers: the holder's in intermediation), and once the need is funded (N16: only a need
    its funder selected is published): a submitted need of the world's holders is filed to the call N5 routes it
    to and selected (tests/funding_api.py `fund`, a no-op for a need funded already, a sandbox need or one not
    submitted)."""
    for opener in openers:
        await ensure_opener(client, world, opener)
    await fund(client, world, need_id)
    return await client.post(f"/needs/{need_id}/publish", headers=world[person].headers,
                             json={"dpsId": dps_id, "tenderDeadline": deadline, "awardCriteria": weights or WEIGHTS,
                                   **options})


async def _contract_rows(settings: Settings, contract_id: str) -> list[Any]:
    return await fetch(settings, "SELECT vendor_organisation_id, invited_at FROM contract_invitation "
                                 "WHERE specific_contract_id = $1", uuid.UUID(contract_id))


async def test_publishing_invites_exactly_the_admitted_vendors_of_the_category_at_one_instant(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    cat = categories_by_pair(dps)
    target = cat["grand_age", "saas"]
    await admit(client, world, world["vendor_admin"], target)
    await admit(client, world, world["other_vendor_admin"], target)
    await admit(client, world, world["third_vendor_admin"], cat["grand_age", "hosted"])  # another category
    need = await submitted_need(client, world)

    # Only the buying organisation's admin publishes (the evaluator may not; another buyer doesn't see the DPS).
    deadline = (clock.now() + timedelta(days=12)).isoformat()
    assert (await publish(client, world, need["id"], dps["id"], deadline, person="buyer_evaluator")).status_code == 403
    assert (await publish(client, world, need["id"], dps["id"], deadline,
                          person="other_buyer_admin")).status_code == 404
    response = await publish(client, world, need["id"], dps["id"], deadline)
    contract = expect(response, 201)
    assert response.headers["location"] == f"/specific-contracts/{contract['id']}"
    assert contract["status"] == "open" and contract["categoryId"] == target
    assert contract["invitationCount"] == 2
    assert [c["weight"] for c in contract["awardCriteria"]] == [40, 60]
    invited = {r["vendor_organisation_id"] for r in await _contract_rows(settings, contract["id"])}
    assert invited == {world.organisations["vendor"], world.organisations["other_vendor"]}
    instants = {r["invited_at"] for r in await _contract_rows(settings, contract["id"])}
    assert instants == {clock.now()}
    assert datetime.fromisoformat(contract["invitedAt"]) == clock.now()
    assert expect(await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers),
                  200)["status"] == "published"
    assert await audit_actions(settings, contract["id"]) == ["specific_contract.published"]
    details = await fetch(settings, "SELECT details FROM audit_event WHERE target_id = $1", contract["id"])
    assert '"invitations": 2' in details[0]["details"]
    # One notification per invited vendor's admin or bid manager, each with its delivery intent.
    notified = await fetch(settings, "SELECT recipient_email FROM notification WHERE kind = 'tender.invitation'")
    assert sorted(r["recipient_email"] for r in notified) == sorted(
        [world["vendor_admin"].email, world["other_vendor_admin"].email])
    intents = await fetch(settings, "SELECT n.id FROM notification n JOIN job_intent j "
                                    "ON j.args = jsonb_build_array(n.id::text) AND j.name = 'deliver_notification' "
                                    "WHERE n.kind = 'tender.invitation'")
    assert len(intents) == 2

    # A second publication of the same need is refused.
    assert (await publish(client, world, need["id"], dps["id"], deadline)).status_code == 409

    # Visibility: the buyer and the invited vendors (their own invitation); others 404.
    url = f"/specific-contracts/{contract['id']}"
    assert expect(await client.get(url, headers=world["buyer_evaluator"].headers), 200)["invitationCount"] == 2
    own = expect(await client.get(url, headers=world["vendor_member"].headers), 200)
    assert [i["vendorOrganisationId"] for i in own["invitations"]] == [str(world.organisations["vendor"])]
    for person in ("third_vendor_admin", "other_buyer_admin"):
        assert (await client.get(url, headers=world[person].headers)).status_code == 404
    mine = expect(await client.get("/my/invitations", headers=world["vendor_member"].headers), 200)
    assert [m["specificContractId"] for m in mine] == [contract["id"]]
    assert mine[0]["tenderDeadlineParis"].endswith("(heure de Paris, UTC+1)")
    assert expect(await client.get("/my/invitations", headers=world["third_vendor_admin"].headers), 200) == []

    # A vendor admitted one second after publication is not invited, even when the fan-out runs again;
    # running it again invites nobody twice and notifies nobody twice.
    clock.advance(timedelta(seconds=1))
    await admit(client, world, world["third_vendor_admin"], target)
    engine = create_async_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            row = await session.get(SpecificContract, uuid.UUID(contract["id"]))
            assert row is not None
            service = SpecificContractService(session, clock)
            assert await service.fan_out(row, need["title"]) == (0, 0)
            assert await service.fan_out(row, need["title"]) == (0, 0)
            await session.commit()
    finally:
        await engine.dispose()
    assert len(await _contract_rows(settings, contract["id"])) == 2
    assert len(await fetch(settings, "SELECT id FROM notification WHERE kind = 'tender.invitation'")) == 2
    assert expect(await client.get("/my/invitations", headers=world["third_vendor_admin"].headers), 200) == []


async def test_deadline_d9_paris_local_times_and_weights_d10(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    need = await submitted_need(client, world)

    def problem(response: Any) -> dict[str, Any]:
        return dict(expect(response, 422))

    # D9 is a délai franc (§1.7): invited Thu 5 Feb 2026 (09:00 Paris), the day of the invitation doesn't count;
    # days 1…10 are 6 … 15 Feb, so the deadline is at the earliest Mon 16 Feb 00:00 Paris = Sun 15 Feb 23:00 UTC.
    # Ten times 24 hours (15 Feb 08:00 UTC) is short of it, and so is one microsecond before the limit.
    limit = datetime(2026, 2, 15, 23, 0, tzinfo=UTC)
    for early in (clock.now() + timedelta(days=10), limit - timedelta(microseconds=1)):
        short = problem(await publish(client, world, need["id"], dps["id"], early.isoformat()))
        assert short["rule"] == "D9" and short["field"] == "tenderDeadline"
        assert short["earliest"] == limit.isoformat() and "16/02/2026 00:00" in short["detail"]
    # Naive = Paris local time: a time the clocks skip, and one they show twice.
    gap = problem(await publish(client, world, need["id"], dps["id"], "2026-03-29T02:30:00"))
    assert gap["field"] == "tenderDeadline" and "does not exist" in gap["detail"]
    overlap = problem(await publish(client, world, need["id"], dps["id"], "2026-10-25T02:30:00"))
    assert overlap["field"] == "tenderDeadline" and "twice" in overlap["detail"]
    # D10: weights within the DPS's ranges (Prix 20–50, Valeur technique 50–80), adding up to 100.
    out_of_range = problem(await publish(client, world, need["id"], dps["id"],
                                         (clock.now() + timedelta(days=11)).isoformat(),
                                         [{"name": "Prix", "weight": 10}, {"name": "Valeur technique", "weight": 90}]))
    assert out_of_range["rule"] == "D10" and out_of_range["field"] == "awardCriteria[0].weight"
    not_100 = problem(await publish(client, world, need["id"], dps["id"],
                                    (clock.now() + timedelta(days=11)).isoformat(),
                                    [{"name": "Prix", "weight": 30}, {"name": "Valeur technique", "weight": 60}]))
    assert not_100["rule"] == "D10"
    unknown = problem(await publish(client, world, need["id"], dps["id"],
                                    (clock.now() + timedelta(days=11)).isoformat(), [{"name": "Délai", "weight": 100}]))
    assert unknown["rule"] == "D10"
    assert await fetch(settings, "SELECT id FROM specific_contract") == []

    # The limit itself is enough; naive local time 2026-02-16 00:00 is 15 Feb 23:00 UTC (winter time).
    contract = expect(await publish(client, world, need["id"], dps["id"], "2026-02-16T00:00:00"), 201)
    assert datetime.fromisoformat(contract["tenderDeadline"]) == limit
    assert contract["tenderDeadlineParis"] == "16/02/2026 00:00 (heure de Paris, UTC+1)"
    assert contract["invitationCount"] == 0


async def test_a_need_outside_the_dps_categories_or_a_dps_not_active_is_refused(
        client: Client, world: World, clock: FrozenClock) -> None:
    dps = await open_dps(client, world, clock, sectors=("handicap",))
    need = await submitted_need(client, world)  # grand_age × saas
    deadline = (clock.now() + timedelta(days=11)).isoformat()
    refused = expect(await publish(client, world, need["id"], dps["id"], deadline), 422)
    assert refused["rule"] == "N19"
    draft = expect(await client.post("/dps", headers=world["buyer_admin"].headers,
                                     json=dps_body(clock.now(), title="Second SAD")), 201)
    assert (await publish(client, world, need["id"], draft["id"], deadline)).status_code == 409


async def test_a_published_need_keeps_its_facilities_for_the_campaign(
        client: Client, world: World, clock: FrozenClock) -> None:
    # N18: no ESMS in two active projects of the same campaign; a published need is as active as a submitted one.
    dps = await open_dps(client, world, clock)
    admin = world["holder_admin"].headers
    need = await submitted_need(client, world)
    deadline = (clock.now() + timedelta(days=12)).isoformat()
    contract = expect(await publish(client, world, need["id"], dps["id"], deadline), 201)
    clash = await create(client, world, facilities=need["facilities"])  # the same ESMS, the same campaign
    refused = expect(await client.post(f"/needs/{clash['id']}/submit", headers=admin), 422)
    assert (refused["rule"], refused["field"]) == ("N18", "facilities[0].finessEt")
    assert "already in another active project of campaign 2025" in refused["detail"]
    # Declared sans suite, the procedure ended without a contract: the project is no longer active, its ESMS are
    # free for a new need (a published need is not published again).
    expect(await client.post(f"/specific-contracts/{contract['id']}/cancellation",
                             headers=world["buyer_admin"].headers, json={"reasons": "Besoin redéfini."}), 200)
    assert expect(await client.post(f"/needs/{clash['id']}/submit", headers=admin), 200)["status"] == "submitted"


SCALE = 2000


async def _insert_admitted_vendors(settings: Settings, dps_id: str, category_id: str, count: int) -> None:
    """`count` vendors admitted to the category, each with an admin: set-based, as the database owner. Their
    admissions carry what the API stores (a complete referenced software): the public register reads it."""
    now = datetime.now(UTC) - timedelta(days=400)
    await fetch(settings, """
        WITH orgs AS (
            INSERT INTO organisation (id, kind, name, is_grappe, created_at, updated_at)
            SELECT gen_random_uuid(), 'vendor', 'Éditeur ' || n, false, $3, $3 FROM generate_series(1, $4) AS n
            RETURNING id
        ), numbered AS (
            SELECT id, row_number() OVER () AS n FROM orgs
        ), users AS (
            INSERT INTO user_account (id, email, full_name, is_active, created_at, updated_at)
            SELECT gen_random_uuid(), 'admin' || n || '@editeur' || n || '.example.fr', 'Admin ' || n, true, $3, $3
            FROM numbered
            RETURNING id, email
        ), members AS (
            INSERT INTO membership (id, user_id, organisation_id, roles, created_at, updated_at)
            SELECT gen_random_uuid(), u.id, o.id, ARRAY['vendor:admin'], $3, $3
            FROM numbered o JOIN users u ON u.email = 'admin' || o.n || '@editeur' || o.n || '.example.fr'
            RETURNING organisation_id
        )
        INSERT INTO admission_request (id, dps_id, category_id, vendor_organisation_id, status, self_declaration,
                                       referenced_software, decided_at, created_at, updated_at)
        SELECT gen_random_uuid(), $1, $2, organisation_id, 'admitted', '{}',
               '{"referencingId": "REF-BENCH", "software": "Logiciel", "version": "1.0", "dispositif": "ESMS"}',
               $3, $3, $3 FROM members
    """, uuid.UUID(dps_id), uuid.UUID(category_id), now, count)


async def test_two_thousand_admitted_vendors_are_invited_in_one_statement(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    target = categories_by_pair(dps)["grand_age", "saas"]
    await _insert_admitted_vendors(settings, dps["id"], target, SCALE)
    need = await submitted_need(client, world)

    started = time.perf_counter()
    response = await publish(client, world, need["id"], dps["id"], (clock.now() + timedelta(days=14)).isoformat())
    elapsed = time.perf_counter() - started
    contract = expect(response, 201)
    print(f"\npublish with {SCALE} admitted vendors: {elapsed * 1000:.0f} ms")
    assert contract["invitationCount"] == SCALE
    rows = await fetch(settings, "SELECT count(*) AS n, count(DISTINCT invited_at) AS instants, "
                                 "count(DISTINCT vendor_organisation_id) AS vendors FROM contract_invitation "
                                 "WHERE specific_contract_id = $1", uuid.UUID(contract["id"]))
    assert (rows[0]["n"], rows[0]["instants"], rows[0]["vendors"]) == (SCALE, 1, SCALE)
    intents = await fetch(settings, "SELECT count(*) AS n FROM job_intent j JOIN notification n "
                                    "ON j.args = jsonb_build_array(n.id::text) "
                                    "WHERE j.name = 'deliver_notification' AND n.kind = 'tender.invitation'")
    assert intents[0]["n"] == SCALE
