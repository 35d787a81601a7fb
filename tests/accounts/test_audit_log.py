"""The audit log read through the API (P8, G14): filters, keyset pages, who reads what, the chain's verification
and the evidence bundle of one object."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import asyncpg_dsn
from marketplace.settings import Settings
from tests.vendors.api import expect, fetch
from tests.world import Person, World

Client = AsyncTestClient[Litestar]


async def _page(client: Client, who: Person, **params: Any) -> dict[str, Any]:
    return expect(await client.get("/audit-events", headers=who.headers, params=params), 200)  # type: ignore[no-any-return]


async def _all(client: Client, who: Person, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    before = None
    while True:
        page = await _page(client, who, limit=200, **params, **({"before": before} if before else {}))
        events += page["items"]
        if page["older"] is None:
            return events
        before = page["older"]


async def _new_api_key(client: Client, world: World, name: str) -> dict[str, Any]:
    return expect(await client.post(f"/organisations/{world.organisations['holder']}/api-keys",  # type: ignore[no-any-return]
                                    headers=world["holder_admin"].headers,
                                    json={"name": name, "roles": ["holder:member"]}), 201)


async def _tamper(settings: Settings, event_id: int) -> None:
    """What only a superuser can do: switch the table's triggers off and edit a row."""
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("UPDATE audit_event SET details = '{\"name\": \"forged\"}' WHERE id = $1", event_id)
    finally:
        await owner.close()


