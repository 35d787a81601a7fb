"""The application's database engines: the primary, an optional streaming replica for reads that tolerate lag, and
the connection options that survive PgBouncer in transaction mode.

Every write, and every read a write or a sealed act depends on, goes to the primary: that is the default session
(`db_session`, advanced-alchemy's plugin). A route opts in to the replica by naming `LAGGING_READS` among its
dependencies, which replaces its `db_session` with `provide_lagging_session`: only public GET routes that show
published notices (DPS list and detail, the register of admitted vendors, discovery of needs) do, and
tests/test_replica.py keeps it so.

advanced-alchemy's own read/write routing (`RoutingConfig`) is not used: it sends every SELECT of every route to
a replica unless told otherwise, statement by statement, so a sealed read or a check made before a write could
see a lagging snapshot. Here the default is the primary and the replica is chosen per route, for the whole
request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

import asyncpg
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Scope
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from marketplace.settings import Settings

log = logging.getLogger("marketplace.database")

# A replica that can't be reached is skipped for this long before it is tried again, so that while it is down
# public reads pay its connect timeout once per interval rather than on every request.
REPLICA_RETRY_SECONDS = 10.0
# How long opening a connection to the replica may take before the read falls back to the primary.
REPLICA_CONNECT_TIMEOUT = 2.0


def _statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4()}__"


def connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments. Behind PgBouncer in transaction mode consecutive transactions of one client
    connection run on different server connections, so a statement prepared in one is missing (or, by the same
    generated name, already there) in the next. Then asyncpg's statement cache and SQLAlchemy's prepared statement
    cache are turned off, and the statements SQLAlchemy still prepares to learn a result's columns get unique
    names (SQLAlchemy's asyncpg dialect, "Prepared Statement Name with PGBouncer")."""
    if not settings.database_pgbouncer:
        return {}
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _statement_name}


def make_engine(settings: Settings, url: str | None = None, **options: Any) -> AsyncEngine:
    """An engine on `url` (the primary's by default) with the connection arguments the settings call for."""
    extra = options.pop("connect_args", {})
    return create_async_engine(url or settings.database_url, connect_args={**connect_args(settings), **extra},
                               **options)


class ReadReplica:
    """Sessions for reads that tolerate lag: on the streaming replica when one is configured and answers, else
    none (the caller reads from the primary). A caller who is signed in always reads the primary: they may have
    just written what they now read (read-your-writes), and public traffic is mostly anonymous."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | None,
                 primary: Callable[[State, Scope], AsyncSession], *,
                 retry_after: float = REPLICA_RETRY_SECONDS) -> None:
        self._sessions = sessions
        self.primary = primary
        self._retry_after = retry_after
        self._down_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, primary: Callable[[State, Scope], AsyncSession]) -> ReadReplica:
        if not settings.database_replica_url:
            return cls(None, primary)
        engine = make_engine(settings, settings.database_replica_url, pool_pre_ping=True, pool_size=10,
                             max_overflow=10, connect_args={"timeout": REPLICA_CONNECT_TIMEOUT})
        return cls(async_sessionmaker(engine, expire_on_commit=False), primary)

    @property
    def configured(self) -> bool:
        return self._sessions is not None

    async def open(self) -> AsyncSession | None:
        """A session already connected to the replica, or None when there is none or it doesn't answer."""
        if self._sessions is None or time.monotonic() < self._down_until:
            return None
        session = self._sessions()
        try:
            # Connect now, not at the first query: a replica that is down must send this request to the primary,
            # which can only be decided before the handler runs.
            await session.connection()
        except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            await session.close()
            self._down_until = time.monotonic() + self._retry_after
            log.warning("database.replica_unavailable", extra={"error": repr(exc)[:300],
                                                                "retry_after": self._retry_after})
            return None
        return session

    @property
    def engine(self) -> AsyncEngine | None:
        """The replica's engine (for /health), None when there is no replica."""
        return None if self._sessions is None else self._sessions.kw["bind"]

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


