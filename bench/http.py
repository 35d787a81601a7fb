"""HTTP throughput and latency of the marketplace API under its production server, against a bare baseline.

    .venv/bin/python bench/http.py [--duration 10] [--connections 64] [--workers 2] [--out bench/RESULTS.md]

One run starts the embedded PostgreSQL, Redis and S3 (data under bench/out/data), migrates, creates the
bucket, then measures three endpoints one after the other, each on a fresh granian server with the same
flags and worker count, hammered by `wrk` with the same settings:

    hello    GET /                        bench/hello_app.py: bare Litestar, the baseline
    health   GET /health                  the real app: DB, Redis and S3 probes run concurrently
    read     GET /support/requests/{id}   the real app: one DB-backed read (two small ORM queries)

It prints a table and prepends a dated section to the results file, so its history accumulates.
Everything it starts (servers, then the services) is stopped in a `finally`, on Ctrl-C and on errors.
"""

from __future__ import annotations

import os
import sys

# This file is named http.py. Run as a script, its directory comes first on sys.path, where it would
# shadow the standard library's `http` package for everything imported below (httpx, asyncio…): drop it.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402

import httpx  # noqa: E402

from marketplace.app import make_store  # noqa: E402
from marketplace.devstack import Stack  # noqa: E402
from marketplace.lib.migrate import upgrade  # noqa: E402
from marketplace.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"  # gitignored: the services' data and the servers' logs
# The same thread count as the published baselines (../shared/services.md): `wrk -t2`.
WRK_THREADS = 2
WARMUP_SECONDS = 2
READY_TIMEOUT = 60.0
# granian's SIGTERM lets in-flight requests and lifespans finish (the outbox relay stops within ~1 s);
# past this grace the whole process group is killed so no worker outlives the benchmark.
STOP_GRACE = 5.0
# Marks where the dated runs begin in the results file; everything after it is kept on each run.
RUNS_MARKER = "<!-- runs: newest first; bench/http.py inserts new ones below this line -->"


# ---------------------------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    # wrk counts responses with a status >= 400 under this name ("Non-2xx or 3xx responses").
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """The figures of `wrk --latency`; absent error lines mean zero errors."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"no {pattern!r} in wrk output:\n{output}")
        return match

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_duration_ms(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_duration_ms(find(r"^\s+99%\s+(\S+)")[1]),
        requests=int(find(r"(\d+) requests in")[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=dict(zip(("connect", "read", "write", "timeout"),
                               (int(n) for n in sockets.groups()), strict=True)) if sockets else {},
    )


def wrk_command(url: str, *, connections: int, duration: int, headers: dict[str, str] | None = None) -> list[str]:
    sent = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    return ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency", *sent, url]


def run_wrk(url: str, *, connections: int, duration: int, headers: dict[str, str] | None = None,
            while_running: Callable[[], None] | None = None) -> WrkResult:
    """Run wrk to completion; `while_running` is called repeatedly meanwhile (to sample the server)."""
    proc = subprocess.Popen(wrk_command(url, connections=connections, duration=duration, headers=headers),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if while_running is not None:
            while proc.poll() is None:
                while_running()
        # wrk stops itself after `duration`; the margin covers its final in-flight requests.
        out, err = proc.communicate(timeout=duration + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err or out}")
    return parse_wrk(out)


# ------------------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One granian process serving `target`, started the way production starts it."""

    name: str
    target: str
    workers: int
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return OUT / "logs" / f"{self.name}.log"

    def command(self) -> list[str]:
        granian = Path(sys.executable).parent / "granian"
        return [str(granian) if granian.exists() else "granian", "--interface", "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                "--no-ws", "--log-level", "warning", self.target]

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # Its own session: Ctrl-C reaches only us, and we stop the server in order; the repository
            # root as working directory makes `bench.hello_app` importable.
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: granian exited early; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: {path} did not answer 200 within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE)
        # The group is the one granian leads (start_new_session): this also reaches workers it left.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        # Only now: an interrupted stop() leaves the process for main()'s `finally` to stop again.
        self.proc = None


