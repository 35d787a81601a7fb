"""The audit log is append-only and tamper-evident (P8, G14); it is linked when each transaction commits (migration
0037), so concurrent writers never wait on each other before their commit, and the chain still catches any edit,
deletion or insertion."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn
from marketplace.lib import audit
from marketplace.lib.audit import AuditEvent, link_hash
from marketplace.lib.clock import SystemClock
from marketplace.settings import Settings
from tests.world import World


def _verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run([sys.executable, "-m", "marketplace", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_verify_names_the_first_tampered_row(settings: Settings, world: World) -> None:
    ok = _verify(settings)
    assert ok.returncode == 0, ok.stderr
    assert "chain intact" in ok.stdout

    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        ids = [r["id"] for r in await owner.fetch("SELECT id FROM audit_event ORDER BY id")]
        assert len(ids) > 10
        victim = ids[len(ids) // 2]
        # Even the owner is refused while the triggers are on…
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await owner.execute("UPDATE audit_event SET actor = 'someone else' WHERE id = $1", victim)
        # …so a superuser has to switch them off to tamper.
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("UPDATE audit_event SET details = '{\"name\": \"forged\"}' WHERE id = $1", victim)
    finally:
        await owner.close()

    broken = _verify(settings)
    assert broken.returncode == 1
    assert f"BROKEN at audit event {victim}:" in broken.stderr
    assert "edited" in broken.stderr


async def test_deleting_a_row_breaks_the_chain_at_the_next_one(settings: Settings, world: World) -> None:
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        ids = [r["id"] for r in await owner.fetch("SELECT id FROM audit_event ORDER BY id")]
        await owner.execute("SET session_replication_role = replica")
        await owner.execute("DELETE FROM audit_event WHERE id = $1", ids[3])
    finally:
        await owner.close()
    broken = _verify(settings)
    assert broken.returncode == 1 and f"BROKEN at audit event {ids[4]}:" in broken.stderr


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'x'",
    # The link's columns, which its role may update only from the link trigger, at commit (migration 0037).
    "UPDATE audit_event SET hash = md5(hash) || md5(hash)",
    "UPDATE audit_event SET chain_position = chain_position + 1000000",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
])
async def test_the_application_role_cannot_rewrite_the_log(settings: Settings, world: World,
                                                           statement: str) -> None:
    assert settings.database_url != settings.migration_url, "the app must not connect as the schema owner"
    app = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(statement)
        # It can still append and read.
        assert await app.fetchval("SELECT count(*) FROM audit_event") > 0
    finally:
        await app.close()


async def _chain(settings: Settings) -> list[asyncpg.Record]:
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        return await owner.fetch("SELECT * FROM audit_event ORDER BY chain_position")
    finally:
        await owner.close()


async def test_concurrent_writers_are_linked_in_commit_order_without_gaps(settings: Settings, world: World) -> None:
    """Forty transactions record events at once, one in four rolls back: every committed event gets the next
    position after the head its commit found, the rolled-back ones leave no trace, and the chain verifies."""
    engine = create_async_engine(settings.database_url, pool_size=20, max_overflow=20)
    sessions = async_sessionmaker(engine)
    before = len(await _chain(settings))

    async def writer(n: int) -> None:
        async with sessions() as session:
            await session.begin()
            for k in range(2):
                await audit.record(session, SystemClock(), "test.concurrent", actor=f"writer:{n}",
                                   details={"n": n, "k": k, "text": "équité — 平等"})
                await asyncio.sleep(0)
            if n % 4 == 3:
                await session.rollback()
            else:
                await session.commit()

    try:
        await asyncio.gather(*(writer(n) for n in range(40)))
    finally:
        await engine.dispose()
    rows = await _chain(settings)
    assert [r["chain_position"] for r in rows] == list(range(1, len(rows) + 1))
    mine = [r for r in rows if r["action"] == "test.concurrent"]
    assert len(rows) == before + 60 and len(mine) == 60
    assert {json.loads(r["details"])["n"] for r in mine} == {n for n in range(40) if n % 4 != 3}
    # Each transaction's two events are next to each other: the chain is in the order of the commits.
    for first, second in zip(mine[::2], mine[1::2], strict=True):
        assert first["actor"] == second["actor"] and second["chain_position"] == first["chain_position"] + 1
    previous = rows[0]["prev_hash"]
    for row in rows:
        event = AuditEvent(**{k: json.loads(v) if k == "details" else v for k, v in dict(row).items()})
        assert row["prev_hash"] == previous and row["hash"] == link_hash(previous, event)
        previous = row["hash"]
    ok = _verify(settings)
    assert ok.returncode == 0 and "chain intact" in ok.stdout, ok.stdout + ok.stderr


async def _forge(settings: Settings, *statements: tuple[str, tuple[object, ...]]) -> None:
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("SET session_replication_role = replica")  # triggers off: a superuser's doing
        for statement, args in statements:
            await owner.execute(statement, *args)
    finally:
        await owner.close()


# A copy of an event under another action, with no place in the chain.
_UNLINKED_COPY = ("INSERT INTO audit_event (at, action, actor, organisation_id, target_type, target_id, details, "
                  "content_sha256) SELECT at, 'offer.withdrawn', actor, organisation_id, target_type, target_id, "
                  "details, content_sha256 FROM audit_event WHERE id = $1")


async def test_an_event_inserted_out_of_band_is_named(settings: Settings, world: World) -> None:
    """Insertions, each with the triggers off: an event with no place in the chain; an event slipped between two
    others (the later positions moved up one, its hash computed right), which the next event's link refuses."""
    rows = await _chain(settings)
    victim = rows[len(rows) // 2]
    await _forge(settings, (_UNLINKED_COPY, (victim["id"],)))
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        stray = await owner.fetchval("SELECT id FROM audit_event WHERE chain_position IS NULL")
    finally:
        await owner.close()
    broken = _verify(settings)
    assert broken.returncode == 1 and f"BROKEN at audit event {stray}:" in broken.stderr
    assert "no place in the chain" in broken.stderr
    await _forge(settings, ("DELETE FROM audit_event WHERE id = $1", (stray,)))
    assert _verify(settings).returncode == 0

    # Between `victim` and the event after it: its prev_hash is victim's hash, so it links; the next one's doesn't.
    following = rows[len(rows) // 2 + 1]
    forged = AuditEvent(**{k: json.loads(v) if k == "details" else v for k, v in dict(victim).items()})
    forged.action = "offer.withdrawn"
    await _forge(settings, ("UPDATE audit_event SET chain_position = chain_position + 1000000 "
                            "WHERE chain_position > $1", (victim["chain_position"],)),
                 ("UPDATE audit_event SET chain_position = chain_position - 1000000 + 1 "
                  "WHERE chain_position > 1000000", ()))
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await owner.execute("SET session_replication_role = replica")
        new_id = await owner.fetchval("SELECT nextval(pg_get_serial_sequence('audit_event', 'id'))")
        forged.id = new_id
        await owner.execute(
            "INSERT INTO audit_event (id, at, action, actor, organisation_id, target_type, target_id, details, "
            "content_sha256, chain_position, prev_hash, hash) SELECT $1, at, 'offer.withdrawn', actor, "
            "organisation_id, target_type, target_id, details, content_sha256, $2, $3, $4 FROM audit_event "
            "WHERE id = $5", new_id, victim["chain_position"] + 1, victim["hash"],
            link_hash(victim["hash"], forged), victim["id"])
    finally:
        await owner.close()
    broken = _verify(settings)
    assert broken.returncode == 1 and f"BROKEN at audit event {following['id']}:" in broken.stderr
    assert "deleted, inserted or reordered" in broken.stderr
