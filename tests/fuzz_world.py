"""The objects the per-role fuzzing needs, made through the API before it starts, so that generated requests
reach the handlers behind the 401s and 404s: an active DPS with its categories, three admitted vendors, a
specific contract opened with three offers and its evaluation started (conflicts declared), a second one
still open for tenders, a clarification thread and a question.

`FuzzWorld.ids` maps each path parameter name of the OpenAPI document to real identifiers; the fuzz test
draws from them (tests/test_schemathesis.py), and from generated values for the rest.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import create_app
from marketplace.lib.clock import FrozenClock, SystemClock
from marketplace.reference.cpv import import_cpv
from marketplace.settings import Settings
from tests.awards.test_award import VENDORS, submitted_offers
from tests.conftest import CPV_SAMPLE
from tests.tenders.test_needs import create
from tests.tenders.test_offers import DEADLINE, open_offers
from tests.tenders.test_publication import publish
from tests.vendors.api import DOCUMENT_RULES, expect, fetch
from tests.vendors.conftest import START
from tests.world import FACILITIES, World, build_world

# Each path parameter name of the OpenAPI document → the tables whose rows it names.
ID_SOURCES = {
    "dps_id": ("dps",), "contract_id": ("specific_contract", "contract"), "offer_id": ("offer",),
    "need_id": ("need",), "thread_id": ("clarification_thread",), "question_id": ("contract_question",),
    "request_id": ("admission_request", "support_request"), "document_id": ("dps_document", "contract_document"),
    "attachment_id": ("offer_attachment", "clarification_attachment"), "reasons_request_id": ("reasons_request",),
    "key_id": ("api_key",), "organisation_id": ("organisation",), "user_id": ("user_account",),
    "call_id": ("funding_call",),
}


@dataclass
class FuzzWorld:
    world: World
    clock: FrozenClock
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, *values: object) -> None:
        self.ids.setdefault(name, []).extend(str(v) for v in values)


async def build_fuzz_world(settings: Settings) -> FuzzWorld:
    clock = FrozenClock(START)
    world = await build_world(settings)
    await _import_cpv(settings)
    fuzz = FuzzWorld(world, clock)
    app = create_app(settings, clock=clock, run_relay=False)
    async with AsyncTestClient(app=app) as client:
        # Contract A: three sealed offers, opened at the deadline, its evaluation started.
        cid, offers = await submitted_offers(client, world, clock)
        dps_id = (await fetch(settings, "SELECT id FROM dps"))[0]["id"]
        clock.set(DEADLINE)
        expect(await open_offers(client, world, cid), 200)
        admin = world["buyer_admin"].headers
        expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
        for person in ("buyer_admin", "buyer_evaluator"):
            expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations",
                                     headers=world[person].headers,
                                     json={"hasConflict": False, "statement": "Aucun lien."}), 201)
        thread = await client.post(f"/offers/{offers[VENDORS[0]]}/clarifications", headers=admin, json={
            "subject": "Reprise des dossiers", "body": "La reprise est-elle incluse ?",
            "answerDueAt": "2026-02-27T12:00:00"})
        # Contract B: the other OG's need, open for tenders a month more (vendors create offers in it).
        holder = world["other_holder_admin"].headers
        need = await create(client, world, "other_holder_admin",
                            facilities=[{"finessEt": FACILITIES["other_holder"][1], "equipmentBudgetCents": 0}])
        expect(await client.post(f"/needs/{need['id']}/submit", headers=holder), 200)
        deadline = (DEADLINE + timedelta(days=30)).strftime("%Y-%m-%dT10:00:00")
        open_cid = expect(await publish(client, world, need["id"], str(dps_id), deadline), 201)["id"]
        question = await client.post(f"/specific-contracts/{open_cid}/questions",
                                     headers=world["vendor_admin"].headers,
                                     json={"question": "Le paramétrage est-il compris ?"})
        expect(question, 201)
        expect(thread, 201)

    for name, tables in ID_SOURCES.items():
        for table in tables:
            fuzz.add(name, *(row["id"] for row in await fetch(settings, f'SELECT id FROM "{table}"')))
    fuzz.add("kind", *(rule["kind"] for rule in DOCUMENT_RULES))
    return fuzz


async def _import_cpv(settings: Settings) -> None:
    # The CPV codes the needs name (the `cpv` fixture of the tender tests, for a module-scoped world).
    engine = create_async_engine(settings.migration_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await import_cpv(session, SystemClock(), CPV_SAMPLE, "cpv-2008-sample")
            await session.commit()
    finally:
        await engine.dispose()


def _zip(entries: dict[str, bytes], first: tuple[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if first is not None:
            archive.writestr(zipfile.ZipInfo(first[0]), first[1])  # stored, as ODF wants its `mimetype`
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def office_file(media_type: str, payload: bytes) -> bytes:
    """A file whose first bytes the content sniffer recognises as `media_type` (uploads.py checks them)."""
    if media_type == "application/zip":
        return _zip({"piece.txt": payload})
    if media_type.startswith("application/vnd.openxmlformats"):
        part = "word/document.xml" if "wordprocessing" in media_type else "xl/workbook.xml"
        return _zip({"[Content_Types].xml": b"<Types/>", part: b"<x>" + payload.hex().encode() + b"</x>"})
    if media_type.startswith("application/vnd.oasis.opendocument"):
        return _zip({"content.xml": b"<x>" + payload.hex().encode() + b"</x>"}, ("mimetype", media_type.encode()))
    raise ValueError(media_type)


def unique_label() -> str:
    return uuid.uuid4().hex
