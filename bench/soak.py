"""Capacity and soak (G13): concurrent users for a long while; latency, 5xx, memory, descriptors, connections.

    .venv/bin/python bench/soak.py [--users 50] [--minutes 30] [--warmup-minutes 2] [--submit-share 0.1]
                                   [--think 1.0] [--workers 2] [--no-targets]

Starts the embedded PostgreSQL (durable), Redis and S3 under bench/out/soak-data, migrates, and prepares one
published specific contract with `--users` admitted vendors (bench/submissions.py's `set_up`). Then granian
(`--workers 2`, bench/http.py's `Server`) and `--users` simulated users, each one vendor, for `--minutes`, each
looping: think (uniform 0..2 × `--think` s), then one action:

- with probability `--submit-share`, a 1 MiB submission: `PUT /offers/{id}/attachments` (1 MiB PDF) then
  `POST /offers/{id}/submit` (with an Idempotency-Key), timed together as "1 MiB submit"; then the vendor's next
  version is drafted (`POST /specific-contracts/{id}/offers`, `PUT /offers/{id}/parts`, timed as "draft");
- otherwise a metadata read, one of: the public lists (`/dps`, `/register`, `/discovery/needs?limit=20`), the
  specific contract as its buyer, the vendor's own offer.

Sampled every `--sample-seconds`: the server processes' RSS (granian and its workers, summed), their open file
descriptors (`/proc/PID/fd`), and PostgreSQL's connections (`pg_stat_activity`). Targets (reliability.md G13):
metadata GET p95 < 300 ms, 1 MiB submit p95 < 1.5 s, 0 5xx; RSS growth < 10 % between the end of the warm-up and
the end; descriptors and connections stable (the last third's peak at most a small slack above the peak of the
first third after the warm-up). Latencies count after the warm-up only.

The load is asyncio + httpx (already a dependency), not locust: locust would bring gevent and its own event loop
into the environment for what a hundred lines do here, with the same measurements (each request's latency and
status, percentiles computed from all of them, not from locust's histogram buckets).

Prints the figures, inserts a dated section after the runs marker of bench/RESULTS.md, and exits 1 when a target
is missed (`--no-targets`: only on 5xx). `soak()` is what tests/test_soak_short.py runs at a small size against
the test session's services.
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
import contextlib  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.http import OUT, RUNS_MARKER, Server, _interrupt, child_env, code_version, machine_facts, serving  # noqa: E402
from bench.search import insert_section  # noqa: E402
from bench.submissions import bearer, set_up  # noqa: E402
from marketplace.app import asyncpg_dsn, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from tests.tenders.test_offers import PARTS  # noqa: E402
from tests.vendors.api import fetch, minimal_pdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METADATA_P95_MS = 300.0
SUBMIT_P95_MS = 1500.0
RSS_GROWTH = 0.10
FD_SLACK = 16  # descriptors: a few sockets more or less depending on the moment a sample is taken
CONNECTION_SLACK = 4
REQUEST_TIMEOUT = 30.0
FILE_BYTES = 1 << 20
PUBLIC_LISTS = ("/dps", "/register", "/discovery/needs?limit=20")


@dataclass
class Sample:
    at: float  # seconds since the start of the load
    rss_kib: int
    fds: int
    connections: int


@dataclass
class SoakResult:
    users: int
    seconds: float
    warmup: float
    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind → ms, after the warm-up
    statuses: Counter[str] = field(default_factory=Counter)  # "kind status" → count, whole run
    samples: list[Sample] = field(default_factory=list)
    submitted: int = 0

    def pct(self, kind: str, q: int = 95) -> float:
        values = self.latencies.get(kind, [])
        if len(values) < 2:
            return values[0] if values else 0.0
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    @property
    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if k.split()[-1].startswith("5"))

    @property
    def other_errors(self) -> int:
        """Answers that are neither 2xx nor 5xx, and transport errors."""
        return sum(n for k, n in self.statuses.items()
                   if not k.split()[-1].startswith(("2", "5")))

    def _after_warmup(self) -> list[Sample]:
        return [s for s in self.samples if s.at >= self.warmup] or self.samples[-1:]

    @property
    def rss_growth(self) -> float:
        after = self._after_warmup()
        return (after[-1].rss_kib - after[0].rss_kib) / max(after[0].rss_kib, 1)

    def _thirds(self, attr: str) -> tuple[int, int]:
        after = self._after_warmup()
        third = max(len(after) // 3, 1)
        return (max(getattr(s, attr) for s in after[:third]), max(getattr(s, attr) for s in after[-third:]))

    @property
    def fd_growth(self) -> int:
        first, last = self._thirds("fds")
        return last - first

    @property
    def connection_growth(self) -> int:
        first, last = self._thirds("connections")
        return last - first

    def missed(self, *, metadata_p95: float = METADATA_P95_MS, submit_p95: float = SUBMIT_P95_MS,
               rss_growth: float = RSS_GROWTH, fd_slack: int = FD_SLACK,
               connection_slack: int = CONNECTION_SLACK) -> list[str]:
        found = []
        if self.pct("metadata") >= metadata_p95:
            found.append(f"metadata GET p95 {self.pct('metadata'):.0f} ms ≥ {metadata_p95:.0f} ms")
        if self.pct("submit") >= submit_p95:
            found.append(f"1 MiB submit p95 {self.pct('submit'):.0f} ms ≥ {submit_p95:.0f} ms")
        if self.server_errors:
            found.append(f"{self.server_errors} 5xx answers")
        if self.other_errors:
            # A refusal or a transport error the scenario did not ask for is the run not doing what it says.
            found.append(f"{self.other_errors} answers neither 2xx nor 5xx (or no answer)")
        if self.rss_growth >= rss_growth:
            found.append(f"server RSS grew {self.rss_growth:.1%} after the warm-up (< {rss_growth:.0%})")
        if self.fd_growth > fd_slack:
            found.append(f"open descriptors grew by {self.fd_growth} (slack {fd_slack})")
        if self.connection_growth > connection_slack:
            found.append(f"PostgreSQL connections grew by {self.connection_growth} (slack {connection_slack})")
        return found


# ---------------------------------------------------------------------------------------- sampling


def server_pids(server: Server) -> list[int]:
    if server.proc is None:
        return []
    pids, todo = [], [server.proc.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return pids


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def sampler(server: Server, settings: Settings, began: float, into: list[Sample], every: float,
                  stop: asyncio.Event) -> None:
    database = settings.database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        while not stop.is_set():
            pids = server_pids(server)
            # Connections of the app's database but this sampler's own.
            connections = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                                              "AND pid <> pg_backend_pid()", database)
            into.append(Sample(at=time.monotonic() - began, rss_kib=sum(_rss_kib(p) for p in pids),
                               fds=sum(_fds(p) for p in pids), connections=int(connections)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
    finally:
        await conn.close()


# -------------------------------------------------------------------------------------------- load


@dataclass
class Context:
    contract_id: str
    buyer_user: uuid.UUID
    settings: Settings
    result: SoakResult
    began: float
    end: float
    think: float
    submit_share: float
    _buyer: dict[str, str] = field(default_factory=dict)
    _buyer_minted: float = 0.0

    @property
    def buyer(self) -> dict[str, str]:
        """The buyer's header, renewed before its 15-minute token expires (as the users' own are): a run longer
        than that read the contract with an expired token and counted 401s."""
        if not self._buyer or time.monotonic() - self._buyer_minted > 600:
            self._buyer, self._buyer_minted = bearer(self.settings, self.buyer_user), time.monotonic()
        return self._buyer


class User:
    def __init__(self, http: httpx.AsyncClient, ctx: Context, user: uuid.UUID, seed: int) -> None:
        self.http, self.ctx, self.user = http, ctx, user
        self.headers = bearer(ctx.settings, user)
        self.random = random.Random(seed)
        self.offer: str | None = None
        self.minted = time.monotonic()

    def _fresh(self) -> None:
        # Access tokens live 15 minutes: renewed as a browser would before they expire.
        if time.monotonic() - self.minted > 600:
            self.headers, self.minted = bearer(self.ctx.settings, self.user), time.monotonic()

    async def call(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.monotonic()
        try:
            answer = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.ctx.result.statuses[f"{kind} {type(error).__name__}"] += 1
            return None
        self.ctx.result.statuses[f"{kind} {answer.status_code}"] += 1
        if started - self.ctx.began >= self.ctx.result.warmup and kind != "submit":
            self.ctx.result.latencies.setdefault(kind, []).append((time.monotonic() - started) * 1000)
        return answer

    async def draft(self) -> None:
        created = await self.call("draft", "POST", f"/specific-contracts/{self.ctx.contract_id}/offers",
                                  headers=self.headers)
        if created is None or created.status_code != 201:
            self.offer = None
            return
        self.offer = str(created.json()["id"])
        await self.call("draft", "PUT", f"/offers/{self.offer}/parts", headers=self.headers, json=PARTS)

    async def submit(self) -> None:
        if self.offer is None:
            await self.draft()
            if self.offer is None:
                return
        content = minimal_pdf(f"offre {self.offer}", size=FILE_BYTES)
        started = time.monotonic()
        uploaded = await self.call("submit", "PUT", f"/offers/{self.offer}/attachments", content=content, headers={
            **self.headers, "content-type": "application/pdf", "x-filename": quote("Offre 1 Mio.pdf")})
        if uploaded is None or uploaded.status_code != 201:
            return
        answer = await self.call("submit", "POST", f"/offers/{self.offer}/submit",
                                 headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())})
        if answer is not None and answer.status_code == 200:
            if started - self.ctx.began >= self.ctx.result.warmup:
                self.ctx.result.latencies.setdefault("submit", []).append((time.monotonic() - started) * 1000)
            self.ctx.result.submitted += 1
            await self.draft()  # the next version, as a vendor improving its offer would

    async def read(self) -> None:
        choice = self.random.randrange(len(PUBLIC_LISTS) + 2)
        if choice < len(PUBLIC_LISTS):
            await self.call("metadata", "GET", PUBLIC_LISTS[choice])
        elif choice == len(PUBLIC_LISTS):
            await self.call("metadata", "GET", f"/specific-contracts/{self.ctx.contract_id}",
                            headers=self.ctx.buyer)
        elif self.offer is not None:
            await self.call("metadata", "GET", f"/offers/{self.offer}", headers=self.headers)

    async def run(self) -> None:
        await self.draft()
        while time.monotonic() < self.ctx.end:
            await asyncio.sleep(self.random.uniform(0, 2 * self.ctx.think))
            if time.monotonic() >= self.ctx.end:
                break
            self._fresh()
            if self.random.random() < self.ctx.submit_share:
                await self.submit()
            else:
                await self.read()


async def _buyer_user(settings: Settings, contract_id: str) -> uuid.UUID:
    """The contract's buyer: an administrator of its buying organisation."""
    rows = await fetch(settings, "SELECT m.user_id FROM membership m JOIN specific_contract c "
                                 "ON m.organisation_id = c.buyer_organisation_id WHERE c.id = $1 "
                                 "ORDER BY 'buyer:admin' = ANY(m.roles) DESC, m.user_id LIMIT 1",
                       uuid.UUID(contract_id))
    return rows[0]["user_id"]


