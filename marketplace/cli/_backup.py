"""The commands that keep the data: backup, restore (G18; `marketplace/backups.py`, README "Backup and restore")."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from marketplace.cli._main import main
from marketplace.settings import Settings


def _owner_url(settings: Settings) -> str:
    """The cluster's owner URL: MARKETPLACE_MIGRATION_DATABASE_URL (or DATABASE_URL), else the embedded cluster of
    the data directory, found by its running server's postmaster.pid (`marketplace dev` must be running)."""
    if settings.migration_url:
        return settings.migration_url
    pid = settings.data_dir.resolve() / "postgres" / "postmaster.pid"
    if not pid.exists():
        raise click.ClickException(f"no database configured and no embedded cluster running in {settings.data_dir}: "
                                   "start `marketplace dev`, or set MARKETPLACE_MIGRATION_DATABASE_URL")
    # postmaster.pid: pid, data directory, start time, port, …
    port = pid.read_text().splitlines()[3].strip()
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/marketplace"


def _default_dir(settings: Settings) -> Path:
    # Beside the embedded cluster, where its archive_command writes (devstack/postgres.py).
    return settings.data_dir.resolve() / "backups"


def _store(settings: Settings) -> Any:
    from storage import ObjectStore, StoreConfig

    if not settings.s3_endpoint:
        return None
    return ObjectStore(StoreConfig(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                                   secret_key=settings.s3_secret_key, bucket=settings.s3_bucket,
                                   region=settings.s3_region))


