"""clamd for development and tests: `clamd` from PATH, else ClamAV's Debian packages, fetched once.

clamd is not on PyPI. Where it isn't installed, `apt-get download` fetches the candidate `clamav-daemon`
package and the libraries it needs that the system lacks, and `dpkg -x` unpacks them into a cache (no root,
no maintainer scripts, nothing installed system-wide). The cache is the checkout's ignored `.tools/clamav`,
so it survives between runs of the same clone and a fresh clone fetches it again; delete it to pick up a
newer Debian release.

TEST SIGNATURES ONLY. freshclam needs ClamAV's mirror, so this clamd's database is written here and holds
one signature: the EICAR test string, anywhere in a file (reliability.md §2.9's offline set-up). It
detects nothing else and says nothing about real detection quality, only the plumbing. A production
deployment points `MARKETPLACE_CLAMD_HOST` at a real clamd kept up to date by freshclam, and this module
never runs there.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from marketplace.devstack._proc import free_port, kill_stale, terminate

# The signature name the test database gives EICAR; clamd reports a local one as `<name>.UNOFFICIAL`.
EICAR_SIGNATURE = "Marketplace.Test.EICAR"
REPORTED_EICAR_SIGNATURE = f"{EICAR_SIGNATURE}.UNOFFICIAL"
# Built here rather than written out, so no scanner on a developer's machine flags this file.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()

_PACKAGE = "clamav-daemon"
# One signature loads in about a second; this bounds a clamd that hangs while starting.
_START_TIMEOUT = 60.0
# apt's output labels ("Depends:") and dpkg's statuses are parsed: no translations.
_C_LOCALE = {**os.environ, "LC_ALL": "C"}


class ClamdUnavailable(RuntimeError):
    """No clamd on this machine and no way to fetch one (no apt-get, no package lists, no network)."""


def default_cache_dir() -> Path:
    """`.tools/clamav` in a source checkout (ignored by git, like the rest of `.tools`); else a user cache."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "marketplace").is_dir():
        return checkout / ".tools" / "clamav"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "marketplace" / "clamav"


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_C_LOCALE, check=False)


def _installed(packages: list[str]) -> set[str]:
    if not packages:
        return set()
    # Exit status 1 just means some name is unknown to dpkg; the known ones are still listed.
    out = _run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\n", *packages]).stdout
    return {name for name, _, status in (line.partition("\t") for line in out.splitlines())
            if status == "installed"}


def _library_dependencies(package: str) -> list[list[str]]:
    """The package's Depends on libraries, as groups of alternatives (`a | b` is one group)."""
    out = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
                "--no-replaces", "--no-enhances", package]).stdout
    groups: list[list[str]] = []
    current: list[str] = []
    for match in re.finditer(r"^\s+(\|?)(?:Pre)?Depends: (\S+)$", out, re.MULTILINE):
        alternative, name = match.groups()
        if not name.startswith("<"):  # a virtual package: one of the real ones listed with it will do
            current.append(name)
        if not alternative:
            groups.append(current)
            current = []
    # Only libraries: the other dependencies (adduser, debconf, clamav-freshclam, ...) serve the
    # package's maintainer scripts and system set-up, which `dpkg -x` never runs.
    return [[n for n in group if n.startswith("lib")] for group in groups if any(n.startswith("lib") for n in group)]


def _packages_to_fetch() -> list[str]:
    """clamav-daemon and, transitively, the libraries it needs that the system doesn't have."""
    wanted: list[str] = []
    queue, seen = [_PACKAGE], {_PACKAGE}
    while queue:
        package = queue.pop()
        wanted.append(package)
        for group in _library_dependencies(package):
            if seen.intersection(group) or _installed(group):
                continue
            seen.add(group[0])
            queue.append(group[0])
    return wanted


def _library_dirs(root: Path) -> list[Path]:
    return sorted({lib.parent for lib in root.rglob("*.so*") if lib.is_file()})


def _environment(root: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if root is not None:
        paths = [str(d) for d in _library_dirs(root)]
        if env.get("LD_LIBRARY_PATH"):
            paths.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(paths)
    return env


def _check_libraries(binary: Path, root: Path) -> None:
    """The dynamic loader is the judge of whether a library is still missing: a clear error here rather
    than clamd dying at start-up. (Without `ldd`, start-up is the judge.)"""
    if shutil.which("ldd") is None:
        return
    resolved = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=_environment(root),
                              check=False)
    missing = [line.split()[0] for line in resolved.stdout.splitlines() if "not found" in line]
    if missing:
        raise ClamdUnavailable(f"the fetched clamd still lacks {', '.join(missing)}")


