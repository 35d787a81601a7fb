"""Helpers for the DPS and admission tests: bodies, a real minimal PDF, and calls through the API."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from minio import Minio

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import FrozenClock
from marketplace.lib.working_days import earliest_franc_deadline
from marketplace.settings import Settings
from marketplace.vendors.dps import INITIAL_WINDOW_DAYS
from marketplace.worker import worker_options
from tests.world import Person, World

Client = AsyncTestClient[Litestar]

SECTORS = ("grand_age", "handicap")
MODES = ("saas", "on_premise", "hosted")
KB = 1024
# Every category asks for the same two PDFs; the insurance certificate has an end of validity.
DOCUMENT_RULES = [
    {"kind": "kbis", "label": "Extrait Kbis de moins de trois mois", "maxBytes": 64 * KB,
     "contentTypes": ["application/pdf"]},
    {"kind": "insurance", "label": "Attestation d'assurance responsabilité civile professionnelle",
     "maxBytes": 64 * KB, "contentTypes": ["application/pdf"], "hasExpiry": True},
]
VALID_UNTIL = "2027-06-30"
# Self-declaration values that must never leave the vendor–buyer relationship (the register is public).
SECRET_REPRESENTATIVE = "Hortense Confidentielle-Dumas"
SECRET_TURNOVER = 7_654_321


def minimal_pdf(label: str, size: int | None = None) -> bytes:
    """A real one-page PDF (header, objects, cross-reference table, trailer): `label` makes it unique.

    With `size`, a comment before the cross-reference table pads it to exactly that many bytes.
    """
    def build(filler: int) -> bytes:
        objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, obj in enumerate(objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
        out += b"% " + label.encode() + b"\n"
        if filler:
            out += b"%" + b"x" * filler + b"\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
        return bytes(out)

    pdf = build(0)
    if size is not None:
        filler = size - len(pdf) - 2
        while filler > 0 and len(pdf := build(filler)) != size:
            filler += size - len(pdf)  # the offset in `startxref` may have gained a digit
        assert len(pdf) == size, f"no PDF of {size} bytes"
    return pdf


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dps_body(now: datetime, *, sectors: tuple[str, ...] = SECTORS, modes: tuple[str, ...] = MODES,
             title: str = "SAD ESMS numérique — dossier usager informatisé",
             conduct_mode: str = "centralised") -> dict[str, Any]:
    """Six categories by default (2 sectors × 3 delivery modes, §6), each asking for DOCUMENT_RULES."""
    return {
        "title": title,
        "description": "Acquisition de solutions de dossier usager informatisé pour les ESSMS.",
        "validityStart": now.isoformat(), "validityEnd": (now + timedelta(days=4 * 365)).isoformat(),
        "usableByOtherBuyers": True,
        # HC1: by default the central purchasing body runs the procedures (HC3), as every test before the holder
        # bought its own did; the intermediation tests (HC2) say so explicitly.
        "conductMode": conduct_mode,
        "awardCriteria": [{"name": "Prix", "weightMin": 20, "weightMax": 50},
                          {"name": "Valeur technique", "weightMin": 50, "weightMax": 80}],
        "categories": [{"sector": sector, "deliveryMode": mode, "title": f"DUI {sector} en {mode}",
                        "selectionCriteria": "Capacités techniques et professionnelles ; références.",
                        "requiredDocuments": DOCUMENT_RULES}
                       for sector in sectors for mode in modes],
    }


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json() if response.content else None


async def create_dps(client: Client, world: World, clock: FrozenClock, **options: Any) -> dict[str, Any]:
    return expect(await client.post("/dps", headers=world["buyer_admin"].headers,
                                    json=dps_body(clock.now(), **options)), 201)


def initial_window(clock: FrozenClock) -> timedelta:
    """D4: 30 full days after the day of sending (a délai franc). 31 days from the hour of sending cover them,
    except from the first hour of a Paris day with an autumn clock change inside the window (sent 7 October
    00:20, the limit is 7 November 00:00, 31 days + 1 h later): never less than the rule's own limit."""
    now = clock.now()
    return max(timedelta(days=31), earliest_franc_deadline(now, INITIAL_WINDOW_DAYS) - now)


def initial_window_end(now: datetime, slack: timedelta = timedelta(minutes=1)) -> datetime:
    """The earliest initialWindowEnd D4 allows for a notice the server sends up to `slack` after `now`.

    For tests on the real clock (or a sandbox's, which runs ahead of it): `now + 31 days` fails when the server's
    Paris day has turned between the test's reading and the request (a sandbox at a day per second crosses
    midnight in a twentieth of a second), and from the first hour of a day with an autumn clock change inside
    the window. The limit only grows with the sending instant, so the latest sending instant gives one that holds.
    """
    return earliest_franc_deadline(now + slack, INITIAL_WINDOW_DAYS)


async def publish(client: Client, world: World, clock: FrozenClock, dps_id: str,
                  window: timedelta | None = None) -> httpx.Response:
    window = initial_window(clock) if window is None else window
    return await client.post(f"/dps/{dps_id}/publish", headers=world["buyer_admin"].headers,
                             json={"initialWindowEnd": (clock.now() + window).isoformat()})


async def open_dps(client: Client, world: World, clock: FrozenClock, **options: Any) -> dict[str, Any]:
    """Created, published, and active once its initial window is over (the clock moves past it)."""
    dps = await create_dps(client, world, clock, **options)
    window = initial_window(clock)
    expect(await publish(client, world, clock, dps["id"], window), 200)
    clock.advance(max(timedelta(days=31), window + timedelta(minutes=1)))
    return expect(await client.post(f"/dps/{dps['id']}/activate", headers=world["buyer_admin"].headers), 200)


