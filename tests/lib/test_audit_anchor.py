"""The audit chain's daily anchor (G14): the chain head of a day, time-stamped by the TSA (RFC 3161) and kept
append-only; `audit verify` (the command and the API) checks each anchor's token and that the chain recomputed
from its first event still reaches the anchored hash. An anchored event edited, even with every hash after it
rewritten so that the links verify, fails the anchor, which the verification names by its day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn
from marketplace.devstack.pki import TimeStamper, issue
from marketplace.devstack.tsa import EmbeddedTsa
from marketplace.lib.audit import AuditEvent, anchor_previous_day, link_hash
from marketplace.lib.clock import PARIS, FrozenClock
from marketplace.lib.timestamps import load_trust, verify_token
from marketplace.settings import Settings
from marketplace.worker import worker_options
from tests.vendors.api import Client, expect, fetch
from tests.world import World


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run([sys.executable, "-m", "marketplace", "audit", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def _anchors(settings: Settings) -> list[Any]:
    return await fetch(settings, "SELECT id, day, event_id, event_hash, token FROM audit_anchor ORDER BY day")


async def _rewrite_from(settings: Settings, victim: int) -> None:
    """What a superuser covering their tracks does: edit an event, then rehash it and every event after it, so
    that each link of the chain verifies again."""
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("UPDATE audit_event SET actor = 'someone else' WHERE id = $1", victim)
        position = await owner.fetchval("SELECT chain_position FROM audit_event WHERE id = $1", victim)
        rows = await owner.fetch("SELECT * FROM audit_event WHERE chain_position >= $1 ORDER BY chain_position",
                                 position)
        prev = rows[0]["prev_hash"]
        for row in rows:
            event = AuditEvent(**{k: json.loads(v) if k == "details" else v for k, v in dict(row).items()})
            digest = link_hash(prev, event)
            await owner.execute("UPDATE audit_event SET prev_hash = $2, hash = $3 WHERE id = $1", row["id"], prev,
                                digest)
            prev = digest
    finally:
        await owner.close()


async def test_the_anchor_verifies_and_a_rewritten_chain_fails_it_by_its_day(
        client: Client, settings: Settings, world: World) -> None:
    anchored = _cli(settings, "anchor")
    assert anchored.returncode == 0, anchored.stderr
    [anchor] = await _anchors(settings)
    today = datetime.now(PARIS).date()
    assert anchor["day"] == today and f"Anchored {today.isoformat()}: event {anchor['event_id']}" in anchored.stdout
    head = await fetch(settings, "SELECT id, hash FROM audit_event WHERE action <> 'audit.anchored' "
                                 "ORDER BY id DESC LIMIT 1")
    assert (anchor["event_id"], anchor["event_hash"]) == (head[0]["id"], head[0]["hash"])
    # The token's imprint is the head's hash itself (a SHA-256), by the session's TSA.
    assert verify_token(anchor["token"], None, load_trust(settings), sha256=bytes.fromhex(anchor["event_hash"])).ok
    # The anchoring is an act of its own in the log; a second anchor of the same day changes nothing.
    assert [r["action"] for r in await fetch(settings, "SELECT action FROM audit_event ORDER BY id DESC LIMIT 1")] \
        == ["audit.anchored"]
    assert _cli(settings, "anchor").returncode == 0 and len(await _anchors(settings)) == 1

    ok = _cli(settings, "verify")
    assert ok.returncode == 0, ok.stderr
    assert "chain intact; 1 daily anchors verified" in ok.stdout
    admin = world["platform_admin"]
    verified = expect(await client.get("/audit-events/verification", headers=admin.headers), 200)
    assert (verified["ok"], verified["anchorsChecked"], verified["brokenAnchorDay"]) == (True, 1, None)

    # The anchor is evidence: append-only, even for the schema's owner.
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        for statement in ("UPDATE audit_anchor SET event_hash = repeat('0', 64)", "DELETE FROM audit_anchor"):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await owner.execute(statement)
    finally:
        await owner.close()

    # An event before the anchored head is edited and the chain rehashed from it: every link verifies…
    ids = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event ORDER BY id")]
    victim = ids[len(ids) // 3]
    assert victim < anchor["event_id"]
    await _rewrite_from(settings, victim)
    broken = _cli(settings, "verify")
    # …but the chain no longer reaches the anchored hash: the anchor is named.
    assert broken.returncode == 1
    assert "BROKEN at audit event" not in broken.stderr
    assert f"BROKEN anchor of {today.isoformat()}: the chain recomputed up to event {anchor['event_id']}" \
        in broken.stderr
    answer = expect(await client.get("/audit-events/verification", headers=admin.headers), 200)
    assert answer["ok"] is False and answer["firstBrokenId"] is None
    assert answer["brokenAnchorDay"] == today.isoformat() and "edited" in answer["anchorReason"]


async def test_an_edited_anchored_event_breaks_both_its_link_and_its_anchor(settings: Settings, world: World) -> None:
    assert _cli(settings, "anchor").returncode == 0
    [anchor] = await _anchors(settings)
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("UPDATE audit_event SET details = '{\"name\": \"forged\"}' WHERE id = $1",
                            anchor["event_id"])
    finally:
        await owner.close()
    broken = _cli(settings, "verify")
    assert broken.returncode == 1
    assert f"BROKEN at audit event {anchor['event_id']}:" in broken.stderr
    assert f"BROKEN anchor of {anchor['day'].isoformat()}:" in broken.stderr


async def test_an_anchor_whose_token_is_not_the_trusted_tsas_fails(settings: Settings, world: World) -> None:
    """A token by another TSA (a forger's, with a certificate of its own) does not pass for the platform's."""
    rogue_root = issue("Rogue root", "Elsewhere", ca=True)
    rogue = TimeStamper(issue("Rogue TSA", "Elsewhere", rogue_root, tsa=True))
    head = await fetch(settings, "SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1")
    token = (await rogue.async_timestamp(bytes.fromhex(head[0]["hash"]), "sha256")).dump()
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("INSERT INTO audit_anchor (day, event_id, event_hash, token, gen_time, created_at) "
                            "VALUES ($1, $2, $3, $4, now(), now())", date(2026, 1, 5), head[0]["id"],
                            head[0]["hash"], token)
    finally:
        await owner.close()
    broken = _cli(settings, "verify")
    assert broken.returncode == 1
    assert "BROKEN anchor of 2026-01-05: its time-stamp token does not verify: its TSA certificate is not a " \
           "trusted one" in broken.stderr
    # And without any TSA certificate to check it against, no anchor passes.
    unchecked = _cli(settings.with_(tsa_certificate=""), "verify")
    assert unchecked.returncode == 1 and "no TSA certificate is configured" in unchecked.stderr


async def test_the_worker_anchors_the_day_before_once_and_waits_for_a_tsa_down(
        settings: Settings, world: World, local_tsa: EmbeddedTsa) -> None:
    today = datetime.now(PARIS).date()
    # The worker's cron runs "the next day": a clock a day ahead, so today's events are yesterday's.
    clock = FrozenClock(datetime.now(UTC) + timedelta(days=1))
    ctx: dict[str, Any] = {}
    options = worker_options(settings, clock)
    await options["on_startup"](ctx)
    try:
        local_tsa.unavailable = True
        assert await anchor_previous_day(ctx) == "tsa-unavailable"
        assert await _anchors(settings) == []
        local_tsa.unavailable = False
        outcome = await anchor_previous_day(ctx)
        [anchor] = await _anchors(settings)
        assert anchor["day"] == today and outcome == f"anchored {today.isoformat()} at event {anchor['event_id']}"
        # Hourly, and once a day: the next run finds it done.
        assert await anchor_previous_day(ctx) == outcome and len(await _anchors(settings)) == 1
    finally:
        await options["on_shutdown"](ctx)
    assert _cli(settings, "verify").returncode == 0


async def test_with_no_event_there_is_nothing_to_anchor(settings: Settings) -> None:
    engine = create_async_engine(settings.migration_url)
    try:
        from marketplace.lib.audit import anchor_chain
        from marketplace.lib.timestamps import TsaClient

        client = TsaClient.from_settings(settings)
        assert client is not None
        assert await anchor_chain(async_sessionmaker(engine), FrozenClock(datetime.now(UTC)), client) is None
    finally:
        await engine.dispose()