async def test_filters_by_target_actor_action_organisation_and_time(client: Client, world: World,
                                                                    settings: Settings) -> None:
    admin = world["platform_admin"]
    everything = await _all(client, admin)
    stored = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event ORDER BY id DESC")]
    assert [e["id"] for e in everything] == stored and len(stored) > 20

    holder = str(world.organisations["holder"])
    by_target = await _all(client, admin, targetType="organisation", targetId=holder)
    assert [e["action"] for e in by_target] == ["organisation.created"]
    assert by_target[0]["organisationName"] == "Association Les Tilleuls"
    assert len(by_target[0]["hash"]) == 64 and len(by_target[0]["prevHash"]) == 64

    key = await _new_api_key(client, world, "Connecteur DUI")
    actor = f"user:{world['holder_admin'].user_id}"
    by_actor = await _all(client, admin, actor=actor)
    assert [(e["action"], e["targetId"]) for e in by_actor] == [("api_key.created", key["id"])]

    # `action` is a prefix; LIKE's wildcards in it are taken literally.
    members = await _all(client, admin, action="member.")
    assert members and all(e["action"].startswith("member.") for e in members)
    assert len(members) == len([r for r in await fetch(settings, "SELECT action FROM audit_event")
                                if r["action"].startswith("member.")])
    assert await _all(client, admin, action="member%") == []
    assert await _all(client, admin, action="_ember.") == []

    of_holder = await _all(client, admin, organisationId=holder)
    assert of_holder and {e["organisationId"] for e in of_holder} == {holder}

    # `since` inclusive, `until` exclusive; UTC here, a naive time is Paris time.
    middle = everything[len(everything) // 2]
    at = datetime.fromisoformat(middle["at"])
    since = await _all(client, admin, since=middle["at"])
    assert since[-1]["id"] <= middle["id"] and all(datetime.fromisoformat(e["at"]) >= at for e in since)
    until = await _all(client, admin, until=middle["at"])
    assert until and all(datetime.fromisoformat(e["at"]) < at for e in until)
    assert {e["id"] for e in since} | {e["id"] for e in until} == {e["id"] for e in await _all(client, admin)}

    # Both cursors: the window between them, newest first.
    both = await _page(client, admin, before=everything[2]["id"], after=everything[8]["id"], limit=3)
    assert [e["id"] for e in both["items"]] == [e["id"] for e in everything[3:6]]
    assert both["newer"] == everything[3]["id"] and both["older"] == everything[5]["id"]
    # Refusals name their parameter.
    # Past the newest possible id: nothing newer, and the cursor back stays a 64-bit integer.
    last = await _page(client, admin, after=2**63 - 2)
    assert last["items"] == [] and last["older"] == 2**63 - 1 and last["newer"] is None
    too_many = await client.get("/audit-events", headers=admin.headers, params={"limit": 201})
    assert too_many.status_code == 400
    not_iso = await client.get("/audit-events", headers=admin.headers, params={"since": "1700000000"})
    assert not_iso.status_code == 400 and not_iso.json()["field"] == "since"
    # A Paris time the clocks skip names no instant: a 422 naming the parameter.
    gap = await client.get("/audit-events", headers=admin.headers, params={"until": "2026-03-29T02:30:00"})
    assert gap.status_code == 422 and gap.json()["field"] == "until"


async def test_keyset_pages_have_no_gap_nor_duplicate_while_events_are_recorded(client: Client, world: World,
                                                                               settings: Settings) -> None:
    admin = world["platform_admin"]
    at_start = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event ORDER BY id DESC")]
    first = await _page(client, admin, limit=7)
    assert first["newer"] is None and first["older"] == first["items"][-1]["id"]
    seen = [e["id"] for e in first["items"]]
    before = first["older"]
    created = 0
    while before is not None:
        # Each page is read after new events were recorded: they are newer, so they never shift an older page.
        await _new_api_key(client, world, f"Clé {created}")
        created += 1
        page = await _page(client, admin, limit=7, before=before)
        assert page["newer"] == page["items"][0]["id"]
        seen += [e["id"] for e in page["items"]]
        before = page["older"]
    assert seen == at_start  # in order, none missing, none twice
    assert len(at_start) // 7 <= created

    # Back to the newest: `after` the first page's newest event gives exactly what was recorded since.
    newer = await _page(client, admin, limit=200, after=first["items"][0]["id"])
    assert [e["action"] for e in newer["items"]] == ["api_key.created"] * created
    ids = [e["id"] for e in newer["items"]]
    assert ids == sorted(ids, reverse=True) and newer["newer"] is None and newer["older"] == ids[-1]
    # A page `after` in the middle is the events right above it, newest first.
    window = await _page(client, admin, limit=3, after=at_start[10])
    assert [e["id"] for e in window["items"]] == at_start[7:10]
    assert window["newer"] == at_start[7] and window["older"] == at_start[9]


async def test_an_organisations_admin_reads_its_own_events_and_nothing_of_another(client: Client, world: World,
                                                                                 settings: Settings) -> None:
    holder, other = str(world.organisations["holder"]), str(world.organisations["other_holder"])
    await _new_api_key(client, world, "Connecteur")
    mine = await _all(client, world["holder_admin"])
    expected = await fetch(settings, "SELECT id FROM audit_event WHERE organisation_id = $1 ORDER BY id DESC",
                           world.organisations["holder"])
    assert [e["id"] for e in mine] == [r["id"] for r in expected]
    assert {e["organisationId"] for e in mine} == {holder}
    assert "api_key.created" in {e["action"] for e in mine}

    # Another organisation: named in a filter, it doesn't exist for the caller; its objects show nothing.
    named = await client.get("/audit-events", headers=world["holder_admin"].headers,
                             params={"organisationId": other})
    assert named.status_code == 404 and named.json()["field"] == "organisationId"
    assert await _all(client, world["holder_admin"], targetType="organisation", targetId=other) == []
    bundle = await client.get("/audit-events/bundle", headers=world["holder_admin"].headers,
                              params={"targetType": "organisation", "targetId": other})
    assert bundle.status_code == 404
    # The other holder's admin reads its own, none of the holder's.
    theirs = await _all(client, world["other_holder_admin"])
    assert theirs and {e["organisationId"] for e in theirs} == {other}

    # Members who administer nothing are stopped by the role guard; the chain is the platform's to verify.
    assert (await client.get("/audit-events", headers=world["holder_member"].headers)).status_code == 403
    assert (await client.get("/audit-events", headers={})).status_code == 401
    verification = await client.get("/audit-events/verification", headers=world["holder_admin"].headers)
    assert verification.status_code == 403
    assert verification.headers["content-type"].startswith("application/problem+json")


async def test_verification_is_ok_then_names_the_row_a_superuser_edited(client: Client, world: World,
                                                                        settings: Settings) -> None:
    admin = world["platform_admin"]
    stored = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event ORDER BY id")]
    ok = expect(await client.get("/audit-events/verification", headers=admin.headers), 200)
    assert ok["ok"] is True and ok["checked"] == len(stored) and ok["firstBrokenId"] is None
    # The verification is itself audited.
    [verified] = await fetch(settings, "SELECT actor, details FROM audit_event WHERE action = 'audit.chain_verified'")
    assert verified["actor"] == f"user:{admin.user_id}"

    victim = stored[len(stored) // 2]
    await _tamper(settings, victim)
    broken = expect(await client.get("/audit-events/verification", headers=admin.headers), 200)
    assert broken["ok"] is False and broken["firstBrokenId"] == victim
    assert broken["checked"] == stored.index(victim) and "edited" in broken["reason"]


async def test_the_evidence_bundle_of_an_object(client: Client, world: World, settings: Settings) -> None:
    key = await _new_api_key(client, world, "Connecteur")
    expect(await client.delete(f"/organisations/{world.organisations['holder']}/api-keys/{key['id']}",
                               headers=world["holder_admin"].headers), 204)
    params = {"targetType": "api_key", "targetId": key["id"]}

    answer = await client.get("/audit-events/bundle", headers=world["platform_admin"].headers, params=params)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment") and quote(f"preuves-api_key-{key['id']}.json") in disposition
    bundle = answer.json()
    assert (bundle["targetType"], bundle["targetId"]) == ("api_key", key["id"])
    assert [e["action"] for e in bundle["events"]] == ["api_key.created", "api_key.revoked"]
    rows = await fetch(settings, "SELECT id, prev_hash, hash FROM audit_event WHERE target_id = $1 ORDER BY id",
                       key["id"])
    assert [(e["id"], e["prevHash"], e["hash"]) for e in bundle["events"]] == [tuple(r) for r in rows]
    assert all(e["hashMatches"] for e in bundle["events"]) and "sha256" in bundle["algorithm"]
    assert bundle["chain"]["ok"] is True and bundle["generatedBy"] == f"user:{world['platform_admin'].user_id}"

    # The holder's admin gets the same events, without the whole chain's verification (not theirs to read).
    own = expect(await client.get("/audit-events/bundle", headers=world["holder_admin"].headers, params=params), 200)
    assert [e["id"] for e in own["events"]] == [r["id"] for r in rows] and own["chain"] is None

    # Tampered with: the edited event's own hash no longer matches, and the chain names it.
    await _tamper(settings, rows[0]["id"])
    after = expect(await client.get("/audit-events/bundle", headers=world["platform_admin"].headers,
                                    params=params), 200)
    assert [e["hashMatches"] for e in after["events"]] == [False, True]
    assert after["chain"]["ok"] is False and after["chain"]["firstBrokenId"] == rows[0]["id"]

    missing = await client.get("/audit-events/bundle", headers=world["platform_admin"].headers,
                               params={"targetType": "api_key", "targetId": "nothing-here"})
    assert missing.status_code == 404
    no_target = await client.get("/audit-events/bundle", headers=world["platform_admin"].headers)
    assert no_target.status_code == 400
