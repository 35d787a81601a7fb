"""Throughput of the sealing stream (marketplace.lib.sealing) next to plain SHA-256 of the same bytes.

    .venv/bin/python bench/sealing.py [--mib 256] [--chunk-kib 64] [--repeat 5] [--out bench/RESULTS.md]

Receipt hashes every byte anyway (P9), so SHA-256 over the same chunks, in the same process and run, is
the baseline: "encrypt vs sha256" 1.0× means sealing costs as much as the hash we already pay for.
What runs, each on the same `--mib` MiB fed in `--chunk-kib` KiB chunks (the size ASGI servers hand a
request body over in), best of `--repeat`:

    sha256                   hashlib over the chunks, a plain loop: the baseline
    digest                   the same through `DigestingStream` (async generator overhead included)
    encrypt                  `encrypt_stream` alone
    receipt                  `DigestingStream` → `encrypt_stream`: what an upload costs the server
    decrypt                  `decrypt_stream` alone, ciphertext chunks not aligned to segments
    opening                  `decrypt_stream` → `DigestingStream(expected_…)`: what an opening costs

at the default segment size, and encrypt/decrypt at other segment sizes to show the choice. The data
is one random MiB repeated (the ciphers do not care); nothing touches the disk or the network. Prints
a table and inserts a dated section into the results file, below its runs marker (newest first).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.backends.openssl.backend import backend as openssl

from marketplace.lib.sealing import (
    SEGMENT_SIZE,
    DigestingStream,
    associated_data,
    decrypt_stream,
    encrypt_stream,
    new_dek,
)

ROOT = Path(__file__).resolve().parents[1]
RUNS_MARKER = "<!-- runs: newest first; bench/http.py inserts new ones below this line -->"
MIB = 1024 * 1024
AAD = associated_data(contract="bench", offer="bench", document="bench")


def chunks_of(data: bytes | memoryview, size: int, total: int) -> Iterator[memoryview]:
    """`total` bytes of `data` (repeated as needed) in `size`-byte slices, without copying."""
    view = memoryview(data)
    sent = 0
    while sent < total:
        start = sent % len(view)
        piece = view[start:start + min(size, total - sent, len(view) - start)]
        sent += len(piece)
        yield piece


async def aiter_of(chunks: Iterator[memoryview]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk  # type: ignore[misc]  # a memoryview is bytes-like to every consumer here


async def drain(stream: AsyncIterator[bytes] | DigestingStream) -> int:
    n = 0
    async for piece in stream:
        n += len(piece)
    return n


def measure(total: int, chunk: int, repeat: int) -> list[tuple[str, int, float]]:
    """Best time of each pipeline; the pipelines take turns, so a noisy neighbour hits them alike."""
    block = os.urandom(MIB)
    dek = new_dek()
    expected = hashlib.sha256()
    for piece in chunks_of(block, chunk, total):
        expected.update(piece)
    digest = expected.hexdigest()

    def plain() -> AsyncIterator[bytes]:
        return aiter_of(chunks_of(block, chunk, total))

    async def sealed_bytes(segment: int) -> bytes:
        return b"".join([c async for c in encrypt_stream(plain(), dek, AAD, segment_size=segment)])

    async def sha() -> int:
        h = hashlib.sha256()
        for piece in chunks_of(block, chunk, total):
            h.update(piece)
        return total

    def cipher(sealed: bytes) -> AsyncIterator[bytes]:
        return aiter_of(chunks_of(sealed, chunk, len(sealed)))

    segments = (SEGMENT_SIZE, 16 * 1024, MIB)
    sealed = {segment: asyncio.run(sealed_bytes(segment)) for segment in segments}
    pipelines: list[tuple[str, int, Callable[[], Awaitable[int]]]] = [
        ("sha256", 0, sha),
        ("digest", 0, lambda: drain(DigestingStream(plain()))),
    ]
    for segment in segments:
        pipelines.append(("encrypt", segment, lambda s=segment: drain(  # type: ignore[misc]
            encrypt_stream(plain(), dek, AAD, segment_size=s))))
        if segment == SEGMENT_SIZE:
            pipelines.append(("receipt", segment, lambda: drain(encrypt_stream(DigestingStream(plain()), dek, AAD))))
        pipelines.append(("decrypt", segment, lambda s=segment: drain(  # type: ignore[misc]
            decrypt_stream(cipher(sealed[s]), dek, AAD))))
        if segment == SEGMENT_SIZE:
            pipelines.append(("opening", segment, lambda: drain(DigestingStream(
                decrypt_stream(cipher(sealed[SEGMENT_SIZE]), dek, AAD), expected_sha256=digest,
                expected_size=total))))
    times: dict[int, list[float]] = {i: [] for i in range(len(pipelines))}
    for _ in range(repeat):
        for i, (_, _, run) in enumerate(pipelines):
            began = time.perf_counter()
            asyncio.run(run())  # type: ignore[arg-type]
            times[i].append(time.perf_counter() - began)
    return [(name, segment, min(times[i])) for i, (name, segment, _) in enumerate(pipelines)]


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    accel = [f for f in ("aes", "pclmulqdq", "vaes", "vpclmulqdq", "sha_ni", "avx2", "avx512f")
             if flags and f in flags.group(1).split()]
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "CPU": model.group(1).strip() if model else platform.processor() or "unknown",
        "CPU flags that matter": ", ".join(accel) or "none found",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "cryptography": f"{importlib.metadata.version('cryptography')} ({openssl.openssl_version_text()})",
        # Other processes on the same cores lower every figure alike; the ratios hold up better.
        "load average before the run (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


def code_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain").splitlines()
    return f"{commit} + uncommitted changes in {len(dirty)} file(s)" if dirty else commit


def render(rows: list[tuple[str, int, float]], total: int, chunk: int, command: str, repeat: int,
           elapsed: float) -> str:
    baseline = next(t for name, _, t in rows if name == "sha256")
    lines = [f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — sealing throughput (bench/sealing.py)", "",
             f"Command: `{command}` (whole run {elapsed:.0f} s)", "", f"Code: {code_state()}", "", "Machine:"]
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    lines += ["", f"{total // MIB} MiB in {chunk // 1024} KiB chunks, one process, best of {repeat} runs. "
              "MiB/s of plaintext; \"vs sha256\" divides by hashlib's figure in the same run.", "",
              "| pipeline | segment | MiB/s | vs sha256 |", "|---|---:|---:|---:|"]
    for name, segment, seconds in rows:
        seg = f"{segment // 1024} KiB" if segment else "—"
        rate = total / MIB / seconds
        lines.append(f"| {name} | {seg} | {rate:,.0f} | {baseline / seconds:.2f}× |")
    return "\n".join(lines) + "\n"


def write_results(path: Path, section: str) -> None:
    """Inserted right below the runs marker (newest first), as bench/http.py does."""
    old = path.read_text() if path.exists() else f"# Benchmark results\n\n{RUNS_MARKER}\n"
    head, marker, runs = old.partition(RUNS_MARKER)
    if not marker:
        head, runs = old.rstrip() + "\n\n", ""
    path.write_text(f"{head}{RUNS_MARKER}\n\n{section.strip()}\n\n{runs.strip()}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=256, help="MiB of plaintext per measurement")
    parser.add_argument("--chunk-kib", type=int, default=64, help="size of the chunks fed in (KiB)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    total, chunk = args.mib * MIB, args.chunk_kib * 1024
    began = time.perf_counter()
    rows = measure(total, chunk, args.repeat)
    command = ".venv/bin/python bench/sealing.py" + (f" --mib {args.mib}" if args.mib != 256 else "") + (
        f" --chunk-kib {args.chunk_kib}" if args.chunk_kib != 64 else "") + (
        f" --repeat {args.repeat}" if args.repeat != 5 else "")
    section = render(rows, total, chunk, command, args.repeat, time.perf_counter() - began)
    print(section)
    if not args.no_write:
        write_results(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