async def _drive(base: str, server: Server, settings: Settings, contract_id: str, users: list[uuid.UUID],
                 result: SoakResult, think: float, submit_share: float, sample_every: float, seed: int) -> None:
    buyer = await _buyer_user(settings, contract_id)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
        check = await http.get(f"/specific-contracts/{contract_id}", headers=bearer(settings, buyer))
        if check.status_code != 200:
            raise RuntimeError(f"the buyer's read of the contract answered {check.status_code}: {check.text}")
    began = time.monotonic()
    ctx = Context(contract_id=contract_id, buyer_user=buyer, settings=settings, result=result, began=began,
                  end=began + result.seconds, think=think, submit_share=submit_share)
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=len(users), max_keepalive_connections=len(users))
    sampling = asyncio.create_task(sampler(server, settings, began, result.samples, sample_every, stop))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, limits=limits) as http:
            await asyncio.gather(*(User(http, ctx, user, seed + i).run() for i, user in enumerate(users)))
    finally:
        stop.set()
        await sampling


def soak(settings: Settings, contract_id: str, users: list[uuid.UUID], *, seconds: float, warmup: float,
         workers: int = 2, think: float = 1.0, submit_share: float = 0.1, sample_every: float = 5.0,
         seed: int = 0, running: list[Server] | None = None, name: str = "soak") -> SoakResult:
    """`len(users)` users (vendors invited to the contract) against a granian server of its own on `settings`'
    services; the server is stopped at the end."""
    result = SoakResult(users=len(users), seconds=seconds, warmup=warmup)
    running = running if running is not None else []
    env = {**child_env(settings), "PYTHONPATH": str(ROOT)}
    with serving(Server(name, "marketplace.app:create_app", workers, env), "/health", running) as srv:
        asyncio.run(_drive(srv.base, srv, settings, contract_id, users, result, think, submit_share,
                           sample_every, seed))
    return result


