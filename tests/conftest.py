"""Test session: real PostgreSQL, Redis, S3 and SMTP, started like `marketplace dev` unless configured;
a real clamd (test signatures only) for the tests that ask for it.

With no MARKETPLACE_* variables the session starts its own embedded services under .data/test (separate
from `marketplace dev`'s data, non-durable for speed). Each test starts from empty tables, an empty Redis
database and an empty mailbox; the bucket is shared (keys are UUIDs, so tests never collide).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import asyncpg_dsn, make_store
from marketplace.devstack import Stack
from marketplace.devstack.clamd import ClamdUnavailable, EmbeddedClamd
from marketplace.devstack.smtp import MailSink
from marketplace.devstack.stack import DataDirBusy
from marketplace.devstack.tsa import EmbeddedTsa
from marketplace.lib.clock import system_clock
from marketplace.lib.migrate import upgrade
from marketplace.models import metadata
from marketplace.reference.cpv import import_cpv
from marketplace.settings import Settings
from tests import esign_pki
from tests.apps import shared_app

# Defined once for the whole suite: a session fixture imported into each test module is one fixture per module,
# so every browser test module started its own Chromium and its own live server, all kept until the end.
from tests.web.browser import chromium, live_server  # noqa: F401
from tests.world import World, build_world

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE = "marketplace_test"
# The CPV 2008 codes the tests cite, with their labels (Regulation (EC) No 213/2008): a few lines, not the
# table, which the product imports itself from the operator's download (tests/reference/test_cpv.py).
CPV_SAMPLE = ROOT / "tests" / "data" / "cpv_sample.json"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# -- under CI=true, nothing may vanish -----------------------------------------------------------------
# A skipped test is green and tests nothing: a missing file, service or font would silently drop whole rules
# from the run. Under CI=true every skip (and every xfail or xpass, a test whose outcome is not looked at)
# fails the session, its reasons listed; on a developer's machine they stay what pytest makes of them.

class NothingVanishes:
    """Registered under CI=true: lists what was skipped, xfailed or xpassed, and fails the run if anything was."""

    def __init__(self) -> None:
        self.vanished: list[tuple[str, str]] = []

    def _note(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if getattr(report, "wasxfail", None) is not None:
            outcome = "xpassed" if report.passed else "xfailed"
            self.vanished.append((report.nodeid, f"{outcome}: {report.wasxfail or '(no reason given)'}"))
        elif report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.vanished.append((report.nodeid, f"skipped: {reason.removeprefix('Skipped: ')}"))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.vanished and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.vanished:
            terminalreporter.section(f"CI=true: {len(self.vanished)} test(s) did not run, which fails the run",
                                     sep="=", red=True, bold=True)
            for nodeid, reason in self.vanished:
                terminalreporter.line(f"{nodeid}: {reason}")


# -- figures a run must show (fuzzing seed, cases and time per role; the hostile corpus) -------------------
# Printed in the terminal summary whatever the verbosity or capture: CI's log keeps them.
FIGURES: list[str] = []


_PENDING: list[str] = []
_FIGURE = "marketplace-figure"


def report_figure(line: str) -> None:
    _PENDING.append(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # The figure travels on the test's report: with xdist, only reports reach the process that prints the summary.
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    while _PENDING:
        report.user_properties.append((_FIGURE, _PENDING.pop(0)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    FIGURES.extend(value for name, value in report.user_properties if name == _FIGURE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fuzzing and hostile-input figures", sep="-")
        for line in FIGURES:
            terminalreporter.line(line)


# The fuzzing is the suite's longest file, about a quarter of an hour of one core on a 2-core machine. Under
# `--dist loadfile` one worker ran all of it, often last and alone. It goes first, in two halves by role, so the
# workers take one each at the start (the second half builds its own world on its worker).
_FUZZ_FILE = "tests/test_schemathesis.py"
_FUZZ_SECOND_HALF = ("vendor_admin", "buyer_admin", "buyer_evaluator")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_FUZZ_FILE + "::"))  # stable: the rest keeps its order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FuzzInTwoHalves(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            scope: str = super()._split_scope(nodeid)
            if scope == _FUZZ_FILE and any(f"[{role}" in nodeid for role in _FUZZ_SECOND_HALF):
                return scope + "::second-half"
            return scope

    return FuzzInTwoHalves(config, log)


def pytest_configure(config: pytest.Config) -> None:
    if _ci():
        config.pluginmanager.register(NothingVanishes(), "nothing-vanishes")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The embedded services: those MARKETPLACE_* doesn't name, started like `marketplace dev` does."""
    base = Settings.from_env()
    if "MARKETPLACE_DATA_DIR" not in os.environ:
        base = base.with_(data_dir=ROOT / ".data" / "test")
    try:
        stack = Stack(base, durable=False)
        stack.start()
    except DataDirBusy:
        # Another test session runs on this checkout: use a throwaway data directory of our own.
        stack = Stack(base.with_(data_dir=Path(tempfile.mkdtemp(prefix="marketplace-test-"))), durable=False)
        stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def stack_settings(stack: Stack) -> Settings:
    """Settings pointing at running services: from MARKETPLACE_* if set, else embedded ones."""
    return stack.settings


