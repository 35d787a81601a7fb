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
