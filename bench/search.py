"""Latency of the public search of published needs over HTTP, at 100,000 needs or more, against a bare baseline.

    .venv/bin/python bench/search.py [--count 100000] [--requests 300] [--concurrency 4] [--workers 2]
                                     [--p95-target 50] [--no-targets]
    .venv/bin/python bench/search.py --count 1000000 --concurrency 4      # the target's size

Starts the embedded PostgreSQL, Redis and S3 (data under bench/out/search-data, kept between runs), migrates,
seeds the published needs if fewer are there (bench/seed_needs.py), then measures, each on a granian server
started like production: `GET /` of the bare app (bench/hello_app.py, the baseline), then `GET
/discovery/needs` of the real app with four query mixes: text only, text + département, filters without
text, and the second page of a text search or listing (through `nextCursor`). Each mix is `--requests`
requests from `--concurrency` clients in a closed loop, after a warm-up; p50/p95/p99 per mix and their
ratio to the baseline's. The public lists' response cache is off for the measured server (every search reaches
PostgreSQL; `--with-cache` keeps it). The plans PostgreSQL chooses for one query of each mix are summarised too.
A dated section is inserted at the top of the runs in bench/RESULTS.md.

Target: every mix's p95 under `--p95-target` ms (50 by default; set for 1,000,000 published needs and 4 clients);
the exit status is 1 when one is missed (`--no-targets`: only when a request fails). Seeding is set-based
(bench/seed_needs.py: COPY by batches of 50,000, then one INSERT … SELECT for the search documents), and what is
seeded stays in the data directory: a later run at the same size or smaller seeds nothing.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this directory comes first on sys.path, where bench/http.py would shadow the standard
# library's `http` package: replace it with the repository root, so `bench.*` imports work.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import msgspec  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402
from sqlalchemy.ext.compiler import compiles  # noqa: E402
from sqlalchemy.sql.compiler import SQLCompiler  # noqa: E402
from sqlalchemy.sql.expression import ClauseElement, Executable  # noqa: E402

from bench import rawhttp  # noqa: E402
from bench.http import (  # noqa: E402
    OUT,
    RUNS_MARKER,
    CpuMeter,
    Server,
    child_env,
    code_version,
    machine_facts,
    serving,
)
from bench.seed_needs import index_in_parallel, seed  # noqa: E402
from marketplace.app import asyncpg_dsn, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import SystemClock  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from marketplace.tenders import schemas  # noqa: E402
from marketplace.tenders.search import NeedSearchService, build_search, check_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PATH = "/discovery/needs"
TEXTS = ("dossier usager", "logiciels de soins", "télégestion SSIAD", "interoperabilite MSSante",
         "portail des familles", "Ajaccio", "circuit du médicament", "EHPAD", "\"aide à domicile\"",
         "facturation conseils départementaux")
DEPARTEMENTS = ("75", "69", "13", "2A", "971", "59", "33", "67")
FILTERS: tuple[dict[str, str], ...] = (
    {}, {"departement": "75"}, {"region": "84"}, {"sector": "handicap", "deliveryMode": "saas"},
    {"cpv": "48814000"}, {"status": "open"}, {"region": "76", "cpv": "72000000"}, {"departement": "2A"},
    {"sector": "domicile", "status": "open", "region": "11"})


def mixes() -> dict[str, list[dict[str, str]]]:
    text = [{"q": q} for q in TEXTS]
    return {
        "text only": text,
        "text + département": [{"q": q, "departement": d} for q, d in zip(TEXTS, DEPARTEMENTS * 2, strict=False)],
        "filters, no text": list(FILTERS),
        "second page (cursor)": text[:5] + list(FILTERS[:5]),
    }


@dataclass(frozen=True)
class Figures:
    name: str
    count: int
    p50: float
    p95: float
    p99: float
    errors: int
    # Milliseconds of CPU per request by process during the measured requests (`CPU_COLUMNS`).
    cpu: dict[str, float] = field(default_factory=dict)


# The server (granian and its workers), the services it uses, this script's clients, and the rest of the machine.
CPU_COLUMNS = ("server", "postgres", "redis", "s3", "client", "other")


def figures(name: str, latencies: list[float], errors: int, cpu: dict[str, float] | None = None) -> Figures:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Figures(name, len(latencies), cuts[49], cuts[94], cuts[98], errors, cpu or {})


def _own_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


async def _load(base: str, urls: list[tuple[str, dict[str, str]]], requests: int, concurrency: int) -> tuple[
        list[float], int]:
    """`requests` GETs spread over `concurrency` clients, each on its own kept-alive connection and waiting
    for its answer before the next (bench/rawhttp.py: prepared requests, tens of microseconds of CPU each)."""
    prepared = [rawhttp.prepare(base, "GET", f"{path}{'?' + urlencode(params) if params else ''}")
                for path, params in urls]
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def client() -> None:
        nonlocal errors
        connection = rawhttp.Connection(base)
        try:
            for index in counter:
                started = time.perf_counter()
                status, _ = await connection.send(prepared[index % len(prepared)])
                latencies.append((time.perf_counter() - started) * 1000)
                errors += status != 200
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors


def measure(name: str, server: Server, urls: list[tuple[str, dict[str, str]]], args: argparse.Namespace) -> Figures:
    base = server.base
    asyncio.run(_load(base, urls, max(len(urls) * 3, 50), args.concurrency))  # warm-up: pools, caches
    # Where the CPU goes while the measured requests run (bench/http.py's meter: processes attributed by what
    # was started, never by name); the clients are this script, counted apart from the rest of the machine.
    meter = CpuMeter(args.data_dir, server)
    meter.start()
    own = _own_cpu_ms()
    latencies, errors = asyncio.run(_load(base, urls, args.requests, args.concurrency))
    split = meter.stop()
    client = _own_cpu_ms() - own
    spent = {**{key: split.ms[key] for key in ("server", "postgres", "redis", "s3")}, "client": client,
             "other": max(split.ms["other"] - client, 0.0)}
    result = figures(name, latencies, errors, {key: ms / len(latencies) for key, ms in spent.items()})
    print(f"  {name}: p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms, p99 {result.p99:.1f} ms "
          f"({result.errors} errors)", flush=True)
    return result


def second_pages(base: str, queries: list[dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    urls = []
    for params in queries:
        first = httpx.get(base + PATH, params=params, timeout=10).json()
        if first.get("nextCursor"):
            urls.append((PATH, {**params, "cursor": first["nextCursor"]}))
    return urls


# ------------------------------------------------------------------------------------------- plans


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, FORMAT JSON) " + compiler.process(element.statement, **kw)


def _scans(plan: dict[str, Any]) -> list[str]:
    here = []
    if "Scan" in plan["Node Type"] and plan.get("Relation Name") == "need_search":
        here.append(plan["Node Type"] + (f" on {plan['Index Name']}" if plan.get("Index Name") else ""))
    return here + [s for child in plan.get("Plans", []) for s in _scans(child)]


async def plans(settings: Settings) -> list[str]:
    """How `need_search` is read (its scans) for one query of each mix, and the statement's time."""
    samples = {"text only": {"q": "dossier usager"}, "text only, rare": {"q": "interoperabilite MSSante"},
               "text + département": {"q": "dossier usager", "departement": "69"},
               "filters, no text": {"sector": "handicap", "deliveryMode": "saas"},
               "filters, département": {"departement": "75"}}
    lines = []
    engine = create_async_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            for name, params in samples.items():
                query = check_params(msgspec.convert(params, schemas.NeedSearchParams), datetime.now(UTC))
                # As the service builds it: the text's words read through the text index or not.
                common = query.q is not None and await NeedSearchService(session, SystemClock()).common_words(query.q)
                raw = (await session.execute(Explain(build_search(query, common_words=common)))).scalar_one()
                result = (json.loads(raw) if isinstance(raw, str) else raw)[0]
                scans = "; ".join(dict.fromkeys(_scans(result["Plan"])))
                lines.append(f"- {name} (`{params}`): {scans}; {result['Execution Time']:.1f} ms")
    finally:
        await engine.dispose()
    return lines


