"""Mail that can't be lost without anyone knowing: content can't break a delivery, addresses are ones we can
write to, and a delivery that still fails ends `failed`, in its recipient's inbox and the operators' list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock
from marketplace.notifications import jobs
from marketplace.settings import Settings
from marketplace.worker import worker_options
from tests.tenders.test_needs import cpv, create  # noqa: F401  (cpv: a fixture)
from tests.tenders.test_publication import admit, publish
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps, run_worker

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World

ZOE = "zoé@exemple.fr"
SUPPORT = {"name": "Claire Martin", "email": "claire.martin@ehpad-les-tilleuls.fr",
           "subject": "Candidature au SAD", "message": "Bonjour, comment candidater ?"}


async def notifications(settings: Settings, kind: str) -> list[dict[str, Any]]:
    rows = await fetch(settings, "SELECT recipient_email, subject, email_status::text AS status, attempts, "
                                 "failure_reason FROM notification WHERE kind = $1 ORDER BY recipient_email", kind)
    return [dict(r) for r in rows]


@pytest.fixture
async def utf8_client(settings: Settings) -> AsyncIterator[Client]:
    """The app of a platform whose relay offers SMTPUTF8 (MARKETPLACE_SMTP_UTF8=true)."""
    async with AsyncTestClient(app=create_app(settings.with_(smtp_utf8=True))) as client:
        yield client


# -- content: a line break can't break the mail --------------------------------------------------------


@pytest.mark.usefixtures("cpv")
async def test_a_need_title_with_a_line_break_reaches_every_invited_vendor_by_mail(
        client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink) -> None:
    """D8: invited in writing. The title's CR/LF made every invitation mail of the contract fail on its
    Subject header in the worker, while /my/invitations listed the contract."""
    dps = await open_dps(client, world, clock)
    target = categories_by_pair(dps)["grand_age", "saas"]
    for vendor in ("vendor_admin", "other_vendor_admin"):
        await admit(client, world, world[vendor], target)
    need = await create(client, world, title="Mise en conformité\r\ndu DUI\n\tgrand âge")
    expect(await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers), 200)
    contract = expect(await publish(client, world, need["id"], dps["id"],
                                    (clock.now() + timedelta(days=14)).isoformat()), 201)
    await run_worker(settings)

    subject = "Invitation à remettre une offre — Mise en conformité du DUI grand âge"
    for vendor in ("vendor_admin", "other_vendor_admin"):
        mails = [m for m in mail_sink.to(world[vendor].email) if "Invitation" in str(m["Subject"])]
        assert [str(m["Subject"]) for m in mails] == [subject], f"{vendor} was not told in writing"
        assert contract["id"] in mails[0].get_content()
        # The inbox shows what the mail says.
        inbox = expect(await client.get("/my/notifications", headers=world[vendor].headers), 200)
        invitation = next(i for i in inbox["items"] if i["kind"] == "tender.invitation")
        assert invitation["subject"] == subject and invitation["deliveryStatus"] == "sent"
    assert {n["status"] for n in await notifications(settings, "tender.invitation")} == {"sent"}


async def test_a_support_request_whose_subject_holds_cr_lf_reaches_the_support_desk(
        client: Client, settings: Settings, mail_sink: MailSink) -> None:
    request = {**SUPPORT, "subject": "Question\r\nBcc: victime@example.fr\r\n\r\nCorps injecté"}
    receipt = expect(await client.post("/support/requests", json=request), 201)
    await run_worker(settings)

    desk = mail_sink.to(settings.support_email)
    assert len(desk) == 1, "the support desk never got the request"
    assert str(desk[0]["Subject"]) == "[Support] Question Bcc: victime@example.fr Corps injecté"
    assert desk[0]["Bcc"] is None and mail_sink.to("victime@example.fr") == []  # no header injected
    assert len(mail_sink.to(SUPPORT["email"])) == 1  # the acknowledgement too
    stored = await notifications(settings, "support.request_received")
    assert stored[0]["subject"] == "[Support] Question Bcc: victime@example.fr Corps injecté"
    assert expect(await client.get(f"/support/requests/{receipt['id']}"), 200)["status"] == "forwarded"


async def test_a_subject_stored_with_a_line_break_before_the_fix_is_still_mailed(
        settings: Settings, mail_sink: MailSink) -> None:
    """Rows written before subjects were made safe are made safe again when the mail is built."""
    rows = await fetch(settings, "INSERT INTO notification (id, recipient_email, subject, body, kind, email_status, "
                                 "created_at, updated_at) VALUES (gen_random_uuid(), 'ancien@exemple.fr', "
                                 "E'Ancien\\r\\nsujet', 'Corps', 'legacy', 'pending', now(), now()) RETURNING id")
    await fetch(settings, "INSERT INTO job_intent (id, name, args, status, available_at, relay_attempts, created_at, "
                          "updated_at) VALUES (gen_random_uuid(), 'deliver_notification', jsonb_build_array($1::text), "
                          "'pending', now(), 0, now(), now())", str(rows[0]["id"]))
    async with AsyncTestClient(app=create_app(settings)):  # its relay hands the job to arq
        await run_worker(settings)
    [mail] = mail_sink.to("ancien@exemple.fr")
    assert str(mail["Subject"]) == "Ancien sujet"


# -- addresses: SMTPUTF8 where the relay offers it, else a 422 where the address enters ---------------------


async def test_a_non_ascii_address_is_refused_where_it_enters_when_the_relay_has_no_smtputf8(
        client: Client, world: World, settings: Settings) -> None:
    assert not settings.smtp_utf8  # the default
    refused = await client.post("/support/requests", json={**SUPPORT, "email": ZOE})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "email" and refused.json()["rule"] == "RFC 6531"
    holder = world.organisations["holder"]
    invited = await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                json={"email": ZOE, "roles": ["holder:member"]})
    assert invited.status_code == 422, invited.text
    assert invited.json()["field"] == "email"
    # Not an address at all, whatever the relay: a quoted local part or a control character.
    for address in ('"zoe martin"@exemple.fr', "zoe\x7f@exemple.fr", "zoe@exemple..fr"):
        response = await client.post("/support/requests", json={**SUPPORT, "email": address})
        assert response.status_code in (400, 422), (address, response.text)
    assert await fetch(settings, "SELECT id FROM notification") == []


async def test_a_non_ascii_address_is_mailed_with_smtputf8_when_the_relay_offers_it(
        utf8_client: Client, world: World, settings: Settings, mail_sink: MailSink) -> None:
    expect(await utf8_client.post("/support/requests", json={**SUPPORT, "email": ZOE}), 201)
    holder = world.organisations["holder"]
    expect(await utf8_client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                  json={"email": "Léa.Durand@exemple.fr", "roles": ["holder:member"]}), 201)
    await run_worker(settings)

    acknowledgements = mail_sink.to(ZOE)
    assert len(acknowledgements) == 1 and str(acknowledgements[0]["To"]) == ZOE
    assert len(mail_sink.to("léa.durand@exemple.fr")) == 1
    assert {n["status"] for n in await notifications(settings, "support.request_acknowledged")} == {"sent"}


async def test_a_relay_without_smtputf8_fails_the_delivery_visibly_and_for_good(
        utf8_client: Client, world: World, settings: Settings, mail_sink: MailSink) -> None:
    """Declared SMTPUTF8 but the server doesn't offer it: not retried, marked failed with the reason,
    listed for the operators. The ASCII copy for the support desk still goes."""
    old_sink = MailSink(smtputf8=False)
    old_sink.start()
    try:
        expect(await utf8_client.post("/support/requests", json={**SUPPORT, "email": ZOE}), 201)
        await run_worker(settings.with_(smtp_port=old_sink.port))
    finally:
        old_sink.stop()
    ack = (await notifications(settings, "support.request_acknowledged"))[0]
    assert ack["status"] == "failed" and ack["attempts"] == 1
    assert "SMTPUTF8" in ack["failure_reason"] and "not retried" in ack["failure_reason"]
    assert len(old_sink.to(settings.support_email)) == 1
    failed = expect(await utf8_client.get("/notifications/failed", headers=world["platform_admin"].headers), 200)
    assert [(f["recipientEmail"], f["kind"]) for f in failed["items"]] == [(ZOE, "support.request_acknowledged")]


# -- failures: retried while transient, then `failed`, seen by the recipient and the operators ---------------


async def _invite(client: Client, world: World, person: str) -> None:
    """A notification to `person`'s own address: the holder invites them to join it."""
    holder = world.organisations["holder"]
    expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                             json={"email": world[person].email, "roles": ["holder:member"]}), 201)