async def provide_lagging_session(state: State, scope: Scope) -> AsyncGenerator[AsyncSession, None]:
    """`db_session` for the routes that name `LAGGING_READS`: the replica's for an anonymous caller when it answers,
    else the primary's request session (which the plugin commits and closes, as on every other route)."""
    replica: ReadReplica = state.read_replica
    session = await replica.open() if scope.get("user") is None else None
    if session is None:
        yield replica.primary(state, scope)
        return
    try:
        yield session
    finally:
        # Read only: nothing to commit; closing returns the connection to the replica's pool.
        await session.close()


LAGGING_READS: dict[str, Provide] = {"db_session": Provide(provide_lagging_session)}




# How long a read may wait for a connection of the pool, and a statement for its answer, before the request
# is answered 503 (errors.py: a TimeoutError is an outage). The reads take milliseconds.
ACQUIRE_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 10.0


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's URL of the database as asyncpg's own DSN."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _json_codecs(connection: asyncpg.Connection) -> None:
    # JSON columns as Python values, as SQLAlchemy's asyncpg dialect sets them up.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, schema="pg_catalog", encoder=json.dumps, decoder=json.loads)


async def _keep(connection: asyncpg.Connection) -> None:
    """asyncpg's pool's `reset`: nothing to add. asyncpg's own cleanup at each release still rolls back a
    transaction a cancelled request left open; its default reset also sends a query resetting session state
    (advisory locks, cursors, listeners, settings), a round trip per statement for state these reads never
    create."""


class StatementPool:
    """asyncpg's own pool, for the one-statement reads made on every request (who calls, a contract's notice):
    through SQLAlchemy's pool and execution they cost several times the round trip itself. Opened on first use in
    the event loop that serves (app.py closes it when the app stops; a test client's next start, on another
    loop, opens another); `size` connections at most, none kept open for long when idle.

    Outside a transaction, each statement is its own consistent snapshot. Behind PgBouncer in transaction mode it
    runs in a read-only transaction: asyncpg prepares a statement in one round trip and executes it in the next,
    which must reach the same server connection (and no statement is cached, the next transaction may run on
    another one). A connection that fails is dropped by asyncpg's pool; an outage reaches the caller as the
    driver's error, a 503 (errors.py)."""

    def __init__(self, settings: Settings, *, size: int = 8, connect_timeout: float = 3.0) -> None:
        self._dsn = asyncpg_dsn(settings.database_url)
        self._pgbouncer = settings.database_pgbouncer
        self._size = size
        self._connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def _open(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._lock is None or self._loop is not loop:
            if self._pool is not None:
                self._pool.terminate()  # opened by an event loop that is gone (a test client's earlier start)
            self._loop, self._lock, self._pool = loop, asyncio.Lock(), None
        async with self._lock:  # one pool per loop, however many requests arrive first
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self._size, max_inactive_connection_lifetime=60,
                    init=_json_codecs, reset=_keep, timeout=self._connect_timeout,
                    command_timeout=STATEMENT_TIMEOUT,
                    statement_cache_size=0 if self._pgbouncer else 100)
            return self._pool

    async def fetchrow(self, statement: str, *args: Any) -> asyncpg.Record | None:
        """One row of one statement, `$1`-style parameters."""
        pool = await self._open()
        # Bounded waits (G12): all connections busy on a hung server is a 503, not a request held forever.
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
            if not self._pgbouncer:
                return await connection.fetchrow(statement, *args)
            async with connection.transaction(readonly=True):
                return await connection.fetchrow(statement, *args)

    async def close(self) -> None:
        pool, loop = self._pool, self._loop
        self._pool, self._loop, self._lock = None, None, None
        if pool is None:
            return
        if loop is asyncio.get_running_loop():
            await pool.close()
        else:
            pool.terminate()  # opened by another event loop, which can't be awaited from this one
