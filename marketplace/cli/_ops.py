"""The commands that run and operate the product: migrate, create-bucket, serve, worker, audit verify,
audit anchor, create-admin, seed, import-cpv, import-sons-ceilings, import-sons-orders, publish-open-data.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from marketplace.cli._main import (
    _ensure_bucket,
    _granian_args,
    _print_demo,
    _run_until_signal,
    _seed,
    _with_session,
    main,
)
from marketplace.settings import Settings


@main.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Apply database migrations to MARKETPLACE_DATABASE_URL."""
    from marketplace.lib.migrate import upgrade

    upgrade(Settings.from_env().migration_url, revision)


@main.command("create-bucket")
def create_bucket() -> None:
    """Create the object-storage bucket if it does not exist (idempotent)."""
    _ensure_bucket(Settings.from_env())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the API with its production server (granian) against the configured services."""
    os.execvp(_granian_args(host, port, workers)[0], _granian_args(host, port, workers))


@main.command()
def worker() -> None:
    """Run the arq worker against the configured services."""
    from marketplace.worker import run_worker

    _run_until_signal(run_worker(Settings.from_env()))


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the hash chain and check its daily anchors (their RFC 3161 tokens against MARKETPLACE_TSA_CERTIFICATE,
    and that the chain still reaches each anchored hash); name the first broken link or anchor (exit code 1) or
    confirm both are intact."""
    from marketplace.lib.audit import verify_chain
    from marketplace.lib.timestamps import load_trust

    async def run() -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        settings = Settings.from_env()
        engine = create_async_engine(settings.migration_url)
        try:
            async with async_sessionmaker(engine)() as session:
                report = await verify_chain(session, load_trust(settings))
        finally:
            await engine.dispose()
        if report.first_broken_id is not None:
            click.echo(f"BROKEN at audit event {report.first_broken_id}: {report.reason} "
                       f"({report.checked} events before it are intact)", err=True)
        if report.broken_anchor is not None:
            click.echo(f"BROKEN anchor of {report.broken_anchor.isoformat()}: {report.anchor_reason}", err=True)
        if not report.ok:
            sys.exit(1)
        click.echo(f"OK: {report.checked} audit events, chain intact; {report.anchors_checked} daily anchors "
                   "verified")

    asyncio.run(run())


@audit.command("anchor")
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The Paris day whose chain head is anchored [default: today, the head now].")
def audit_anchor(day: datetime | None) -> None:
    """Time-stamp the audit chain's head of a day with the TSA (MARKETPLACE_TSA_URL) and keep it as that day's
    anchor (G14); the worker does it every day for the day before. A day anchored already is left as it is."""
    from marketplace.lib.audit import anchor_chain
    from marketplace.lib.clock import system_clock
    from marketplace.lib.timestamps import TsaClient, TsaUnavailable

    settings = Settings.from_env()
    client = TsaClient.from_settings(settings)
    if client is None:
        raise click.ClickException("MARKETPLACE_TSA_URL is not set: there is no TSA to time-stamp the anchor")

    async def run() -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        engine = create_async_engine(settings.migration_url)
        try:
            anchor = await anchor_chain(async_sessionmaker(engine, expire_on_commit=False), system_clock, client,
                                        day.date() if day else None)
        except TsaUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            await engine.dispose()
        if anchor is None:
            click.echo("Nothing to anchor: no audit event was recorded by then.")
            return
        click.echo(f"Anchored {anchor.day.isoformat()}: event {anchor.event_id}, hash {anchor.event_hash}, "
                   f"time-stamped {anchor.gen_time.isoformat()}")

    asyncio.run(run())


