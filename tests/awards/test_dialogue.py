"""Clarifications on an opened offer through the API (issue 7, D13, domain.md §8 item 3): none before the
opening, nor on a superseded offer; the buying side asks one vendor, which answers with text and a PDF
before the due date and not after; the other vendor and another buying organisation get 404 and find the
thread in none of their answers; the offer's content and hashes stay exactly as opened; every message is
audited (hashes, never the text) and notified to the other side; the file survives the orphan sweeper;
after the award the dialogue is over."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from marketplace.app import make_store
from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock, format_paris
from marketplace.settings import Settings
from marketplace.sweeper import OrphanSweeper
from storage import ObjectNotFound, ObjectStore
from tests.awards.test_award import opened_contract, scores, submitted_offers
from tests.tenders.test_offers import DEADLINE, PARTS, open_offers, prepared_offer, submit
from tests.vendors.api import (
    Client,
    bucket_keys,
    deliver_notifications,
    expect,
    fetch,
    minimal_pdf,
)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
# Canaries: none may reach anyone but the buying side and the `vendor`, nor the audit log, nor a mail.
SUBJECT = "Périmètre de la reprise des données Zéphyrine"
QUESTION = "Votre prix couvre-t-il la reprise des dossiers papier du site Quetzalcoatl ?"
ANSWER = "Oui : reprise incluse, 1 200 dossiers, sans surcoût — réponse Ornithorynque."
FOLLOW_UP = "Précisez le calendrier de la reprise Vermillon."


async def submitted_contract(client: Client, world: World, clock: FrozenClock) -> tuple[str, dict[str, str], str]:
    """A contract with an offer of each of the three vendors, not opened yet; the third vendor submitted
    twice, so its first version is superseded (its id is returned too)."""
    cid, offers = await submitted_offers(client, world, clock)
    superseded = offers["third_vendor_admin"]
    offers["third_vendor_admin"] = (await prepared_offer(client, world, cid, "third_vendor_admin"))["id"]
    expect(await submit(client, world, offers["third_vendor_admin"], "third_vendor_admin"), 200)
    return cid, offers, superseded


def ask(due: datetime | str, subject: str = SUBJECT, body: str = QUESTION) -> dict[str, Any]:
    return {"subject": subject, "body": body, "answerDueAt": due if isinstance(due, str) else due.isoformat()}


async def upload(client: Client, world: World, thread_id: str, person: str, content: bytes, *,
                 name: str = "Précisions techniques.pdf", content_type: str = "application/pdf") -> httpx.Response:
    return await client.put(f"/clarifications/{thread_id}/attachments", content=content, headers={
        **world[person].headers, "content-type": content_type, "x-filename": quote(name)})


async def offer_rows(settings: Settings, offer_id: str) -> list[dict[str, Any]]:
    """The offer and its files exactly as stored: content, hashes, keys, status, update times."""
    offer = await fetch(settings, "SELECT * FROM offer WHERE id = $1", uuid.UUID(offer_id))
    files = await fetch(settings, "SELECT * FROM offer_attachment WHERE offer_id = $1 ORDER BY id", uuid.UUID(offer_id))
    return [dict(r) for r in [*offer, *files]]


async def _exists(store: ObjectStore, key: str) -> bool:
    try:
        await store.stat(key)
    except ObjectNotFound:
        return False
    return True


async def test_a_private_clarification_answered_on_time_never_changes_the_offer(
        client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink) -> None:
    cid, offers, superseded = await submitted_contract(client, world, clock)
    offer = offers["vendor_admin"]
    evaluator, admin = world["buyer_evaluator"].headers, world["buyer_admin"].headers

    # Before the deadline, and after it until the opening: nothing is discussed (D13), no thread exists.
    for moment in (clock.now(), DEADLINE):
        clock.set(moment)
        early = expect(await client.post(f"/offers/{offer}/clarifications", headers=evaluator,
                                         json=ask(moment + timedelta(days=3))), 409)
        assert early["rule"] == "D13" and early["field"] == "status"
        assert expect(await client.get(f"/offers/{offer}/clarifications", headers=evaluator), 409)["rule"] == "D13"
    expect(await open_offers(client, world, cid), 200)
    before = await offer_rows(settings, offer)
    listed_before = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=evaluator), 200)

    # Only about an opened offer, by the buying side, with a due date to come.
    stale = expect(await client.post(f"/offers/{superseded}/clarifications", headers=evaluator,
                                     json=ask(DEADLINE + timedelta(days=3))), 409)
    assert stale["field"] == "status" and "superseded" in stale["detail"]
    expect(await client.post(f"/offers/{offer}/clarifications", headers=world["vendor_admin"].headers,
                             json=ask(DEADLINE + timedelta(days=3))), 403)
    expect(await client.post(f"/offers/{offer}/clarifications", headers=world["other_buyer_admin"].headers,
                             json=ask(DEADLINE + timedelta(days=3))), 404)
    past = expect(await client.post(f"/offers/{offer}/clarifications", headers=evaluator, json=ask(DEADLINE)), 422)
    assert past["field"] == "answerDueAt"
    # A Paris wall-clock time: 20/02/2026 12:00 in Paris is 11:00 UTC.
    opened = await client.post(f"/offers/{offer}/clarifications", headers=evaluator, json=ask("2026-02-20T12:00:00"))
    thread = expect(opened, 201)
    tid = thread["id"]
    due = datetime(2026, 2, 20, 11, 0, tzinfo=UTC)
    assert opened.headers["location"] == f"/clarifications/{tid}"
    assert (thread["offerId"], thread["status"], datetime.fromisoformat(thread["answerDueAt"])) == (offer, "open", due)
    assert [(m["side"], m["body"]) for m in thread["messages"]] == [("buyer", QUESTION)]

    # The vendor reads it (any member) and answers (its admin or bid manager), with text and a PDF.
    mine = expect(await client.get(f"/offers/{offer}/clarifications", headers=world["vendor_member"].headers), 200)
    assert [t["id"] for t in mine] == [tid]
    expect(await client.post(f"/clarifications/{tid}/messages", headers=world["vendor_member"].headers,
                             json={"body": ANSWER}), 403)
    moved = expect(await client.post(f"/clarifications/{tid}/messages", headers=world["vendor_admin"].headers,
                                     json={"body": ANSWER, "answerDueAt": "2026-03-01T12:00:00"}), 422)
    assert moved["field"] == "answerDueAt"
    clock.advance(timedelta(hours=1))
    answered = expect(await client.post(f"/clarifications/{tid}/messages", headers=world["vendor_admin"].headers,
                                        json={"body": ANSWER}), 201)
    assert [(m["side"], m["body"]) for m in answered["messages"]] == [("buyer", QUESTION), ("vendor", ANSWER)]
    refused = expect(await upload(client, world, tid, "vendor_admin", b"pas un pdf", content_type="text/plain"), 415)
    assert refused["field"] == "Content-Type"
    pdf = minimal_pdf("précisions du soumissionnaire")
    with_file = expect(await upload(client, world, tid, "vendor_admin", pdf), 201)
    sent = with_file["messages"][-1]
    assert sent["side"] == "vendor" and sent["body"] is None
    file = sent["attachment"]
    assert (file["filename"], file["size"], file["sha256"], file["contentType"]) == (
        "Précisions techniques.pdf", len(pdf), hashlib.sha256(pdf).hexdigest(), "application/pdf")

    # Both sides download it, as an attachment under its name (RFC 6266), from a short-lived link.
    for person in ("buyer_evaluator", "vendor_member"):
        redirect = await client.get(file["downloadPath"], headers=world[person].headers, follow_redirects=False)
        assert redirect.status_code == 307
        async with httpx.AsyncClient(timeout=30) as s3:
            downloaded = await s3.get(redirect.headers["location"])
        assert downloaded.content == pdf
        disposition = downloaded.headers["content-disposition"]
        assert disposition.startswith("attachment") and "filename*=UTF-8''Pr%C3%A9cisions" in disposition

    # The other vendor and another buying organisation: 404 everywhere, and the thread in none of their answers.
    outsiders = {"other_vendor_admin": world["other_vendor_admin"].headers,
                 "other_buyer_admin": world["other_buyer_admin"].headers}
    seen: list[str] = []
    for person, headers in outsiders.items():
        for response in (
                await client.get(f"/offers/{offer}/clarifications", headers=headers),
                await client.get(f"/clarifications/{tid}", headers=headers),
                await client.post(f"/clarifications/{tid}/messages", headers=headers, json={"body": "Moi aussi ?"}),
                await upload(client, world, tid, person, minimal_pdf("intrus")),
                await client.get(file["downloadPath"], headers=headers, follow_redirects=False)):
            assert response.status_code == 404, (person, response.request.url, response.text)
            # (The problem's `instance` echoes the path asked for, which holds the id: nothing else.)
            assert not [c for c in (SUBJECT, QUESTION, ANSWER) if c in response.text]
    expect(await client.post(f"/clarifications/{tid}/close", headers=outsiders["other_buyer_admin"]), 404)
    other_offer = offers["other_vendor_admin"]
    own = expect(await client.get(f"/offers/{other_offer}/clarifications", headers=outsiders["other_vendor_admin"]),
                 200)
    assert own == []
    for path in (f"/offers/{other_offer}", f"/specific-contracts/{cid}/my-offers", f"/specific-contracts/{cid}",
                 f"/specific-contracts/{cid}/questions", "/my/invitations", f"/specific-contracts/{cid}/my-evaluation"):
        seen.append((await client.get(path, headers=outsiders["other_vendor_admin"])).text)
    for path in (f"/specific-contracts/{cid}/offers", f"/specific-contracts/{cid}",
                 f"/specific-contracts/{cid}/ranking"):
        seen.append((await client.get(path, headers=outsiders["other_buyer_admin"])).text)
    # Their own views never mention the thread.
    for canary in (tid, SUBJECT, QUESTION, ANSWER, file["id"]):
        assert not [text for text in seen if canary in text], canary

    # The buying side sees the thread beside the offer in its list of opened offers; the others have none.
    listed = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=evaluator), 200)
    summaries = {o["id"]: o["clarifications"] for o in listed["offers"]}
    assert [(c["id"], c["subject"], c["status"], c["messages"], c["path"]) for c in summaries[offer]] == [
        (tid, SUBJECT, "open", 3, f"/clarifications/{tid}")]
    assert summaries[other_offer] == summaries[offers["third_vendor_admin"]] == []

    # A late answer is refused, naming the due date: at the due date exactly, as later; a file as well.
    clock.set(due)
    stored = await bucket_keys(settings, "clarifications/")
    for late in (await client.post(f"/clarifications/{tid}/messages", headers=world["vendor_admin"].headers,
                                   json={"body": "Trop tard ?"}),
                 await upload(client, world, tid, "vendor_admin", minimal_pdf("trop tard"))):
        body = expect(late, 409)
        assert body["field"] == "answerDueAt" and format_paris(due, seconds=True) in body["detail"]
        assert datetime.fromisoformat(body["answerDueAt"]) == due
    # The refused file left no object behind.
    assert await bucket_keys(settings, "clarifications/") == stored
    # The buying side asks again, during the evaluation, with a new due date; the vendor answers in time.
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    again = expect(await client.post(f"/clarifications/{tid}/messages", headers=evaluator, json={
        "body": FOLLOW_UP, "answerDueAt": (due + timedelta(days=2)).isoformat()}), 201)
    assert datetime.fromisoformat(again["answerDueAt"]) == due + timedelta(days=2)
    clock.advance(timedelta(days=1))
    expect(await client.post(f"/clarifications/{tid}/messages", headers=world["vendor_admin"].headers,
                             json={"body": "Calendrier : trois semaines."}), 201)
    # The buying side closes it: nothing more is posted, by either side.
    expect(await client.post(f"/clarifications/{tid}/close", headers=world["vendor_admin"].headers), 403)
    closed = expect(await client.post(f"/clarifications/{tid}/close", headers=evaluator), 200)
    assert closed["status"] == "closed" and closed["closedAt"]
    expect(await client.post(f"/clarifications/{tid}/close", headers=evaluator), 409)
    for person in ("vendor_admin", "buyer_evaluator"):
        shut = expect(await client.post(f"/clarifications/{tid}/messages", headers=world[person].headers,
                                        json={"body": "Encore un mot."}), 409)
        assert shut["type"].endswith("/clarification-closed")
    final = expect(await client.get(f"/clarifications/{tid}", headers=world["vendor_member"].headers), 200)
    assert [m["side"] for m in final["messages"]] == ["buyer", "vendor", "vendor", "buyer", "vendor"]

    # The offer is exactly as opened: its rows, its parts, its files, and the buyer's view of them.
    assert await offer_rows(settings, offer) == before
    assert expect(await client.get(f"/offers/{offer}/unsealed-parts", headers=evaluator), 200) == PARTS
    after = expect(await client.get(f"/specific-contracts/{cid}/offers", headers=evaluator), 200)
    strip = [{k: v for k, v in o.items() if k != "clarifications"} for o in after["offers"]]
    assert strip == [{k: v for k, v in o.items() if k != "clarifications"} for o in listed_before["offers"]]
    # Messages and files are append-only, in the database itself.
    for statement in ("UPDATE clarification_message SET body = 'réécrit'", "DELETE FROM clarification_attachment"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await fetch(settings, statement)

    # Every message is audited: who, when, the text's hash, the file's size and hash — never the text.
    events = await fetch(settings, "SELECT action, actor, details FROM audit_event WHERE target_id = $1 ORDER BY id",
                         tid)
    assert [e["action"] for e in events] == [
        "clarification.thread_opened", "clarification.message_posted", "clarification.message_posted",
        "clarification.message_posted", "clarification.answer_refused_late", "clarification.answer_refused_late",
        "clarification.message_posted", "clarification.message_posted", "clarification.thread_closed"]
    posted = [json.loads(e["details"]) for e in events if e["action"] == "clarification.message_posted"]
    assert [p["side"] for p in posted] == ["buyer", "vendor", "vendor", "buyer", "vendor"]
    assert posted[1]["body_sha256"] == hashlib.sha256(ANSWER.encode()).hexdigest()
    assert posted[2]["attachment"]["sha256"] == file["sha256"] and posted[2]["attachment"]["size"] == len(pdf)
    assert events[1]["actor"] == f"user:{world['buyer_evaluator'].user_id}"
    assert events[2]["actor"] == f"user:{world['vendor_admin'].user_id}"
    everything = json.dumps([dict(r) for r in await fetch(settings, "SELECT * FROM audit_event")], default=str)
    assert not [c for c in (QUESTION, ANSWER, FOLLOW_UP) if c in everything]
    downloads = await fetch(settings, "SELECT count(*) AS n FROM audit_event WHERE action = "
                                      "'clarification_attachment.downloaded' AND target_id = $1", file["id"])
    assert downloads[0]["n"] == 2

    # Each message told the other side, in its inbox and by mail: the buyer's questions to the vendor's admin
    # and bid manager, the vendor's answers to the buying organisation's admins and evaluators.
    told = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE about_id = $1 ORDER BY "
                                 "created_at, id", uuid.UUID(tid))
    to_vendor = [r for r in told if r["recipient_email"] == email_of("vendor_admin")]
    to_buyer = [r for r in told if r["recipient_email"] == email_of("buyer_admin")]
    assert len(to_vendor) == 2 and len(to_buyer) == 3
    assert len([r for r in told if r["recipient_email"] == email_of("buyer_evaluator")]) == 3
    assert {r["recipient_email"] for r in told} == {email_of(p) for p in ("vendor_admin", "buyer_admin",
                                                                          "buyer_evaluator")}
    assert not [r for r in told if any(c in r["body"] for c in (QUESTION, ANSWER, FOLLOW_UP))]
    await deliver_notifications(settings)
    assert len([m for m in mail_sink.to(world["vendor_admin"].email)
                if m["Subject"].startswith("Demande de précisions sur votre offre")]) == 2
    assert len([m for m in mail_sink.to(world["buyer_evaluator"].email)
                if m["Subject"].startswith("Réponse d'un soumissionnaire")]) == 3
    for person in ("other_vendor_admin", "other_buyer_admin", "third_vendor_admin"):
        assert not [m for m in mail_sink.to(world[person].email) if SUBJECT in m.get_content()]

    # The sweeper keeps the file, however old, while it deletes an orphan beside it.
    store = make_store(settings)
    key = (await fetch(settings, "SELECT object_key FROM clarification_attachment"))[0]["object_key"]
    assert key.startswith("clarifications/")
    orphan = ObjectStore.new_key("clarifications")
    await store.put_bytes(orphan, b"written, never committed")
    engine = create_async_engine(settings.database_url)
    try:
        grace = timedelta(minutes=settings.orphan_grace_minutes)
        later = FrozenClock(datetime.now(UTC) + grace + timedelta(minutes=1))
        await OrphanSweeper(async_sessionmaker(engine), store, later).sweep(grace, prefixes=("clarifications",))
    finally:
        await engine.dispose()
    assert await _exists(store, key) and not await _exists(store, orphan)


async def test_the_dialogue_ends_with_the_award(client: Client, world: World, clock: FrozenClock) -> None:
    cid, offers = await opened_contract(client, world, clock)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    thread = expect(await client.post(f"/offers/{offers['other_vendor_admin']}/clarifications", headers=admin,
                                      json=ask(clock.now() + timedelta(days=3))), 201)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    for person, mark in (("vendor_admin", 90), ("other_vendor_admin", 60), ("third_vendor_admin", 50)):
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=admin, json=scores(mark, mark)), 200)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json={
        "offerId": offers["vendor_admin"], "reasons": "Meilleure offre."}), 201)

    # After the award, no new thread, and no answer can inform it any more (the due date has not passed).
    late = expect(await client.post(f"/offers/{offers['vendor_admin']}/clarifications", headers=admin,
                                    json=ask(clock.now() + timedelta(days=3))), 409)
    assert late["rule"] == "G8"
    answer = expect(await client.post(f"/clarifications/{thread['id']}/messages",
                                      headers=world["other_vendor_admin"].headers, json={"body": ANSWER}), 409)
    assert answer["rule"] == "G8"
    # The thread stays readable by both sides, and the buying side still closes it.
    expect(await client.get(f"/clarifications/{thread['id']}", headers=world["other_vendor_admin"].headers), 200)
    assert expect(await client.post(f"/clarifications/{thread['id']}/close", headers=admin), 200)["status"] == "closed"
