"""create_app(): the one ASGI entry point (`granian --factory marketplace.app:create_app`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state
from advanced_alchemy.extensions.litestar.plugins.init.config.asyncio import autocommit_handler_maker
from arq.connections import ArqRedis
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.response_cache import ResponseCacheConfig
from litestar.constants import HTTP_RESPONSE_START
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPI
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from litestar.types import Message, Scope
from redis.asyncio import ConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from marketplace import models  # noqa: F401 - registers every table on the metadata
from marketplace.accounts.audit_controllers import AuditEventController
from marketplace.accounts.auth import BearerAuthMiddleware
from marketplace.accounts.controllers import (
    AuthController,
    FailedDeliveryController,
    InboxController,
    InvitationController,
    OrganisationController,
)
from marketplace.accounts.guards import access_guard
from marketplace.awards.controllers import (
    AbnormallyLowController,
    AwardController,
    CancellationController,
    ClarificationController,
    ContractController,
)
from marketplace.awards.deps import provide_opening_evaluation
from marketplace.errors import exception_handlers
from marketplace.funding.controllers import FundingCallController, NeedFundingController
from marketplace.lib import dependencies
from marketplace.lib.access import publish_access
from marketplace.lib.body import MAX_JSON_BODY, MarketplaceRequest
from marketplace.lib.cache import MissingCacheStore
from marketplace.lib.clock import Clock, system_clock
from marketplace.lib.database import ReadReplica, StatementPool, asyncpg_dsn, connect_args, make_engine
from marketplace.lib.esign import SignaturePolicy, TrustStore
from marketplace.lib.jobs import OutboxRelay
from marketplace.lib.openapi import StrictStructSchemaPlugin, document_contract
from marketplace.lib.rate_limit import RATE_LIMIT_STORE, rate_limit_store
from marketplace.opendata.controllers import (
    AwardNoticeController,
    DecpController,
    FeedController,
    OcdsController,
    WebhookController,
)
from marketplace.settings import Settings
from marketplace.sons.controllers import SonsOrderController, SonsReferenceController
from marketplace.support.controllers import SupportController
from marketplace.system.controllers import HealthController
from marketplace.tenders.controllers import (
    ContractAmendmentController,
    ContractQuestionController,
    NeedController,
    PublicSearchController,
    SpecificContractController,
)
from marketplace.tenders.deposit_controllers import DepositController
from marketplace.tenders.dps_controllers import DpsTimeController
from marketplace.tenders.offer_controllers import OfferController, OpeningController
from marketplace.tenders.vault import Vault
from marketplace.vendors.controllers import (
    AdmissionController,
    DpsController,
    LivingAdmissionController,
    RegisterController,
)
from marketplace.web import mount as mount_web
from storage import ObjectStore, StoreConfig

log = logging.getLogger("marketplace.app")


# Seconds asyncpg waits to open a connection (its default is 60): a PostgreSQL that accepts the connection and
# never answers (hung, or packets dropped) costs a request this long, then a 503 (G12: within 5 s). Refused
# connections fail at once. Recovery after an outage needs no ping: a connection that fails with a
# disconnect error is invalidated with the pool's older ones, and the next checkout opens a new one.
DATABASE_CONNECT_TIMEOUT = 3.0
DATABASE_CONNECT_ARGS = {"timeout": DATABASE_CONNECT_TIMEOUT}


def make_principal_engine(settings: Settings) -> AsyncEngine:
    """The engine who calls is read with (accounts/auth.py), one statement per request: no transaction around it
    (AUTOCOMMIT), no ping. The statement takes well under a millisecond: a few connections serve every request,
    and none is opened per request (no overflow) when a burst comes.

    Behind PgBouncer in transaction mode, outside a transaction the statement SQLAlchemy prepares and its
    execution are two "transactions" PgBouncer may route to two server connections ("prepared statement ...
    does not exist"): there the read runs in a transaction, at the price of BEGIN and ROLLBACK."""
    return make_engine(settings, isolation_level="READ COMMITTED" if settings.database_pgbouncer else "AUTOCOMMIT",
                       pool_size=8, max_overflow=0, connect_args=DATABASE_CONNECT_ARGS)


# Where the public lists' answers are kept (`cache=True` routes, Settings.public_cache_seconds).
PUBLIC_CACHE_STORE = "public_cache"


def commit_before_answering(session_scope_key: str, extra_commit_statuses: set[int]) -> Any:
    """advanced-alchemy's autocommit, except that a failed commit is raised rather than logged and forgotten.

    The commit runs as the response starts; advanced-alchemy's handler swallows its failure and lets the 2xx go,
    so a submission whose commit failed (PostgreSQL crashed between the flush and the commit) would get its
    signed receipt while nothing was stored: an acknowledged offer lost (G6). Raised here, the answer is never
    sent (the server answers 500 or drops the connection) and the client retries with its Idempotency-Key."""
    forgiving = autocommit_handler_maker(session_scope_key=session_scope_key,
                                         extra_commit_statuses=extra_commit_statuses)

    async def handler(message: Message, scope: Scope) -> None:
        session = get_aa_scope_state(scope, session_scope_key)
        if session is not None and message["type"] == HTTP_RESPONSE_START and (
                200 <= message["status"] < 300 or message["status"] in extra_commit_statuses):
            try:
                await session.commit()
            except Exception:
                log.exception("request.commit_failed", extra={"status": message["status"]})
                with contextlib.suppress(Exception):
                    await session.close()
                delete_aa_scope_state(scope, session_scope_key)
                raise
        # Committed already (nothing left to commit), or a rollback; either way it closes the session.
        await forgiving(message, scope)

    return handler


def make_redis_pool(settings: Settings) -> ConnectionPool:
    # Short socket timeouts: a dead Redis must not hold a request (or /health) for long.
    return ConnectionPool.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)


