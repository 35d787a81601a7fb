"""Offer attachments through the API versus straight to object storage (issue 6, must show 3).

    .venv/bin/python bench/upload.py [--mib 200] [--out bench/RESULTS.md]

One run starts the embedded PostgreSQL, Redis and S3 (data under bench/out/upload), prepares an open
specific contract with an invited vendor's draft offer (in process, on a clock set two months back so the
DPS's 30-day window and the 10-day tender period are behind us), then serves the real app under granian
(one worker, the real clock) and measures, in the same run:

- API: `PUT /offers/{id}/attachments`, a --mib MiB body streamed from the client; the server sniffs,
  hashes, encrypts (AES-256-GCM) and streams it to S3. The worker's RSS is sampled every 20 ms: its
  growth over the idle baseline must stay under 64 MiB. The SHA-256 recorded must be the client's.
- Baseline: a presigned PUT of the same bytes to the same S3 server (SSE-C + signed SHA-256, what
  `storage.presign_upload` gives a client), and a plain presigned PUT without them.
- Disconnect: a client that stops half-way through an API upload; afterwards the bucket holds no new
  object and no unfinished multipart upload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/http.py would shadow the standard `http` package if bench/ led sys.path; the root instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import httpx  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

from bench.fanout import _fresh_database  # noqa: E402
from bench.http import Server, child_env, code_version, machine_facts  # noqa: E402
from marketplace.app import create_app, make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.clock import FrozenClock  # noqa: E402
from marketplace.reference.services import import_cpv  # noqa: E402
from marketplace.settings import Settings  # noqa: E402
from storage import CustomerKey  # noqa: E402
from tests.conftest import CPV_SAMPLE as CPV_FILE  # noqa: E402
from tests.tenders.test_offers import PARTS  # noqa: E402
from tests.tenders.test_publication import admit, publish, submitted_need  # noqa: E402
from tests.vendors.api import categories_by_pair, expect, open_dps  # noqa: E402
from tests.world import build_world  # noqa: E402

OUT = ROOT / "bench" / "out"
CHUNK = 1024 * 1024
MARKER = "<!-- upload runs: newest first; bench/upload.py inserts new ones below this line -->"
INTRO = f"""
# Upload benchmark results

What is measured: one offer attachment streamed through the API (sniffed, hashed, encrypted, streamed to
S3 by a granian worker) against presigned PUTs of the same bytes to the same S3 server (the baseline),
in the same run; the worker's memory growth during the API upload; what a client cut off half-way
leaves behind. Issue 6 asks for growth under 64 MiB and API throughput at least 70 % of a presigned PUT.
Reproduce:

    .venv/bin/python bench/upload.py --mib 200

{MARKER}
"""


# Incompressible and the same in every call (the client's hash must be the server's).
BLOCK = random.Random(6).randbytes(CHUNK)


def body(mib: int) -> Iterator[bytes]:
    """A PDF by its head, then incompressible bytes (one random MiB repeated)."""
    block = BLOCK
    yield b"%PDF-1.7\n" + block[9:]
    for _ in range(mib - 1):
        yield block


def digest(mib: int) -> str:
    h = hashlib.sha256()
    for chunk in body(mib):
        h.update(chunk)
    return h.hexdigest()


class RssSampler:
    """Peak resident memory of a process group (granian and its worker), sampled in a thread."""

    def __init__(self, pgid: int) -> None:
        self.pgid, self.peak, self._stop = pgid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != self.pgid:
                    continue
                status = Path(f"/proc/{entry.name}/status").read_text()
            except (OSError, ProcessLookupError):
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def prepare(settings: Settings) -> tuple[dict[str, str], str]:
    """An open contract (deadline tomorrow, real time) and the vendor's draft offer; (headers, offer id)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from marketplace.lib.clock import SystemClock

    engine = create_async_engine(settings.migration_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await import_cpv(session, SystemClock(), CPV_FILE, None)
        await session.commit()
    await engine.dispose()
    world = await build_world(settings)
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=60))
    async with AsyncTestClient(create_app(settings, clock=clock, run_relay=False)) as client:
        dps = await open_dps(client, world, clock)
        await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
        need = await submitted_need(client, world)
        deadline = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        contract = expect(await publish(client, world, need["id"], dps["id"], deadline,
                                        attachmentMaxBytes=2 * 1024**3 - 1, offerMaxBytes=10 * 1024**3), 201)
        headers = world["vendor_admin"].headers
        offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
        expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers, json=PARTS), 200)
    return headers, str(offer["id"])


def api_upload(base: str, headers: dict[str, str], offer: str, mib: int, name: str) -> tuple[float, dict[str, str]]:
    started = time.perf_counter()
    response = httpx.put(f"{base}/offers/{offer}/attachments", content=body(mib), timeout=600,
                         headers={**headers, "content-type": "application/pdf", "x-filename": name})
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed, response.json()


def presigned_put(settings: Settings, mib: int, sha256: str, *, sealed: bool) -> float:
    store = make_store(settings)
    key = f"bench/{uuid.uuid4()}"
    if sealed:
        upload = store.presign_upload(key, size=mib * CHUNK, sha256=sha256, sse_key=CustomerKey.generate())
        url, headers = upload.url, upload.headers
    else:
        url, headers = store.presigned_put(key), {"content-length": str(mib * CHUNK)}
    data = b"".join(body(mib))  # presigned PUTs sign the length: one buffer (the client's memory isn't measured)
    started = time.perf_counter()
    response = httpx.put(url, content=data, headers=headers, timeout=600)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    asyncio.run(store.delete(key))
    return elapsed


