"""The development commands: `dev` (the embedded stack, the API and a worker until Ctrl-C) and `demo-sign` (a
contract signed with a DEMO certificate).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from marketplace.cli._main import _ensure_bucket, _granian_args, _print_demo, _seed, main
from marketplace.settings import Settings

if TYPE_CHECKING:
    from marketplace.devstack import Stack


@main.command()
@click.option("--port", default=8000, show_default=True, type=int, help="API port on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where embedded services keep their data [default: ./.data/dev].")
@click.option("--demo", is_flag=True, help="Load demo organisations and accounts (idempotent).")
def dev(port: int, data_dir: Path | None, demo: bool) -> None:
    """Start PostgreSQL, Redis, S3 and a mail catcher from pip packages, a clamd with test signatures only, a
    local RFC 3161 TSA and a DEMO trusted list for contract signatures (each unless configured), migrate, then
    run the API and a worker until Ctrl-C."""
    from marketplace.devstack import Stack
    from marketplace.devstack.smtp import MailSink
    from marketplace.devstack.stack import DataDirBusy
    from marketplace.lib.migrate import upgrade

    began = time.monotonic()
    settings = Settings.from_env()
    if data_dir is not None:
        settings = settings.with_(data_dir=data_dir)
    stack = Stack(settings, clamd=True)
    children: list[subprocess.Popen[bytes]] = []
    sink: MailSink | None = None
    # Ctrl-C and SIGTERM both end up in the `finally` below, which stops everything we started. SIGINT
    # is set explicitly: Python keeps it ignored when the parent ignored it (a script's `cmd &` job),
    # and then Ctrl-C / `kill -INT` would not stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        try:
            settings = stack.start()
        except DataDirBusy as exc:
            raise click.ClickException(f"{exc}; stop it first or pass another --data-dir") from None
        if not settings.smtp_host:
            sink = MailSink(settings.data_dir / "mail")
            sink.start()
            settings = settings.with_(smtp_host="127.0.0.1", smtp_port=sink.port)
        demo_signatures = not settings.esign_trust_list
        settings = _demo_trust_list(settings) if demo_signatures else settings
        # Plain HTTP on 127.0.0.1: the back-office's cookies can't be `Secure` here (settings.py), and its htmx is
        # fetched once from the npm registry (the pages work without it, only less quickly).
        settings = settings.with_(web_cookie_secure=False)
        htmx_problem = _fetch_htmx()
        upgrade(settings.migration_url)
        _ensure_bucket(settings)
        env = {**os.environ, **settings.to_env()}
        children.append(subprocess.Popen(_granian_args("127.0.0.1", port, 1), env=env))
        children.append(subprocess.Popen([sys.executable, "-m", "marketplace", "worker"], env=env))
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, children)
        # Seeded once the API answers, so `--demo` doesn't delay the start (and is idempotent).
        summary = _seed(settings) if demo else None
        _print_urls(base, settings, stack, sink, time.monotonic() - began, demo_signatures=demo_signatures,
                    htmx_problem=htmx_problem)
        if summary is not None:
            _print_demo(summary)
            click.echo(f"Back-office: {base}/app/  (log in with any demo login above)")
        click.echo("Press Ctrl-C to stop.", err=False)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a child process exited; stopping")
    except KeyboardInterrupt:
        click.echo("\nStopping…")
    finally:
        # A second Ctrl-C or SIGTERM must not interrupt the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if sink is not None:
            sink.stop()
        stack.stop()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _fetch_htmx() -> str | None:
    """htmx for the back-office, fetched once with its pinned integrity (devstack/htmx.py); why not, if not."""
    from marketplace.devstack.htmx import HtmxUnavailable, fetch

    try:
        fetch()
    except HtmxUnavailable as exc:
        return str(exc)
    return None


def _demo_trust_list(settings: Settings) -> Settings:
    """Like clamd with test signatures, and only when no trusted list is configured (never in `serve` or
    `worker`): contract signatures are checked against the DEMO PKI's trusted list, made once under the data
    directory (a file check on later starts), so the sandbox can be walked to a signed contract."""
    from marketplace.devstack.esign import DemoPki, DemoPkiMissing

    try:
        return settings.with_(esign_trust_list=str(DemoPki(settings.data_dir).ensure().trust_dir))
    except DemoPkiMissing as exc:
        raise click.ClickException(str(exc)) from None


def _print_urls(base: str, settings: Settings, stack: Stack, sink: Any, elapsed: float, *,
                demo_signatures: bool, htmx_problem: str | None = None) -> None:
    started = ", ".join(f"{name} {secs:.1f}s" for name, secs in stack.timings.items())
    click.echo(f"\nMarketplace is up in {elapsed:.1f}s ({started or 'nothing embedded'})")
    click.echo(f"  API         {base}")
    click.echo(f"  API docs    {base}/schema  (Swagger UI: {base}/schema/swagger)")
    click.echo(f"  Health      {base}/health")
    click.echo(f"  Back-office {base}/app/  (pages in French; log in with an account's e-mail and password)")
    if htmx_problem:
        click.echo(f"  htmx        not fetched ({htmx_problem}): the back-office works without it")
    click.echo(f"  PostgreSQL  {settings.database_url}")
    click.echo(f"  Redis       {settings.redis_url}")
    click.echo(f"  S3          {settings.s3_endpoint}  bucket {settings.s3_bucket}")
    if sink is not None:
        click.echo(f"  Mail        smtp://127.0.0.1:{sink.port}  (messages in {sink.directory})")
    if "clamd" in stack.timings:
        click.echo(f"  clamd       {settings.clamd_host}:{settings.clamd_port}  (TEST signatures only: detects EICAR, "
                   "nothing else)")
    elif settings.clamd_host:
        click.echo(f"  clamd       {settings.clamd_host}:{settings.clamd_port}")
    else:
        click.echo(f"  clamd       none ({stack.unavailable.get('clamd', 'not configured')}): offer files stay "
                   "scanStatus pending")
    if "tsa" in stack.timings:
        click.echo(f"  TSA         {settings.tsa_url}  (local RFC 3161, DEMO: development only)")
    else:
        click.echo(f"  TSA         {settings.tsa_url}")
    if demo_signatures:
        click.echo(f"  Signatures  DEMO trust list ({settings.esign_trust_list}): development only; sign with "
                   "`marketplace demo-sign`")
    else:
        click.echo(f"  Signatures  trusted list {settings.esign_trust_list}")
    click.echo(f"  Data        {settings.data_dir}")


def _wait_healthy(base: str, children: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise click.ClickException("the API or the worker failed to start")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise click.ClickException(f"{base}/health did not answer 200 within {timeout:.0f} s")


@main.command("demo-sign")
@click.argument("document", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "email", metavar="E-MAIL", help="Sign as this demo account: its name and organisation.")
@click.option("--signer", metavar="NAME", help="Sign as this name (any person; with --as, that account's e-mail).")
@click.option("--organisation", metavar="NAME", help="The organisation the certificate names [default: the "
              "demo account's].")
@click.option("--generate", metavar="TITLE", help="Sign a one-page PDF made on the spot with this title, "
              "instead of DOCUMENT.")
@click.option("-o", "--output", type=click.File("wb"), default="-", help="The signed PDF [default: stdout].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The `marketplace dev` data directory whose demo PKI signs [default: ./.data/dev].")
def demo_sign(document: Path | None, email: str | None, signer: str | None, organisation: str | None,
              generate: str | None, output: Any, data_dir: Path | None) -> None:
    """PAdES-sign a PDF with a DEMO certificate of `marketplace dev`'s demo PKI (development only).

    The signature is timestamped by the demo TSA. Only a server checking signatures against the DEMO trust
    list accepts it: `marketplace dev` when MARKETPLACE_ESIGN_TRUST_LIST is unset, never a real deployment.
    Signing an already signed PDF adds a signature (a counter-signature).
    """
    from pyhanko.pdf_utils.misc import PdfError

    from marketplace.accounts.demo import DEMO_ORGANISATIONS, DEMO_PEOPLE
    from marketplace.devstack.esign import DemoPki, DemoPkiMissing, contract_pdf

    if (document is None) == (generate is None):
        raise click.UsageError("give either a DOCUMENT to sign or --generate TITLE")
    if email is None and signer is None:
        raise click.UsageError("say who signs: --as a demo account's e-mail, or --signer NAME")
    if signer is None:
        person = DEMO_PEOPLE.get((email or "").strip().lower())
        if person is None:
            raise click.UsageError(f"{email} is not a demo account ({', '.join(DEMO_PEOPLE)}); "
                                   "use --signer NAME for anyone else")
        signer, organisation = person[1], organisation or DEMO_ORGANISATIONS[person[0]][1]
    settings = Settings.from_env()
    directory = (data_dir or settings.data_dir).resolve()
    try:
        pki = DemoPki.open(directory)
    except DemoPkiMissing as exc:
        raise click.ClickException(str(exc)) from None
    if output.isatty():
        raise click.UsageError("the signed PDF goes to stdout: redirect it (> signed.pdf) or use -o FILE")
    if settings.esign_trust_list and Path(settings.esign_trust_list).resolve() != pki.trust_dir.resolve():
        click.echo(f"Note: MARKETPLACE_ESIGN_TRUST_LIST is {settings.esign_trust_list}, not the demo trust list: "
                   "a server checking against it refuses this signature.", err=True)
    data = document.read_bytes() if document is not None else contract_pdf(generate or "")
    try:
        identity = pki.signer(signer, organisation or "Organisation de démonstration", email)
        signed = pki.sign_pdf(identity, data)
    except ValueError as exc:  # a name too long for a certificate (64 characters at most)
        raise click.ClickException(str(exc)) from None
    except PdfError as exc:
        raise click.ClickException(f"{document}: not a PDF pyHanko can sign ({exc})") from None
    output.write(signed)
    click.echo(f"Signed (PAdES, timestamped) by {identity.cert.subject.rfc4514_string()}: a DEMO certificate, "
               "for development only.", err=True)
