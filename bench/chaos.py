"""Chaos (G6): no acknowledged offer is lost while API workers, PostgreSQL and Redis are killed under load.

    .venv/bin/python bench/chaos.py [--submissions 1000] [--concurrency 50] [--api-kills 20] [--pg-restarts 5]
                                    [--redis-kills 5] [--file-kib 64] [--workers 2] [--max-seconds 600]

Starts the embedded PostgreSQL (durable: fsync on, as in production), Redis and S3 under bench/out/chaos-data,
migrates, and prepares one published specific contract with `--submissions` admitted vendors and each vendor's
draft with its parts (bench/submissions.py's `set_up` and `prepare`, through the API, before any fault). Then,
against granian (`--workers N --respawn-failed-workers`, bench/http.py's `Server`):

- the load: every vendor, `--concurrency` at a time, streams one PDF attachment (`PUT /offers/{id}/attachments`)
  and submits (`POST /offers/{id}/submit` with an Idempotency-Key of its own). As a real client would, it
  retries on a transport error, a time-out, a 5xx or a 429: the submission with the same key; the attachment
  only after `GET /offers/{id}` shows it was not received (the PUT is not idempotent). A 401 (token expired)
  gets a fresh token. Any other 4xx is a refusal, final. Each 2xx receipt is appended to
  `bench/out/chaos-data/receipts.jsonl` as it arrives;
- the faults, from a thread, each one once the load has done a random share of its work (so every fault lands
  while submissions are in flight), in random order: `--api-kills` SIGKILLs of a random granian worker (granian
  respawns it), `--pg-restarts` immediate stops of PostgreSQL (`pg_ctl stop -m immediate`: no checkpoint, crash
  recovery at the next start) restarted on the same port after a short outage, `--redis-kills` SIGKILLs of
  redis-server restarted on the same port.

Then, the services back, the reconciliation, from the database (as its owner) and the bucket:

- every 2xx receipt has its offer row, `submitted`, with the receipt's instant and manifest hash, and its
  attachment rows with the receipt's names' sizes and hashes, one of them the SHA-256 of the bytes the client sent;
- every attachment row of the contract has its object, and that object, read back through `storage` and
  decrypted with the file's key (unwrapped with the contract key the openers' passphrases rebuild, as the
  opening does), hashes to the recorded SHA-256 and size;
- no duplicate: at most one submitted offer per vendor, at most one `offer.submitted` audit event per offer;
- the orphan sweeper (marketplace/sweeper.py) run on a clock moved past its grace period
  (`orphan_grace_minutes`): afterwards no object is named by no row, and none that a row names was removed;
- `marketplace audit verify`: the hash chain holds across the crashes.

Prints the figures, inserts a dated section after the runs marker of bench/RESULTS.md, and exits 1 on any loss,
mismatch, duplicate, orphan left or unverified chain. `run()` is what tests/test_chaos_short.py calls at a small
size.
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
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench.http import OUT, RUNS_MARKER, Server, _interrupt, child_env, code_version, machine_facts, serving  # noqa: E402
from bench.search import insert_section  # noqa: E402
from bench.submissions import audit_verify, bearer, prepare, set_up  # noqa: E402
from marketplace.app import make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.devstack.postgres import _SYSTEM_USER, EmbeddedPostgres, _bin  # noqa: E402
from marketplace.devstack.redis import EmbeddedRedis  # noqa: E402
from marketplace.lib.clock import FrozenClock  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.lib.sealing import (  # noqa: E402
    LockedOpenerKey,
    ProtectedContractKey,
    associated_data,
    decrypt_stream,
    recover_contract_key,
    unwrap_dek,
)
from marketplace.settings import Settings  # noqa: E402
from marketplace.sweeper import OrphanSweeper  # noqa: E402
from marketplace.tenders.offers import attachment_context  # noqa: E402
from marketplace.tenders.openers import contract_key_context  # noqa: E402
from storage import ObjectNotFound, ObjectStore  # noqa: E402
from tests.tenders.test_publication import OPENER_PASSPHRASE  # noqa: E402
from tests.vendors.api import fetch, minimal_pdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# A request that takes longer is abandoned by the client and retried (as a browser's fetch would give up).
REQUEST_TIMEOUT = 30.0
# What a client waits between two tries: grows to this, with jitter, so a thousand clients don't retry in step.
MAX_BACKOFF = 2.0
# Seconds PostgreSQL and Redis stay down before they are started again.
OUTAGE = (0.5, 2.0)
# Seconds granian gets to respawn a killed worker before the whole server is restarted.
RESPAWN_WITHIN = 20.0
RETRIED_STATUSES = {429, 500, 502, 503, 504}


# ------------------------------------------------------------------------------------------- ledger


@dataclass
class Ledger:
    """What the clients saw: the figures, and each acknowledged receipt with the hash of the bytes sent."""

    receipts_path: Path
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # offer id → signed receipt
    sent_sha256: dict[str, str] = field(default_factory=dict)  # offer id → SHA-256 of the attachment sent
    refused: Counter[str] = field(default_factory=Counter)  # final 4xx: "status rule"
    abandoned: int = 0  # gave up (the run's time bound)
    tries: Counter[str] = field(default_factory=Counter)  # request kind → requests sent
    retried: Counter[str] = field(default_factory=Counter)  # why a request was retried
    attachments_resent: int = 0  # re-uploaded after GET showed the first one missing
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, offer: str, receipt: dict[str, Any]) -> None:
        with self.lock:
            self.acknowledged[offer] = receipt
            with open(self.receipts_path, "a") as out:
                out.write(json.dumps({"offer": offer, "sentSha256": self.sent_sha256[offer], **receipt}) + "\n")


def _why(answer: httpx.Response | BaseException) -> str:
    return str(answer.status_code) if isinstance(answer, httpx.Response) else type(answer).__name__


class Vendor:
    """One vendor's browser: its token, refreshed on 401, and its retry loop."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, user: uuid.UUID, ledger: Ledger,
                 give_up_at: float) -> None:
        self.http, self.settings, self.user, self.ledger = http, settings, user, ledger
        self.headers = bearer(settings, user)
        self.give_up_at = give_up_at
        self.failures = 0

    async def request(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One try: the answer, or None after a transport error (logged as a retry reason)."""
        self.ledger.tries[kind] += 1
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            answer = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.ledger.retried[f"{kind} {_why(error)}"] += 1
            return None
        if answer.status_code == 401:
            self.headers = bearer(self.settings, self.user)
            self.ledger.retried[f"{kind} 401"] += 1
            return None
        if answer.status_code in RETRIED_STATUSES:
            self.ledger.retried[f"{kind} {answer.status_code}"] += 1
            return None
        return answer

    async def pause(self) -> bool:
        """Back off before the next try; False once past the run's time bound."""
        self.failures += 1
        if time.monotonic() >= self.give_up_at:
            return False
        await asyncio.sleep(random.uniform(0.1, min(MAX_BACKOFF, 0.2 * 2 ** min(self.failures, 4))))
        return True

    async def received(self, offer: str, sha256: str) -> bool | None:
        """Whether the offer lists a file with this hash (None: no answer)."""
        answer = await self.request("check", "GET", f"/offers/{offer}")
        if answer is None or answer.status_code != 200:
            return None
        return any(a["sha256"] == sha256 for a in answer.json()["attachments"])

    async def submit(self, offer: str, content: bytes) -> None:
        sha256 = hashlib.sha256(content).hexdigest()
        self.ledger.sent_sha256[offer] = sha256
        headers = {"content-type": "application/pdf", "x-filename": quote("Mémoire technique.pdf")}
        uploaded = False
        while not uploaded:
            answer = await self.request("attachment", "PUT", f"/offers/{offer}/attachments", content=content,
                                        headers=headers)
            if answer is not None and answer.status_code == 201:
                break
            if answer is not None:
                return self._refused(answer)
            # No answer: the file may have been received all the same. Ask before sending it again.
            while True:
                if not await self.pause():
                    self.ledger.abandoned += 1
                    return None
                seen = await self.received(offer, sha256)
                if seen is not None:
                    uploaded = seen
                    self.ledger.attachments_resent += not seen
                    break
        key = str(uuid.uuid4())
        while True:
            answer = await self.request("submit", "POST", f"/offers/{offer}/submit",
                                        headers={"Idempotency-Key": key})
            if answer is not None and answer.status_code == 200:
                self.ledger.acknowledge(offer, answer.json())
                return None
            if answer is not None:
                return self._refused(answer)
            if not await self.pause():
                self.ledger.abandoned += 1
                return None

    def _refused(self, answer: httpx.Response) -> None:
        rule = ""
        with contextlib.suppress(ValueError, AttributeError):
            rule = answer.json().get("rule") or ""
        self.ledger.refused[f"{answer.status_code} {rule}".strip()] += 1


async def load(base: str, settings: Settings, users: list[uuid.UUID], offers: list[str], concurrency: int,
               ledger: Ledger, max_seconds: float, file_bytes: int, chaos: Chaos | None = None) -> float:
    """Every vendor once, `concurrency` at a time; the seconds it took."""
    give_up_at = time.monotonic() + max_seconds
    todo = iter(range(len(offers)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        for index in todo:
            # Polled: the state is the chaos thread's (an asyncio.Event may not be set from another thread).
            while chaos is not None and chaos.holds():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            content = minimal_pdf(f"offre {offers[index]}", size=file_bytes)
            await Vendor(http, settings, users[index], ledger, give_up_at).submit(offers[index], content)
            with ledger.lock:
                ledger.done += 1

    began = time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return time.monotonic() - began


# ------------------------------------------------------------------------------------------- faults


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def api_workers(server: Server) -> list[int]:
    """The granian workers: the server process's children."""
    return _children(server.proc.pid) if server.proc is not None else []


class Postgres:
    """Crash and restart the embedded PostgreSQL in place: same data, same port, same options."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pgdata = pg.pgdata
        self.user = _SYSTEM_USER if os.geteuid() == 0 else None

    def _ctl(self, *args: str) -> None:
        subprocess.run([_bin("pg_ctl"), "-D", str(self.pgdata), *args], check=True, capture_output=True,
                       user=self.user, timeout=120)

    def crash(self) -> None:
        # Every backend killed at once, no shutdown checkpoint: the next start runs crash recovery from the WAL.
        self._ctl("stop", "-m", "immediate", "-w")

    def start(self) -> None:
        # `restart` on a stopped server starts it with the options recorded in postmaster.opts (same port).
        self._ctl("restart", "-w", "-t", "60", "-l", str(self.pgdata / "server.log"))


@dataclass
class Faults:
    api_kills: int = 0
    pg_restarts: int = 0
    redis_kills: int = 0
    server_restarts: int = 0  # granian did not respawn a worker in time: the whole server restarted
    errors: list[str] = field(default_factory=list)


class Chaos(threading.Thread):
    """Fires each planned fault once the load has done a random share of its work."""

    def __init__(self, plan: list[str], total: int, ledger: Ledger, server: Server, stack: Stack,
                 seed: int) -> None:
        super().__init__(name="chaos", daemon=True)
        self.ledger, self.server = ledger, server
        self.random = random.Random(seed)
        self.plan = plan
        self.random.shuffle(self.plan)
        # Between 3 % and 85 % of the submissions done: faults land with requests in flight, never after the end.
        self.at = sorted(int(total * self.random.uniform(0.03, 0.85)) for _ in plan)
        self.pg = Postgres(next(s for s in stack.started if isinstance(s, EmbeddedPostgres)))
        self.redis = next(s for s in stack.started if isinstance(s, EmbeddedRedis))
        self.faults = Faults()
        self.finished = threading.Event()
        self.stopping = threading.Event()
        self.fired = 0  # faults fired so far (their outage may still be on)

    def holds(self) -> bool:
        """Whether a client should wait before starting its next submission: the next fault is due and not yet
        fired (the requests in flight go on). So every fault fires at its point of the load, however long the
        previous one took to recover, and none is left over when the load would have ended."""
        return (not self.finished.is_set() and self.fired < len(self.at)
                and self.ledger.done >= self.at[self.fired])

    def run(self) -> None:
        try:
            for kind, at in zip(self.plan, self.at, strict=True):
                while self.ledger.done < at and not self.stopping.is_set():
                    time.sleep(0.02)
                if self.stopping.is_set():
                    break
                time.sleep(self.random.uniform(0.0, 0.1))
                fired = self.fired
                try:
                    getattr(self, f"fault_{kind}")()
                except Exception as error:
                    self.faults.errors.append(f"{kind}: {error!r}")
                    self.fired = fired + 1
        finally:
            self.finished.set()

    def fault_api(self) -> None:
        workers = api_workers(self.server)
        if not workers:
            raise RuntimeError("no granian worker to kill")
        victim = self.random.choice(workers)
        os.kill(victim, signal.SIGKILL)
        self.faults.api_kills += 1
        self.fired += 1
        deadline = time.monotonic() + RESPAWN_WITHIN
        while time.monotonic() < deadline:
            # granian exits altogether when a worker dies again soon after its respawn ("crash loop"): the
            # supervisor of a deployment (systemd) would start it again; here, this does, at once.
            if self.server.proc is None or self.server.proc.poll() is not None:
                break
            alive = [w for w in api_workers(self.server) if w != victim]
            if len(alive) >= self.server.workers:
                return
            time.sleep(0.1)
        self.faults.server_restarts += 1
        self.server.stop()
        self.server.start()
        self.server.wait_ready("/health")

    def fault_pg(self) -> None:
        self.pg.crash()
        self.faults.pg_restarts += 1
        self.fired += 1
        time.sleep(self.random.uniform(*OUTAGE))
        self.pg.start()

    def fault_redis(self) -> None:
        proc = self.redis._proc
        if proc is None:
            raise RuntimeError("redis-server is not running")
        proc.kill()
        proc.wait(timeout=10)
        self.faults.redis_kills += 1
        self.fired += 1
        time.sleep(self.random.uniform(*OUTAGE))
        self.redis.start()  # the same port: the app's URL names it


# ----------------------------------------------------------------------------------- reconciliation


@dataclass
class Reconciliation:
    acknowledged: int = 0
    missing_offers: list[str] = field(default_factory=list)  # acknowledged, no submitted row
    receipt_mismatches: list[str] = field(default_factory=list)  # the row says otherwise than the receipt
    sent_not_recorded: list[str] = field(default_factory=list)  # the client's file hash is not in the receipt
    submitted_rows: int = 0
    submitted_unacknowledged: int = 0  # committed, the client never saw its 2xx (no loss: retried or gave up)
    duplicate_vendors: int = 0  # vendors with more than one submitted offer
    duplicate_submissions: int = 0  # offers with more than one `offer.submitted` event
    attachment_rows: int = 0
    objects_missing: list[str] = field(default_factory=list)  # a row names an object the bucket lacks
    objects_mismatched: list[str] = field(default_factory=list)  # decrypted bytes ≠ recorded hash or size
    objects_verified: int = 0
    orphans_before_sweep: int = 0
    swept: int = 0
    orphans_after_sweep: int = 0
    named_missing_after_sweep: int = 0
    grace_minutes: int = 0
    audit_verified: bool = False
    audit_output: str = ""

    @property
    def losses(self) -> list[str]:
        problems = {
            "acknowledged offers missing": len(self.missing_offers),
            "receipts disagreeing with their rows": len(self.receipt_mismatches),
            "files sent but not in their receipt": len(self.sent_not_recorded),
            "vendors with two submitted offers": self.duplicate_vendors,
            "offers submitted twice": self.duplicate_submissions,
            "rows without their object": len(self.objects_missing),
            "objects not matching their hash": len(self.objects_mismatched),
            "orphan objects left after the sweep": self.orphans_after_sweep,
            "named objects missing after the sweep": self.named_missing_after_sweep,
        }
        found = [f"{n} {what}" for what, n in problems.items() if n]
        if not self.audit_verified:
            found.append(f"the audit chain does not verify: {self.audit_output}")
        return found


async def _contract_key(settings: Settings, contract_id: str) -> Any:
    """The contract's private key, rebuilt from its openers' keys and passphrases as the opening does."""
    cid = uuid.UUID(contract_id)
    key_row = (await fetch(settings, "SELECT protected FROM contract_key WHERE specific_contract_id = $1", cid))[0]
    protected = ProtectedContractKey.from_dict(_json(key_row["protected"]))
    openers = await fetch(settings, "SELECT o.id, o.record FROM opener_key o JOIN specific_contract c "
                                    "ON o.organisation_id = c.buyer_organisation_id WHERE c.id = $1", cid)
    unlocked = {str(r["id"]): LockedOpenerKey.from_dict(_json(r["record"])).unlock(OPENER_PASSPHRASE)
                for r in openers}
    return recover_contract_key(protected, unlocked, contract_key_context(cid))


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value)


async def _decrypted_sha256(store: ObjectStore, row: Any, contract_id: str, private: Any) -> tuple[str, int]:
    dek = unwrap_dek(row["wrapped_dek"], private, attachment_context(
        uuid.UUID(contract_id), row["offer_id"], row["id"], row["sha256"], row["size"]))
    digest, size = hashlib.sha256(), 0
    plain = decrypt_stream(store.get_stream(row["object_key"]), dek,
                           associated_data(purpose="offer-file", attachment=row["id"]))
    async for chunk in plain:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


async def reconcile(settings: Settings, contract_id: str, ledger: Ledger) -> Reconciliation:
    report = Reconciliation(acknowledged=len(ledger.acknowledged), grace_minutes=settings.orphan_grace_minutes)
    cid = uuid.UUID(contract_id)
    offers = {str(r["id"]): r for r in await fetch(
        settings, "SELECT id, status, vendor_organisation_id, received_at, manifest_sha256 FROM offer "
                  "WHERE specific_contract_id = $1", cid)}
    rows = await fetch(settings, "SELECT a.id, a.offer_id, a.object_key, a.size, a.sha256, a.wrapped_dek, "
                                 "a.sealing, a.received_at FROM offer_attachment a JOIN offer o ON o.id = a.offer_id "
                                 "WHERE o.specific_contract_id = $1", cid)
    files: dict[str, list[Any]] = {}
    for row in rows:
        files.setdefault(str(row["offer_id"]), []).append(row)
    for offer_id, signed in ledger.acknowledged.items():
        receipt = signed["receipt"]
        row = offers.get(offer_id)
        if row is None or row["status"] != "submitted":
            report.missing_offers.append(offer_id)
            continue
        recorded = sorted((a["size"], a["sha256"]) for a in files.get(offer_id, []) if a["received_at"])
        if (datetime.fromisoformat(receipt["receivedEnd"]) != row["received_at"]
                or receipt["manifestSha256"] != row["manifest_sha256"]
                or sorted((f["size"], f["sha256"]) for f in receipt["files"]) != recorded):
            report.receipt_mismatches.append(offer_id)
        if ledger.sent_sha256[offer_id] not in {f["sha256"] for f in receipt["files"]}:
            report.sent_not_recorded.append(offer_id)
    submitted = [r for r in offers.values() if r["status"] == "submitted"]
    report.submitted_rows = len(submitted)
    report.submitted_unacknowledged = sum(str(r["id"]) not in ledger.acknowledged for r in submitted)
    report.duplicate_vendors = sum(n > 1 for n in Counter(r["vendor_organisation_id"] for r in submitted).values())
    events = await fetch(settings, "SELECT target_id, count(*) AS n FROM audit_event WHERE action = 'offer.submitted' "
                                   "AND target_id = ANY($1::text[]) GROUP BY target_id", list(offers))
    report.duplicate_submissions = sum(e["n"] > 1 for e in events)

    store = make_store(settings)
    private = await _contract_key(settings, contract_id)
    report.attachment_rows = len(rows)
    for row in rows:
        try:
            sha256, size = await _decrypted_sha256(store, row, contract_id, private)
        except ObjectNotFound:
            report.objects_missing.append(row["object_key"])
            continue
        if (sha256, size) != (row["sha256"], row["size"]):
            report.objects_mismatched.append(row["object_key"])
        else:
            report.objects_verified += 1

    named = {row["object_key"] for row in rows}
    listed = {o.key for o in await store.list_objects("offers")}
    report.orphans_before_sweep = len(listed - named)
    # The sweeper as the worker runs it, on a clock moved past its grace period: every object of the run is old.
    engine = create_async_engine(settings.database_url)
    try:
        moved = FrozenClock(datetime.now(UTC) + timedelta(minutes=settings.orphan_grace_minutes + 5))
        sweep = await OrphanSweeper(async_sessionmaker(engine, expire_on_commit=False), store, moved).sweep(
            timedelta(minutes=settings.orphan_grace_minutes))
    finally:
        await engine.dispose()
    report.swept = sweep.deleted
    after = {o.key for o in await store.list_objects("offers")}
    report.orphans_after_sweep = len(after - named)
    report.named_missing_after_sweep = len(named - after)
    report.audit_verified, report.audit_output, _ = audit_verify(settings)
    return report


# --------------------------------------------------------------------------------------------- run


@dataclass
class Outcome:
    submissions: int
    ledger: Ledger
    faults: Faults
    planned: Counter[str]
    reconciliation: Reconciliation
    load_seconds: float
    setup_seconds: float

    @property
    def failures(self) -> list[str]:
        found = list(self.reconciliation.losses)
        done = Counter({"api": self.faults.api_kills, "pg": self.faults.pg_restarts, "redis": self.faults.redis_kills})
        if done != self.planned:
            found.append(f"faults planned {dict(self.planned)}, done {dict(done)}")
        found += [f"fault failed: {e}" for e in self.faults.errors]
        return found


class ChaosServer(Server):
    """granian as production runs it, respawning a worker that dies (a supervisor would restart the server)."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "--respawn-failed-workers", "--respawn-interval", "0.5",
                super().command()[-1]]

    def start(self) -> None:
        # A restart keeps the log of the server it replaces (why it had to be restarted).
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(f".{time.monotonic_ns()}.log"))
        super().start()


def run(data_dir: Path, *, submissions: int, concurrency: int, api_kills: int, pg_restarts: int, redis_kills: int,
        workers: int = 2, file_bytes: int = 64 * 1024, max_seconds: float = 600.0, seed: int | None = None,
        log: Any = print) -> Outcome:
    """Everything on fresh services under `data_dir`, stopped at the end whatever happens."""
    shutil.rmtree(data_dir, ignore_errors=True)
    stack = Stack(Settings(data_dir=data_dir), durable=True)
    running: list[Server] = []
    seed = random.randrange(1 << 30) if seed is None else seed
    try:
        began = time.monotonic()
        log(f"starting PostgreSQL, Redis and S3 under {data_dir}")
        settings = stack.start()
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        log(f"setting up: the world, a DPS, {submissions:,} admitted vendors, one published contract")
        contract = asyncio.run(set_up(settings, submissions))
        logging.getLogger("httpx").setLevel(logging.WARNING)
        server = ChaosServer("chaos", "marketplace.app:create_app", workers, child_env(settings))
        with serving(server, "/health", running) as srv:
            log(f"preparing {submissions:,} drafts with their parts through the API (no fault yet)")
            offers = asyncio.run(prepare(srv.base, settings, contract.id, contract.users, min(concurrency, 16)))
            setup_seconds = time.monotonic() - began
            ledger = Ledger(receipts_path=data_dir / "receipts.jsonl")
            plan = ["api"] * api_kills + ["pg"] * pg_restarts + ["redis"] * redis_kills
            chaos = Chaos(list(plan), submissions, ledger, srv, stack, seed)
            log(f"load: {submissions:,} submissions with a {file_bytes // 1024} KiB attachment, {concurrency} in "
                f"flight; faults (seed {seed}): {api_kills} API worker kills, {pg_restarts} PostgreSQL crashes, "
                f"{redis_kills} Redis kills")
            chaos.start()
            try:
                load_seconds = asyncio.run(load(srv.base, settings, contract.users, offers, concurrency, ledger,
                                                max_seconds, file_bytes, chaos))
            finally:
                chaos.stopping.set()
                chaos.join(timeout=180)
            log(f"  {len(ledger.acknowledged):,} acknowledged, {sum(ledger.refused.values())} refused, "
                f"{ledger.abandoned} abandoned in {load_seconds:.0f} s; faults {chaos.faults}")
        log("reconciling receipts, rows, objects; sweeping orphans; verifying the audit chain")
        reconciliation = asyncio.run(reconcile(settings, contract.id, ledger))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for srv_ in reversed(running):
            srv_.stop()
        stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return Outcome(submissions=submissions, ledger=ledger, faults=chaos.faults, planned=Counter(plan),
                   reconciliation=reconciliation, load_seconds=load_seconds, setup_seconds=setup_seconds)


# ------------------------------------------------------------------------------------------ report


def figures(o: Outcome) -> str:
    led, rec, f = o.ledger, o.reconciliation, o.faults
    refused = ", ".join(f"{k} × {n}" for k, n in sorted(led.refused.items())) or "none"
    retried = ", ".join(f"{k} × {n}" for k, n in sorted(led.retried.items())) or "none"
    tries = ", ".join(f"{k} {n:,}" for k, n in sorted(led.tries.items()))
    return f"""| | count |
|---|---:|
| submissions tried | {o.submissions:,} |
| acknowledged (200 with a signed receipt) | {rec.acknowledged:,} |
| refused (final 4xx) | {sum(led.refused.values())} |
| abandoned (time bound) | {led.abandoned} |
| API worker kills (SIGKILL) | {f.api_kills} |
| granian restarts (it exited on a worker crash loop) | {f.server_restarts} |
| PostgreSQL immediate stops + restarts | {f.pg_restarts} |
| Redis kills + restarts | {f.redis_kills} |
| offers stored as submitted | {rec.submitted_rows:,} |
| of which never acknowledged to their client | {rec.submitted_unacknowledged} |
| **acknowledged offers missing** | **{len(rec.missing_offers)}** |
| receipts disagreeing with their rows | {len(rec.receipt_mismatches)} |
| files sent, not in their receipt | {len(rec.sent_not_recorded)} |
| vendors with two submitted offers / offers submitted twice | {rec.duplicate_vendors} / {rec.duplicate_submissions} |
| attachment rows / objects decrypted and matching their SHA-256 | {rec.attachment_rows:,} / {rec.objects_verified:,} |
| rows without their object / objects not matching | {len(rec.objects_missing)} / {len(rec.objects_mismatched)} |
| attachments re-sent (not seen after a failed PUT) | {led.attachments_resent} |
| orphan objects before the sweep / swept / left after | {rec.orphans_before_sweep} / {rec.swept} / \
{rec.orphans_after_sweep} |
| named objects missing after the sweep | {rec.named_missing_after_sweep} |
| audit chain | {"verifies" if rec.audit_verified else "DOES NOT VERIFY"} |

Requests sent: {tries}. Retried because of: {retried}. Refusals: {refused}."""


def section(o: Outcome, args: argparse.Namespace, *, command: str, code: str, started: datetime,
            elapsed: float) -> str:
    facts = "\n".join(f"- {name}: {value}" for name, value in machine_facts().items() if name != "wrk")
    verdict = "no loss" if not o.failures else "FAILED: " + "; ".join(o.failures)
    return f"""## {started:%Y-%m-%d %H:%M} UTC — chaos: submissions under worker, PostgreSQL and Redis kills (G6)

Command: `{command}` (whole run {elapsed:.0f} s: set-up and drafts {o.setup_seconds:.0f} s, load under faults
{o.load_seconds:.0f} s). Load average before the run: {args.load_before:.2f} (1 min).

Code: {code}

Machine:
{facts}

granian `--workers {args.workers} --respawn-failed-workers` on the embedded services (durable PostgreSQL). Each
vendor streams a {args.file_kib} KiB PDF and submits with an Idempotency-Key, {args.concurrency} in flight,
retrying on transport errors, time-outs ({REQUEST_TIMEOUT:g} s), 5xx and 429 (the file only once `GET
/offers/{{id}}` shows it missing). Faults at random points of the load. Then every receipt against the
database, every attachment's object decrypted and hashed, the orphan sweeper on a clock past its
{o.reconciliation.grace_minutes} min grace, `marketplace audit verify`.

{figures(o)}

Result: {verdict}.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--submissions", type=int, default=1000, help="vendors, each submitting once")
    parser.add_argument("--concurrency", type=int, default=50, help="submissions in flight")
    parser.add_argument("--api-kills", type=int, default=20, help="SIGKILLs of a granian worker")
    parser.add_argument("--pg-restarts", type=int, default=5, help="immediate stops and restarts of PostgreSQL")
    parser.add_argument("--redis-kills", type=int, default=5, help="SIGKILLs and restarts of redis-server")
    parser.add_argument("--file-kib", type=int, default=64, help="size of each attachment")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="bound on the load; clients give up after")
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's seed (random by default)")
    parser.add_argument("--data-dir", type=Path, default=OUT / "chaos-data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    if min(args.submissions, args.concurrency, args.workers, args.file_kib) < 1 \
            or min(args.api_kills, args.pg_restarts, args.redis_kills) < 0:
        parser.error("need --submissions, --concurrency, --workers, --file-kib >= 1 and fault counts >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("marketplace.storage.sweeper").setLevel(logging.WARNING)  # a line per orphan otherwise
    command = shlex.join([".venv/bin/python", "bench/chaos.py", *(sys.argv[1:] if argv is None else argv)])
    started, began, code = datetime.now(UTC), time.monotonic(), code_version()
    args.load_before = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcome = run(args.data_dir, submissions=args.submissions, concurrency=args.concurrency,
                      api_kills=args.api_kills, pg_restarts=args.pg_restarts, redis_kills=args.redis_kills,
                      workers=args.workers, file_bytes=args.file_kib * 1024, max_seconds=args.max_seconds,
                      seed=args.seed, log=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("\ninterrupted; stopped what was started", file=sys.stderr)
        return 130
    if not args.out.exists():
        args.out.write_text(f"# Results\n\n{RUNS_MARKER}\n")
    insert_section(args.out, section(outcome, args, command=command, code=code, started=started,
                                     elapsed=time.monotonic() - began))
    print()
    print(figures(outcome))
    print(f"written to {args.out}")
    for problem in outcome.failures:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