def _on_database(url: str, work: Any) -> Any:
    async def run() -> Any:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        engine = create_async_engine(url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@main.command()
@click.option("--dir", "backup_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The backup directory [default: <data dir>/backups, where the embedded cluster archives WAL].")
@click.option("--format", "fmt", type=click.Choice(["tar", "plain"]), default="tar", show_default=True,
              help="pg_basebackup's format: gzipped tar files, or a plain copy of the data directory.")
@click.option("--objects/--no-objects", default=True, show_default=True,
              help="Also copy every stored object a row names (MARKETPLACE_S3_*) into <dir>/objects.")
def backup(backup_dir: Path | None, fmt: str, objects: bool) -> None:
    """Take a base backup of the database (pg_basebackup over the replication protocol, with the WAL it needs)
    into <dir>/base/<stamp>, check the cluster archives its WAL into <dir>/wal, and copy the stored objects.
    With the archive, `marketplace restore` brings the database back to any instant after this backup (G18)."""
    from marketplace.backups import BackupError, archive_instructions, archive_status, base_backup, mirror_objects

    settings = Settings.from_env()
    url = _owner_url(settings)
    backup_dir = (backup_dir or _default_dir(settings)).resolve()
    try:
        taken = base_backup(url, backup_dir, plain=fmt == "plain")
        status = archive_status(url)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Base backup {taken.path} (PostgreSQL {taken.server_version}, finished "
               f"{taken.finished_at.isoformat()}).")
    wal = str(backup_dir / "wal")
    if status.mode not in ("on", "always") or wal not in status.command:
        click.echo(f"WARNING: the server does not archive its WAL into {wal} (archive_mode={status.mode}); without "
                   "it a restore can only return to the end of a base backup. Set on the server:\n"
                   + archive_instructions(backup_dir), err=True)
    elif status.failed and status.last_failed_wal:
        click.echo(f"WARNING: WAL archiving failed {status.failed} time(s), last on {status.last_failed_wal}: see "
                   "the server's log", err=True)
    else:
        click.echo(f"WAL archived continuously into {wal} ({status.archived} segments so far).")
    if not objects:
        return
    store = _store(settings)
    if store is None:
        click.echo("Objects: MARKETPLACE_S3_ENDPOINT is not set, nothing copied.", err=True)
        return
    report = _on_database(url, lambda session: mirror_objects(session, store, backup_dir))
    click.echo(f"Objects: {report.copied} copied, {report.already} copied before, {len(report.vendor_keyed)} "
               "vendor-keyed presigned uploads left to the store (unreadable without the vendor's key).")
    for key in report.missing:
        click.echo(f"  MISSING from the store: {key}", err=True)
    for key in report.mismatched:
        click.echo(f"  MISMATCH (not the bytes its row records): {key}", err=True)
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A fresh (absent or empty) directory for the restored cluster's data.")
@click.option("--at", "at", default=None,
              help="The instant to restore to, ISO 8601 with its offset (2026-12-06T11:00:00+01:00) "
                   "[default: the end of the archived WAL].")
@click.option("--dir", "backup_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The backup directory [default: <data dir>/backups].")
@click.option("--port", type=int, default=None, help="The restored server's port [default: a free one].")
@click.option("--check-objects/--no-check-objects", default=True, show_default=True,
              help="Check every object the restored rows name is in the store, putting back from <dir>/objects "
                   "any that is missing.")
def restore(to: Path, at: str | None, backup_dir: Path | None, port: int | None, check_objects: bool) -> None:
    """Restore the database to a fresh cluster as of an instant: the latest base backup finished before it,
    then the archived WAL replayed up to it; the cluster is started on 127.0.0.1 and left running (G18)."""
    from marketplace.backups import BackupError
    from marketplace.backups import check_objects as check
    from marketplace.backups import restore as do_restore

    settings = Settings.from_env()
    instant = None
    if at is not None:
        try:
            instant = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter("an ISO 8601 instant, e.g. 2026-12-06T11:00:00+01:00", param_hint="--at") from None
        if instant.tzinfo is None:
            raise click.BadParameter("the instant needs its offset (+01:00, Z)", param_hint="--at")
    backup_dir = (backup_dir or _default_dir(settings)).resolve()
    try:
        cluster = do_restore(backup_dir, to.resolve(), at=instant, port=port)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored from {cluster.base.path.name} " + (f"to {instant.isoformat()}" if instant else
                                                            "to the end of the archive")
               + f": running on 127.0.0.1:{cluster.port}, data in {cluster.pgdata}.")
    click.echo(f"  MARKETPLACE_MIGRATION_DATABASE_URL={cluster.url}")
    click.echo(f"  stop it: pg_ctl -D {cluster.pgdata} stop" + (f" (as {cluster.user})" if cluster.user else ""))
    store = _store(settings)
    if not check_objects or store is None:
        return
    report = _on_database(cluster.url, lambda session: check(session, store, backup_dir, repair=True))
    click.echo(f"Objects: {report.checked} named, {len(report.restored)} put back from the copy, "
               f"{len(report.vendor_keyed)} vendor-keyed (present, not readable to check).")
    for key in report.missing:
        click.echo(f"  MISSING from the store and the copy: {key}", err=True)
    for key in report.mismatched:
        click.echo(f"  MISMATCH with the copy: {key}", err=True)
    if not report.ok:
        sys.exit(1)


@main.command("purge-expired")
@click.option("--dry-run", is_flag=True, help="List the offers whose retention has run; purge nothing.")
def purge_expired_command(dry_run: bool) -> None:
    """Purge the content (sealed parts, files and their objects) of every offer whose retention has run: five
    years from its contract's signature (R2184-12), the awardee's offer kept with the contract; receipts and the
    audit chain stay, and each purge is audited (G18; marketplace/awards/retention.py)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from marketplace.app import make_store
    from marketplace.awards.retention import RetentionService, purge_expired
    from marketplace.lib.clock import system_clock

    settings = Settings.from_env()

    async def run() -> None:
        engine = create_async_engine(settings.database_url)
        try:
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            if dry_run:
                async with sessions() as session:
                    due = await RetentionService(session, system_clock).expired()
                click.echo(f"{len(due)} offer(s) past their retention:")
                for offer, signed_at in due:
                    click.echo(f"  {offer.id}  (specific contract {offer.specific_contract_id}, contract signed "
                               f"{signed_at.isoformat()})")
                return
            report = await purge_expired(sessions, make_store(settings), system_clock, actor="cli:purge-expired")
        finally:
            await engine.dispose()
        click.echo(f"{len(report.purged)} offer(s) purged, {report.objects_deleted} object(s) deleted"
                   + (f", {len(report.objects_left)} left to the orphan sweeper" if report.objects_left else "")
                   + ".")

    asyncio.run(run())