def _fetch(cache_dir: Path) -> None:
    """Download and unpack the packages into `cache_dir`, atomically: a half-done fetch never counts."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise ClamdUnavailable("clamd is not installed (Debian: clamav-daemon) and there is no apt-get/dpkg "
                               "to fetch it")
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}-", dir=cache_dir.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the binaries from anyone but their fetcher
    try:
        debs = staging / "debs"
        debs.mkdir()
        packages = _packages_to_fetch()
        # The candidate version of each, whatever the release: no version is written down here. As root,
        # apt warns that its `_apt` sandbox user can't write here; the download goes through all the same.
        got = _run(["apt-get", "download", "-q", *packages], cwd=debs)
        if got.returncode != 0:
            raise ClamdUnavailable(f"`apt-get download {' '.join(packages)}` failed (no package lists? run "
                                   f"`apt-get update`; no network?): {got.stderr.strip()[-500:]}")
        for deb in sorted(debs.glob("*.deb")):
            unpacked = _run(["dpkg", "-x", str(deb), str(staging / "root")])
            if unpacked.returncode != 0:
                raise ClamdUnavailable(f"`dpkg -x {deb.name}` failed: {unpacked.stderr.strip()[-500:]}")
        binary = staging / "root" / "usr" / "sbin" / "clamd"
        if not binary.exists():
            raise ClamdUnavailable(f"{_PACKAGE} holds no usr/sbin/clamd")
        _check_libraries(binary, staging / "root")
        (staging / "packages.txt").write_text("".join(f"{deb.name}\n" for deb in sorted(debs.glob("*.deb"))))
        shutil.rmtree(debs)
        try:
            staging.rename(cache_dir)  # onto nothing or an empty directory; never onto someone's files
        except OSError:
            if not (cache_dir / "root" / "usr" / "sbin" / "clamd").exists():
                raise ClamdUnavailable(f"{cache_dir} holds something else than a fetched clamd: "
                                       "remove it to fetch again") from None
            # Another process (a concurrent test session) fetched it first: theirs is as good.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def clamd_binary(cache_dir: Path | None = None) -> tuple[str, dict[str, str]]:
    """(path to clamd, environment to run it in): the installed one, else the cached or fetched package."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    installed = shutil.which("clamd", path=search)
    if installed:
        return installed, _environment(None)
    cache_dir = cache_dir or default_cache_dir()
    binary = cache_dir / "root" / "usr" / "sbin" / "clamd"
    if not binary.exists():
        _fetch(cache_dir)
    return str(binary), _environment(cache_dir / "root")


def answers_pong(port: int, host: str = "127.0.0.1") -> bool:
    """clamd's own liveness check (a blocking twin of `marketplace.lib.clamd.ping`, for start-up)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"zPING\x00")
            return sock.recv(16).rstrip(b"\x00\n") == b"PONG"
    except OSError:
        return False


class EmbeddedClamd:
    """clamd on 127.0.0.1 and a free port, with the test signature database described above."""

    host = "127.0.0.1"
    # Every file the app accepts by default (250 MB a file, 1 GiB an offer) is read to its end; the app's
    # `clamd_max_bytes` is set to the same figure when this clamd is used.
    max_bytes = 1024**3

    def __init__(self, data_dir: Path, *, cache_dir: Path | None = None, port: int | None = None) -> None:
        self.dir = data_dir / "clamd"
        self.cache_dir = cache_dir
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        database = self.dir / "db"
        database.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        # A body signature (name:target:offset:hex): the EICAR string anywhere, in any file type.
        (database / "marketplace-test.ndb").write_text(f"{EICAR_SIGNATURE}:0:*:{EICAR.hex()}\n")
        config = self.dir / "clamd.conf"
        config.write_text("\n".join([
            "# Written by marketplace.devstack.clamd for development and tests. Its database holds ONE test",
            "# signature (EICAR) and detects nothing else; production uses a real clamd fed by freshclam",
            "# (MARKETPLACE_CLAMD_HOST).",
            "Foreground yes",
            f"LogFile {self.dir / 'clamd.log'}",
            "LogTime yes",
            f"DatabaseDirectory {database}",
            f"TemporaryDirectory {self.dir / 'tmp'}",
            "TCPAddr 127.0.0.1",
            f"TCPSocket {self.port}",
            # Offer files go up to the contract's limits (250 MB a file, 1 GiB an offer by default). With
            # clamd's defaults a stream past 25 MB gets no verdict, and a file past MaxFileSize is "OK"
            # without being read (§2.9): here every file the app accepts is read to its end.
            f"StreamMaxLength {self.max_bytes // 1024**2}M",
            f"MaxFileSize {self.max_bytes // 1024**2}M",
            f"MaxScanSize {self.max_bytes // 1024**2}M",
            "",
        ]))
        return config

    def start(self) -> None:
        """Start clamd and return once it answers PONG; ClamdUnavailable when it can't be had at all."""
        binary, env = clamd_binary(self.cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.dir / "clamd.pid"
        kill_stale(pid_file, must_contain=str(self.dir))
        self.port = self.port or free_port()
        config = self._write_config()
        log = open(self.dir / "clamd.out", "ab")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen([binary, "--config-file", str(config)], stdout=log, stderr=log, env=env,
                                      start_new_session=True)
        log.close()
        pid_file.write_text(str(self._proc.pid))
        deadline = time.monotonic() + _START_TIMEOUT
        while not answers_pong(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                detail = (self.dir / "clamd.out").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"clamd did not answer PONG on 127.0.0.1:{self.port}: {detail}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None:
            # clamd ends its threads and removes its socket on SIGTERM within a second or two.
            terminate(self._proc, grace=10)
            self._proc = None
        (self.dir / "clamd.pid").unlink(missing_ok=True)
