"""Offer submission throughput over HTTP (`POST /offers/{id}/submit`), served like production: sustained, then at a
deadline.

    .venv/bin/python bench/submissions.py [--duration 30] [--concurrency 64] [--spike 1000] [--spike-window 10]
                                          [--workers 2] [--pool N] [--no-targets]

Starts the embedded PostgreSQL (durable), Redis and S3 (fresh data under bench/out/submissions-data), migrates,
imports the tests' CPV sample and creates the test world's organisations and people (tests/world.py). Then, in
process on a clock set 60 days back (the DPS's 30-day initial window and the 10-day tender period, D4 and D9, are
real days: they are lived through on that clock, as tests/tenders/test_deadline_race.py does), through the API:
an active DPS, one submitted and funded need, and its specific contract published with a deadline a few hours
ahead of the real clock. The vendors admitted to the contract's category are inserted set-based as the schema
owner (organisation, admin, membership, admission), `--pool` for the sustained run plus `--spike` for the
deadline, so publication invites them all.

Then a granian server (`--interface asgi --factory --workers N`, bench/http.py's `Server`) on the real clock, and:

1. preparation (not measured as the figure, timed for the record): each vendor's admin creates its draft and
   gives its parts (`POST /specific-contracts/{id}/offers`, `PUT /offers/{id}/parts`), no attachment;
2. the bare app (bench/hello_app.py, same worker count, same client, `--concurrency` connections): the ceiling;
3. sustained (after a VACUUM ANALYZE of what the preparation wrote, and a CHECKPOINT): `--concurrency` vendors
   at a time, each its own offer and its own token, submit in a closed loop for `--duration` s after a 2 s
   warm-up: submissions/s, p50/p95/p99, errors by status, CPU split per process;
4. the deadline: the contract's deadline is brought to a few seconds ahead (an UPDATE as the schema owner: the
   product only ever extends a deadline, and this one had to outlast the preparation), then `--spike`
   submissions of as many other vendors are sent at instants spread evenly over the last `--spike-window` s
   before it. Each must be answered within 30 s of the spike's start, 200 (its receipt received strictly
   before the deadline) or 409 naming D14; the offers stored as submitted must be exactly those answered 200;
5. `marketplace audit verify` over the whole chain, every submission and late refusal in it.

Why one offer per vendor: a vendor has one submitted offer per contract (uq_offer_one_submitted); a second
submission is a new version (a new draft, its parts, its submission) superseding the first, and re-submitting the
same draft only replays its receipt (G7). A real deadline sees many vendors submit once each, so every
submission here is a different vendor's first; `--pool` vendors are prepared for the sustained run (by default
2 × the target rate × (warm-up + duration)), and a run that exhausts them stops early and says so.

Targets: sustained ≥ 300 submissions/s; the spike all answered in time with 2xx or D14; the chain verifies.
Prints a table, inserts a dated section after the runs marker of bench/RESULTS.md, and exits 1 when a target is
missed or any answer is an error (`--no-targets`: errors only).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this directory comes first on sys.path, where bench/http.py would shadow the standard
# library's `http` package: replace it with the repository root, so `bench.*` and `tests.*` imports work.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench import rawhttp  # noqa: E402
from bench.http import (  # noqa: E402
    COMPONENTS,
    OUT,
    CpuMeter,
    Server,
    _interrupt,
    child_env,
    code_version,
    machine_busy,
    machine_facts,
    serving,
)
from bench.search import insert_section  # noqa: E402
from marketplace.accounts.auth import issue_access_token  # noqa: E402
from marketplace.app import create_app, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import FrozenClock, system_clock  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.reference.cpv import import_cpv  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from tests.tenders.test_offers import PARTS  # noqa: E402
from tests.tenders.test_publication import _insert_admitted_vendors, publish, submitted_need  # noqa: E402
from tests.vendors.api import categories_by_pair, expect, fetch, open_dps  # noqa: E402
from tests.world import build_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The CPV codes the tests cite (tests/conftest.py), which the need and the DPS use.
CPV_SAMPLE = ROOT / "tests" / "data" / "cpv_sample.json"
TARGET_RATE = 300.0  # submissions per second, sustained
SPIKE_ANSWER_WITHIN = 30.0  # seconds from the spike's first submission to its last answer
WARMUP_SECONDS = 2.0
# The client's own limit: a request that takes longer counts as an error ("timeout").
REQUEST_TIMEOUT = 30.0
# Seconds between the moment the deadline is set and the spike's first submission.
SPIKE_LEAD = 3.0


# ------------------------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Contract:
    id: str
    deadline: datetime
    # The admins of the admitted vendors, one per vendor, in a fixed order.
    users: list[uuid.UUID]


async def set_up(settings: Settings, vendors: int) -> Contract:
    """Through the API on a clock 60 days back (DPS, need, publication), vendors set-based as the schema owner."""
    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_cpv(session, system_clock, CPV_SAMPLE, "cpv-2008-sample")
            await session.commit()
    finally:
        await engine.dispose()
    world = await build_world(settings)
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=60))
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        dps = await open_dps(client, world, clock)
        category = categories_by_pair(dps)["grand_age", "saas"]
        await _insert_admitted_vendors(settings, dps["id"], category, vendors)
        need = await submitted_need(client, world)
        # Far enough for any preparation; brought closer before the spike (see `bring_deadline`).
        deadline = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
        contract = expect(await publish(client, world, need["id"], dps["id"], deadline.isoformat()), 201)
    if contract["invitationCount"] != vendors:
        raise RuntimeError(f"{contract['invitationCount']} vendors invited, expected {vendors}")
    rows = await fetch(settings, "SELECT m.user_id FROM membership m JOIN admission_request a "
                                 "ON a.vendor_organisation_id = m.organisation_id WHERE a.category_id = $1 "
                                 "ORDER BY m.user_id", uuid.UUID(category))
    return Contract(id=str(contract["id"]), deadline=deadline, users=[r["user_id"] for r in rows])


def bearer(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    # Access tokens live 15 minutes: each phase takes fresh ones.
    return {"Authorization": f"Bearer {issue_access_token(user_id, settings.secret_key)[0]}"}


async def prepare(base: str, settings: Settings, contract_id: str, users: list[uuid.UUID],
                  concurrency: int) -> list[str]:
    """Each vendor's draft with its parts, through the API; the offer ids, in the order of `users`."""
    offers: list[str] = [""] * len(users)
    todo = iter(range(len(users)))

    async def worker(http: httpx.AsyncClient) -> None:
        for index in todo:
            headers = bearer(settings, users[index])
            created = await http.post(f"/specific-contracts/{contract_id}/offers", headers=headers)
            if created.status_code != 201:
                raise RuntimeError(f"draft: {created.status_code} {created.text}")
            offer = created.json()["id"]
            parts = await http.put(f"/offers/{offer}/parts", headers=headers, json=PARTS)
            if parts.status_code != 200:
                raise RuntimeError(f"parts: {parts.status_code} {parts.text}")
            offers[index] = str(offer)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return offers