@contextlib.contextmanager
def serving(server: Server, ready_path: str, running: list[Server]) -> Iterator[Server]:
    # `running` lets main()'s `finally` stop a server that is still up when Ctrl-C lands anywhere.
    running.append(server)
    try:
        server.start()
        server.wait_ready(ready_path)
        yield server
    finally:
        server.stop()
        running.remove(server)


# ---------------------------------------------------------------------------------------- CPU split

# Who burns the CPU while wrk runs. Server, client and services share the machine's cores, so a slow
# endpoint is often just an expensive one: CPU per request, split by process, says where it goes.
# Processes are attributed by what we started (process groups and pid files), never by name, because
# other PostgreSQL/Redis/weed instances may be running on the same machine.
COMPONENTS = ("server", "postgres", "redis", "s3", "wrk", "other")
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    pgrp: int
    # utime + stime + cutime + cstime: a child's CPU moves into its parent's c-times when it is reaped,
    # so summing these over a component before and after counts the PostgreSQL backends that exited
    # meanwhile (pool overflow connections), once.
    ticks: int


def _proc_stats() -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name sits in parentheses and may itself contain spaces or parentheses.
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = ProcStat(ppid=int(fields[1]), pgrp=int(fields[2]),
                                          ticks=sum(int(f) for f in fields[11:15]))
    return stats


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    # user nice system idle iowait irq softirq: steal is the hypervisor's, guest is already in user.
    total = sum(values[:7])
    return total - idle, total


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class CpuSplit:
    """CPU time per component over one measured run, and how busy the whole machine was."""

    ms: dict[str, float]
    machine_busy: float  # 0..1, all CPUs

    def per_request(self, requests: int) -> dict[str, float]:
        return {name: ms / max(requests, 1) for name, ms in self.ms.items()}


class CpuMeter:
    def __init__(self, data_dir: Path, server: Server) -> None:
        self.data_dir = data_dir
        self.server = server
        self._children_before = 0.0
        self._before: dict[str, int] = {}
        self._machine_before = (0, 0)

    def _totals(self, stats: dict[int, ProcStat]) -> dict[str, int]:
        server = self.server.proc.pid if self.server.proc is not None else None
        postmaster = _pid_file(self.data_dir / "postgres" / "postmaster.pid")
        # Redis and weed are started in sessions of their own, so their group id is the recorded pid.
        redis = _pid_file(self.data_dir / "redis" / "redis.pid")
        weed = _pid_file(self.data_dir / "s3" / "weed.pid")
        totals = dict.fromkeys(COMPONENTS, 0)
        for pid, stat in stats.items():
            if server is not None and stat.pgrp == server:
                totals["server"] += stat.ticks
            elif postmaster is not None and postmaster in (pid, stat.ppid):
                totals["postgres"] += stat.ticks
            elif redis is not None and stat.pgrp == redis:
                totals["redis"] += stat.ticks
            elif weed is not None and stat.pgrp == weed:
                totals["s3"] += stat.ticks
        return totals

    def start(self) -> None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children_before = children.ru_utime + children.ru_stime
        self._before = self._totals(_proc_stats())
        self._machine_before = _machine_ticks()

    def stop(self) -> CpuSplit:
        after = self._totals(_proc_stats())
        busy, total = _machine_ticks()
        busy -= self._machine_before[0]
        total -= self._machine_before[1]
        ms = {name: (after[name] - self._before[name]) * _TICK_MS for name in COMPONENTS}
        # wrk has exited and been reaped by now: its CPU shows up in our children's usage.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        ms["wrk"] = (children.ru_utime + children.ru_stime - self._children_before) * 1000
        # Everything else the machine did: this script, the kernel, and anyone else's processes.
        ms["other"] = max(busy * _TICK_MS - sum(ms.values()), 0.0)
        return CpuSplit(ms=ms, machine_busy=busy / max(total, 1))


# -------------------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Measurement:
    endpoint: str
    result: WrkResult
    cpu: CpuSplit
    # The least share of the bare app's throughput this endpoint must reach (None: no target).
    target: float | None = None