def categories_by_pair(dps: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["sector"], c["deliveryMode"]): c["id"] for c in dps["categories"]}


def admission_body(category_id: str, software: str = "Dossier Usager Plus", version: str = "4.2") -> dict[str, Any]:
    return {"categoryId": category_id,
            "selfDeclaration": {"noExclusionGrounds": True, "taxAndSocialObligationsMet": True,
                                "legalRepresentative": SECRET_REPRESENTATIVE, "annualTurnoverEur": SECRET_TURNOVER,
                                "staffCount": 37, "references": ["EHPAD Les Jardins (2024)"]},
            "referencedSoftware": {"referencingId": f"SEGUR-{software[:3].upper()}-{version}",
                                   "software": software, "version": version, "dispositif": "DUI-ESMS"}}


async def apply(client: Client, person: Person, category_id: str, **software: str) -> dict[str, Any]:
    return expect(await client.post("/admission-requests", headers=person.headers,
                                    json=admission_body(category_id, **software)), 201)


async def upload(client: Client, person: Person, request_id: str, kind: str, content: Any, *,
                 content_type: str = "application/pdf", filename: str | None = None,
                 valid_until: str | None = VALID_UNTIL, headers: dict[str, str] | None = None) -> httpx.Response:
    params = {"filename": filename or f"{kind}.pdf"}
    if valid_until:
        params["validUntil"] = valid_until
    return await client.put(f"/admission-requests/{request_id}/documents/{kind}", params=params, content=content,
                            headers={**person.headers, "content-type": content_type, **(headers or {})})


async def upload_all(client: Client, person: Person, request_id: str, label: str,
                     kinds: tuple[str, ...] = ("kbis", "insurance")) -> dict[str, bytes]:
    """Upload each kind's PDF; returns what was sent, by kind."""
    sent = {}
    for kind in kinds:
        sent[kind] = minimal_pdf(f"{label} {kind}")
        document = expect(await upload(client, person, request_id, kind, sent[kind]), 201)
        assert document["sha256"] == sha256(sent[kind])
        assert document["size"] == len(sent[kind])
    return sent


# -- looking behind the API ------------------------------------------------------------------------


def _minio(settings: Settings) -> Minio:
    url = urlsplit(settings.s3_endpoint)
    return Minio(endpoint=url.netloc, access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                 secure=url.scheme == "https", region=settings.s3_region)


async def bucket_keys(settings: Settings, prefix: str = "admissions/") -> set[str]:
    """Every object under `prefix` in the product's bucket, multipart uploads in progress aside."""
    def listing() -> set[str]:
        return {str(o.object_name) for o in _minio(settings).list_objects(
            bucket_name=settings.s3_bucket, prefix=prefix, recursive=True)}

    return await asyncio.to_thread(listing)


async def incomplete_uploads(settings: Settings, prefix: str = "admissions/") -> list[str]:
    """Multipart uploads left open (an aborted upload must not linger either)."""
    def listing() -> list[str]:
        client = _minio(settings)
        result = client._list_multipart_uploads(bucket_name=settings.s3_bucket, prefix=prefix)
        return [str(u.object_name) for u in result.uploads]

    return await asyncio.to_thread(listing)


async def fetch(settings: Settings, query: str, *args: Any) -> list[asyncpg.Record]:
    """As the database owner (the audit log and notifications are read behind the API)."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def audit_actions(settings: Settings, target_id: str) -> list[str]:
    rows = await fetch(settings, "SELECT action FROM audit_event WHERE target_id = $1 ORDER BY id", target_id)
    return [r["action"] for r in rows]


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_worker(settings: Settings) -> None:
    """Wait for the app's relay to hand every job to Redis, then run the real worker until the queue is empty."""
    from arq.worker import Worker

    async def relayed() -> bool:
        rows = await fetch(settings, "SELECT count(*) AS n FROM job_intent WHERE status = 'pending'")
        return rows[0]["n"] == 0

    await wait_for(relayed, 15, "the relay to hand the jobs to arq")
    # Without the crons: a DPS timer falling due during the run, on the real clock, would alert about the tests'
    # DPS of another date and add mail nobody asked for.
    worker = Worker(**worker_options(settings, burst=True, poll_delay=0.05, handle_signals=False, cron_jobs=[]))
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def deliver_notifications(settings: Settings) -> None:
    """Run the real worker over every queued job, then wait until no notification is left to mail."""
    await run_worker(settings)

    async def sent() -> bool:
        rows = await fetch(settings, "SELECT count(*) AS n FROM notification WHERE email_status = 'pending'")
        return rows[0]["n"] == 0

    await wait_for(sent, 5, "every notification to be e-mailed")


async def streamed_upload(client: Client, person: Person, request_id: str, kind: str,
                          chunks: Callable[[], AsyncIterator[bytes]], *,
                          content_type: str = "application/pdf") -> httpx.Response:
    """Upload with chunked transfer (no Content-Length), the body produced piece by piece.

    The test client reads a request body whole, so this goes through httpx's ASGI transport instead, run
    in the app's own event loop (the test client's portal), where the app's connections live.
    """
    app = client.app

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as raw:
            return await raw.put(f"/admission-requests/{request_id}/documents/{kind}",
                                 params={"filename": f"{kind}.pdf", "validUntil": VALID_UNTIL}, content=chunks(),
                                 headers={**person.headers, "content-type": content_type})

    response = await asyncio.to_thread(client.blocking_portal.call, send)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    return response
