"""Publishing a specific contract to N admitted vendors: how long the fan-out takes (issue 5, D8).

    .venv/bin/python bench/fanout.py [--vendors 2000 10000] [--out bench/RESULTS.md]

One run starts the embedded PostgreSQL, Redis and S3 (data under bench/out/fanout), and for each N:
a fresh database, the reference accounts of the test suite, an active DPS, N vendors admitted to one of
its categories (inserted set-based), a submitted need; then it times `POST /needs/{id}/publish` through
the real app (in-process ASGI client; the request's own cost is milliseconds, the fan-out is the rest)
and checks that N invitations with one timestamp, N notifications and N delivery intents were written.

Baseline, measured in the same database just before: the floor PostgreSQL sets for writing as many rows
(3 N, the same columns, `INSERT … SELECT generate_series`, into unindexed unlogged copies of the three
tables). The ratio says what the real statement's joins, indexes, constraints and WAL cost on top.
The result is prepended to its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard `http`
# package; the repository root instead, so the test suite's fixtures can build the accounts and the DPS.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import asyncpg  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench.http import code_version, machine_facts  # noqa: E402
from marketplace.app import asyncpg_dsn, create_app, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import FrozenClock, SystemClock  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.reference.services import import_cpv  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from tests.conftest import CPV_SAMPLE as CPV_FILE  # noqa: E402
from tests.tenders.test_publication import _insert_admitted_vendors, publish, submitted_need  # noqa: E402
from tests.vendors.api import categories_by_pair, open_dps  # noqa: E402
from tests.world import build_world  # noqa: E402

OUT = ROOT / "bench" / "out"
MARKER = "<!-- fan-out runs: newest first; bench/fanout.py inserts new ones below this line -->"
INTRO = f"""
# Fan-out benchmark results

What is measured: `POST /needs/{{id}}/publish` on an active DPS whose category has N admitted vendors:
one statement writes N invitations (one timestamp, D8), a notification per vendor admin and its
delivery intent (the outbox). Baseline: PostgreSQL writing as many rows (3 N) with `INSERT … SELECT
generate_series` into unindexed unlogged tables of the same columns, in the same run. Issue 5 asks for
10,000 vendors in under 10 s. Reproduce:

    .venv/bin/python bench/fanout.py --vendors 2000 10000