@dataclass
class HealthSamples:
    """Per-dependency probe latencies that /health itself reports (`checks.*.latencyMs`)."""

    idle: dict[str, list[float]] = field(default_factory=dict)
    loaded: dict[str, list[float]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)

    def take(self, base: str, into: dict[str, list[float]]) -> None:
        response = httpx.get(base + "/health", timeout=10)
        self.statuses.append(response.status_code)
        for name, check in response.json()["checks"].items():
            into.setdefault(name, []).append(float(check["latencyMs"]))
            if check["status"] != "ok":
                print(f"  /health: {name} is {check['status']}: {check.get('error')}", file=sys.stderr)

    def summary(self) -> str:
        def medians(samples: dict[str, list[float]]) -> str:
            return ", ".join(f"{name} {statistics.median(values):.1f} ms" for name, values in samples.items())

        n = len(next(iter(self.loaded.values()), []))
        return (f"probe latencies reported by /health (median): idle {medians(self.idle)}; "
                f"under load (n={n}, sampled during the warm-up) {medians(self.loaded)}")


def measure(server: Server, path: str, args: argparse.Namespace, data_dir: Path, *, label: str = "",
            during_warmup: Callable[[], None] | None = None, headers: dict[str, str] | None = None) -> Measurement:
    url = server.base + path
    print(f"  warm-up {WARMUP_SECONDS} s, then {args.duration} s on {path}", flush=True)
    # The warm-up fills connection pools and first-request caches, and is where samples are taken,
    # so the measured run is wrk alone.
    run_wrk(url, connections=args.connections, duration=WARMUP_SECONDS, headers=headers,
            while_running=during_warmup)
    meter = CpuMeter(data_dir, server)
    meter.start()
    result = run_wrk(url, connections=args.connections, duration=args.duration, headers=headers)
    return Measurement(endpoint=label or f"GET {path}", result=result, cpu=meter.stop())


def create_support_request(base: str) -> str:
    """One row to read back: the id of a support request created through the API itself."""
    response = httpx.post(base + "/support/requests/", timeout=10, json={
        "name": "Bench", "email": "bench@example.fr", "subject": "Benchmark row",
        "message": "Created by bench/http.py to measure one DB-backed read."})
    if response.status_code != 201:
        raise RuntimeError(f"POST /support/requests answered {response.status_code}: {response.text}")
    request_id = str(response.json()["id"])
    check = httpx.get(f"{base}/support/requests/{request_id}", timeout=10)
    if check.status_code != 200:
        raise RuntimeError(f"GET /support/requests/{request_id} answered {check.status_code}: {check.text}")
    return request_id


# The throughput each read must reach, as a share of the bare app's in the same run and worker count.
CONTRACT_TARGET = 0.10
PUBLIC_TARGET = 0.15
PUBLIC_LISTS = (("dps", "/dps"), ("register", "/register"), ("discovery", "/discovery/needs?limit=20"))
ENDPOINTS = ("health", "support", "contract", *(name for name, _ in PUBLIC_LISTS))


def child_env(settings: Settings) -> dict[str, str]:
    # Only the benchmark's own services: MARKETPLACE_* variables of the caller's shell must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    return {**env, **settings.to_env()}


async def seed_procedure(settings: Settings) -> tuple[str, dict[str, str]]:
    """A real procedure to read: the test world's organisations and people, then a DPS, admissions, a filed
    need and its specific contract published, all through the API (tests/tenders/test_offers.py's
    `open_contract`, in process on the frozen clock of the tests). Returns the contract's id and the buyer's
    `Authorization` header (an access token valid 15 minutes on the wall clock)."""
    # The tests' builders: the repository's root is on the path for them (this file's directory is not).
    sys.path.insert(0, str(ROOT))
    from litestar.testing import AsyncTestClient
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from marketplace.app import create_app
    from marketplace.lib.clock import FrozenClock, system_clock
    from marketplace.reference.cpv import import_cpv
    from tests.tenders.test_offers import open_contract
    from tests.vendors.conftest import START
    from tests.world import build_world

    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            # The sample of CPV codes the tests' need cites (the product imports the whole table in production).
            await import_cpv(session, system_clock, ROOT / "tests" / "data" / "cpv_sample.json", "cpv-2008-sample")
            await session.commit()
    finally:
        await engine.dispose()
    world = await build_world(settings)
    clock = FrozenClock(START)
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        contract = await open_contract(client, world, clock)
    return str(contract["id"]), {"Authorization": world["buyer_admin"].headers["Authorization"]}


