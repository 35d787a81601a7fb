# ruff: noqa
"""What each project semgrep rule (.semgrep/marketplace.yml) must refuse, and what it must let through.

Never imported: tests/test_static_hygiene.py scans this file and expects a finding exactly on the lines marked
`# bad: <rule-id>`, and none elsewhere (the unmarked lines are the accepted forms, so a rule that starts firing
on correct code fails too).
"""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import tarfile
import time
import zipfile
from datetime import UTC, date, datetime

import httpx
import requests
from litestar import Controller, get, patch, post, route
from litestar.handlers import delete
from sqlalchemy import text

from marketplace.lib.access import public, requires
from marketplace.lib.clock import Clock


def times(clock: Clock, stamp: float) -> list[object]:
    return [
        datetime.now(),  # bad: naive-datetime
        datetime.utcnow(),  # bad: naive-datetime
        date.today(),  # bad: naive-datetime
        dt.datetime.today(),  # bad: naive-datetime
        datetime.fromtimestamp(stamp),  # bad: naive-datetime
        datetime.utcfromtimestamp(stamp),  # bad: naive-datetime
        datetime.now(UTC),  # bad: wall-clock-outside-clock
        dt.datetime.now(tz=UTC),  # bad: wall-clock-outside-clock
        time.time(),  # bad: wall-clock-outside-clock
        datetime.fromtimestamp(stamp, UTC),
        clock.now(),
        datetime(2026, 1, 1, tzinfo=UTC),
    ]


def archives(path: str, target: str) -> None:
    with tarfile.open(path) as archive:
        archive.extractall(target)  # bad: archive-extractall
        archive.extractfile("package/dist/htmx.min.js")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(path=target, members=None)  # bad: archive-extractall
        archive.open("a.txt")
    shutil.unpack_archive(path, target)  # bad: archive-extractall


async def sql(session, conn, name: str, table: str) -> None:
    text(f"SELECT * FROM offer WHERE name = '{name}'")  # bad: sql-built-from-strings
    text("SELECT * FROM offer WHERE name = '%s'" % name)  # bad: sql-built-from-strings
    text("SELECT * FROM offer WHERE name = '{}'".format(name))  # bad: sql-built-from-strings
    text("SELECT * FROM " + table)  # bad: sql-built-from-strings
    await session.execute(f"DELETE FROM offer WHERE name = '{name}'")  # bad: sql-built-from-strings
    await conn.exec_driver_sql("SELECT * FROM " + table)  # bad: sql-built-from-strings
    await conn.fetch(f"SELECT * FROM {table}")  # bad: sql-built-from-strings
    text("SELECT * FROM offer WHERE name = :name").bindparams(name=name)
    await session.execute(text("SELECT * FROM offer WHERE name = :name"), {"name": name})
    await conn.exec_driver_sql("SELECT 1")


def tls(url: str) -> None:
    httpx.get(url, verify=False)  # bad: tls-verification-disabled
    httpx.AsyncClient(verify=False)  # bad: tls-verification-disabled
    requests.post(url, json={}, verify=False)  # bad: tls-verification-disabled
    ssl._create_unverified_context()  # bad: tls-verification-disabled
    context = ssl.create_default_context()
    context.check_hostname = False  # bad: tls-verification-disabled
    context.verify_mode = ssl.CERT_NONE  # bad: tls-verification-disabled
    httpx.get(url, verify=ssl.create_default_context(cafile="ca.pem"))
    httpx.get(url)


def answers(*statuses: int) -> dict[str, object]:
    return {}


class Handlers(Controller):
    path = "/examples"

    @get("/no-declaration")  # bad: route-without-access
    async def undeclared(self) -> None: ...

    @post("/other-options", opt={"raw_body": True}, status_code=200)  # bad: route-without-access
    async def other_options(self) -> None: ...

    @route("/any", http_method=["GET", "POST"])  # bad: route-without-access
    async def any_method(self) -> None: ...

    @delete("/from-handlers-module", status_code=204)  # bad: route-without-access
    async def handlers_module(self) -> None: ...

    @get("/public", opt=public("Anyone may read it."))
    async def declared_public(self) -> None: ...

    @post("/members", status_code=201, opt=requires("buyer_admin", reason="The buyer's administrator."))
    async def declared_roles(self) -> None: ...

    @patch("/merged", opt={**requires("vendor_admin", reason="The vendor."), **answers(410)})
    async def declared_merged(self) -> None: ...


class DeclaredOnce(Controller):
    """Litestar merges a controller's `opt` into its handlers': one declaration may cover them all."""

    path = "/declared-once"
    opt = requires(reason="Any authenticated user.")

    @get("/")
    async def listed(self) -> None: ...


class OtherOptionsOnly(Controller):
    path = "/other"
    opt = answers(429)

    @get("/")  # bad: route-without-access
    async def listed(self) -> None: ...