@pytest.fixture
def local_tsa(stack: Stack) -> Iterator[EmbeddedTsa]:
    """The session's local RFC 3161 TSA (devstack/tsa.py), answering again after the test whatever it did."""
    if stack.tsa is None:
        reason = "MARKETPLACE_TSA_URL names a TSA of its own: the local one is not running"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason} (CI runs the embedded services)")
        pytest.skip(reason)
    yield stack.tsa
    stack.tsa.unavailable = False


@pytest.fixture(scope="session")
def real_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a real clamd on 127.0.0.1, whose database holds test signatures only (EICAR).

    Installed, or fetched once from Debian's packages into .tools/clamav (marketplace/devstack/clamd.py).
    Where it can't be had, the test is skipped on a developer's machine, but fails under CI=true: CI runs
    where apt can fetch it, and a skip there would hide a broken scan path.
    """
    clamd = EmbeddedClamd(tmp_path_factory.mktemp("clamd"), cache_dir=ROOT / ".tools" / "clamav")
    try:
        clamd.start()
    except ClamdUnavailable as exc:
        if _ci():
            pytest.fail(f"CI=true and no real clamd: {exc}")
        pytest.skip(f"no real clamd: {exc}")
    try:
        yield clamd.port
    finally:
        clamd.stop()


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


async def _recreate_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(_with_database(url, "postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings(stack_settings: Settings, mail_sink: MailSink) -> Settings:
    """A migrated test database of its own, the shared bucket, and the test mail sink as SMTP server."""
    asyncio.run(_recreate_database(stack_settings.migration_url, TEST_DATABASE))
    owner_url = _with_database(stack_settings.migration_url, TEST_DATABASE)
    upgrade(owner_url)
    settings = stack_settings.with_(
        database_url=_with_database(stack_settings.database_url, TEST_DATABASE),
        migration_database_url=owner_url, smtp_host="127.0.0.1", smtp_port=mail_sink.port,
        # Tests read their own writes at once; the public cache has its own (tests/test_public_cache.py).
        public_cache_seconds=0,
        outbox_poll_interval=0.2, secret_key=stack_settings.secret_key or "test-secret-" + "x" * 40,
        # Contract signatures (G16) are checked against the session's test PKI and its trusted list.
        esign_trust_list=str(esign_pki.pki().trust_dir))
    asyncio.run(make_store(settings).ensure_bucket())
    return settings


async def _reset(settings: Settings) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        # As the owner, with triggers off: the audit log refuses TRUNCATE to everyone else.
        await conn.execute("SET session_replication_role = replica")
        # A connection left idle in a transaction (a session never closed) would hold the TRUNCATE forever: it
        # fails instead, naming what that transaction last ran.
        await conn.execute("SET lock_timeout = '15s'")
        try:
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        except asyncpg.LockNotAvailableError:
            held = await conn.fetch("SELECT usename, state, left(query, 300) AS query FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            raise AssertionError(f"a transaction left open blocks the reset: {[dict(r) for r in held]}") from None
    finally:
        await conn.close()
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest, mail_sink: MailSink) -> None:
    """Every test that touches the database starts from empty tables and an empty Redis."""
    if "settings" in request.fixturenames:
        asyncio.run(_reset(request.getfixturevalue("settings")))
    mail_sink.messages.clear()
    mail_sink.refused.clear()


@pytest.fixture
async def world(settings: Settings) -> World:
    """Organisations and people of every kind, with tokens (tests/world.py)."""
    return await build_world(settings)


@pytest.fixture
async def cpv(settings: Settings) -> None:
    """The CPV codes the tests cite (CPV_SAMPLE), imported by the product's own service as the operator's
    command does: the tests carry the reference data they use, and run in a clone of the repository alone."""
    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_cpv(session, system_clock, CPV_SAMPLE, "cpv-2008-sample")
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return shared_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client