async def bring_deadline(settings: Settings, contract_id: str, deadline: datetime) -> None:
    await fetch(settings, "UPDATE specific_contract SET tender_deadline = $2 WHERE id = $1",
                uuid.UUID(contract_id), deadline)


async def settle(settings: Settings) -> None:
    """Between the preparation and the measured runs: its 15,400 new drafts would bring autovacuum, and a checkpoint
    of their pages, into the 30 s measured (they did: 265-273/s over 30 s against 323/s over 25 s after a smaller
    preparation). Production's tables are vacuumed as they go; the preparation is not part of the workload."""
    await fetch(settings, "VACUUM (ANALYZE) offer, offer_attachment, audit_event, job_intent, idempotent_response")
    await fetch(settings, "CHECKPOINT")


# --------------------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One closed-loop run: every answer's latency and status (or the client error's name)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    exhausted: bool = False
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def pct(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


async def closed_loop(base: str, requests: Any, seconds: float, concurrency: int, name: str) -> Run:
    """`concurrency` clients, each on its own kept-alive connection sending its next request when the previous one
    is answered, for `seconds`; `requests` yields (method, path, headers) and may run out. The requests are
    written by bench/rawhttp.py, whose CPU per request is a hundredth of httpx's: the client shares the
    machine with the server."""
    run = Run(name)
    end = time.monotonic() + seconds

    async def client() -> None:
        connection = rawhttp.Connection(base, REQUEST_TIMEOUT)
        try:
            while time.monotonic() < end:
                try:
                    method, path, headers = next(requests)
                except StopIteration:
                    run.exhausted = True
                    return
                request = rawhttp.prepare(base, method, path, headers)
                started = time.perf_counter()
                try:
                    status = str((await connection.send(request))[0])
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    status = type(error).__name__
                run.latencies.append((time.perf_counter() - started) * 1000)
                run.statuses[status] += 1
        finally:
            connection.close()

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.elapsed = time.monotonic() - began
    return run


def submissions(settings: Settings, users: list[uuid.UUID], offers: list[str]) -> Any:
    # Tokens signed before the run, so that the client spends its time on the requests.
    headers = [bearer(settings, user) for user in users]
    return iter([("POST", f"/offers/{offer}/submit", h) for offer, h in zip(offers, headers, strict=True)])


def measured(server: Server, data_dir: Path, go: Any) -> Run:
    """`go()` under the CPU meter; this process is the client, so its own CPU is the client's column."""
    meter = CpuMeter(data_dir, server)
    before = resource.getrusage(resource.RUSAGE_SELF)
    meter.start()
    run: Run = go()
    split = meter.stop()
    after = resource.getrusage(resource.RUSAGE_SELF)
    client_ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    cpu = dict(split.ms)
    cpu["wrk"] = client_ms  # no wrk here: the column is the Python client
    cpu["other"] = max(cpu["other"] - client_ms, 0.0)
    run.cpu, run.machine_busy = cpu, split.machine_busy
    return run


@dataclass
class Spike:
    sent: int = 0
    accepted: set[str] = field(default_factory=set)
    late: int = 0
    # Anything else: status (and rule) → count.
    unexpected: Counter[str] = field(default_factory=Counter)
    accepted_late_receipts: int = 0
    last_answer_after_start: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stored_match: bool = False
    stored: int = 0

    @property
    def answered_in_time(self) -> bool:
        return not self.unexpected and self.last_answer_after_start <= SPIKE_ANSWER_WITHIN


async def spike(base: str, settings: Settings, users: list[uuid.UUID], offers: list[str], deadline: datetime,
                window: float) -> Spike:
    """Each submission at its own instant, evenly spread over the last `window` seconds before the deadline;
    each vendor its own connection, as many browsers would."""
    result = Spike(sent=len(offers))
    headers = [bearer(settings, user) for user in users]
    loop = asyncio.get_running_loop()
    at_deadline = loop.time() + (deadline - datetime.now(UTC)).total_seconds()
    start = at_deadline - window

    async def one(http: httpx.AsyncClient, index: int) -> None:
        instant = start + window * index / len(offers)
        await asyncio.sleep(max(0.0, instant - loop.time()))
        try:
            answer: httpx.Response | BaseException = await http.post(f"/offers/{offers[index]}/submit",
                                                                     headers=headers[index])
        except httpx.HTTPError as error:
            answer = error
        done = loop.time()
        result.latencies.append((done - instant) * 1000)
        result.last_answer_after_start = max(result.last_answer_after_start, done - start)
        if isinstance(answer, httpx.Response) and answer.status_code == 200:
            result.accepted.add(offers[index])
            if datetime.fromisoformat(answer.json()["receipt"]["receivedEnd"]) >= deadline:
                result.accepted_late_receipts += 1
        elif isinstance(answer, httpx.Response) and answer.status_code == 409 and answer.json().get("rule") == "D14":
            result.late += 1
        else:
            rule = answer.json().get("rule") if isinstance(answer, httpx.Response) and answer.content else None
            status = str(answer.status_code) if isinstance(answer, httpx.Response) else type(answer).__name__
            result.unexpected[status + (f" {rule}" if rule else "")] += 1

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base, timeout=SPIKE_ANSWER_WITHIN, limits=limits) as http:
        await asyncio.gather(*(one(http, i) for i in range(len(offers))))
    rows = await fetch(settings, "SELECT id FROM offer WHERE status = 'submitted' AND id = ANY($1::uuid[])",
                       [uuid.UUID(o) for o in offers])
    stored = {str(r["id"]) for r in rows}
    result.stored, result.stored_match = len(stored), stored == result.accepted
    return result


