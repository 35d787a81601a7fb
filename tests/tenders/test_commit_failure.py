"""A submission is acknowledged only once committed (G6): when the COMMIT itself fails, after every statement of
the request succeeded (PostgreSQL crashing between the flush and the commit, a deferred constraint), no receipt is
sent; the client's retry with the same Idempotency-Key then stores the offer, once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_offers import open_contract, prepared_offer, submit
from tests.vendors.api import audit_actions, fetch

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


async def test_a_submission_whose_commit_fails_gets_no_receipt_and_its_retry_stores_it_once(
        app: Litestar, world: World, clock: FrozenClock, settings: Settings) -> None:
    # Not the `client` fixture: an error raised once the answer has started must come back as what the server
    # makes of it, not as an exception in the test.
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        contract = await open_contract(client, world, clock)
        offer = await prepared_offer(client, world, contract["id"])
        clock.advance(timedelta(seconds=5))
        # A real COMMIT failure: a deferred constraint trigger that refuses this offer's submission at commit time,
        # when the request's statements have all succeeded and its answer is about to be sent.
        name = f"refuse_commit_{uuid.uuid4().hex[:12]}"
        await fetch(settings, f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'commit refused'; END $$")
        await fetch(settings, f"CREATE CONSTRAINT TRIGGER {name} AFTER UPDATE ON offer DEFERRABLE INITIALLY DEFERRED "
                              f"FOR EACH ROW WHEN (NEW.id = '{offer['id']}'::uuid AND NEW.status::text = 'submitted') "
                              f"EXECUTE FUNCTION {name}()")
        try:
            failed = await submit(client, world, offer["id"], key="retry-me")
        finally:
            await fetch(settings, f"DROP TRIGGER {name} ON offer")
            await fetch(settings, f"DROP FUNCTION {name}()")
        assert failed.status_code >= 500 and b"signature" not in failed.content, (failed.status_code, failed.text)
        rows = await fetch(settings, "SELECT status::text AS status FROM offer WHERE id = $1", uuid.UUID(offer["id"]))
        assert rows[0]["status"] == "draft"

        # The client retries with its key: the first attempt left nothing behind, so this one submits.
        again = await submit(client, world, offer["id"], key="retry-me")
        assert again.status_code == 200, again.text
        assert again.json()["receipt"]["offer"] == offer["id"]
        assert (await submit(client, world, offer["id"], key="retry-me")).json() == again.json()
    rows = await fetch(settings, "SELECT status::text AS status FROM offer WHERE id = $1", uuid.UUID(offer["id"]))
    assert rows[0]["status"] == "submitted"
    assert (await audit_actions(settings, offer["id"])).count("offer.submitted") == 1
