"""The open-data documents on the wire: OCDS packages (release-package and record-package schemas 1.1.5) and the
DECP document (schema 2.0.3). Their contents are the standards' own JSON, carried as published (field names are
the standards', not ours)."""

from __future__ import annotations

from typing import Any

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