# ------------------------------------------------------------------------------------------ report


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def figures(r: SoakResult) -> str:
    rows = ["| requests (after the warm-up) | count | p50 | p95 | p99 | target p95 |", "|---|---:|---:|---:|---:|---:|"]
    for kind, target in (("metadata", METADATA_P95_MS), ("submit", SUBMIT_P95_MS), ("draft", None)):
        count = len(r.latencies.get(kind, []))
        rows.append(f"| {'1 MiB submit (upload + submit)' if kind == 'submit' else kind} | {count:,} | "
                    f"{_ms(r.pct(kind, 50))} | {_ms(r.pct(kind, 95))} | {_ms(r.pct(kind, 99))} | "
                    f"{'< ' + _ms(target) if target else '—'} |")
    statuses = ", ".join(f"{k} × {n:,}" for k, n in sorted(r.statuses.items()))
    after = r._after_warmup()
    series = " → ".join(f"{s.rss_kib / 1024:.0f}" for s in after[:: max(len(after) // 8, 1)])
    return "\n".join(rows) + f"""

- answers, whole run: {statuses}; 5xx: {r.server_errors}; other errors: {r.other_errors}; offers submitted: \
{r.submitted:,}
- server RSS (granian and its workers), MiB, from the end of the warm-up: {series} \
(growth {r.rss_growth:+.1%}, target < {RSS_GROWTH:.0%})
- open descriptors: {after[0].fds} at the end of the warm-up, {after[-1].fds} at the end, {min(s.fds for s in after)}..\
{max(s.fds for s in after)} over the run (last third's peak − first third's: {r.fd_growth:+d}, slack {FD_SLACK})
- PostgreSQL connections: {after[0].connections} → {after[-1].connections}, {min(s.connections for s in after)}..\
{max(s.connections for s in after)} (growth {r.connection_growth:+d}, slack {CONNECTION_SLACK}); \
{len(r.samples)} samples"""


def section(r: SoakResult, args: argparse.Namespace, *, command: str, code: str, started: datetime,
            elapsed: float, missed: list[str]) -> str:
    facts = "\n".join(f"- {name}: {value}" for name, value in machine_facts().items() if name != "wrk")
    verdict = "every target met" if not missed else "MISSED: " + "; ".join(missed)
    return f"""## {started:%Y-%m-%d %H:%M} UTC — capacity and soak: {r.users} users for {r.seconds / 60:g} min (G13)

Command: `{command}` (whole run {elapsed:.0f} s). Load average before the run: {args.load_before:.2f} (1 min).

Code: {code}

Machine:
{facts}

granian `--workers {args.workers}` on the embedded services (durable PostgreSQL). {r.users} users, each an invited
vendor, think 0–{2 * args.think:g} s between actions; {args.submit_share:.0%} of actions a 1 MiB attachment
upload + submission (then the next version drafted), the rest metadata reads (public lists, the contract as its
buyer, the vendor's own offer). Warm-up {r.warmup:g} s (not in the percentiles); samples every
{args.sample_seconds:g} s.

{figures(r)}

Result: {verdict}.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50, help="concurrent users (each an invited vendor)")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run, warm-up included")
    parser.add_argument("--warmup-minutes", type=float, default=None,
                        help="left out of the percentiles; RSS growth is measured from its end [default: 10 %%, "
                             "at most 2]")
    parser.add_argument("--submit-share", type=float, default=0.1, help="share of actions that are 1 MiB submissions")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds a user waits between actions")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--no-targets", action="store_true", help="exit 0 when a target is missed (not on 5xx)")
    parser.add_argument("--data-dir", type=Path, default=OUT / "soak-data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(args.minutes * 0.1, 2.0)
    if args.users < 1 or args.minutes <= 0 or not 0 <= args.warmup_minutes < args.minutes \
            or not 0 <= args.submit_share <= 1 or args.workers < 1:
        parser.error("need --users >= 1, --minutes > 0, 0 <= --warmup-minutes < --minutes, 0 <= --submit-share "
                     "<= 1, --workers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    command = shlex.join([".venv/bin/python", "bench/soak.py", *(sys.argv[1:] if argv is None else argv)])
    started, began, code = datetime.now(UTC), time.monotonic(), code_version()
    args.load_before = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, _interrupt)
    shutil.rmtree(args.data_dir, ignore_errors=True)
    stack = Stack(Settings(data_dir=args.data_dir), durable=True)
    running: list[Server] = []
    try:
        print(f"starting PostgreSQL, Redis and S3 under {args.data_dir}", flush=True)
        settings = stack.start()
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        print(f"setting up: the world, a DPS, {args.users} admitted vendors, one published contract", flush=True)
        contract = asyncio.run(set_up(settings, args.users))
        logging.getLogger("httpx").setLevel(logging.WARNING)
        print(f"soak: {args.users} users for {args.minutes:g} min (warm-up {args.warmup_minutes:g} min)", flush=True)
        result = soak(settings, contract.id, contract.users, seconds=args.minutes * 60,
                      warmup=args.warmup_minutes * 60, workers=args.workers, think=args.think,
                      submit_share=args.submit_share, sample_every=args.sample_seconds, running=running)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in reversed(running):
            server.stop()
        stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    missed = result.missed()
    if not args.out.exists():
        args.out.write_text(f"# Results\n\n{RUNS_MARKER}\n")
    insert_section(args.out, section(result, args, command=command, code=code, started=started,
                                     elapsed=time.monotonic() - began, missed=missed))
    print()
    print(figures(result))
    print(f"written to {args.out}")
    for problem in missed:
        print(f"TARGET MISSED: {problem}", file=sys.stderr)
    if result.server_errors:
        return 1
    return 1 if missed and not args.no_targets else 0


if __name__ == "__main__":
    sys.exit(main())
