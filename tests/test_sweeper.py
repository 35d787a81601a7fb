"""Orphan objects swept (reliability.md §4 item 3), against the real S3 and PostgreSQL: an object no row
names is deleted once older than the grace period, a named one is kept whatever its age, a young orphan
is kept (its transaction may still be running), an unfinished multipart upload is aborted. Age is set by
the sweeper's clock against S3's own timestamps, not by sleeping."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from advanced_alchemy.base import orm_registry
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marketplace import sweeper
from marketplace.app import make_store
from marketplace.lib.clock import FrozenClock
from marketplace.lib.stored import NamesStoredObject, OptionalStoredObject, StoredFile, StoredObject
from marketplace.models import metadata
from marketplace.settings import Settings
from marketplace.sweeper import sweep_orphan_objects
from marketplace.worker import CRON_JOBS, worker_options
from storage import ObjectNotFound, ObjectStore
from tests.tenders.test_offers import PARTS, open_contract, prepared_offer
from tests.vendors.api import Client, _minio, expect, fetch, incomplete_uploads, minimal_pdf
from tests.vendors.conftest import app, clock  # noqa: F401  (fixtures)
from tests.world import World


async def _exists(store: ObjectStore, key: str) -> bool:
    try:
        await store.stat(key)
    except ObjectNotFound:
        return False
    return True


async def _sweep(settings: Settings, now: datetime) -> dict[str, int]:
    """The cron job itself, in a worker context like `marketplace worker` builds, on a clock set to `now`."""
    ctx: dict[str, Any] = {}
    options = worker_options(settings, FrozenClock(now))
    await options["on_startup"](ctx)
    try:
        result: dict[str, int] = await sweep_orphan_objects(ctx)
    finally:
        await options["on_shutdown"](ctx)
    return result


@pytest.mark.usefixtures("cpv")
async def test_orphans_past_the_grace_are_deleted_named_and_young_objects_kept(
        client: Client, world: World, clock: FrozenClock, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(settings)
    # Named objects, written by the real upload paths: an offer's sealed file, the admission documents of the
    # vendors admitted on the way, and the funding decision the published need rests on (N16).
    contract = await open_contract(client, world, clock)
    await prepared_offer(client, world, contract["id"])
    named = [r["object_key"] for r in await fetch(
        settings, "SELECT object_key FROM offer_attachment UNION ALL SELECT object_key FROM admission_document "
                  "UNION ALL SELECT object_key FROM contract_document UNION ALL SELECT object_key FROM dps_document "
                  "UNION ALL SELECT object_key FROM funding_decision WHERE object_key IS NOT NULL")]
    assert any(k.startswith("offers/") for k in named) and any(k.startswith("admissions/") for k in named)
    assert any(k.startswith("funding/") for k in named)
    # Orphans under every prefix the product writes: stored, then their transaction "failed".
    orphans = [ObjectStore.new_key(prefix) for prefix in sweeper.SWEPT_PREFIXES for _ in range(2)]
    for key in orphans:
        await store.put_bytes(key, b"written, never committed")
    # A multipart upload started and never finished (a process killed mid-upload).
    unfinished = ObjectStore.new_key("offers")
    await asyncio.to_thread(_minio(settings)._create_multipart_upload, bucket_name=settings.s3_bucket,
                            object_name=unfinished, headers={})
    assert unfinished in await incomplete_uploads(settings, "offers/")
    # Small batches, to see the lookups go a batch at a time, never an object at a time.
    monkeypatch.setattr(sweeper, "BATCH", 3)
    lookups: list[int] = []
    named_in = sweeper.OrphanSweeper._named

    async def counted(self: sweeper.OrphanSweeper, keys: list[str]) -> set[str]:
        lookups.append(len(keys))
        return await named_in(self, keys)

    monkeypatch.setattr(sweeper.OrphanSweeper, "_named", counted)

    # Now: everything this test wrote is younger than the grace period, so none of it is touched (what an
    # earlier run left in a reused data directory may be old enough to go: no global count here).
    now = datetime.now(UTC)
    await _sweep(settings, now)
    assert all([await _exists(store, key) for key in [*orphans, *named]])
    assert unfinished in await incomplete_uploads(settings, "offers/")

    # Past the grace period: the orphans and the unfinished upload go; the named object stays.
    later = now + timedelta(minutes=settings.orphan_grace_minutes, seconds=60)
    report = await _sweep(settings, later)
    # (The bucket is shared by the session's tests: earlier tests' objects are orphans by now too.)
    assert report["deleted"] >= len(orphans) and report["aborted_uploads"] >= 1
    assert report["examined"] == report["deleted"] + len(named)
    assert [key for key in orphans if await _exists(store, key)] == []
    assert all([await _exists(store, key) for key in named])
    assert unfinished not in await incomplete_uploads(settings, "offers/")
    assert lookups and max(lookups) <= 3
    assert len(lookups) < report["examined"]


def test_every_column_naming_an_object_is_consulted_and_the_sweep_is_scheduled() -> None:
    """A table added later with an `object_key` must be known to the sweeper, or its objects would go."""
    naming = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if c.name == "object_key"}
    consulted = {(c.class_.__tablename__, c.key) for c in sweeper.key_columns()}
    assert naming == consulted == {("offer_attachment", "object_key"), ("contract_document", "object_key"),
                                   ("dps_document", "object_key"), ("admission_document", "object_key"),
                                   ("contract_signature", "object_key"), ("funding_decision", "object_key"),
                                   ("tranche_request", "object_key"),
                                   ("clarification_attachment", "object_key"),
                                   ("abnormally_low_procedure", "object_key"), ("sons_document", "object_key")}
    assert sweep_orphan_objects in {job.coroutine for job in CRON_JOBS}
    # Found, not listed: every class of the app that uses a stored-file mixin, and nothing else.
    users = {m.class_ for m in orm_registry.mappers if issubclass(m.class_, NamesStoredObject)}
    assert {c.class_ for c in sweeper.key_columns()} == users and len(users) == len(naming)


def test_a_table_using_a_stored_file_mixin_is_swept_without_being_listed_anywhere() -> None:
    """The sweeper's keys come from the mixins (lib/stored.py): a new table of files needs no line in it."""

    class Base(DeclarativeBase):  # a registry of its own: the app's tables are left as they are
        pass

    class Invoice(StoredFile, Base):
        __tablename__ = "invoice"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Scan(StoredObject, Base):
        __tablename__ = "scan"
        object_key_length = 500
        id: Mapped[int] = mapped_column(primary_key=True)

    class Report(OptionalStoredObject, Base):
        __tablename__ = "report"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Note(Base):  # names no object
        __tablename__ = "note"
        id: Mapped[int] = mapped_column(primary_key=True)
        object_key: Mapped[str]

    assert [(c.class_, c.key) for c in sweeper.key_columns(Base.registry)] == [
        (Invoice, "object_key"), (Report, "object_key"), (Scan, "object_key")]
    assert Scan.__table__.c.object_key.type.length == 500 and Report.__table__.c.object_key.nullable