def audit_verify(settings: Settings) -> tuple[bool, str, float]:
    """The operator's command itself, against the benchmark's services."""
    marketplace = Path(sys.executable).parent / "marketplace"
    command = [str(marketplace) if marketplace.exists() else "marketplace", "audit", "verify"]
    began = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=child_env(settings), capture_output=True, text=True, check=False,
                          timeout=600)
    return done.returncode == 0, (done.stdout + done.stderr).strip(), time.monotonic() - began


# ------------------------------------------------------------------------------------------ report


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def table(runs: list[Run]) -> str:
    rows = ["| run | requests | per second | p50 | p95 | p99 | answers by status |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        statuses = ", ".join(f"{status} × {n:,}" for status, n in sorted(r.statuses.items()))
        rows.append(f"| {r.name} | {r.count:,} | {r.rate:,.0f} | {_ms(r.pct(50))} | {_ms(r.pct(95))} | "
                    f"{_ms(r.pct(99))} | {statuses} |")
    return "\n".join(rows)


def cpu_table(runs: list[Run]) -> str:
    cpus = len(os.sched_getaffinity(0))
    names = [("client" if c == "wrk" else c) for c in COMPONENTS]
    rows = ["| run | " + " | ".join(names) + " | total | machine busy | other, % of machine |",
            "|---|" + "---:|" * (len(COMPONENTS) + 3)]
    for r in runs:
        per = {name: ms / max(r.count, 1) for name, ms in r.cpu.items()}
        other_share = r.cpu["other"] / (r.elapsed * 1000 * cpus) if r.elapsed else 0.0
        cells = " | ".join(f"{per[c]:.2f}" for c in COMPONENTS)
        rows.append(f"| {r.name} | {cells} | {sum(per.values()):.2f} | {r.machine_busy:.0%} | {other_share:.0%} |")
    return "\n".join(rows)


def spike_lines(s: Spike, window: float, deadline: datetime) -> str:
    latencies = sorted(s.latencies)
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)] if latencies else 0.0
    unexpected = ", ".join(f"{k} × {n}" for k, n in s.unexpected.items()) or "none"
    return (f"- {s.sent:,} submissions of {s.sent:,} vendors spread over the last {window:g} s before the deadline "
            f"({deadline:%H:%M:%S} UTC): {len(s.accepted):,} accepted (200), {s.late:,} refused late (409 D14), "
            f"other answers: {unexpected}\n"
            f"- last answer {s.last_answer_after_start:.1f} s after the spike's first submission (target ≤ "
            f"{SPIKE_ANSWER_WITHIN:g} s); latency from each one's scheduled instant: p50 {_ms(p50)}, p99 {_ms(p99)}, "
            f"max {_ms(latencies[-1] if latencies else 0.0)}\n"
            f"- receipts dated at or after the deadline among the accepted: {s.accepted_late_receipts}; offers "
            f"stored as submitted: {s.stored:,}, {'exactly' if s.stored_match else 'NOT'} those answered 200")


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the sustained run")
    parser.add_argument("--concurrency", type=int, default=64, help="vendors submitting at a time (sustained)")
    parser.add_argument("--pool", type=int, default=None,
                        help="vendors prepared for the sustained run [default: 2 × the target rate × "
                             "(warm-up + duration)]")
    parser.add_argument("--spike", type=int, default=1000, help="submissions in the last seconds before the deadline")
    parser.add_argument("--spike-window", type=float, default=10.0, help="seconds before the deadline they span")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--no-targets", action="store_true", help="exit 0 even if a target is missed")
    parser.add_argument("--data-dir", type=Path, default=OUT / "submissions-data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    if args.pool is None:
        args.pool = math.ceil(2 * TARGET_RATE * (WARMUP_SECONDS + args.duration))
    if args.duration <= 0 or args.concurrency < 1 or args.pool < args.concurrency or args.spike < 1 \
            or args.spike_window <= 0 or args.workers < 1:
        parser.error("need --duration > 0, --concurrency >= 1, --pool >= --concurrency, --spike >= 1, "
                     "--spike-window > 0, --workers >= 1")
    return args


@dataclass
class Outcome:
    hello: Run
    sustained: Run
    spike: Spike
    deadline: datetime
    verified: bool
    verify_output: str
    verify_seconds: float
    prepared: int
    prepare_seconds: float
    setup_seconds: float


def run_all(args: argparse.Namespace, settings: Settings, running: list[Server]) -> Outcome:
    began = time.monotonic()
    print(f"setting up: the world, a DPS, {args.pool + args.spike:,} admitted vendors, one published contract",
          flush=True)
    contract = asyncio.run(set_up(settings, args.pool + args.spike))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # again, should the app's logging set-up have reset it
    setup_seconds = time.monotonic() - began
    env = child_env(settings)
    data_dir = settings.data_dir

    print(f"[1/4] bare Litestar hello, {args.concurrency} connections", flush=True)
    with serving(Server("submissions-hello", "bench.hello_app:create_app", args.workers, env), "/", running) as srv:
        asyncio.run(closed_loop(srv.base, iter(lambda: ("GET", "/", None), None), WARMUP_SECONDS, args.concurrency,
                                "warm-up"))
        hello = measured(srv, data_dir, lambda: asyncio.run(closed_loop(
            srv.base, iter(lambda: ("GET", "/", None), None), min(args.duration, 10.0), args.concurrency,
            "`GET /` bare app (baseline)")))

    with serving(Server("submissions", "marketplace.app:create_app", args.workers, env), "/health",
                 running) as srv:
        sustained_users, spike_users = contract.users[:args.pool], contract.users[args.pool:]
        print(f"[2/4] preparing {len(contract.users):,} drafts with their parts through the API", flush=True)
        began = time.monotonic()
        offers = asyncio.run(prepare(srv.base, settings, contract.id, contract.users, args.concurrency))
        prepare_seconds = time.monotonic() - began
        print(f"  {len(offers):,} drafts in {prepare_seconds:.0f} s", flush=True)
        sustained_offers, spike_offers = offers[:args.pool], offers[args.pool:]
        asyncio.run(settle(settings))

        print(f"[3/4] sustained: {args.concurrency} vendors at a time, {WARMUP_SECONDS:g} s warm-up then "
              f"{args.duration:g} s", flush=True)
        pending = submissions(settings, sustained_users, sustained_offers)
        asyncio.run(closed_loop(srv.base, pending, WARMUP_SECONDS, args.concurrency, "warm-up"))
        sustained = measured(srv, data_dir, lambda: asyncio.run(closed_loop(
            srv.base, pending, args.duration, args.concurrency, "`POST /offers/{id}/submit` sustained")))
        print(f"  {sustained.count:,} submissions, {sustained.rate:,.0f}/s, p95 {_ms(sustained.pct(95))}"
              + (" (pool exhausted: raise --pool)" if sustained.exhausted else ""), flush=True)

        deadline = (datetime.now(UTC) + timedelta(seconds=SPIKE_LEAD + args.spike_window + 1)).replace(
            microsecond=0)
        asyncio.run(bring_deadline(settings, contract.id, deadline))
        print(f"[4/4] deadline {deadline:%H:%M:%S} UTC: {args.spike:,} submissions over its last "
              f"{args.spike_window:g} s", flush=True)
        peak = asyncio.run(spike(srv.base, settings, spike_users, spike_offers, deadline, args.spike_window))
        print(f"  {len(peak.accepted):,} accepted, {peak.late:,} late, last answer {peak.last_answer_after_start:.1f}"
              f" s after the first", flush=True)
    verified, verify_output, verify_seconds = audit_verify(settings)
    print(f"  audit verify: {verify_output}", flush=True)
    return Outcome(hello=hello, sustained=sustained, spike=peak, deadline=deadline, verified=verified,
                   verify_output=verify_output, verify_seconds=verify_seconds, prepared=len(offers),
                   prepare_seconds=prepare_seconds, setup_seconds=setup_seconds)


def section(o: Outcome, args: argparse.Namespace, *, command: str, code: str, started: datetime, elapsed: float,
            busy_before: float, missed: list[str]) -> str:
    try:
        described = machine_facts()
    except OSError:
        described = {"nproc": str(os.cpu_count())}
    facts = "\n".join(f"- {name}: {value}" for name, value in described.items() if name != "wrk")
    verdict = "every target met" if not missed else "MISSED: " + "; ".join(missed)
    title = "offer submissions (`POST /offers/{id}/submit`), sustained and at the deadline"
    return f"""## {started:%Y-%m-%d %H:%M} UTC — {title}

Command: `{command}` (whole run {elapsed:.0f} s: set-up {o.setup_seconds:.0f} s, {o.prepared:,} drafts with their
parts prepared through the API in {o.prepare_seconds:.0f} s). Before the run the machine was {busy_before:.0%} busy.

Code: {code}

Machine:
{facts}

Served like production: granian `--workers {args.workers}` on the embedded services (durable PostgreSQL, Redis, S3),
the outbox relay in each worker, no arq worker (the receipts' RFC 3161 tokens stay queued). One specific contract,
{args.pool + args.spike:,} invited vendors, each submitting once (its own draft, parts only, no attachment, and its own
token): each submission signs its receipt and stores it sealed, appends to the audit chain and records its
time-stamp job. Client: bench/rawhttp.py in this process (httpx for the preparation and the spike), on the same
machine ("client" below), tokens signed beforehand.

Sustained (after a VACUUM ANALYZE of the tables the preparation filled, and a CHECKPOINT):
{args.concurrency} vendors at a time in a closed loop for {args.duration:g} s after a {WARMUP_SECONDS:g} s
warm-up{" (the prepared vendors ran out before the end)" if o.sustained.exhausted else ""}; the baseline is the bare
app (bench/hello_app.py) on the same server settings and client, so its figure is also this client's ceiling
(bench/http.py measures the bare app with `wrk`). Target: ≥ {TARGET_RATE:.0f} submissions/s.

{table([o.hello, o.sustained])}

CPU per request during the measured run (ms):

{cpu_table([o.hello, o.sustained])}

Deadline spike (target: all answered within {SPIKE_ANSWER_WITHIN:g} s of the first, 200 or 409 D14; then the chain
verifies):

{spike_lines(o.spike, args.spike_window, o.deadline)}
- `marketplace audit verify` ({o.verify_seconds:.1f} s): {o.verify_output}

Result: {verdict}.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Litestar's logging of the app made in process for the set-up would print a line per request of its client.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    command = shlex.join([".venv/bin/python", "bench/submissions.py", *(sys.argv[1:] if argv is None else argv)])
    started, began, code = datetime.now(UTC), time.monotonic(), code_version()
    signal.signal(signal.SIGTERM, _interrupt)
    busy_before = machine_busy(1.0)
    if busy_before > 0.10:
        print(f"note: the machine is already {busy_before:.0%} busy; figures will be lower than on a quiet one",
              file=sys.stderr)
    shutil.rmtree(args.data_dir, ignore_errors=True)  # a fresh world each run: its people are created again
    stack = Stack(Settings(data_dir=args.data_dir), durable=True)
    running: list[Server] = []
    try:
        print(f"starting PostgreSQL, Redis and S3 under {args.data_dir}", flush=True)
        settings = stack.start()
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        outcome = run_all(args, settings, running)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in reversed(running):
            server.stop()
        stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    missed = []
    if outcome.sustained.rate < TARGET_RATE:
        missed.append(f"sustained {outcome.sustained.rate:,.0f} submissions/s < {TARGET_RATE:.0f}")
    if not outcome.spike.answered_in_time:
        missed.append("the spike was not all answered 200 or 409 D14 within "
                      f"{SPIKE_ANSWER_WITHIN:g} s")
    errors = []
    if outcome.sustained.errors:
        errors.append(f"{outcome.sustained.errors} error answers in the sustained run")
    if outcome.spike.unexpected or outcome.spike.accepted_late_receipts or not outcome.spike.stored_match:
        errors.append("the spike's answers and stored offers disagree (see its lines)")
    if not outcome.verified:
        errors.append("the audit chain does not verify")
    new_section = section(outcome, args, command=command, code=code, started=started,
                          elapsed=time.monotonic() - began, busy_before=busy_before, missed=missed + errors)
    insert_section(args.out, new_section)
    print()
    print(table([outcome.hello, outcome.sustained]))
    print()
    print("CPU per request during the measured run (ms):")
    print(cpu_table([outcome.hello, outcome.sustained]))
    print()
    print(spike_lines(outcome.spike, args.spike_window, outcome.deadline))
    print(f"written to {args.out}")
    for problem in errors + ([] if args.no_targets else missed):
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if errors or (missed and not args.no_targets) else 0


if __name__ == "__main__":
    sys.exit(main())
