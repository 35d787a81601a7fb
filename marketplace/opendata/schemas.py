"""The open-data documents on the wire: OCDS packages (release-package and record-package schemas 1.1.5) and the
DECP document (schema 2.0.3). Their contents are the standards' own JSON, carried as published (field names are
the standards', not ours)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from marketplace.lib.schemas import CamelStruct


class Publisher(CamelStruct):
    name: str


class ReleasePackage(CamelStruct):
    uri: str
    version: str
    published_date: str
    publisher: Publisher
    license: str
    extensions: list[str]
    releases: list[dict[str, Any]]


class Record(CamelStruct):
    ocid: str
    releases: list[dict[str, Any]]
    compiled_release: dict[str, Any]


class RecordPackage(CamelStruct):
    uri: str
    version: str
    published_date: str
    publisher: Publisher
    license: str
    extensions: list[str]
    records: list[Record]


class Marches(CamelStruct):
    marche: list[dict[str, Any]]


class DecpDocument(CamelStruct):
    marches: Marches


class NoticeOrganisation(CamelStruct):
    name: str
    siret: str | None


class NoticeDps(CamelStruct):
    id: str
    ocid: str
    title: str
    buyer: NoticeOrganisation


class Value(CamelStruct):
    amount: int | float
    currency: str


class NoticeContract(CamelStruct):
    """A specific contract as D19's notice states it: its object, its awardee, its amount (HT, as signed) and the
    date of its award's notification."""

    specific_contract_id: str
    ocid: str
    object: str
    awardee: NoticeOrganisation
    amount: Value
    notified_at: str
    signed_at: str | None


class AwardNotice(CamelStruct):
    """D19: the grouped award notice of a DPS's quarter (Paris time), as published; `release` is the OCDS release
    (tag `award`) it was read from, also in the OCDS feed."""

    id: str
    dps: NoticeDps
    quarter: str
    period_start: str
    period_end: str
    due_on: str
    published_at: str
    sha256: str
    contracts: list[NoticeContract]
    release: dict[str, Any]


# -- the change feed and webhooks -------------------------------------------------------------------------


class FeedItem(CamelStruct):
    position: int
    id: str
    kind: str
    object_id: str
    subject_key: str
    occurred_at: datetime
    url: str


class FeedPage(CamelStruct):
    """`items` after the cursor, in order; `next` is the cursor to send next (`after=next`), the same when
    nothing new was published."""

    items: list[FeedItem]
    next: int


class WebhookCreate(CamelStruct):
    """`url`: an http(s) URL in printable ASCII (RFC 3986; an internationalised host in its punycode form)."""

    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=r"^https?://[!-~]+$")]
    description: Annotated[str, msgspec.Meta(max_length=200)] = ""


class Webhook(CamelStruct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    url: str
    description: str
    active: bool
    created_at: datetime


class WebhookCreated(CamelStruct):
    """The subscription, and its signing secret: shown this once, never again."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    url: str
    description: str
    active: bool
    created_at: datetime
    secret: str


class WebhookDelivery(CamelStruct):
    id: uuid.UUID
    event_id: uuid.UUID
    position: int
    subject_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    response_status: int | None
    last_error: str | None


class WebhookReplay(CamelStruct):
    """The feed positions to deliver again, both included."""

    from_position: Annotated[int, msgspec.Meta(ge=1, le=10**15)] = msgspec.field(name="from")
    to_position: Annotated[int, msgspec.Meta(ge=1, le=10**15)] = msgspec.field(name="to")


class WebhookReplayed(CamelStruct):
    queued: int