def cut_off(base: str, headers: dict[str, str], offer: str, mib: int) -> None:
    """Send half the declared body, then drop the connection."""
    def half() -> Iterator[bytes]:
        for index, chunk in enumerate(body(mib)):
            if index == mib // 2:
                raise ConnectionAbortedError("client gone")
            yield chunk

    with contextlib.suppress(ConnectionAbortedError, httpx.HTTPError):
        httpx.put(f"{base}/offers/{offer}/attachments", content=half(), timeout=60,
                  headers={**headers, "content-type": "application/pdf", "x-filename": "cut.pdf",
                           "content-length": str(mib * CHUNK)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    stack = Stack(Settings.from_env().with_(data_dir=OUT / "upload"), durable=True)
    base_settings = stack.start()
    server: Server | None = None
    try:
        settings = asyncio.run(_fresh_database(base_settings, "bench_upload"))
        asyncio.run(make_store(settings).ensure_bucket())
        headers, offer = asyncio.run(prepare(settings))
        sha256 = digest(args.mib)
        server = Server("upload-api", "marketplace.app:create_app", 1, child_env(settings))
        server.start()
        server.wait_ready("/health")
        assert server.proc is not None
        sampler = RssSampler(os.getpgid(server.proc.pid))
        api_upload(server.base, headers, offer, 8, "warm-up.pdf")  # imports, pools, first S3 connection
        idle = sampler.rss()
        with sampler:
            api_seconds, receipt = api_upload(server.base, headers, offer, args.mib, "gros.pdf")
        growth = sampler.peak - idle
        assert receipt["sha256"] == sha256 and receipt["size"] == args.mib * CHUNK, receipt
        sealed_seconds = presigned_put(settings, args.mib, sha256, sealed=True)
        plain_seconds = presigned_put(settings, args.mib, sha256, sealed=False)

        store = make_store(settings)
        before = {o.key for o in asyncio.run(store.list_objects("offers"))}
        cut_off(server.base, headers, offer, 64)
        time.sleep(3)
        after = {o.key for o in asyncio.run(store.list_objects("offers"))}
        pending = asyncio.run(store.list_incomplete_uploads("offers"))
        left = (len(after - before), len(pending))
    finally:
        if server is not None:
            server.stop()
        stack.stop()
    report(args, started_at, time.perf_counter() - t0, (api_seconds, sealed_seconds, plain_seconds), idle,
           growth, left)
    # The targets of issue 6: a run that misses one fails, so a regression can't pass unnoticed.
    failures = [what for what, ok in (("memory growth under 64 MiB", growth < 64 * 2**20),
                                      ("API at least 70 % of a presigned PUT", sealed_seconds / api_seconds >= 0.7),
                                      ("nothing left by a cut-off client", left == (0, 0))) if not ok]
    if failures:
        sys.exit("missed: " + "; ".join(failures))


def report(args: argparse.Namespace, started_at: datetime, whole: float, seconds: tuple[float, float, float],
           idle: int, growth: int, left: tuple[int, int]) -> None:
    api_seconds, sealed_seconds, plain_seconds = seconds
    mib = args.mib
    api, sealed, plain = mib / api_seconds, mib / sealed_seconds, mib / plain_seconds
    rows = [f"| API `PUT /offers/{{id}}/attachments` (sniff, SHA-256, AES-256-GCM, to S3) | {api:.0f} MiB/s | "
            f"{api / sealed:.2f}× | {api / plain:.2f}× |",
            f"| baseline: presigned PUT, SSE-C + signed SHA-256 | {sealed:.0f} MiB/s | 1.00× | {sealed / plain:.2f}× |",
            f"| presigned PUT, plain | {plain:.0f} MiB/s | {plain / sealed:.2f}× | 1.00× |"]
    facts = "\n".join(f"- {k}: {v}" for k, v in machine_facts().items() if k != "wrk")
    command = ".venv/bin/python bench/upload.py " + shlex.join(["--mib", str(mib)])
    text = (f"## {started_at:%Y-%m-%d %H:%M} UTC\n\nCommand: `{command}` (whole run {whole:.0f} s)"
            f"\n\nCode: {code_version()}\n\nMachine:\n{facts}\n\n{mib} MiB, client, server, PostgreSQL and S3 on the "
            "same machine.\n\n| path | throughput | vs presigned SSE-C | vs presigned plain |\n|---|---:|---:|---:|\n"
            + "\n".join(rows) +
            f"\n\nAPI worker memory (granian, one worker): {idle / 2**20:.0f} MiB idle, peak growth during the "
            f"upload {growth / 2**20:.1f} MiB (limit 64 MiB: {'met' if growth < 64 * 2**20 else 'NOT met'}). "
            f"Recorded SHA-256 = the client's: yes. A client cut off after 32 of 64 MiB left {left[0]} new "
            f"object(s) and {left[1]} unfinished multipart upload(s).\n\n")
    print(text)
    out = args.out
    content = out.read_text(encoding="utf-8") if out.exists() else ""
    if MARKER not in content:
        content = content.rstrip("\n") + "\n" + INTRO
    head, _, tail = content.partition(MARKER)
    out.write_text(f"{head}{MARKER}\n\n{text}{tail.lstrip(chr(10))}", encoding="utf-8")


if __name__ == "__main__":
    main()