async def test_a_grace_of_zero_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="grace"):
        await sweeper.OrphanSweeper(None, make_store(settings), FrozenClock(datetime.now(UTC))).sweep(  # type: ignore[arg-type]
            timedelta(0))


@pytest.mark.usefixtures("cpv")
async def test_a_presigned_upload_never_completed_is_swept_with_its_object(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """Issue 6: "an attachment whose upload never completes is swept away later"."""
    contract = await open_contract(client, world, clock)
    headers = world["vendor_admin"].headers
    offer = expect(await client.post(f"/specific-contracts/{contract['id']}/offers", headers=headers), 201)
    expect(await client.put(f"/offers/{offer['id']}/parts", headers=headers, json=PARTS), 200)
    content = minimal_pdf("jamais terminé")
    upload = expect(await client.post(f"/offers/{offer['id']}/uploads", headers=headers, json={
        "filename": "abandon.pdf", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}), 201)
    async with httpx.AsyncClient(timeout=30) as s3:
        assert (await s3.put(upload["url"], content=content, headers=upload["headers"])).status_code == 200
    key = (await fetch(settings, "SELECT object_key FROM offer_attachment"))[0]["object_key"]
    # While its URL may still be used (business time: the tests' clock) nothing goes; two hours later, by
    # the clocks of the database and of the storage server alike, the row and its object do.
    assert (await _sweep(settings, clock.now()))["abandoned_uploads"] == 0
    report = await _sweep(settings, datetime.now(UTC) + timedelta(hours=2))
    assert report["abandoned_uploads"] == 1 and report["deleted"] >= 1
    assert await fetch(settings, "SELECT id FROM offer_attachment") == []
    assert not await _exists(make_store(settings), key)