def run_all(args: argparse.Namespace, settings: Settings, running: list[Server]) -> tuple[
        list[Measurement], HealthSamples]:
    env = child_env(settings)
    results: list[Measurement] = []
    health = HealthSamples()
    wanted = set(args.only or ENDPOINTS)

    print("[1/7] bare Litestar hello (baseline)", flush=True)
    with serving(Server("hello", "bench.hello_app:create_app", args.workers, env), "/", running) as srv:
        results.append(measure(srv, "/", args, settings.data_dir))

    if "health" in wanted:
        print("[2/7] marketplace GET /health", flush=True)
        with serving(Server("health", "marketplace.app:create_app", args.workers, env), "/health",
                     running) as srv:
            for _ in range(5):
                health.take(srv.base, health.idle)

            def sample() -> None:
                health.take(srv.base, health.loaded)
                time.sleep(0.1)

            results.append(measure(srv, "/health", args, settings.data_dir, during_warmup=sample))
            health.take(srv.base, health.idle)  # and once after: still 200 once the load is gone?

    contract_id, buyer = asyncio.run(seed_procedure(settings))
    with serving(Server("read", "marketplace.app:create_app", args.workers, env), "/health",
                 running) as srv:
        if "support" in wanted:
            print("[3/7] marketplace GET /support/requests/{id}", flush=True)
            request_id = create_support_request(srv.base)
            # The id changes on every run; the table names the route.
            results.append(measure(srv, f"/support/requests/{request_id}", args, settings.data_dir,
                                   label="GET /support/requests/{id}"))
        if "contract" in wanted:
            print("[4/7] marketplace GET /specific-contracts/{id} as its buyer", flush=True)
            check = httpx.get(f"{srv.base}/specific-contracts/{contract_id}", headers=buyer, timeout=10)
            if check.status_code != 200:
                raise RuntimeError(f"GET /specific-contracts/{contract_id} answered {check.status_code}: {check.text}")
            measured = measure(srv, f"/specific-contracts/{contract_id}", args, settings.data_dir, headers=buyer,
                               label="GET /specific-contracts/{id} (buyer)")
            results.append(dataclasses.replace(measured, target=CONTRACT_TARGET))
        for step, (name, path) in enumerate(PUBLIC_LISTS, start=5):
            if name in wanted:
                print(f"[{step}/7] marketplace GET {path} (public)", flush=True)
                check = httpx.get(srv.base + path, timeout=10)
                if check.status_code != 200 or not check.json():
                    raise RuntimeError(f"GET {path} answered {check.status_code}: {check.text}")
                measured = measure(srv, path, args, settings.data_dir, label=f"GET {path} (public)")
                results.append(dataclasses.replace(measured, target=PUBLIC_TARGET))
    return results, health


def missed_targets(results: list[Measurement]) -> list[str]:
    base = results[0].result.rps
    return [f"{m.endpoint}: {m.result.rps / base:.3f}× of the bare app, target {m.target:.2f}×"
            for m in results if m.target is not None and m.result.rps / base < m.target]


# ------------------------------------------------------------------------------------------- report


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (outside bench/)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        # Trailing newlines only: `status --porcelain` lines start with a status column that may be a space.
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = [line for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return f"{commit}" + (f" + uncommitted changes in {len(dirty)} file(s)" if dirty else "")


def machine_facts() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True,
                                 check=False).stdout if shutil.which("wrk") else ""
    return {
        # What `nproc` prints: the CPUs this process may run on.
        "nproc": str(len(os.sched_getaffinity(0))),
        "CPU": model[1].strip() if model else platform.processor() or "unknown",
        "RAM": f"{int(meminfo[1]) / 1024 / 1024:.1f} GiB" if meminfo else "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "granian": importlib.metadata.version("granian"),
        "litestar": importlib.metadata.version("litestar"),
        "wrk": wrk_version.splitlines()[0].split(" [")[0] if wrk_version else "unknown",
    }


