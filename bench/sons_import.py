"""The bulk import of SONS orders from CSV: rows per second, against PostgreSQL's COPY of the same rows (issue 16).

    .venv/bin/python bench/sons_import.py [--rows 5000] [--out bench/RESULTS.md]

One run starts the embedded PostgreSQL, Redis and S3 (data under bench/out/sons_import), then in a fresh database:
the reference accounts of the test suite, a dispositif with its sample ceiling table and a referenced solution of
the `vendor` (through the API, as tests/sons does), and a CSV of N good rows, one single-site order each (the sites
are SIRETs of the holder's SIREN). It times, through `run_import` (what `./run import-sons-orders` and
`POST /sons/order-imports` run): the import (every order checked by the guards of `POST /sons/orders`, drafted,
audited by chunk), then the same file again (every order found unchanged, nothing written).

Baseline, in the same database and run: `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same bytes into an unlogged
scratch table of the file's columns (all text, no index): the floor PostgreSQL sets for taking these rows in. The
ratio says what parsing, the guards, the lookups, the two tables with their indexes and constraints, and the audit
cost on top. The result is prepended to its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard `http`
# package; the repository root instead, so the test suite's helpers can build the accounts and the dispositif.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import asyncpg  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench.fanout import _fresh_database  # noqa: E402
from bench.http import code_version, machine_facts  # noqa: E402
from marketplace.app import asyncpg_dsn, create_app, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import FrozenClock  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from marketplace.sons.imports import run_import  # noqa: E402
from tests.sons.api import dispositif, solution  # noqa: E402
from tests.sons.test_imports import HEADER, csv_bytes, row, siret  # noqa: E402
from tests.world import build_world  # noqa: E402

OUT = ROOT / "bench" / "out"
MARKER = "<!-- SONS import runs: newest first; bench/sons_import.py inserts new ones below this line -->"
INTRO = f"""
# SONS order import benchmark results

What is measured: importing a CSV of N SONS orders (one site each) for a vendor, through `run_import` (what
`./run import-sons-orders` and `POST /sons/order-imports` run): each order checked by the guards of
`POST /sons/orders`, written with its site, audited by chunk of 1,000; then the same file again (nothing created).
Baseline: PostgreSQL's `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same bytes into an unlogged scratch table
of the file's text columns, in the same database and run. Issue 16 asks for 5,000 rows well under a minute.
Reproduce:

    .venv/bin/python bench/sons_import.py --rows 5000

{MARKER}
"""
# The frozen instant the app, the calendar and the import share (the order deadline is 30 days later).
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _copy(dsn: str, data: bytes) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        columns = ", ".join(f'"{c}" text' for c in HEADER)
        await conn.execute(f"CREATE UNLOGGED TABLE scratch_sons_import ({columns})")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_to_table("scratch_sons_import", source=io.BytesIO(data), format="csv", header=True)
        elapsed = time.perf_counter() - started
        copied = await conn.fetchval("SELECT count(*) FROM scratch_sons_import")
        assert copied == data.count(b"\n") - 1, copied
        return elapsed
    finally:
        await conn.execute("DROP TABLE IF EXISTS scratch_sons_import")
        await conn.close()


async def measure(stack_settings: Settings, n: int) -> dict[str, float]:
    settings = await _fresh_database(stack_settings, f"bench_sons_import_{n}")
    world = await build_world(settings)
    clock = FrozenClock(AT)
    async with AsyncTestClient(create_app(settings, clock=clock, run_relay=False)) as client:
        found = await dispositif(client, world, settings, AT)
        number = (await solution(client, world, found["id"], AT))["referencingNumber"]
    data = csv_bytes([row(f"BENCH-{i:06d}", number, siret=siret(i)) for i in range(n)])
    owner = asyncpg_dsn(settings.migration_url)
    conn = await asyncpg.connect(owner)
    await conn.execute("ANALYZE")
    await conn.close()
    copy = await _copy(owner, data)
    engine = create_async_engine(settings.database_url)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        vendor = world.organisations["vendor"]
        started = time.perf_counter()
        first = await run_import(sessions, clock, actor="bench", vendor_id=vendor, data=data)
        imported = time.perf_counter() - started
        started = time.perf_counter()
        again = await run_import(sessions, clock, actor="bench", vendor_id=vendor, data=data)
        reimported = time.perf_counter() - started
    finally:
        await engine.dispose()
    assert (first.created, first.refused_rows) == (n, 0), first.errors[:3]
    assert (again.created, again.unchanged) == (0, n)
    return {"import": imported, "again": reimported, "copy": copy}


def section(results: dict[int, dict[str, float]], command: str, started: datetime, elapsed: float) -> str:
    facts = "\n".join(f"- {k}: {v}" for k, v in machine_facts().items() if k != "wrk")
    rows = ["| rows | import (created) | rows/s | same file again (unchanged) | rows/s | COPY baseline | rows/s | "
            "import ÷ COPY | under 60 s |", "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for n, r in results.items():
        rows.append(f"| {n:,} | {r['import']:.2f} s | {n / r['import']:,.0f} | {r['again']:.2f} s | "
                    f"{n / r['again']:,.0f} | {r['copy'] * 1000:,.0f} ms | {n / r['copy']:,.0f} | "
                    f"{r['import'] / r['copy']:,.0f}× | {'yes' if r['import'] < 60 else 'NO'} |")
    table = "\n".join(rows)
    return (f"## {started:%Y-%m-%d %H:%M} UTC\n\nCommand: `{command}` (whole run {elapsed:.0f} s)\n\n"
            f"Code: {code_version()}\n\nMachine:\n{facts}\n\n{table}\n\nEach import created N orders and N sites "
            "(checked after the run); the second found the N orders unchanged and wrote nothing.\n\n")


def record(out: Path, text: str) -> None:
    content = out.read_text(encoding="utf-8") if out.exists() else ""
    if MARKER not in content:
        content = content.rstrip("\n") + "\n" + INTRO
    head, _, tail = content.partition(MARKER)
    out.write_text(f"{head}{MARKER}\n\n{text}{tail.lstrip(chr(10))}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Up to 10,000: the sites are SIRETs of one SIREN (four digits of establishment number and the key).
    parser.add_argument("--rows", type=int, nargs="+", default=[5000], choices=range(1, 10_001), metavar="N")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    started, t0 = datetime.now(UTC), time.perf_counter()
    base = Settings.from_env().with_(data_dir=OUT / "sons_import")
    stack = Stack(base, durable=True)
    settings = stack.start()
    try:
        asyncio.run(make_store(settings).ensure_bucket())
        results = {n: asyncio.run(measure(settings, n)) for n in args.rows}
    finally:
        stack.stop()
    for n, r in results.items():
        print(f"{n:>6,} rows: import {r['import']:.2f} s ({n / r['import']:,.0f} rows/s), again {r['again']:.2f} s, "
              f"COPY {r['copy'] * 1000:,.0f} ms ({n / r['copy']:,.0f} rows/s), ratio {r['import'] / r['copy']:,.0f}×")
    command = ".venv/bin/python bench/sons_import.py " + shlex.join(["--rows", *map(str, args.rows)])
    record(args.out, section(results, command, started, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
