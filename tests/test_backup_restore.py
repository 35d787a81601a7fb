"""Backup and point-in-time restore (G18): offers acknowledged before the chosen instant are all in the restored
database with their receipts, none after it; the objects the restored rows name are all in the store, as copied.

The test session's cluster is non-durable and archives nothing; this test starts its own durable cluster with
WAL archiving, as `marketplace dev` does, in the test's directory (as tests/test_degraded.py starts its own S3).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import create_app, make_store
from marketplace.backups import check_objects, flush_archive, mirror_objects, named_objects, stop_cluster
from marketplace.cli import main
from marketplace.devstack.postgres import EmbeddedPostgres
from marketplace.lib.clock import FrozenClock, system_clock
from marketplace.lib.migrate import upgrade
from marketplace.reference.cpv import import_cpv
from marketplace.settings import Settings
from marketplace.tenders.models import Offer
from tests.conftest import CPV_SAMPLE, report_figure
from tests.tenders.test_offers import open_contract, prepared_offer, submit
from tests.vendors.api import expect, minimal_pdf
from tests.vendors.conftest import START
from tests.world import World, build_world


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory of the test's own outside pytest's tmp_path: under root the clusters run as an unprivileged user
    that must traverse it, and pytest closes its per-user root (0700) again whenever a session starts."""
    path = Path(tempfile.mkdtemp(prefix="marketplace-backup-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_cluster(workdir: Path) -> Iterator[EmbeddedPostgres]:
    """A durable cluster archiving its WAL into workdir/backups/wal, like `marketplace dev`'s."""
    pg = EmbeddedPostgres(workdir / "source", archive_dir=workdir / "backups" / "wal")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


def _env(settings: Settings, pg: EmbeddedPostgres) -> dict[str, str]:
    return {"MARKETPLACE_DATABASE_URL": pg.app_url, "MARKETPLACE_MIGRATION_DATABASE_URL": pg.url,
            "MARKETPLACE_S3_ENDPOINT": settings.s3_endpoint, "MARKETPLACE_S3_ACCESS_KEY": settings.s3_access_key,
            "MARKETPLACE_S3_SECRET_KEY": settings.s3_secret_key, "MARKETPLACE_S3_BUCKET": settings.s3_bucket,
            "MARKETPLACE_S3_REGION": settings.s3_region}


async def _cli(args: list[str], env: dict[str, str]) -> str:
    # The commands run their own event loop: in a thread, beside the test's.
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


async def _acknowledged(client: Any, world: World, contract_id: str, person: str, *,
                        presigned: bool = False) -> dict[str, Any]:
    """An offer prepared and submitted by `person`: the signed receipt the platform answered with. With
    `presigned`, a second file goes straight to the store (SSE-C, with a key the platform doesn't keep)."""
    offer = await prepared_offer(client, world, contract_id, person,
                                 files={"offre.pdf": minimal_pdf(f"offre {person} {time.monotonic_ns()}")})
    if presigned:
        headers = world[person].headers
        content = minimal_pdf(f"annexe {person} {time.monotonic_ns()}")
        upload = expect(await client.post(f"/offers/{offer['id']}/uploads", headers=headers, json={
            "filename": "Annexe.pdf", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}), 201)
        async with httpx.AsyncClient(timeout=60) as s3:
            assert (await s3.put(upload["url"], content=content, headers=upload["headers"])).status_code == 200
        expect(await client.post(upload["completePath"], headers=headers,
                                 json={"key": upload["headers"]["x-amz-server-side-encryption-customer-key"]}), 200)
    return dict(expect(await submit(client, world, offer["id"], person), 200))


async def _offers(url: str) -> dict[str, Offer]:
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            return {str(o.id): o for o in (await session.scalars(select(Offer))).all()}
    finally:
        await engine.dispose()


async def test_restore_to_an_instant_keeps_every_offer_acknowledged_before_it_and_none_after(
        settings: Settings, own_cluster: EmbeddedPostgres, workdir: Path) -> None:
    pg, backups = own_cluster, workdir / "backups"
    await asyncio.to_thread(upgrade, pg.url)
    own = settings.with_(database_url=pg.app_url, migration_database_url=pg.url)
    engine = create_async_engine(pg.url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await import_cpv(session, system_clock, CPV_SAMPLE, "cpv-2008-sample")
        await session.commit()
    await engine.dispose()
    world = await build_world(own)
    clock = FrozenClock(START)
    store = make_store(own)

    async with AsyncTestClient(app=create_app(own, clock=clock)) as client:
        contract = await open_contract(client, world, clock)
        # The nightly base backup, through the command an operator runs (the cluster archives on its own).
        output = await _cli(["backup", "--dir", str(backups)], _env(settings, pg))
        assert "WAL archived continuously" in output, output

        before = [await _acknowledged(client, world, contract["id"], "vendor_admin"),
                  await _acknowledged(client, world, contract["id"], "other_vendor_admin", presigned=True)]
        # T: after every acknowledgement above returned (each one committed), before any write below.
        await asyncio.sleep(0.3)
        instant = datetime.now(UTC)
        await asyncio.sleep(0.3)
        # After T: each vendor sends a new version, which supersedes its first.
        after = [await _acknowledged(client, world, contract["id"], p) for p in ("vendor_admin", "other_vendor_admin")]
        assert all(r["receipt"]["version"] == 2 for r in after)

        engine = create_async_engine(pg.url)
        async with async_sessionmaker(engine)() as session:
            copied = await mirror_objects(session, store, backups)
        await engine.dispose()
        # Every object named then, the four streamed offer files among them (the DPS's and admissions' documents
        # too); the presigned one is reported apart: nobody without its vendor's key can read it.
        assert copied.ok and copied.copied >= 4 and len(copied.vendor_keyed) == 1, copied
        # Everything committed so far is in the archive (archive_timeout would do it within a minute).
        await asyncio.to_thread(flush_archive, pg.url)

    live = await _offers(pg.url)
    assert {live[r["receipt"]["offer"]].status for r in before} == {"superseded"}

    # The restore, as the operator runs it, to a fresh cluster at T.
    restored_dir = workdir / "restored"
    began = time.monotonic()
    output = await _cli(["restore", "--to", str(restored_dir), "--at", instant.isoformat(), "--dir", str(backups)],
                        _env(settings, pg))
    restore_seconds = time.monotonic() - began
    # G18's bar: a restore to a fresh cluster within 15 minutes (this database is small: seconds).
    assert restore_seconds < 15 * 60
    report_figure(f"G18 restore to an instant (base backup + WAL replay, objects checked): {restore_seconds:.1f} s")
    url = next(line.split("=", 1)[1] for line in output.splitlines() if "MIGRATION_DATABASE_URL=" in line)
    try:
        restored = await _offers(url)
        # Reconciliation: every offer acknowledged before T, with its receipt as acknowledged; 0 lost.
        lost = [r["receipt"]["offer"] for r in before if r["receipt"]["offer"] not in restored]
        assert lost == []
        for receipt in before:
            offer = restored[receipt["receipt"]["offer"]]
            assert offer.status == "submitted"
            assert offer.manifest_sha256 == receipt["receipt"]["manifestSha256"]
            assert offer.receipt_signature == receipt["signature"]
            assert offer.received_at == datetime.fromisoformat(receipt["receipt"]["receivedEnd"])
        # None acknowledged after T.
        assert [r["receipt"]["offer"] for r in after if r["receipt"]["offer"] in restored] == []

        # The application runs on the restored database and hands each vendor the same receipt.
        restored_settings = own.with_(database_url=url.replace("postgres@", "marketplace_app@"),
                                      migration_database_url=url)
        async with AsyncTestClient(app=create_app(restored_settings, clock=clock)) as client:
            for receipt, person in zip(before, ("vendor_admin", "other_vendor_admin"), strict=True):
                again = expect(await client.get(f"/offers/{receipt['receipt']['offer']}/receipt",
                                                headers=world[person].headers), 200)
                assert again == receipt

        # The objects: every one the restored rows name is in the store, the bytes the backup copied.
        engine = create_async_engine(url)
        async with async_sessionmaker(engine)() as session:
            named = await named_objects(session)
            # One sealed file per offer acknowledged before T, none of those after.
            offer_files = [o for o in named if o.table == "offer_attachment" and not o.vendor_keyed]
            assert len(offer_files) == 2 and all(o.sealed_size for o in offer_files)
            checked = await check_objects(session, store, backups)
            assert checked.ok and checked.checked == len(named) and checked.restored == [], checked
            assert checked.vendor_keyed == copied.vendor_keyed
            # One lost from the store after T: put back from the copy, the same bytes.
            lost_key = offer_files[0].key
            original = await store.hash_object(lost_key)
            await store.delete(lost_key)
            assert not (await check_objects(session, store, backups)).ok
            repaired = await check_objects(session, store, backups, repair=True)
            assert repaired.ok and repaired.restored == [lost_key], repaired
            assert (await store.hash_object(lost_key)).sha256 == original.sha256
        await engine.dispose()
    finally:
        stop_cluster(restored_dir)
