"""The retention purge of offer data (G18), on the clock: five years after the contract's signature, to the
instant, the content of the offers goes (sealed parts, files, their objects), audited; the awardee's offer, the
receipts and the audit chain stay; a day before, nothing goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import make_store
from marketplace.awards.retention import RetentionService, purge_expired, retention_ends
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from storage import ObjectNotFound
from tests.awards.test_contract import active_contract
from tests.vendors.api import Client, fetch

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


def test_retention_ends_five_years_later_to_the_instant() -> None:
    signed = datetime(2026, 3, 2, 14, 30, 15, 123456, tzinfo=UTC)
    assert retention_ends(signed) == datetime(2031, 3, 2, 14, 30, 15, 123456, tzinfo=UTC)
    # A 29 February signature: no such day five years on; its retention ends the day after the 28th.
    assert retention_ends(datetime(2028, 2, 29, 9, tzinfo=UTC)) == datetime(2033, 3, 1, 9, tzinfo=UTC)


async def _offers(settings: Settings, cid: str) -> dict[str, dict[str, Any]]:
    rows = await fetch(settings, "SELECT o.id::text AS id, o.sealed_parts IS NOT NULL AS has_parts, "
                                 "o.manifest_sha256, o.receipt_signature, o.received_at, "
                                 "array_remove(array_agg(a.object_key ORDER BY a.id), NULL) AS keys "
                                 "FROM offer o LEFT JOIN offer_attachment a ON a.offer_id = o.id "
                                 "WHERE o.specific_contract_id = $1 GROUP BY o.id", cid)
    return {r["id"]: dict(r) for r in rows}


async def test_offer_data_goes_five_years_after_the_signature_not_a_day_before(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, kid = await active_contract(client, world, clock)
    signed_at = (await fetch(settings, "SELECT min(at) AS at FROM contract_transition WHERE contract_id = $1 "
                                       "AND to_status = 'signed'", kid))[0]["at"]
    awarded = str((await fetch(settings, "SELECT a.offer_id FROM award a JOIN contract c ON c.award_id = a.id "
                                         "WHERE c.id = $1", kid))[0]["offer_id"])
    before = await _offers(settings, cid)
    assert len(before) == 3 and all(o["has_parts"] and o["keys"] for o in before.values())
    store = make_store(settings)
    engine = create_async_engine(settings.database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        # Five years minus a day: nothing is due, nothing goes.
        early = FrozenClock(retention_ends(signed_at) - timedelta(days=1))
        async with sessions() as session:
            assert await RetentionService(session, early).expired() == []
        report = await purge_expired(sessions, store, early, actor="system:retention")
        assert report.purged == [] and await _offers(settings, cid) == before
        for offer in before.values():
            for key in offer["keys"]:
                await store.stat(key)

        # Five years to the instant: the two other offers' parts, files and objects go; the awardee's stays.
        due = FrozenClock(retention_ends(signed_at))
        report = await purge_expired(sessions, store, due, actor="system:retention")
        purged = {str(p.offer_id) for p in report.purged}
        assert purged == set(before) - {awarded}
        assert report.objects_deleted == sum(len(before[o]["keys"]) for o in purged) and not report.objects_left
        after = await _offers(settings, cid)
        for offer_id, offer in after.items():
            if offer_id == awarded:
                assert offer == before[offer_id]
                continue
            assert not offer["has_parts"] and offer["keys"] == []
            # The receipt stays: what proves the offer was received, and when, without its content.
            assert {k: offer[k] for k in ("manifest_sha256", "receipt_signature", "received_at")} == {
                k: before[offer_id][k] for k in ("manifest_sha256", "receipt_signature", "received_at")}
            for key in before[offer_id]["keys"]:
                with pytest.raises(ObjectNotFound):
                    await store.stat(key)
        for key in before[awarded]["keys"]:
            await store.stat(key)

        # Its author still reads what is left of it (its receipt, no parts, no files), never a server error.
        for offer_id in purged:
            views = [await client.get(f"/offers/{offer_id}", headers=world[p].headers)
                     for p in ("other_vendor_admin", "third_vendor_admin")]
            assert sorted(v.status_code for v in views) == [200, 404], [v.text for v in views]
            view = next(v.json() for v in views if v.status_code == 200)
            assert view["attachments"] == []

        # Audited: one event per offer purged, naming the signature it counted from.
        events = await fetch(settings, "SELECT target_id, actor, details FROM audit_event WHERE action = "
                                       "'offer.purged' ORDER BY id")
        assert {e["target_id"] for e in events} == purged and {e["actor"] for e in events} == {"system:retention"}
        assert all(str(signed_at.year) in e["details"] for e in events)

        # Done once: a later run finds nothing more to purge.
        later = FrozenClock(retention_ends(signed_at) + timedelta(days=400))
        assert (await purge_expired(sessions, store, later, actor="system:retention")).purged == []
    finally:
        await engine.dispose()