@main.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--password", envvar="MARKETPLACE_ADMIN_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="Prompted for unless MARKETPLACE_ADMIN_PASSWORD is set.")
@click.option("--operator-name", default="Opérateur de la plateforme SAD", show_default=True)
@click.option("--operator-siret", required=True, help="SIRET of the organisation operating the platform.")
def create_admin(email: str, full_name: str, password: str, operator_name: str, operator_siret: str) -> None:
    """Create the first platform administrator (and the operator organisation if missing)."""
    from marketplace.accounts.demo import create_platform_admin
    from marketplace.errors import DomainError
    from marketplace.lib.clock import system_clock

    settings = Settings.from_env()
    try:
        user = _with_session(settings, lambda s: create_platform_admin(
            s, system_clock, settings, email=email, full_name=full_name, password=password,
            operator_name=operator_name, operator_siret=operator_siret))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"Platform administrator {user.email} is ready.")


@main.command()
def seed() -> None:
    """Load demo organisations and people (idempotent), and a demo sandbox open for offers."""
    settings = Settings.from_env()
    _ensure_bucket(settings)
    _print_demo(_seed(settings))


@main.command("import-cpv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "version", default=None,
              help="Name of this dataset [default: the first 12 hex digits of the file's SHA-256].")
def import_cpv_command(path: Path, version: str | None) -> None:
    """Import the CPV 2008 table from the publisher's JSON file ({"DDDDDDDD-C": "label", ...})."""
    from marketplace.errors import DomainError
    from marketplace.lib.clock import system_clock
    from marketplace.reference.cpv import current_dataset, import_cpv

    async def work(session: Any) -> tuple[Any, bool]:
        before = await current_dataset(session)
        dataset = await import_cpv(session, system_clock, path, version)
        return dataset, before is not None and before.id == dataset.id

    began = time.monotonic()
    try:
        dataset, unchanged = _with_session(Settings.from_env(), work)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    if unchanged:
        click.echo(f"CPV table already imported from this file: {dataset.row_count} codes, "
                   f"dataset {dataset.version} (nothing changed).")
    else:
        click.echo(f"Imported {dataset.row_count} CPV codes, dataset {dataset.version} "
                   f"(sha256 {dataset.sha256[:12]}) in {time.monotonic() - began:.1f}s.")


@main.command("import-sons-ceilings")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "version", default=None,
              help="Name of this ceiling table [default: the first 12 hex digits of the file's SHA-256].")
def import_sons_ceilings_command(path: Path, version: str | None) -> None:
    """Import a SONS dispositif's ceiling table from the AF annex, as JSON (domain.md §12 SN1):
    {"dispositif": code, "wave": n, "tranches": [{"tranche", "label", "ceilingHtCents", "vatRateBp"}, ...]}.
    The dispositif exists first (POST /sons/dispositifs); tests/data/sons_ceilings_sample.json is a sample."""
    from marketplace.lib.clock import system_clock
    from marketplace.sons.dispositifs import CeilingFileRefused, import_ceilings

    data = path.read_bytes()

    async def work(session: Any) -> tuple[Any, bool, int]:
        table, imported = await import_ceilings(session, system_clock, path, data, version)
        from sqlalchemy import func, select

        from marketplace.sons.models import SonsCeiling
        count = await session.scalar(select(func.count()).where(SonsCeiling.table_id == table.id))
        return table, imported, int(count or 0)

    try:
        table, imported, count = _with_session(Settings.from_env(), work)
    except CeilingFileRefused as exc:
        raise click.ClickException(str(exc)) from exc
    if not imported:
        click.echo(f"Ceiling table already imported from this file: version {table.version} (nothing changed).")
    else:
        click.echo(f"Imported {count} tranches, ceiling table {table.version} (sha256 {table.sha256[:12]}).")