async def test_a_permanently_refused_recipient_is_failed_in_the_inbox_and_the_operators_list(
        client: Client, world: World, settings: Settings, mail_sink: MailSink) -> None:
    address = world["vendor_admin"].email
    mail_sink.refused[address] = "550 5.1.1 Recipient address rejected: User unknown"
    await _invite(client, world, "vendor_admin")
    await run_worker(settings)

    assert mail_sink.to(address) == []
    inbox = expect(await client.get("/my/notifications", headers=world["vendor_admin"].headers), 200)
    [item] = inbox["items"]
    assert item["deliveryStatus"] == "failed" and item["deliveryAttempts"] == 1
    assert "550 5.1.1" in item["deliveryFailure"] and "not retried" in item["deliveryFailure"]
    assert item["read"] is False and inbox["unread"] == 1

    operators = expect(await client.get("/notifications/failed", headers=world["platform_admin"].headers), 200)
    assert operators["total"] == 1
    [failed] = operators["items"]
    assert failed["id"] == item["id"] and failed["recipientEmail"] == address
    assert "550 5.1.1" in failed["failureReason"] and "body" not in failed
    assert (await client.get("/notifications/failed", headers=world["vendor_admin"].headers)).status_code == 403


async def test_a_delivery_left_unconfirmed_is_never_resent_and_is_listed_for_the_operators_once_stale(
        client: Client, world: World, settings: Settings, mail_sink: MailSink) -> None:
    """The server hangs up instead of answering the end of the message: delivered or not, the platform can't
    tell. The notification stays `sending`, no later run sends it again (no duplicate), and once older than a
    delivery takes, the operators' list shows it as unconfirmed, beside the failed ones."""
    from marketplace.notifications.inbox import UNCONFIRMED_AFTER

    address = world["vendor_admin"].email
    mail_sink.unanswered.add(address)
    await _invite(client, world, "vendor_admin")
    await run_worker(settings)
    mail_sink.unanswered.clear()
    await run_worker(settings)
    [row] = await fetch(settings, "SELECT id, email_status::text AS status, attempts, updated_at > created_at AS "
                                  "stamped FROM notification WHERE kind = 'accounts.invitation'")
    assert (row["status"], row["attempts"], row["stamped"]) == ("sending", 1, True)
    assert mail_sink.to(address) == []

    # Fresh, it may still be answered: not listed yet. Stale, it is, with what to do about it.
    operators = expect(await client.get("/notifications/failed", headers=world["platform_admin"].headers), 200)
    assert operators["total"] == 0
    await fetch(settings, "UPDATE notification SET updated_at = now() - $1::interval - interval '1 second' "
                          "WHERE id = $2", UNCONFIRMED_AFTER, row["id"])
    operators = expect(await client.get("/notifications/failed", headers=world["platform_admin"].headers), 200)
    [listed] = operators["items"]
    assert (listed["id"], listed["deliveryStatus"], listed["recipientEmail"]) == (str(row["id"]), "sending", address)
    assert listed["failureReason"].startswith("unconfirmed") and "body" not in listed


