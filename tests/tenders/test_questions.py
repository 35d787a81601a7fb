"""Questions and answers on a specific contract (issue 5): invited vendors ask, the buyer answers, and the
answer is published to every invitee without the asker; questions close at a date the buyer sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import Client, audit_actions, categories_by_pair, expect, fetch, open_dps
from tests.world import ORGANISATIONS, World

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: E402, F401

pytestmark = pytest.mark.usefixtures("cpv")




async def open_contract(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    """A contract with two invitees (`vendor`, `other_vendor`); `third_vendor` is admitted elsewhere."""
    dps = await open_dps(client, world, clock)
    cat = categories_by_pair(dps)
    await admit(client, world, world["vendor_admin"], cat["grand_age", "saas"])
    await admit(client, world, world["other_vendor_admin"], cat["grand_age", "saas"])
    await admit(client, world, world["third_vendor_admin"], cat["grand_age", "hosted"])
    need = await submitted_need(client, world)
    contract = expect(await publish(client, world, need["id"], dps["id"],
                                    (clock.now() + timedelta(days=12)).isoformat()), 201)
    assert contract["invitationCount"] == 2
    return dict(contract)


def questions_url(contract: dict[str, Any]) -> str:
    return f"/specific-contracts/{contract['id']}/questions"


async def test_an_answered_question_is_published_to_every_invitee_without_its_asker(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    url = questions_url(contract)
    text = "La reprise des données de l'ancien logiciel est-elle comprise dans le prix ?"

    asked = expect(await client.post(url, headers=world["vendor_admin"].headers, json={"question": text}), 201)
    assert asked["mine"] is True and asked["published"] is False
    assert "vendorOrganisationId" not in asked and "askedBy" not in asked

    # Before the answer: the asker's organisation sees its own question, the other invitee nothing.
    own = expect(await client.get(url, headers=world["vendor_member"].headers), 200)
    assert [(q["id"], q["mine"]) for q in own] == [(asked["id"], True)]
    assert expect(await client.get(url, headers=world["other_vendor_admin"].headers), 200) == []
    # The buyer sees who asked.
    seen = expect(await client.get(url, headers=world["buyer_evaluator"].headers), 200)
    assert seen[0]["vendorOrganisationId"] == str(world.organisations["vendor"])
    assert seen[0]["askedBy"] == f"user:{world['vendor_admin'].user_id}"

    # Outsiders: a vendor not invited, another buyer; a vendor's plain member may not ask.
    for person in ("third_vendor_admin", "other_buyer_admin"):
        assert (await client.get(url, headers=world[person].headers)).status_code == 404
    assert (await client.post(url, headers=world["third_vendor_admin"].headers,
                              json={"question": "?"})).status_code == 404
    assert (await client.post(url, headers=world["vendor_member"].headers, json={"question": "?"})).status_code == 403

    # The buyer answers: published to every invitee.
    answer_url = f"{url}/{asked['id']}/answer"
    assert (await client.post(answer_url, headers=world["other_buyer_admin"].headers,
                              json={"answer": "Non."})).status_code == 404
    answered = expect(await client.post(answer_url, headers=world["buyer_evaluator"].headers,
                                        json={"answer": "Oui, pour les cinq dernières années."}), 200)
    assert answered["published"] is True
    assert (await client.post(answer_url, headers=world["buyer_admin"].headers,
                              json={"answer": "Encore."})).status_code == 409

    response = await client.get(url, headers=world["other_vendor_admin"].headers)
    published = expect(response, 200)
    assert published == [{"id": asked["id"], "question": text, "askedAt": asked["askedAt"], "published": True,
                          "answer": "Oui, pour les cinq dernières années.", "answeredAt": answered["answeredAt"],
                          "mine": False}]
    # No trace of the asker anywhere in what the other invitee receives.
    vendor_a = world.organisations["vendor"]
    for trace in (str(vendor_a), ORGANISATIONS["vendor"][0], world["vendor_admin"].email,
                  str(world["vendor_admin"].user_id), world["vendor_member"].email, "askedBy",
                  "vendorOrganisationId"):
        assert trace not in response.text
    # Still nothing for a vendor that wasn't invited.
    assert (await client.get(url, headers=world["third_vendor_admin"].headers)).status_code == 404

    # One notification per admin or bid manager of every invitee; none names the asker.
    notified = await fetch(settings, "SELECT recipient_email, subject, body, about_id FROM notification "
                                     "WHERE kind = 'tenders.qa_published'")
    assert sorted(r["recipient_email"] for r in notified) == sorted(
        [world["vendor_admin"].email, world["other_vendor_admin"].email])
    for row in notified:
        assert str(row["about_id"]) == contract["id"] and text in row["body"]
        assert ORGANISATIONS["vendor"][0] not in row["body"] and str(vendor_a) not in row["body"]
    intents = await fetch(settings, "SELECT n.id FROM notification n JOIN job_intent j "
                                    "ON j.args = jsonb_build_array(n.id::text) AND j.name = 'deliver_notification' "
                                    "WHERE n.kind = 'tenders.qa_published'")
    assert len(intents) == 2

    assert await audit_actions(settings, asked["id"]) == ["contract_question.asked", "contract_question.answered"]
    details = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'contract_question.answered'")
    assert '"notified": 2' in details[0]["details"]


async def test_questions_close_at_the_date_the_buyer_sets(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    url = questions_url(contract)
    deadline = datetime.fromisoformat(contract["tenderDeadline"])
    # Unset, questions close four days before the tender deadline.
    assert datetime.fromisoformat(contract["questionsCloseAt"]) == deadline - timedelta(days=4)

    deadline_url = f"/specific-contracts/{contract['id']}/questions-deadline"
    closes_at = clock.now() + timedelta(days=2)
    assert (await client.post(deadline_url, headers=world["buyer_evaluator"].headers,
                              json={"closesAt": closes_at.isoformat()})).status_code == 403
    assert (await client.post(deadline_url, headers=world["other_buyer_admin"].headers,
                              json={"closesAt": closes_at.isoformat()})).status_code == 404
    late = expect(await client.post(deadline_url, headers=world["buyer_admin"].headers,
                                    json={"closesAt": deadline.isoformat()}), 422)
    assert late["field"] == "closesAt"
    # A naive time is Paris local time (winter: UTC+1).
    local = closes_at.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=1)
    updated = expect(await client.post(deadline_url, headers=world["buyer_admin"].headers,
                                       json={"closesAt": local.isoformat()}), 200)
    assert datetime.fromisoformat(updated["questionsCloseAt"]) == closes_at
    assert updated["questionsCloseAtParis"].endswith("(heure de Paris, UTC+1)")
    assert await audit_actions(settings, contract["id"]) == ["specific_contract.published",
                                                             "specific_contract.questions_deadline_set"]

    clock.set(closes_at - timedelta(seconds=1))
    expect(await client.post(url, headers=world["other_vendor_admin"].headers, json={"question": "Juste à temps ?"}),
           201)
    clock.set(closes_at)
    refused = expect(await client.post(url, headers=world["vendor_admin"].headers, json={"question": "Trop tard ?"}),
                     409)
    assert "closed" in refused["detail"]
    assert len(await fetch(settings, "SELECT id FROM contract_question")) == 1
