"""Render time of the back-office's lists at 10,000 admission requests: the work queue and the Admissions list.

    .venv/bin/python bench/web_lists.py [--count 10000] [--requests 200] [--concurrency 4]

Starts the embedded PostgreSQL, Redis and S3 (fresh data under bench/out/web-lists-data), migrates, creates the
test world's organisations and people (tests/world.py), then seeds one active DPS of the buyer with `--count`
admission requests under evaluation from as many vendors, in bulk through the ORM (executemany, no API call).
Measured in process (litestar's AsyncTestClient, the app's real services behind it): `--concurrency` signed-in
clients in a closed loop, `--requests` requests per page after a warm-up, p50/p95/p99 of

- `GET /` of the bare app (bench/hello_app.py, same client, same process): the baseline;
- `GET /app/` (the work queue) and `GET /app/admissions` (first page of 25, by due date), signed in as the buyer;
- `GET /app/admissions?q=…&tri=vendor` (a search, sorted on another column), and the CSV export once.

It also times the work queue's former read (`AdmissionService.queue`, every request read one by one) once, for
the record. A dated section is inserted at the top of the runs in bench/RESULTS.md.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench import hello_app  # noqa: E402
from bench.http import OUT, RUNS_MARKER, code_version, machine_facts  # noqa: E402
from marketplace.accounts.models import Organisation  # noqa: E402
from marketplace.accounts.principal import Principal  # noqa: E402
from marketplace.accounts.roles import OrganisationKind, Role  # noqa: E402
from marketplace.app import create_app, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import system_clock  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.lib.working_days import evaluation_due_at  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from marketplace.vendors.admissions import AdmissionService  # noqa: E402
from marketplace.vendors.models import AdmissionRequest, DeliveryMode, Dps, DpsCategory, Sector  # noqa: E402
from marketplace.vendors.states import AdmissionStatus, DpsStatus  # noqa: E402
from tests.vendors.api import DOCUMENT_RULES, admission_body  # noqa: E402
from tests.web.pages import BASE_URL, Browser, login  # noqa: E402
from tests.world import World, build_world, email_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


async def seed(settings: Settings, count: int) -> tuple[World, uuid.UUID]:
    world = await build_world(settings)
    engine = create_async_engine(settings.database_url)
    now = datetime.now(UTC)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            dps = Dps(buyer_organisation_id=world.organisations["buyer"], title="SAD de mesure (10 000 demandes)",
                      description="Banc d'essai des listes du back-office.", validity_start=now - timedelta(days=60),
                      validity_end=now + timedelta(days=1000), usable_by_other_buyers=True, status=DpsStatus.ACTIVE,
                      notice_sent_at=now - timedelta(days=60), initial_window_end=now - timedelta(days=29),
                      award_criteria=[{"name": "Prix", "weightMin": 20, "weightMax": 50}])
            session.add(dps)
            await session.flush()
            category = DpsCategory(dps_id=dps.id, sector=Sector.GRAND_AGE,
                                   delivery_mode=DeliveryMode.SAAS, title="DUI grand_age en saas",
                                   selection_criteria="Capacités techniques.", required_documents=DOCUMENT_RULES)
            session.add(category)
            await session.flush()
            vendors = [{"id": uuid.uuid4(), "kind": OrganisationKind.VENDOR, "name": f"Éditeur n° {i:05d} SAS",
                        "siret": None} for i in range(count)]
            await session.execute(insert(Organisation), vendors)
            body = admission_body(str(category.id))
            requests = []
            for i, vendor in enumerate(vendors):
                received = now - timedelta(minutes=7 * i)  # spread over ~7 weeks: some overdue, most not
                requests.append({"dps_id": dps.id, "category_id": category.id,
                                 "vendor_organisation_id": vendor["id"], "status": AdmissionStatus.UNDER_EVALUATION,
                                 "self_declaration": body["selfDeclaration"],
                                 "referenced_software": body["referencedSoftware"], "received_at": received,
                                 "due_at": evaluation_due_at(received)})
            await session.execute(insert(AdmissionRequest), requests)
        return world, dps.id
    finally:
        await engine.dispose()


async def old_queue_seconds(settings: Settings, world: World, dps_id: uuid.UUID) -> float:
    """The work queue's read before this change: `AdmissionService.queue`, each request read on its own."""
    engine = create_async_engine(settings.database_url)
    principal = Principal(user_id=world["buyer_admin"].user_id, api_key_id=None, email=None,
                          roles_by_organisation={world.organisations["buyer"]: frozenset({Role.BUYER_ADMIN})})
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            began = time.perf_counter()
            await AdmissionService(session, system_clock).queue(principal, dps_id)
            return time.perf_counter() - began
    finally:
        await engine.dispose()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def closed_loop(clients: list[Browser], path: str, requests: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    per_client = max(1, requests // len(clients))

    async def run(web: Browser) -> None:
        nonlocal errors
        for _ in range(per_client):
            began = time.perf_counter()
            answer = await web.get(path)
            latencies.append((time.perf_counter() - began) * 1000)
            errors += answer.status_code != 200

    for web in clients:  # warm-up
        await web.get(path)
    await asyncio.gather(*(run(web) for web in clients))
    return latencies, errors


async def measure(settings: Settings, args: argparse.Namespace, dps_id: uuid.UUID) -> list[tuple[str, list[float],
                                                                                              int]]:
    results: list[tuple[str, list[float], int]] = []
    async with AsyncTestClient(app=hello_app.create_app(), base_url=BASE_URL) as bare:
        clients = [Browser(bare) for _ in range(args.concurrency)]
        results.append(("`GET /` bare app (baseline)", *await closed_loop(clients, "/", args.requests)))
    async with AsyncTestClient(app=create_app(settings), base_url=BASE_URL) as client:
        clients = [Browser(client) for _ in range(args.concurrency)]
        for web in clients:
            assert (await login(web, email_of("buyer_admin"))).status_code == 303
        for name, path in (("`GET /app/` work queue", "/app/"),
                           ("`GET /app/admissions` (25 by due date)", "/app/admissions"),
                           ("`GET /app/admissions?q=00042&tri=vendor`", "/app/admissions?q=00042&tri=vendor"),
                           ("`GET /app/admissions?taille=100&page=50`", "/app/admissions?taille=100&page=50")):
            results.append((name, *await closed_loop(clients, path, args.requests)))
        began = time.perf_counter()
        export = await clients[0].get(f"/app/admissions/export.csv?dps={dps_id}")
        rows = export.content.count(b"\n") - 1
        results.append((f"`GET /app/admissions/export.csv` ({rows:,} rows, once)",
                        [(time.perf_counter() - began) * 1000], int(export.status_code != 200)))
    return results


def table(results: list[tuple[str, list[float], int]]) -> str:
    base50, base95 = _pct(results[0][1], 0.5), _pct(results[0][1], 0.95)
    lines = ["| page | requests | p50 | p95 | p99 | errors | p50 vs bare | p95 vs bare |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, values, errors in results:
        p50, p95, p99 = _pct(values, 0.5), _pct(values, 0.95), _pct(values, 0.99)
        lines.append(f"| {name} | {len(values)} | {p50:.1f} ms | {p95:.1f} ms | {p99:.1f} ms | {errors} | "
                     f"{p50 / base50:.1f}× | {p95 / base95:.1f}× |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="admission requests in the database")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in a closed loop")
    parser.add_argument("--data-dir", type=Path, default=OUT / "web-lists-data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/web_lists.py", *(sys.argv[1:] if argv is None else argv)])
    started, began, code = datetime.now(UTC), time.monotonic(), code_version()
    load_before = os.getloadavg()
    shutil.rmtree(args.data_dir, ignore_errors=True)  # a fresh world each run: its people are created again
    stack = Stack(Settings(data_dir=args.data_dir), durable=False)
    try:
        settings = stack.start()
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        seeding = time.monotonic()
        world, dps_id = asyncio.run(seed(settings, args.count))
        seeded = time.monotonic() - seeding
        print(f"seeded {args.count} admission requests in {seeded:.1f} s", flush=True)
        old = asyncio.run(old_queue_seconds(settings, world, dps_id))
        print(f"former work-queue read: {old:.1f} s", flush=True)
        results = asyncio.run(measure(settings, args, dps_id))
    finally:
        stack.stop()
    try:
        described = machine_facts()
    except OSError:
        described = {"nproc": str(os.cpu_count())}
    facts = "\n".join(f"- {name}: {value}" for name, value in described.items() if name != "wrk")
    section = f"""## {started:%Y-%m-%d %H:%M} UTC — back-office lists at {args.count:,} admission requests

Command: `{command}` (whole run {time.monotonic() - began:.0f} s; {args.count:,} requests seeded in {seeded:.1f} s
through the ORM's bulk insert). Load average before the run: {load_before[0]:.2f} (1 min); after:
{os.getloadavg()[0]:.2f}.

Code: {code}

Machine:
{facts}

In process (litestar's AsyncTestClient, one event loop; the embedded PostgreSQL, Redis and S3 on the same
machine), {args.concurrency} signed-in clients in a closed loop, after a warm-up. Every request is under
evaluation on one active DPS of the buyer, so the work queue counts all {args.count:,} and the list's default view
pages through all of them. The baseline is the bare app (bench/hello_app.py) through the same client.

{table(results)}

The work queue's former read (`AdmissionService.queue`: every request awaiting a decision read and converted one
by one, four queries each, to count them) took {old:.1f} s for this DPS, once; the page now counts in SQL
(`AdmissionService.queue_counts`) and the list pages in SQL (`AdmissionService.for_buyer`: one query for the page,
one for the count).
"""
    print(section)
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(text.replace(RUNS_MARKER, f"{RUNS_MARKER}\n{section}", 1) if RUNS_MARKER in text
                        else section + text)
    return 1 if any(errors for _, _, errors in results) else 0


if __name__ == "__main__":
    sys.exit(main())