async def test_a_transient_refusal_is_retried_then_given_up_and_marked_failed(
        client: Client, world: World, settings: Settings, mail_sink: MailSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RETRY_DELAYS", (0, 0))
    monkeypatch.setattr(jobs, "MAX_ATTEMPTS", 3)
    address = world["vendor_admin"].email
    mail_sink.refused[address] = "451 4.7.1 Greylisted, try again later"
    await _invite(client, world, "vendor_admin")
    await run_worker(settings)

    [notification] = await notifications(settings, "accounts.invitation")
    assert notification["status"] == "failed" and notification["attempts"] == 3
    reason = notification["failure_reason"]
    assert "451 4.7.1" in reason and "gave up after 3 attempts" in reason
    failed = expect(await client.get("/notifications/failed", headers=world["platform_admin"].headers), 200)
    assert failed["total"] == 1


async def test_a_transient_refusal_is_retried_until_the_mail_goes(
        client: Client, world: World, settings: Settings, mail_sink: MailSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RETRY_DELAYS", (0, 0, 0))
    monkeypatch.setattr(jobs, "MAX_ATTEMPTS", 4)
    address = world["vendor_admin"].email

    class GreylistOnce(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            return self.pop(key, default)

    monkeypatch.setattr(mail_sink, "refused", GreylistOnce({address: "451 4.7.1 Greylisted, try again later"}))
    await _invite(client, world, "vendor_admin")
    await run_worker(settings)

    [notification] = await notifications(settings, "accounts.invitation")
    assert notification["status"] == "sent" and notification["attempts"] == 2
    assert len(mail_sink.to(address)) == 1


def test_the_job_gives_up_before_arq_does(settings: Settings) -> None:
    """arq stops calling a job past max_tries without a word: our last attempt must come first."""
    assert len(jobs.RETRY_DELAYS) + 1 == jobs.MAX_ATTEMPTS
    assert worker_options(settings)["max_tries"] > jobs.MAX_ATTEMPTS