@main.command("import-sons-orders")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vendor", "vendor", required=True, help="The vendor the orders are drafted for: its id or its SIREN.")
@click.option("--errors", "errors_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the refused rows there as CSV (line, orderRef, column, rule, detail).")
def import_sons_orders_command(path: Path, vendor: str, errors_out: Path | None) -> None:
    """Import a vendor's SONS orders from CSV, one row per site (README, "SONS orders"), checked by the same guards
    as POST /sons/orders; re-importing a file creates nothing twice. Exit status 1 when a row was refused."""
    import csv
    import uuid

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from marketplace.accounts.models import Organisation
    from marketplace.accounts.roles import OrganisationKind
    from marketplace.lib.clock import system_clock
    from marketplace.lib.database import make_engine
    from marketplace.sons.imports import ImportRefused, run_import

    settings = Settings.from_env()
    data = path.read_bytes()
    console = Console(stderr=True)

    async def work() -> Any:
        engine = make_engine(settings)
        try:
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            async with sessions() as session:
                try:
                    key = Organisation.id == uuid.UUID(vendor)
                except ValueError:
                    key = Organisation.siren == vendor.replace(" ", "")
                vendor_id = await session.scalar(select(Organisation.id).where(
                    key, Organisation.kind == OrganisationKind.VENDOR))
            if vendor_id is None:
                raise click.ClickException(f"no vendor has the id or SIREN {vendor}")
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("rows"), TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task(path.name, total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                return await run_import(sessions, system_clock, actor=f"cli:import-sons-orders ({path.name})",
                                        vendor_id=vendor_id, data=data, progress=advance)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(work())
    except ImportRefused as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{report.rows} rows, {report.orders} orders: {report.created} created, {report.unchanged} "
               f"unchanged, {report.refused_rows} row(s) refused.")
    for error in report.errors[:20]:
        click.echo(f"  line {error.line}: {error.order_ref or '-'} {error.column or ''} [{error.rule or '-'}] "
                   f"{error.detail}")
    if len(report.errors) > 20:
        click.echo(f"  … and {len(report.errors) - 20} more" + (f" (all in {errors_out})" if errors_out else
                                                               " (--errors FILE writes them all)"))
    if errors_out is not None:
        with errors_out.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "orderRef", "column", "rule", "detail"])
            writer.writerows([e.line, e.order_ref or "", e.column or "", e.rule or "", e.detail]
                             for e in report.errors)
    if report.errors:
        sys.exit(1)


@main.command("publish-open-data")
def publish_open_data_command() -> None:
    """Publish at once what the worker publishes every five minutes (domain.md §3, §4): the OCDS releases of the
    events not yet published, and the DECP records owed (contracts of at least 40,000 € HT, within two months of their
    notification) through the configured portal adapter (MARKETPLACE_DECP_PUBLISHER); reminds the buying sides of
    the records still owed 14 days before their deadline. Idempotent: nothing is published twice."""
    from marketplace.lib.clock import system_clock
    from marketplace.opendata.decp import DecpService
    from marketplace.opendata.ocds import OcdsService
    from marketplace.opendata.publisher import publisher_from

    settings = Settings.from_env()

    async def work(session: Any) -> tuple[int, int, int]:
        releases = await OcdsService(session, system_clock, settings).sync()
        decp = DecpService(session, system_clock, publisher_from(settings))
        await decp.track()
        published = await decp.publish_due()
        reminded = await decp.remind()
        return releases, len(published), len(reminded)

    releases, published, reminded = _with_session(settings, work)
    click.echo(f"OCDS: {releases} release(s) published. DECP: {published} record(s) published, "
               f"{reminded} buying side(s) reminded of a deadline.")


@main.command("publish-award-notices")
def publish_award_notices_command() -> None:
    """Publish at once what the worker publishes every hour (D19): the grouped award notice of every ended quarter
    (Paris time) of each DPS, listing the specific contracts notified in it, due 30 days after the quarter's end.
    Idempotent: a quarter's notice is stored once and never rewritten."""
    from marketplace.lib.clock import system_clock
    from marketplace.opendata.notices import AwardNoticeService

    settings = Settings.from_env()

    async def work(session: Any) -> list[str]:
        return [row.release_id for row in await AwardNoticeService(session, system_clock, settings).publish_ended()]

    published = _with_session(settings, work)
    click.echo(f"D19: {len(published)} award notice(s) published.")
    for release_id in published:
        click.echo(f"  {release_id}")