{MARKER}
"""

_FLOOR = """
CREATE UNLOGGED TABLE IF NOT EXISTS floor_invitation (LIKE contract_invitation INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE IF NOT EXISTS floor_notification (LIKE notification INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE IF NOT EXISTS floor_intent (LIKE job_intent INCLUDING DEFAULTS);
"""


async def _floor(dsn: str, n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_FLOOR)
        now = datetime.now(UTC)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO floor_invitation SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), "
                "gen_random_uuid(), $1, NULL, $1, $1 FROM generate_series(1, $2)", now, n)
            await conn.execute(
                "INSERT INTO floor_notification (id, recipient_email, subject, body, kind, about_id, email_status, "
                "created_at, updated_at) SELECT gen_random_uuid(), 'admin' || g || '@example.fr', 'Invitation', "
                "'Vous êtes invité…', 'tender.invitation', NULL, 'pending', $1, $1 FROM generate_series(1, $2) g",
                now, n)
            await conn.execute(
                "INSERT INTO floor_intent (id, name, args, status, available_at, relay_attempts, created_at, "
                "updated_at) SELECT gen_random_uuid(), 'deliver_notification', jsonb_build_array(g::text), "
                "'pending', $1, 0, $1, $1 FROM generate_series(1, $2) g", now, n)
        return time.perf_counter() - started
    finally:
        await conn.execute("DROP TABLE floor_invitation, floor_notification, floor_intent")
        await conn.close()


async def _fresh_database(stack_settings: Settings, name: str) -> Settings:
    head = stack_settings.migration_url.rpartition("/")[0]
    conn = await asyncpg.connect(asyncpg_dsn(stack_settings.migration_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    owner = f"{head}/{name}"
    await asyncio.to_thread(upgrade, owner)  # alembic runs its own event loop
    return stack_settings.with_(database_url=f"{stack_settings.database_url.rpartition('/')[0]}/{name}",
                                migration_database_url=owner)


async def measure(stack_settings: Settings, n: int) -> dict[str, float]:
    settings = await _fresh_database(stack_settings, f"bench_fanout_{n}")
    engine = create_async_engine(settings.migration_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await import_cpv(session, SystemClock(), CPV_FILE, None)
        await session.commit()
    await engine.dispose()
    world = await build_world(settings)
    clock = FrozenClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    async with AsyncTestClient(create_app(settings, clock=clock, run_relay=False)) as client:
        dps = await open_dps(client, world, clock)
        await _insert_admitted_vendors(settings, dps["id"], categories_by_pair(dps)["grand_age", "saas"], n)
        need = await submitted_need(client, world)
        owner = asyncpg_dsn(settings.migration_url)
        conn = await asyncpg.connect(owner)
        await conn.execute("ANALYZE")
        await conn.close()
        floor = await _floor(owner, n)
        started = time.perf_counter()
        response = await publish(client, world, need["id"], dps["id"], (clock.now() + timedelta(days=14)).isoformat())
        elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    contract = uuid.UUID(response.json()["id"])
    conn = await asyncpg.connect(owner)
    try:
        invitations, instants = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT invited_at) FROM contract_invitation WHERE specific_contract_id = $1",
            contract)
        intents = await conn.fetchval("SELECT count(*) FROM job_intent WHERE name = 'deliver_notification'")
    finally:
        await conn.close()
    assert (invitations, instants, intents) == (n, 1, n), (invitations, instants, intents)
    return {"publish": elapsed, "floor": floor}


def section(results: dict[int, dict[str, float]], command: str, started: datetime, elapsed: float) -> str:
    facts = "\n".join(f"- {k}: {v}" for k, v in machine_facts().items() if k != "wrk")
    rows = ["| admitted vendors | publish (HTTP 201) | baseline: 3 N bare rows | ratio | under 10 s |",
            "|---:|---:|---:|---:|:---:|"]
    for n, r in results.items():
        rows.append(f"| {n:,} | {r['publish'] * 1000:,.0f} ms | {r['floor'] * 1000:,.0f} ms | "
                    f"{r['publish'] / r['floor']:.1f}× | {'yes' if r['publish'] < 10 else 'NO'} |")
    table = "\n".join(rows)
    return (f"## {started:%Y-%m-%d %H:%M} UTC\n\nCommand: `{command}` (whole run {elapsed:.0f} s)\n\n"
            f"Code: {code_version()}\n\nMachine:\n{facts}\n\n{table}\n\nEach publish wrote N invitations with one "
            "timestamp and N notifications with their N delivery intents (checked after the run).\n\n")


def record(out: Path, text: str) -> None:
    content = out.read_text(encoding="utf-8") if out.exists() else ""
    if MARKER not in content:
        content = content.rstrip("\n") + "\n" + INTRO
    head, _, tail = content.partition(MARKER)
    out.write_text(f"{head}{MARKER}\n\n{text}{tail.lstrip(chr(10))}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendors", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    started, t0 = datetime.now(UTC), time.perf_counter()
    base = Settings.from_env().with_(data_dir=OUT / "fanout")
    stack = Stack(base, durable=True)
    settings = stack.start()
    try:
        asyncio.run(make_store(settings).ensure_bucket())
        results = {n: asyncio.run(measure(settings, n)) for n in args.vendors}
    finally:
        stack.stop()
    for n, r in results.items():
        print(f"{n:>7,} vendors: publish {r['publish'] * 1000:,.0f} ms, floor {r['floor'] * 1000:,.0f} ms, "
              f"ratio {r['publish'] / r['floor']:.1f}×")
    command = ".venv/bin/python bench/fanout.py " + shlex.join(
        ["--vendors", *map(str, args.vendors)])
    record(args.out, section(results, command, started, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
