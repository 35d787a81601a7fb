"""The back-office: server-rendered pages (Jinja, htmx 2) under /app, beside the JSON API.

A composition-level package, like the API's controllers: its pages call the domains' services, and no domain
imports it (tests/test_architecture.py). `mount()` gives create_app what to add: the pages' router (session,
session authentication and CSRF as router middleware, so the API keeps none of them), the static files, the
template engine, the Redis session store and the security-header hook.

Static files: the project's own CSS (`static/`), and htmx from the npm registry, fetched with its integrity
checked at set-up time into an ignored folder (marketplace/devstack/htmx.py) and served from here; never
committed, never from a CDN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.htmx import HTMXConfig, HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.template import TemplateConfig
from litestar.types import BeforeMessageSendHookHandler
from redis.asyncio import Redis

from marketplace.devstack import htmx
from marketplace.lib.access import public
from marketplace.lib.clock import format_paris
from marketplace.settings import Settings
from marketplace.web import (
    accounts,
    admissions,
    applications,
    audit,
    contracts,
    evaluation,
    funding,
    holder,
    holder_contracts,
    inbox,
    needs,
    offers,
    public_pages,
    results,
    sons,
    vendor_sons,
    vendors,
)
from marketplace.web.auth import SessionAuthMiddleware
from marketplace.web.controllers import LoginController, WorkQueueController
from marketplace.web.errors import exception_handlers
from marketplace.web.pages import navigation, take_messages
from marketplace.web.rule_labels import field_label, language_of, rule_label
from marketplace.web.security import PREFIX, SESSION_STORE, csrf_config, security_headers, session_config

log = logging.getLogger("marketplace.web")

# The DPS's states (vendors/states.py) as a French reader names them: words only, no rule.
DPS_STATUS_LABELS = {"draft": "brouillon", "pending": "fenêtre initiale ouverte", "active": "actif",
                     "cancelled": "annulé", "terminated": "clos"}

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"


@dataclass(frozen=True)
class Mount:
    route_handlers: list[Router]
    plugins: list[Any]
    template_config: TemplateConfig[JinjaTemplateEngine]
    stores: dict[str, Store]
    before_send: list[BeforeMessageSendHookHandler]


def template_engine(vendor: Path | None) -> JinjaTemplateEngine:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["paris"] = format_paris
    environment.filters["dps_status"] = lambda status: DPS_STATUS_LABELS.get(str(status), str(status))
    environment.filters["left"] = time_left
    environment.filters["euros"] = format_euros
    # A rule id's French statement, a field's French name (None when unknown: show the id), a text's language.
    environment.filters["rule_label"] = rule_label
    environment.filters["field_label"] = field_label
    environment.filters["detail_lang"] = language_of
    # The <script> tag carries the served file's own hash (Subresource Integrity), recorded when it was fetched.
    environment.globals["htmx_integrity"] = htmx.file_integrity(vendor) if vendor else None
    environment.globals["static"] = f"{PREFIX}/static"
    engine = JinjaTemplateEngine.from_environment(environment)
    # `messages()`: what the last act left to say (web/pages.py); `now()`: the app's clock, for countdowns.
    engine.register_template_callable("messages", lambda ctx: take_messages(ctx["request"]))
    engine.register_template_callable("now", lambda ctx: ctx["request"].app.state.clock.now())
    engine.register_template_callable("nav", lambda ctx, viewer: navigation(viewer))
    return engine


def time_left(at: datetime, now: datetime) -> str:
    """What is left until `at` ("dans 3 j 4 h"), or how long it is past ("dépassée depuis 2 h")."""
    delta = at - now
    past = delta.total_seconds() <= 0
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        span = f"{days} j {hours} h" if hours else f"{days} j"
    elif hours:
        span = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    else:
        span = f"{minutes} min"
    return f"dépassée depuis {span}" if past else f"dans {span}"


def format_euros(cents: int | None) -> str:
    """12 345,67 € (French grouping with a narrow no-break space), from cents."""
    if cents is None:
        return "—"
    units, rest = divmod(abs(int(cents)), 100)
    grouped = f"{units:,}".replace(",", "\u202f")
    return f"{'-' if cents < 0 else ''}{grouped},{rest:02d} €"


def htmx_dir() -> Path | None:
    """The fetched htmx, or None: the pages read without JavaScript (htmx only makes them quicker)."""
    directory = htmx.assets_dir()
    if (directory / htmx.FILENAME).exists():
        return directory
    log.warning("web.htmx_missing: %s not fetched yet (`python -m marketplace.devstack.htmx`); pages work "
                "without it", directory / htmx.FILENAME)
    return None


class _OneAppRouter(Router):
    """A router built for one app (`mount` makes a new one per app), so registering it needs no copy.

    Litestar deep-copies every Router it registers, in case one is shared between apps: for the pages, every
    controller's handlers, about 0.15 s of each app's start of 0.86 s (and the test suite starts one per
    test). Nothing else holds this one, so the app may take it as it is."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _OneAppRouter:
        return self


def mount(settings: Settings, redis: Redis) -> Mount:
    pages = _OneAppRouter(
        path="/", include_in_schema=False,
        route_handlers=[LoginController, WorkQueueController, *admissions.CONTROLLERS, *contracts.CONTROLLERS,
                        *evaluation.CONTROLLERS, *funding.CONTROLLERS, *audit.CONTROLLERS, *needs.CONTROLLERS,
                        *vendors.CONTROLLERS, *sons.CONTROLLERS, *accounts.CONTROLLERS, *public_pages.CONTROLLERS,
                        *holder.CONTROLLERS, *applications.CONTROLLERS, *offers.CONTROLLERS, *inbox.CONTROLLERS,
                        *results.CONTROLLERS, *holder_contracts.CONTROLLERS, *vendor_sons.CONTROLLERS],
        request_class=HTMXRequest, exception_handlers=exception_handlers,
        # Outermost first: the session is loaded, then its principal resolved, then CSRF checked.
        middleware=[session_config(settings).middleware, DefineMiddleware(SessionAuthMiddleware),
                    DefineMiddleware(CSRFMiddleware, config=csrf_config(settings))])
    vendor = htmx_dir()
    static = create_static_files_router(
        path=f"{PREFIX}/static", directories=[STATIC, *([vendor] if vendor else [])], name="web.static",
        opt=public("The back-office's stylesheet and scripts."), include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600, public=True))
    return Mount(
        route_handlers=[pages, static],
        plugins=[HTMXPlugin(HTMXConfig(set_request_class_globally=False))],
        template_config=TemplateConfig(instance=template_engine(vendor)),
        stores={SESSION_STORE: RedisStore(redis, namespace="marketplace-web-session")},
        before_send=[security_headers])