# ------------------------------------------------------------------------------------------ seeding


async def size_buffer_pool(settings: Settings, size: str) -> bool:
    """Give the benchmark's own cluster (never the development one) a buffer pool sized for its data, as a
    server holding a million needs would be set up (PostgreSQL's 128 MB default holds a tenth of the search
    table, and every search then copies its pages from the kernel's cache); True when a restart is needed."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        wanted = await conn.fetchval("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
        target = await conn.fetchval("SELECT pg_size_bytes($1)", size)
        if wanted == target:
            return False
        await conn.execute(f"ALTER SYSTEM SET shared_buffers = '{int(target) // 1024}kB'")
        return True
    finally:
        await conn.close()


def start(data_dir: Path, shared_buffers: str) -> tuple[Stack, Settings]:
    stack = Stack(Settings(data_dir=data_dir), durable=True)
    settings = stack.start()
    if asyncio.run(size_buffer_pool(settings, shared_buffers)):
        stack.stop()  # the pool's size is read at start only
        stack = Stack(Settings(data_dir=data_dir), durable=True)
        settings = stack.start()
    return stack, settings


async def prewarm(settings: Settings) -> None:
    """The search's tables and indexes read into the buffer pool, as a server that has been answering searches
    holds them: each run starts the cluster afresh, and its first minutes would otherwise measure the disk."""
    await vacuum(settings)
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        # The tables that hold rows: a partitioned table's partitions (migration 0038), not the table itself.
        await conn.execute("""
            WITH stored AS (
                SELECT t.relid FROM unnest(ARRAY['need_search', 'need_search_place', 'need', 'specific_contract'])
                    AS n(name), pg_partition_tree(n.name::regclass) AS t WHERE t.isleaf)
            SELECT pg_prewarm(relid) FROM (
                SELECT relid FROM stored UNION ALL
                SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT relid FROM stored)) AS everything""")
    finally:
        await conn.close()


async def vacuum(settings: Settings) -> None:
    """The search tables vacuumed, as autovacuum keeps a server's: a migration that rewrote a column of a seeded
    table (0036 copied the documents onto `need_search_place`) leaves a dead row behind every live one, which each
    search would step over until autovacuum's next pass. Quick when there is nothing to do."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        await conn.execute("VACUUM (ANALYZE) need_search, need_search_place")
    finally:
        await conn.close()


