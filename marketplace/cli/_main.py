"""The `marketplace` command group, and what its commands share: the server's arguments, a run cut short by a
signal, the bucket, a database session, the demo data seeded and printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import click

from marketplace.settings import Settings


def _granian_args(host: str, port: int, workers: int) -> list[str]:
    granian = Path(sys.executable).parent / "granian"
    return [str(granian) if granian.exists() else "granian", "--interface", "asgi", "--factory",
            "--host", host, "--port", str(port), "--workers", str(workers), "--no-ws",
            "--log-level", "warning", "marketplace.app:create_app"]


def _run_until_signal(main: Any) -> None:
    """Run a coroutine; SIGINT/SIGTERM cancel it so its `finally` blocks clean up."""

    async def runner() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await main

    asyncio.run(runner())


def _ensure_bucket(settings: Settings) -> None:
    from marketplace.app import make_store

    asyncio.run(make_store(settings).ensure_bucket())


@click.group()
def main() -> None:
    """The SAD marketplace backend."""


def _with_session(settings: Settings, work: Any) -> Any:
    """Run `work(session)` in one committed transaction against the configured database."""

    async def run() -> Any:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        engine = create_async_engine(settings.database_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _seed(settings: Settings) -> tuple[Any, Any, Any]:
    """The demo accounts, then (each in a transaction of its own) a sandbox ready to walk, its need funded by a
    rehearsal call of the ARS and published by the holder, and the ARS's real call with a selected project
    (tenders/demo.py, funding/demo.py)."""
    from marketplace.accounts.demo import seed_demo
    from marketplace.app import make_store
    from marketplace.errors import DomainError
    from marketplace.funding.demo import seed_demo_funding, seed_demo_sandbox
    from marketplace.lib.clock import system_clock

    accounts = _with_session(settings, lambda s: seed_demo(s, system_clock, settings))
    try:
        sandbox = _with_session(settings, lambda s: seed_demo_sandbox(s, system_clock, make_store(settings)))
    except DomainError as exc:
        raise click.ClickException(f"the demo sandbox: {exc.detail}") from exc
    try:
        funding = _with_session(settings, lambda s: seed_demo_funding(s, system_clock, make_store(settings)))
    except DomainError as exc:
        raise click.ClickException(f"the demo funding: {exc.detail}") from exc
    return accounts, sandbox, funding


def _print_demo(summaries: tuple[Any, Any, Any]) -> None:
    from marketplace.accounts.demo import DEMO_PASSWORD
    from marketplace.lib.clock import format_paris
    from marketplace.lib.sandbox import NOTICE
    from marketplace.reference.cpv import IMPORT_COMMAND
    from marketplace.tenders.demo import DEMO_CPV_CODES, DEMO_OPENER_PASSPHRASE, HOLDER_OPENER

    summary, sandbox, funding = summaries
    click.echo("Demo data " + ("loaded." if summary.created else "already present."))
    click.echo(f"Demo accounts (password: {DEMO_PASSWORD}):")
    for email, organisation in summary.logins:
        click.echo(f"  {email:<40} {organisation}")
    minutes = max(1, round(sandbox.deadline_in.total_seconds() / 60))
    click.echo(f"Demo sandbox ({NOTICE}), 1 sandbox day = {86_400 // sandbox.factor} real second(s), "
               + ("new:" if sandbox.created else "still open:"))
    click.echo(f"  DPS                {sandbox.dps_id}")
    click.echo(f"  specific contract  {sandbox.specific_contract_id}  (offers until "
               f"{format_paris(sandbox.tender_deadline)} sandbox time, about {minutes} real minutes from now)")
    click.echo(f"  need (funded)      {sandbox.need_id}  (filed to the rehearsal call {sandbox.call_id}, selected)")
    click.echo(f"  opener passphrase  {DEMO_OPENER_PASSPHRASE}  (the holder's opener, {HOLDER_OPENER})")
    if sandbox.cpv_seeded:
        click.echo(f"  CPV codes          the table was empty: loaded the {len(DEMO_CPV_CODES)} the demo cites; "
                   f"import the whole table with `{IMPORT_COMMAND}`")
    click.echo("Demo funding (ARS Île-de-France, campaign 2025, real), " + ("new:" if funding.created else "present:"))
    click.echo(f"  call for projects  {funding.call_id}  (open)")
    click.echo(f"  selected project   {funding.need_id}  (decision {funding.decision_reference}, "
               f"{funding.amount_cents // 100} € in three tranches)")
    click.echo('  Walk it: README, "Rehearse in the sandbox".')
