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
    # The store alone, not marketplace.app's `make_store`: importing the app costs `dev` about two seconds of
    # its start, before the API (which imports it anyway) is even spawned.
    from storage import ObjectStore, StoreConfig

    asyncio.run(ObjectStore(StoreConfig(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                                        secret_key=settings.s3_secret_key, bucket=settings.s3_bucket,
                                        region=settings.s3_region)).ensure_bucket())


@click.group()
def main() -> None:
    """The SAD marketplace backend."""


def _with_session(settings: Settings, work: Any) -> Any:
    """Run `work(session)` in one committed transaction against the configured database."""

    async def run() -> Any:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        from marketplace.lib.database import make_engine

        engine = make_engine(settings)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _seed(settings: Settings) -> tuple[Any, Any, Any, Any]:
    """The demo accounts, then (each in a transaction of its own) a sandbox ready to walk, its need funded by a
    rehearsal call of the ARS and published by the holder, the ARS's real call with a selected project, and SONS
    orders (tenders/demo.py, funding/demo.py, sons/demo.py: its signatures made and checked with the DEMO PKI)."""
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
    try:
        sons = _with_session(settings, lambda s: _seed_sons(settings, s))
    except DomainError as exc:
        raise click.ClickException(f"the demo SONS orders: {exc.detail}") from exc
    return accounts, sandbox, funding, sons


async def _seed_sons(settings: Settings, session: Any) -> Any:
    """The demo's SONS orders, the OG's signatures made with the DEMO PKI and checked against its trusted list
    (the domain knows nothing of the dev stack: both are handed to it here)."""
    from marketplace.app import make_store
    from marketplace.devstack.esign import DemoPki
    from marketplace.lib.clock import system_clock
    from marketplace.lib.esign import SignaturePolicy, TrustStore
    from marketplace.sons.demo import seed_demo_sons

    pki = DemoPki(settings.data_dir).ensure()
    policy = SignaturePolicy(TrustStore.load(pki.trust_dir), require_qualified=False)

    def sign(name: str, organisation: str, pdf: bytes) -> bytes:
        return pki.sign_pdf(pki.signer(name, organisation), pdf)

    return await seed_demo_sons(session, system_clock, make_store(settings), policy, sign)


def _print_demo(summaries: tuple[Any, Any, Any, Any]) -> None:
    from marketplace.accounts.demo import DEMO_PASSWORD
    from marketplace.lib.clock import format_paris
    from marketplace.lib.sandbox import NOTICE
    from marketplace.reference.cpv import IMPORT_COMMAND
    from marketplace.sons.demo import CODE, DEMO_CEILINGS_VERSION, PAID_REF, TO_MODIFY_REF, WAVE
    from marketplace.sons.dispositifs import IMPORT_COMMAND as CEILINGS_COMMAND
    from marketplace.tenders.demo import DEMO_CPV_CODES, DEMO_OPENER_PASSPHRASE, HOLDER_OPENER

    summary, sandbox, funding, sons = summaries
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
    click.echo("Demo SONS (purchase-for-account orders), " + ("new:" if sons.created else "present:"))
    click.echo(f"  dispositif         {CODE} wave {WAVE}  {sons.dispositif_id}")
    if sons.demo_ceilings:
        click.echo(f"  ceilings           no table was imported: loaded the DEMO table ({DEMO_CEILINGS_VERSION}, "
                   f"not the AF's); import the AF's with `{CEILINGS_COMMAND}`")
    for name, solution_id in sons.solutions:
        click.echo(f"  solution           {solution_id}  ({name}, referenced)")
    click.echo(f"  order PAID         {sons.paid_order_id}  ({PAID_REF}: advance and balance paid by the ASP)")
    click.echo(f"  order TO_MODIFY    {sons.to_modify_order_id}  ({TO_MODIFY_REF}: its advance \"A modifier\" at the "
               "ASP, to file again)")
