"""Providers of the open-data services (litestar dependency injection), for its controllers and the web's queue."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.opendata.decp import DecpService
from marketplace.opendata.feed import FeedService
from marketplace.opendata.notices import AwardNoticeService
from marketplace.opendata.ocds import OcdsService
from marketplace.opendata.publisher import publisher_from
from marketplace.opendata.webhooks import WebhookService
from marketplace.settings import Settings


def provide_ocds(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                 settings: NamedDependency[Settings]) -> OcdsService:
    return OcdsService(db_session, clock, settings)


def provide_decp(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                 settings: NamedDependency[Settings]) -> DecpService:
    return DecpService(db_session, clock, publisher_from(settings))


def provide_award_notices(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                          settings: NamedDependency[Settings]) -> AwardNoticeService:
    return AwardNoticeService(db_session, clock, settings)


def provide_feed(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                 settings: NamedDependency[Settings]) -> FeedService:
    return FeedService(db_session, clock, settings)


def provide_webhooks(db_session: NamedDependency[AsyncSession], clock: NamedDependency[Clock],
                     settings: NamedDependency[Settings]) -> WebhookService:
    return WebhookService(db_session, clock, settings)