async def in_publication_order(conn: asyncpg.Connection) -> bool:
    correlation = await conn.fetchval("SELECT correlation FROM pg_stats WHERE tablename = 'need_search' "
                                      "AND attname = 'published_at'")
    return correlation is not None and abs(correlation) > 0.9


async def store_in_publication_order(conn: asyncpg.Connection) -> None:
    """The search documents laid out as the platform writes them: one at each publication, so in the order of
    publication. The seed writes a year of needs at once with random dates, which scatters the rows of a
    day over the whole table; a search reading the most recent needs would then fetch a page per row, which
    no real table shows."""
    await conn.execute("SET maintenance_work_mem = '1GB'")
    await conn.execute("CLUSTER need_search USING ix_need_search_published_at_need_id")
    await conn.execute("ANALYZE need_search")


async def ensure_seeded(settings: Settings, count: int) -> str:
    dsn = asyncpg_dsn(settings.migration_url)
    conn = await asyncpg.connect(dsn)
    try:
        have = int(await conn.fetchval("SELECT count(*) FROM need WHERE status = 'published' AND NOT sandbox"))
        documents = int(await conn.fetchval("SELECT count(*) FROM need_search"))
        if have >= count and documents >= have:
            if await in_publication_order(conn):
                return f"{documents} published needs already there"
            started = time.perf_counter()
            await store_in_publication_order(conn)
            return (f"{documents} published needs already there, stored in publication order in "
                    f"{time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        if have < count:
            async with conn.transaction():
                await seed(conn, count - have, now=datetime.now(UTC), random_seed=have + 1, index=False)
        # Committed first, so that the search documents are written on all cores at once; a run stopped
        # between the two writes them next time.
        seeded = time.perf_counter() - started
        written = await index_in_parallel(dsn, len(os.sched_getaffinity(0)))
        await store_in_publication_order(conn)
        await conn.execute("ANALYZE")
        return (f"{max(count - have, 0)} published needs seeded in {time.perf_counter() - started:.0f} s "
                f"(rows copied in {seeded:.0f} s, then {written} search documents written)")
    finally:
        await conn.close()


# -------------------------------------------------------------------------------------------- report


def table(results: list[Figures], baseline: Figures) -> str:
    rows = ["| query mix | requests | p50 | p95 | p99 | errors | p50 vs hello | p95 vs hello |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r.name} | {r.count} | {r.p50:.1f} ms | {r.p95:.1f} ms | {r.p99:.1f} ms | {r.errors} | "
                    f"{r.p50 / baseline.p50:.1f}× | {r.p95 / baseline.p95:.1f}× |")
    return "\n".join(rows)


def cpu_table(results: list[Figures]) -> str:
    rows = ["| query mix | " + " | ".join(CPU_COLUMNS) + " | total |", "|---|" + "---:|" * (len(CPU_COLUMNS) + 1)]
    for r in results:
        cells = " | ".join(f"{r.cpu.get(name, 0.0):.3f}" for name in CPU_COLUMNS)
        rows.append(f"| {r.name} | {cells} | {sum(r.cpu.values()):.3f} |")
    return "\n".join(rows)


def report(args: argparse.Namespace, results: list[Figures], plan_lines: list[str], verdict: str) -> None:
    print(table(results, results[0]))
    print(cpu_table(results))
    print("\n".join(plan_lines))
    print(f"p95 target < {args.p95_target:g} ms: {verdict}")
    print(f"written to {args.out}")


def insert_section(path: Path, section: str) -> None:
    """Newest first, right after the marker; the intro (bench/http.py's) is left as it is. A file that does not
    exist yet (an `--out` elsewhere) is started: the run's figures are never lost to a missing file."""
    old = path.read_text() if path.exists() else ""
    head, marker, runs = old.partition(RUNS_MARKER)
    if not marker:
        path.write_text(old.rstrip() + f"\n\n{RUNS_MARKER}\n\n{section.strip()}\n")
        return
    path.write_text(f"{head}{marker}\n\n{section.strip()}\n\n{runs.strip()}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="published needs in the database")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per query mix")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in a closed loop")
    parser.add_argument("--with-cache", action="store_true",
                        help="keep the public lists' response cache on (off by default: every search is measured)")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--p95-target", type=float, default=50.0, help="ms: the p95 every mix must stay under")
    parser.add_argument("--no-targets", action="store_true", help="exit 0 even if a mix misses the p95 target")
    parser.add_argument("--data-dir", type=Path, default=OUT / "search-data")
    parser.add_argument("--shared-buffers", default="2GB",
                        help="PostgreSQL's buffer pool for the benchmark's own cluster (set by ALTER SYSTEM there)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/search.py", *(sys.argv[1:] if argv is None else argv)])
    started, began, code = datetime.now(UTC), time.monotonic(), code_version()
    # Other work on the machine shares its cores with the server, PostgreSQL and the clients.
    load_before = os.getloadavg()
    stack, settings = start(args.data_dir, args.shared_buffers)
    running: list[Server] = []
    try:
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        seeded = asyncio.run(ensure_seeded(settings, args.count))
        print(seeded, flush=True)
        asyncio.run(prewarm(settings))
        env = child_env(settings)
        with serving(Server("search-hello", "bench.hello_app:create_app", args.workers, env), "/", running) as srv:
            baseline = measure("`GET /` bare app (baseline)", srv, [("/", {})], args)
        results = []
        # Each search reaches PostgreSQL: with the public lists' response cache on (2 s by default), the same
        # few queries repeated by the mixes would mostly be answered from Redis, and the figures would measure
        # the cache rather than the search (`--with-cache` measures what a visitor repeating a search gets).
        search_env = env if args.with_cache else {**env, "MARKETPLACE_PUBLIC_CACHE_SECONDS": "0"}
        with serving(Server("search", "marketplace.app:create_app", args.workers, search_env), "/health",
                     running) as srv:
            for name, queries in mixes().items():
                urls = second_pages(srv.base, queries) if "cursor" in name else [(PATH, q) for q in queries]
                results.append(measure(name, srv, urls, args))
        plan_lines = asyncio.run(plans(settings))
    finally:
        for server in reversed(running):
            server.stop()
        stack.stop()

    try:
        described = machine_facts()
    except OSError:  # it also asks `wrk` its version, which this benchmark doesn't need
        described = {"nproc": str(os.cpu_count())}
    facts = "\n".join(f"- {name}: {value}" for name, value in described.items() if name != "wrk")
    missed = [r for r in results if r.p95 >= args.p95_target]
    verdict = "met" if not missed else "MISSED by " + ", ".join(f"{r.name} ({r.p95:.1f} ms)" for r in missed)
    section = f"""## {started:%Y-%m-%d %H:%M} UTC — public search of published needs (`GET {PATH}`)

Command: `{command}` (whole run {time.monotonic() - began:.0f} s; {seeded}). Load average before the
run: {load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min); after: {os.getloadavg()[0]:.2f}.

Code: {code}

Machine:
{facts}

Data: {args.count:,} published needs (bench/seed_needs.py: French text of the programme, every département,
CPV divisions 48 and 72, published over a year), their search documents stored in publication order;
PostgreSQL's buffer pool (`shared_buffers`) {args.shared_buffers}.
Load: {args.concurrency} clients in a closed loop (one kept-alive HTTP/1.1 connection each, prepared requests;
same machine), {args.requests} measured requests per mix after a warm-up;
granian `--workers {args.workers}`; the public lists' response cache
{"on (`--with-cache`)" if args.with_cache else "off: every search reaches PostgreSQL"}. Mixes: text only ({len(TEXTS)}
queries, from common "dossier usager" to rare "interoperabilite MSSante"), text + département, filters
without text (département, region, sector × mode, CPV, status), and the second page of text searches and
listings through `nextCursor`.

{table([baseline, *results], baseline)}

CPU per request during each mix's measured requests (ms; the clients are this script):

{cpu_table([baseline, *results])}

Target: p95 < {args.p95_target:g} ms for every mix: {verdict}.

Plans (`EXPLAIN ANALYZE` of the statement the service builds, as the application's role; how `need_search`
is read, and the statement's execution time):

{chr(10).join(plan_lines)}
"""
    insert_section(args.out, section)
    report(args, [baseline, *results], plan_lines, verdict)
    if any(r.errors for r in results):
        return 1
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
