"""Amendments before the tender deadline: documents (versioned) and deadline extensions, never a shorter
deadline; every invitee told, every change audited with its old and new values (machine (c))."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import (
    Client,
    audit_actions,
    bucket_keys,
    categories_by_pair,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")


async def _open_contract(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """A contract open until 2026-02-17 09:00 Paris time, with two vendors invited and a third not."""
    dps = await open_dps(client, world, clock)
    categories = categories_by_pair(dps)
    await admit(client, world, world["vendor_admin"], categories["grand_age", "saas"])
    await admit(client, world, world["other_vendor_admin"], categories["grand_age", "saas"])
    await admit(client, world, world["third_vendor_admin"], categories["grand_age", "hosted"])
    need = await submitted_need(client, world)
    return dict(expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201))


async def _told(settings: Settings, contract_id: str) -> list[tuple[str, str]]:
    rows = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE kind = 'tender.amended' "
                                 "AND about_id = $1 ORDER BY created_at, recipient_email",
                       uuid.UUID(contract_id))
    return [(r["recipient_email"], r["body"]) for r in rows]


async def test_the_deadline_is_only_extended_before_it_passes_and_every_invitee_is_told(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await _open_contract(client, world, clock)
    url = f"/specific-contracts/{contract['id']}/deadline"
    old_deadline = contract["tenderDeadline"]

    async def extend(deadline: str, person: str = "buyer_admin") -> httpx.Response:
        return await client.post(url, headers=world[person].headers,
                                 json={"tenderDeadline": deadline, "reason": "Précisions du cahier des charges"})

    # Only the buying organisation's admin.
    assert (await extend("2026-02-24T12:00:00", "buyer_evaluator")).status_code == 403
    assert (await extend("2026-02-24T12:00:00", "vendor_admin")).status_code == 403
    assert (await extend("2026-02-24T12:00:00", "other_buyer_admin")).status_code == 404
    # Never shortened nor kept; a Paris time that doesn't exist is refused too.
    for refused in ("2026-02-16T09:00:00", "2026-02-17T09:00:00", "2026-03-29T02:30:00"):
        problem = expect(await extend(refused), 422)
        assert problem["field"] == "tenderDeadline", problem
    assert await _told(settings, contract["id"]) == []

    extended = expect(await extend("2026-02-24T12:00:00"), 200)
    assert extended["tenderDeadlineParis"] == "24/02/2026 12:00 (heure de Paris, UTC+1)"
    assert datetime.fromisoformat(extended["tenderDeadline"]) == datetime(2026, 2, 24, 11, 0, tzinfo=UTC)
    # Questions closed by default four days before the deadline: they follow it.
    assert datetime.fromisoformat(extended["questionsCloseAt"]) == datetime(2026, 2, 20, 11, 0, tzinfo=UTC)

    # Both invitees' admins are told, with the old and the new date; the uninvited vendor is not.
    told = await _told(settings, contract["id"])
    assert sorted(email for email, _ in told) == sorted([world["vendor_admin"].email,
                                                         world["other_vendor_admin"].email])
    assert all("24/02/2026 12:00" in body and "17/02/2026 09:00" in body for _, body in told)
    assert all("Précisions du cahier des charges" in body for _, body in told)

    # The record: visible to the invitees, with old and new values; the audit has them too.
    amendments = expect(await client.get(f"/specific-contracts/{contract['id']}/amendments",
                                         headers=world["vendor_member"].headers), 200)
    assert [(a["kind"], a["oldValue"]["tenderDeadline"], a["newValue"]["tenderDeadline"]) for a in amendments] == [
        ("deadline", datetime.fromisoformat(old_deadline).isoformat(), "2026-02-24T11:00:00+00:00")]
    assert (await client.get(f"/specific-contracts/{contract['id']}/amendments",
                             headers=world["third_vendor_admin"].headers)).status_code == 404
    assert await audit_actions(settings, contract["id"]) == ["specific_contract.published",
                                                             "specific_contract.amended.deadline"]
    details = json.loads((await fetch(settings, "SELECT details FROM audit_event WHERE action = "
                                                "'specific_contract.amended.deadline'"))[0]["details"])
    assert details["old"]["tenderDeadline"] == datetime.fromisoformat(old_deadline).isoformat()
    assert details["new"]["tenderDeadline"] == "2026-02-24T11:00:00+00:00"
    assert details["notified"] == 2

    # At the deadline exactly, nothing changes any more.
    clock.set(datetime(2026, 2, 24, 11, 0, tzinfo=UTC))
    assert expect(await extend("2026-03-10T12:00:00"), 409)["field"] == "tenderDeadline"


async def test_documents_are_versioned_told_to_the_invitees_and_closed_at_the_deadline(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await _open_contract(client, world, clock)
    path = f"/specific-contracts/{contract['id']}/documents"
    buyer = {**world["buyer_admin"].headers, "content-type": "application/pdf"}

    async def put(content: bytes, title: str, filename: str, **params: str) -> httpx.Response:
        return await client.put(path, params={"title": title, "filename": filename,
                                              "reason": "Mise à jour", **params}, content=content, headers=buyer)

    cctp = minimal_pdf("CCTP v1")
    first = expect(await put(cctp, "CCTP", "CCTP v1.pdf"), 201)
    assert first["sha256"] == hashlib.sha256(cctp).hexdigest() and first["current"]
    cctp2 = minimal_pdf("CCTP v2")
    second = expect(await put(cctp2, "CCTP", "CCTP v2.pdf", replaces=first["id"]), 201)
    assert second["replacesId"] == first["id"]

    # The invitees see both versions, the old one marked as replaced, and so does the need's holder (its own
    # contract's notice, HC3); anyone else sees nothing.
    listed = expect(await client.get(path, headers=world["vendor_member"].headers), 200)
    assert [(d["filename"], d["current"]) for d in listed] == [("CCTP v1.pdf", False), ("CCTP v2.pdf", True)]
    assert expect(await client.get(path, headers=world["holder_admin"].headers), 200) == listed
    for person in ("third_vendor_admin", "other_buyer_admin", "other_holder_admin"):
        assert (await client.get(path, headers=world[person].headers)).status_code in (403, 404)
    redirect = await client.get(listed[0]["downloadPath"], headers=world["other_vendor_admin"].headers,
                                follow_redirects=False)
    assert redirect.status_code == 307
    async with httpx.AsyncClient() as s3:
        downloaded = await s3.get(redirect.headers["location"])
    assert hashlib.sha256(downloaded.content).hexdigest() == first["sha256"]
    assert (await client.get(listed[0]["downloadPath"], headers=world["third_vendor_admin"].headers,
                             follow_redirects=False)).status_code == 404

    # Two amendments, each told to both invitees; the second names the version it replaces.
    amendments = expect(await client.get(f"/specific-contracts/{contract['id']}/amendments",
                                         headers=world["buyer_evaluator"].headers), 200)
    assert [a["kind"] for a in amendments] == ["document", "document"]
    assert amendments[0]["oldValue"] is None
    assert amendments[1]["oldValue"]["sha256"] == first["sha256"]
    assert amendments[1]["newValue"]["sha256"] == second["sha256"]
    told = await _told(settings, contract["id"])
    assert len(told) == 4 and sum("est remplacé par" in body for _, body in told) == 2

    # Refusals: a version of another contract's document, a PNG sent as a PDF; nothing is kept of them.
    before = await bucket_keys(settings, "contracts/")
    assert expect(await put(minimal_pdf("x"), "CCTP", "x.pdf", replaces=str(contract["id"])), 422)["field"] == \
        "replaces"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    assert (await put(png, "Plan", "plan.pdf")).status_code == 415
    assert await bucket_keys(settings, "contracts/") == before
    assert len(await _told(settings, contract["id"])) == 4

    # After the deadline, documents are closed too (the ones published stay readable).
    clock.set(datetime(2026, 2, 17, 8, 0, tzinfo=UTC) + timedelta(microseconds=1))
    assert (await put(minimal_pdf("late"), "Annexe", "annexe.pdf")).status_code == 409
    assert len(expect(await client.get(path, headers=world["vendor_member"].headers), 200)) == 2


async def test_a_consultation_documents_name_is_kept_in_a_safe_form(client: Client, world: World,
                                                                    clock: FrozenClock) -> None:
    """As for DPS, admission and offer files: the name comes in X-Filename (or the older `filename` query) and
    what is kept is one printable path component."""
    contract = await _open_contract(client, world, clock)
    path = f"/specific-contracts/{contract['id']}/documents"
    buyer = {**world["buyer_admin"].headers, "content-type": "application/pdf"}
    params = {"title": "CCTP", "reason": "Mise à jour"}
    by_header = expect(await client.put(path, params=params, content=minimal_pdf("CCTP"),
                                        headers={**buyer, "x-filename": quote("../../CCTP\u202efdp.exe")}), 201)
    assert by_header["filename"] == "CCTPfdp.exe"
    by_query = expect(await client.put(path, params={**params, "filename": "C:\\Dossier\\CCTP.pdf"},
                                       content=minimal_pdf("CCTP 2"), headers=buyer), 201)
    assert by_query["filename"] == "CCTP.pdf"
    nameless = expect(await client.put(path, params=params, content=minimal_pdf("CCTP 3"), headers=buyer), 422)
    assert nameless["field"] == "X-Filename"