def make_redis(settings: Settings) -> ArqRedis:
    return ArqRedis(connection_pool=make_redis_pool(settings))


def make_store(settings: Settings) -> ObjectStore:
    return ObjectStore(StoreConfig(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                                   secret_key=settings.s3_secret_key, bucket=settings.s3_bucket,
                                   region=settings.s3_region))


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               run_relay: bool = True) -> Litestar:
    settings = settings or Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("MARKETPLACE_DATABASE_URL is not set (`marketplace dev` sets it for you)")
    clock = clock or system_clock
    dependencies.install()
    db_config = SQLAlchemyAsyncConfig(
        connection_string=settings.database_url,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # No pre-ping: it cost a round trip per checkout. A connection found dead fails its request (a 503), and
        # SQLAlchemy then invalidates the pool, so the next requests connect afresh (tests/test_degradation.py).
        # A pool as large as the requests a process serves at once: connections past it (overflow) are opened and
        # closed per request, a new PostgreSQL backend each time, which under load cost more than the queries.
        engine_config=EngineConfig(pool_size=settings.database_pool_size, max_overflow=5,
                                   connect_args={**connect_args(settings), **DATABASE_CONNECT_ARGS}),
        before_send_handler="autocommit",
        create_all=False,
        # No column is advanced-alchemy's FileObject (attachments are lib/stored.py's): its listener would look
        # through every flush for one.
        enable_file_object_listener=False,
    )
    # 401 and 429 commit too: a failed login's throttle counter and audit event must survive the
    # refusal. Nothing else writes before answering 401/429 (auth and guards run before handlers). 303 too:
    # the back-office's forms answer POST-redirect-GET (marketplace/web), and their act must stand; the API's
    # redirects are 307s to downloads. Set after construction: the config makes its session scope key unique
    # per app instance.
    db_config.before_send_handler = commit_before_answering(db_config.session_scope_key, {401, 429, 303})
    if not settings.secret_key:
        raise RuntimeError("MARKETPLACE_SECRET_KEY is not set (`marketplace dev` generates one for you)")
    redis = make_redis(settings)
    store = make_store(settings)
    # The auth middleware runs before dependency injection, so it has its own small engine.
    auth_engine = make_engine(settings, pool_pre_ping=True, pool_size=5, max_overflow=10,
                      connect_args=DATABASE_CONNECT_ARGS)
    # Reads that tolerate lag (lib/database.py): the replica when configured, else the request's own session.
    read_replica = ReadReplica.from_settings(settings, db_config.provide_session)
    auth_session_maker = async_sessionmaker(auth_engine, expire_on_commit=False)
    principal_engine = make_principal_engine(settings)
    statements = StatementPool(settings, connect_timeout=DATABASE_CONNECT_TIMEOUT)

    @contextlib.asynccontextmanager
    async def relay_lifespan(app: Litestar) -> AsyncIterator[None]:
        # The relay has its own small engine: the request engine is disposed by the SQLAlchemy plugin,
        # whose lifespan ends before this one, and the relay must finish its batch first.
        engine = make_engine(settings, pool_pre_ping=True, pool_size=2, max_overflow=0,
                      connect_args=DATABASE_CONNECT_ARGS)
        # Behind PgBouncer in transaction mode a LISTEN is lost with its server connection: the relay polls.
        # The clock as the app's state holds it when it starts (tests set it per test on an app they reuse).
        relay = OutboxRelay(async_sessionmaker(engine, expire_on_commit=False), redis, app.state.clock,
                            database_dsn=None if settings.database_pgbouncer else asyncpg_dsn(settings.database_url),
                            poll_interval=settings.outbox_poll_interval)
        app.state.relay = relay
        task = asyncio.create_task(relay.run_forever(), name="outbox-relay") if run_relay else None
        try:
            yield
        finally:
            if task is not None:
                relay.stop()
                try:
                    await asyncio.wait_for(task, timeout=10)
                except TimeoutError:
                    log.warning("outbox.relay_stop_timeout")
            await engine.dispose()
            # The request engine again: the plugin disposes it only when its app-state key is the default one,
            # and advanced-alchemy gives every app after the first in a process another key ("db_engine_1"), so
            # that app kept its pool across starts, and the next start on another event loop (a test client's)
            # got connections of the ended one: "attached to a different loop", then 503s. Disposing twice is
            # harmless (the second finds an empty pool).
            await db_config.get_engine().dispose()
            await auth_engine.dispose()
            await principal_engine.dispose()
            await statements.close()
            await read_replica.dispose()
            # The pool too: its connections belong to this event loop, which ends with the app. A fresh one for the
            # next start, which may run on another loop (a test client's): the closed pool's lock stays bound to
            # this one. The client object itself is kept, as the stores and the pages hold it.
            await redis.aclose(close_connection_pool=True)
            redis.connection_pool = make_redis_pool(settings)

    pages = mount_web(settings, redis)  # the back-office under /app (marketplace/web)

    def state_value(name: str) -> Provide:
        def provider(state: State) -> Any:
            return getattr(state, name)

        return Provide(provider, sync_to_thread=False)

    app = Litestar(
        route_handlers=[HealthController, SupportController, AuthController, OrganisationController,
                        InvitationController, DpsController, DpsTimeController, RegisterController,
                        AdmissionController, LivingAdmissionController, NeedController,
                        SpecificContractController, ContractQuestionController, ContractAmendmentController,
                        PublicSearchController, OfferController, OpeningController, DepositController, AwardController,
                        AbnormallyLowController, CancellationController, ContractController,
                        ClarificationController, FundingCallController, NeedFundingController, InboxController,
                        FailedDeliveryController, AuditEventController, SonsReferenceController, SonsOrderController,
                        OcdsController, DecpController, AwardNoticeController, FeedController, WebhookController,
                        *pages.route_handlers],
        middleware=[DefineMiddleware(BearerAuthMiddleware)],
        # Every JSON body is decoded by lib/body.py (UTF-8, depth, JSON errors: a 400 naming `body`).
        request_class=MarketplaceRequest, request_max_body_size=MAX_JSON_BODY,
        guards=[access_guard],
        plugins=[SQLAlchemyPlugin(config=db_config),
                 ProblemDetailsPlugin(ProblemDetailsConfig()), StrictStructSchemaPlugin(), *pages.plugins],
        template_config=pages.template_config, before_send=pages.before_send,
        # Every store in Redis, named or not: a store Litestar makes on demand is by default a MemoryStore, one per
        # process, and two API processes would each keep their own count (the login rate limit) or sessions.
        stores=StoreRegistry({**pages.stores, RATE_LIMIT_STORE: rate_limit_store(redis),
                              # A miss when Redis is down or hung: the lists are then read from PostgreSQL (G12).
                              PUBLIC_CACHE_STORE: MissingCacheStore(redis, namespace="marketplace-public-cache")},
                             default_factory=lambda name: RedisStore(redis, namespace=f"marketplace-{name}")),
        response_cache_config=ResponseCacheConfig(
            store=PUBLIC_CACHE_STORE, default_expiration=max(settings.public_cache_seconds, 1),
            # Only 200s are kept, and none at all when the setting is 0 (a lookup then always misses).
            cache_response_filter=lambda _scope, status: settings.public_cache_seconds > 0 and status == 200),
        dependencies={"settings": state_value("settings"), "clock": state_value("clock"),
                      "redis": state_value("redis"), "store": state_value("store"), "vault": state_value("vault"),
                      "side_sessions": state_value("auth_session_maker"), "read_replica": state_value("read_replica"),
                      "signature_policy": state_value("signature_policy"),
                      # The evaluation, handed to the opening of the offers (tenders/ doesn't import awards/).
                      "opening_evaluation": Provide(provide_opening_evaluation, sync_to_thread=False)},
        state=State({"settings": settings, "clock": clock, "redis": redis, "store": store,
                     "auth_session_maker": auth_session_maker, "read_replica": read_replica,
                     "principal_engine": principal_engine, "statements": statements,
                     "vault": Vault.from_settings(settings),
                     "signature_policy": SignaturePolicy(TrustStore.load(settings.esign_trust_list),
                                                         require_qualified=settings.esign_require_qualified)}),
        lifespan=[relay_lifespan],
        # A copy: plugins may add handlers, and the module-level map is shared by every app instance.
        exception_handlers=dict(exception_handlers),
        openapi_config=OpenAPIConfig(
            title="Marketplace SAD API", version="0.1.0",
            description="API of the dynamic purchasing system (SAD) of the ESMS numérique programme.",
            path="/schema", render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=settings.debug,
    )
    _document_when_first_read(app)
    return app


class _DocumentedOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, writing who may call each route, its errors and raw bodies into the document as
    it is built (lib/access.py, lib/openapi.py)."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        schema = super()._build_openapi()
        publish_access(self.app, schema)
        document_contract(self.app, schema)
        return schema


def _document_when_first_read(app: Litestar) -> None:
    """The document is built on its first read (GET /schema), not at start-up: building it costs about half a
    second, which every process start (and every test's app) paid for a document most never serve. Litestar
    creates its plugin itself and has no hook after the build: the instance takes the subclass above (same slots,
    same registry entry); tests/test_openapi.py reads the result."""
    app.plugins.get(OpenAPIPlugin).__class__ = _DocumentedOpenAPIPlugin
