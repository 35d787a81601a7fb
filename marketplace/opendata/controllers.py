"""Open data (domain.md §3, §4): public, read-only, never a sandbox's object (those are never stored)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter, PathParameter, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from marketplace.accounts.deps import provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMINS
from marketplace.errors import NotFound
from marketplace.lib.access import public, requires
from marketplace.lib.clock import check_year
from marketplace.lib.http import created
from marketplace.opendata import schemas
from marketplace.opendata.decp import DecpService, document
from marketplace.opendata.deps import provide_award_notices, provide_decp, provide_feed, provide_ocds, provide_webhooks
from marketplace.opendata.errors import ImpossibleInstant, InvalidQuery
from marketplace.opendata.feed import FeedService
from marketplace.opendata.notices import QUARTER_PATTERN, AwardNoticeService, quarter_of_path
from marketplace.opendata.ocds import OcdsService
from marketplace.opendata.webhooks import WebhookService

Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=1000)]
Offset = Annotated[int, QueryParameter(name="offset", ge=0, le=1_000_000)]
OCID_PATTERN = r"^ocds-[a-z0-9]{6}-[A-Za-z0-9-]{1,100}$"
# An RFC 3339 instant, its offset required: a local time would be ambiguous (and the column holds instants).
INSTANT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"


def _instant(value: str | None, name: str) -> datetime | None:
    """The query's instant, or a 400 naming it: malformed, without its offset, or out of the years the platform
    handles (found by fuzzing: a bare number or a naive time would otherwise reach the database)."""
    if value is None:
        return None
    if not re.match(INSTANT_PATTERN, value):
        return _refuse(name)
    try:
        instant = datetime.fromisoformat(value)
        check_year(instant)
    except (ValueError, OverflowError):
        # Well-formed (the pattern the schema publishes) but no real time, or out of the years: 422.
        raise ImpossibleInstant(f"{name}: {value} is written as an instant but names none the platform handles "
                                "(a real date and time, between the years 1900 and 9898)", field=name) from None
    return instant


def _refuse(name: str) -> datetime:
    raise InvalidQuery(f"{name}: an RFC 3339 instant with its offset is expected (2026-02-17T09:00:00+01:00), "
                       "between the years the platform handles", field=name)


Ocds = NamedDependency[OcdsService]
Decp = NamedDependency[DecpService]
Notices = NamedDependency[AwardNoticeService]
PUBLIC = "Open data: the OCDS releases of published procedures (never a sandbox's, never an offer's content)."


class OcdsController(Controller):
    path = "/ocds"
    tags = ["Open data"]
    dependencies = {"ocds": Provide(provide_ocds, sync_to_thread=False)}

    @get("/releases", opt=public(PUBLIC),
         summary="OCDS 1.1.5 release package: the releases published, oldest first, optionally of one ocid or "
                 "since a date")
    async def releases(self, request: Request[Any, Any, Any], ocds: Ocds,
                       ocid: Annotated[str | None, QueryParameter(name="ocid", pattern=OCID_PATTERN)] = None,
                       since: Annotated[str | None, QueryParameter(name="since", pattern=INSTANT_PATTERN)] = None,
                       limit: Limit = 100, offset: Offset = 0) -> schemas.ReleasePackage:
        rows = await ocds.releases(ocid=ocid, since=_instant(since, "since"), limit=limit, offset=offset)
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return msgspec.convert(ocds.release_package(rows, uri), schemas.ReleasePackage)

    @get("/records/{ocid:str}", opt=public(PUBLIC),
         summary="OCDS 1.1.5 record package of one contracting process: its releases and its compiled release")
    async def record(self, ocid: Annotated[str, PathParameter(pattern=OCID_PATTERN)],
                     ocds: Ocds) -> schemas.RecordPackage:
        package = await ocds.record_package(ocid, f"/ocds/records/{ocid}")
        if package is None:
            raise NotFound("No contracting process has this ocid.", field="ocid")
        return msgspec.convert(package, schemas.RecordPackage)


class DecpController(Controller):
    path = "/decp"
    tags = ["Open data"]
    dependencies = {"decp": Provide(provide_decp, sync_to_thread=False)}

    @get("/marches", opt=public("Open data: the essential data (DECP 2.0.3) of the contracts of at least 40,000 € HT "
                                "published, each with its modifications appended."),
         summary="DECP 2.0.3 document of the published contracts, oldest first")
    async def marches(self, decp: Decp, limit: Limit = 1000, offset: Offset = 0,
                      contract: Annotated[uuid.UUID | None, QueryParameter(
                          name="contract", description="Only this contract's record (the feed's links)")] = None,
                      ) -> schemas.DecpDocument:
        records = await decp.records(contract_id=contract, limit=limit, offset=offset)
        return msgspec.convert(document(records), schemas.DecpDocument)


NOTICES = ("Open data (D19): a DPS's quarterly grouped award notices, as published after each quarter's end (never a "
           "sandbox's).")


class AwardNoticeController(Controller):
    path = "/dps/{dps_id:uuid}/award-notices"
    tags = ["Open data"]
    dependencies = {"notices": Provide(provide_award_notices, sync_to_thread=False)}

    @get("/", opt=public(NOTICES),
         summary="D19: the DPS's quarterly grouped award notices published, oldest quarter first")
    async def list_notices(self, dps_id: FromPath[uuid.UUID], notices: Notices) -> list[schemas.AwardNotice]:
        return msgspec.convert(await notices.notices(dps_id), list[schemas.AwardNotice])

    @get("/{quarter:str}", opt=public(NOTICES),
         summary="D19: the DPS's grouped award notice of a quarter (Paris time, e.g. 2026-Q3): the specific contracts "
                 "notified in it, and its OCDS release")
    async def notice(self, dps_id: FromPath[uuid.UUID], notices: Notices,
                     quarter: Annotated[str, Parameter(pattern=QUARTER_PATTERN)]) -> schemas.AwardNotice:
        return msgspec.convert(await notices.notice(dps_id, quarter_of_path(quarter)), schemas.AwardNotice)


Feed = NamedDependency[FeedService]
Webhooks = NamedDependency[WebhookService]
Caller = NamedDependency[Principal]
_ADMIN = "The organisation's admin."


class FeedController(Controller):
    path = "/feed"
    tags = ["Open data"]
    dependencies = {"feed": Provide(provide_feed, sync_to_thread=False)}

    @get("/", opt=public("Open data: every OCDS release and DECP record published, in the order they were "
                         "committed (never a sandbox's object, never an offer's content)."),
         summary="The public change feed: the changes after a cursor, in order (`after` = the last `next`)")
    async def feed(self, feed: Feed,
                   after: Annotated[int, QueryParameter(name="after", ge=0, le=10**15)] = 0,
                   limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100) -> schemas.FeedPage:
        events = await feed.page(after=after, limit=limit)
        items = [msgspec.convert(feed.item(e), schemas.FeedItem) for e in events]
        return schemas.FeedPage(items=items, next=items[-1].position if items else after)


class WebhookController(Controller):
    path = "/organisations/{organisation_id:uuid}/webhooks"
    tags = ["Open data"]
    dependencies = {"webhooks": Provide(provide_webhooks, sync_to_thread=False),
                    "principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", opt=requires(*ADMINS, reason=_ADMIN),
          summary="Subscribe a URL to the feed (its signing secret is shown once)")
    async def create(self, organisation_id: FromPath[uuid.UUID], data: JSONBody[schemas.WebhookCreate],
                     webhooks: Webhooks, principal: Caller) -> Response[schemas.WebhookCreated]:
        webhook = await webhooks.create(principal, organisation_id, data)
        return created(webhook, f"/organisations/{organisation_id}/webhooks/{webhook.id}/deliveries")

    @get("/", opt=requires(*ADMINS, reason=_ADMIN), summary="The organisation's webhooks (never their secrets)")
    async def list_webhooks(self, organisation_id: FromPath[uuid.UUID], webhooks: Webhooks,
                            principal: Caller) -> list[schemas.Webhook]:
        return await webhooks.list_webhooks(principal, organisation_id)

    @delete("/{webhook_id:uuid}", opt=requires(*ADMINS, reason=_ADMIN),
            summary="Delete a webhook (its pending deliveries are dropped, its log kept)")
    async def delete_webhook(self, organisation_id: FromPath[uuid.UUID], webhook_id: FromPath[uuid.UUID],
                             webhooks: Webhooks, principal: Caller) -> None:
        await webhooks.delete(principal, organisation_id, webhook_id)

    @get("/{webhook_id:uuid}/deliveries", opt=requires(*ADMINS, reason=_ADMIN),
         summary="The webhook's delivery log, latest positions first")
    async def deliveries(self, organisation_id: FromPath[uuid.UUID], webhook_id: FromPath[uuid.UUID],
                         webhooks: Webhooks, principal: Caller,
                         limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
                         ) -> list[schemas.WebhookDelivery]:
        return await webhooks.deliveries(principal, organisation_id, webhook_id, limit=limit)

    @post("/{webhook_id:uuid}/replay", opt=requires(*ADMINS, reason=_ADMIN), status_code=HTTP_202_ACCEPTED,
          summary="Deliver the events of a range of feed positions again, in order")
    async def replay(self, organisation_id: FromPath[uuid.UUID], webhook_id: FromPath[uuid.UUID],
                     data: JSONBody[schemas.WebhookReplay], webhooks: Webhooks,
                     principal: Caller) -> schemas.WebhookReplayed:
        return await webhooks.replay(principal, organisation_id, webhook_id, data)