def _fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def table(results: list[Measurement]) -> str:
    base = results[0].result
    rows = ["| endpoint | rps | p50 | p99 | non-2xx | socket errors | rps vs hello | p99 vs hello |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in results:
        r = m.result
        errors = ", ".join(f"{k} {v}" for k, v in r.socket_errors.items() if v) or "0"
        rows.append(f"| `{m.endpoint}` | {r.rps:,.0f} | {_fmt_ms(r.p50_ms)} | {_fmt_ms(r.p99_ms)} | "
                    f"{r.non_2xx} | {errors} | {r.rps / base.rps:.3f}× | {r.p99_ms / base.p99_ms:.1f}× |")
    return "\n".join(rows)


def cpu_table(results: list[Measurement], duration: int) -> str:
    cpus = len(os.sched_getaffinity(0))
    rows = ["| endpoint | " + " | ".join(COMPONENTS) + " | total | machine busy | other, % of machine |",
            "|---|" + "---:|" * (len(COMPONENTS) + 3)]
    for m in results:
        per_request = m.cpu.per_request(m.result.requests)
        other_share = m.cpu.ms["other"] / (duration * 1000 * cpus)
        cells = " | ".join(f"{per_request[name]:.3f}" for name in COMPONENTS)
        rows.append(f"| `{m.endpoint}` | {cells} | {sum(per_request.values()):.3f} | "
                    f"{m.cpu.machine_busy:.0%} | {other_share:.0%} |")
    return "\n".join(rows)


def machine_busy(seconds: float) -> float:
    """How busy all CPUs are right now (0..1): the benchmark wants a quiet machine."""
    busy0, total0 = _machine_ticks()
    time.sleep(seconds)
    busy1, total1 = _machine_ticks()
    return (busy1 - busy0) / max(total1 - total0, 1)


INTRO = f"""# HTTP benchmark results

What is measured: requests per second and latency (p50, p99) of the marketplace API served the way
production serves it (granian, ASGI, N workers), next to a bare Litestar app served identically
(`bench/hello_app.py`, the baseline):

- `GET /` of the bare app: the floor set by granian + Litestar on this machine;
- `GET /health`: the real app probing PostgreSQL, Redis and S3 concurrently on every request;
- `GET /support/requests/{{id}}`: the real app doing one DB-backed read (two small ORM queries).

Each endpoint gets a fresh server, a {WARMUP_SECONDS} s warm-up, then one measured `wrk --latency` run
with the same settings. The services are the embedded ones (`marketplace.devstack`, durable PostgreSQL),
on the same machine as the server and `wrk`, which all share its cores. The ratios divide by the bare
app's figures: "rps vs hello" 0.25× means a quarter of the baseline's throughput, "p99 vs hello" 4×
means a tail four times as long. The second table splits the CPU time spent during the measured run by
process (milliseconds of CPU per request): the granian server, PostgreSQL, Redis, S3 (weed), wrk
itself, and "other" (the kernel and any process the benchmark did not start). A large "other" means the
machine was not quiet and the run is not comparable. See `bench/README.md`.

Reproduce (needs `wrk`: `apt-get install wrk`):

    .venv/bin/python bench/http.py --duration 10 --connections 64 --workers 2

Runs are listed newest first.
"""


def section(results: list[Measurement], health: HealthSamples, args: argparse.Namespace, *,
            command: str, code: str, started: datetime, elapsed: float, busy_before: float) -> str:
    facts = "\n".join(f"- {name}: {value}" for name, value in machine_facts().items())
    url = "URL"
    wrk = " ".join(wrk_command(url, connections=args.connections, duration=args.duration))
    statuses = sorted(set(health.statuses))
    return f"""## {started:%Y-%m-%d %H:%M} UTC

Command: `{command}` (whole run {elapsed:.0f} s)

Code: {code}

Machine:
{facts}

Load: `{wrk}` after a `-d{WARMUP_SECONDS}s` warm-up; granian `--workers {args.workers}`, one fresh server
per endpoint. Before the run the machine was {busy_before:.0%} busy.

{table(results)}

CPU per request during the measured run (ms):

{cpu_table(results, args.duration)}

/health answered {", ".join(map(str, statuses))} to the {len(health.statuses)} direct checks made around
its run; {health.summary()}.
"""


def write_results(path: Path, new_section: str) -> None:
    """The intro is rewritten each time; the dated sections after the marker are kept, newest first."""
    old = path.read_text() if path.exists() else ""
    _, marker, runs = old.partition(RUNS_MARKER)
    history = runs.strip() if marker else ""
    body = f"{INTRO}\n{RUNS_MARKER}\n\n{new_section.strip()}\n"
    if history:
        body += f"\n{history}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each measured wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (-c)")
    parser.add_argument("--workers", type=int, default=2, help="granian workers per server")
    parser.add_argument("--only", action="append", choices=ENDPOINTS,
                        help="measure only these endpoints (repeatable; the bare app is always measured)")
    parser.add_argument("--no-targets", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md",
                        help="results file; the new run is prepended")
    parser.add_argument("--data-dir", type=Path, default=OUT / "data",
                        help="where the embedded services keep their data (not .data/dev or .data/test)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.workers < 1 or args.connections < WRK_THREADS:
        parser.error(f"need --duration >= 1, --workers >= 1 and --connections >= {WRK_THREADS}")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same path as Ctrl-C, through the `finally` that stops everything.
    raise KeyboardInterrupt


def ensure_wrk() -> bool:
    """wrk from Debian's packages, installed by the benchmark itself where it can (root with apt-get), as the
    devstack installs Chromium (marketplace/devstack/chromium.py): a new machine runs the benchmark as is."""
    if shutil.which("wrk") is not None:
        return True
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    for attempt in range(2):
        done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],
                              capture_output=True, text=True, env=env, timeout=600, check=False)
        if done.returncode == 0:
            break
        if attempt == 0:  # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600, check=False)
    return shutil.which("wrk") is not None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not ensure_wrk():
        print("wrk is not installed and could not be installed; as root run: apt-get install wrk", file=sys.stderr)
        return 2
    command = shlex.join([".venv/bin/python", "bench/http.py", *(sys.argv[1:] if argv is None else argv)])
    started = datetime.now(UTC)
    # Taken before the run: others may commit while it runs.
    code = code_version()
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    # Fresh data on every run: the seeded procedure's organisations are unique, and figures compare like for like.
    shutil.rmtree(args.data_dir, ignore_errors=True)
    stack = Stack(Settings(data_dir=args.data_dir), durable=True)
    running: list[Server] = []
    busy_before = machine_busy(1.0)
    if busy_before > 0.10:
        print(f"note: the machine is already {busy_before:.0%} busy; figures will be lower than on a quiet one",
              file=sys.stderr)
    try:
        print(f"starting PostgreSQL, Redis and S3 under {args.data_dir}", flush=True)
        settings = stack.start()
        # As the schema owner: the app's own role (settings.database_url) may not run DDL.
        upgrade(settings.migration_url)
        asyncio.run(make_store(settings).ensure_bucket())
        results, health = run_all(args, settings, running)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the cleanup short: servers first (they use the services), then
        # the services.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in reversed(running):
            server.stop()
        stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    new_section = section(results, health, args, command=command, code=code, started=started,
                          elapsed=time.monotonic() - began, busy_before=busy_before)
    write_results(args.out, new_section)
    print()
    print(table(results))
    print()
    print("CPU per request during the measured run (ms):")
    print(cpu_table(results, args.duration))
    print()
    print(f"/health statuses seen: {sorted(set(health.statuses))}; {health.summary()}")
    print(f"written to {args.out}")
    missed = missed_targets(results)
    for line in missed:
        print(f"TARGET MISSED: {line}", file=sys.stderr)
    if missed and not args.no_targets:
        return 3
    bad = [m.endpoint for m in results if m.result.non_2xx or m.result.socket_error_total]
    if bad or any(status != 200 for status in health.statuses):
        print(f"WARNING: errors during the run ({', '.join(bad) or '/health not 200'}); see the table",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
