"""A specific contract declared sans suite through the API (machine (c): any pre-contract state
--declare_sans_suite(reasons)--> CANCELLED): by the buying organisation's admin only, with reasons; every
invitee told (inbox and mail); the live award cancelled and a pending contract abandoned with it; and after
it nothing moves — offers, opening, evaluation, D15, award, contract, signature all answer 409 — while the
offers received before stay sealed. A contracted specific contract can't be declared sans suite."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_abnormally_low import REASONS as ALT_REASONS
from tests.awards.test_abnormally_low import evaluation
from tests.awards.test_award import VENDORS, scores
from tests.awards.test_contract import awarded_contract, sign
from tests.tenders.test_offers import DEADLINE, open_contract, open_offers, prepared_offer, submit
from tests.vendors.api import Client, deliver_notifications, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")
REASONS = "Le besoin a été redéfini : le porteur de projet regroupe ce lot avec un autre établissement."


async def cancel(client: Client, world: World, cid: str, person: str = "buyer_admin",
                 reasons: str = REASONS) -> object:
    return await client.post(f"/specific-contracts/{cid}/cancellation", headers=world[person].headers,
                             json={"reasons": reasons})


async def told(settings: Settings, cid: str) -> dict[str, str]:
    rows = await fetch(settings, "SELECT recipient_email, body FROM notification WHERE kind = 'tender.cancelled' "
                       "AND about_id = $1", uuid.UUID(cid))
    return {r["recipient_email"]: r["body"] for r in rows}


async def test_cancelled_while_open_tells_every_invitee_and_freezes_everything(
        client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink) -> None:
    contract = await open_contract(client, world, clock)  # `vendor` and `other_vendor` invited, not `third_vendor`
    cid = contract["id"]
    sealed = await prepared_offer(client, world, cid)
    expect(await submit(client, world, sealed["id"]), 200)
    draft = await prepared_offer(client, world, cid, "other_vendor_admin")

    # Only the buying organisation's admin, with reasons.
    expect(await cancel(client, world, cid, "buyer_evaluator"), 403)
    expect(await cancel(client, world, cid, "vendor_admin"), 403)
    expect(await cancel(client, world, cid, "other_buyer_admin"), 404)
    expect(await client.post(f"/specific-contracts/{cid}/cancellation", headers=world["buyer_admin"].headers,
                             json={"reasons": ""}), 400)
    done = expect(await cancel(client, world, cid), 200)
    assert (done["status"], done["previousStatus"], done["reasons"]) == ("cancelled", "open", REASONS)
    assert (done["cancelledAwardId"], done["abandonedContractId"]) == (None, None)
    # Every invitee's admins and bid managers (one person each here), nobody else.
    assert done["notified"] == 2
    inbox = await told(settings, cid)
    assert set(inbox) == {email_of("vendor_admin"), email_of("other_vendor_admin")}
    assert all(REASONS in body and "sans suite" in body for body in inbox.values())
    await deliver_notifications(settings)
    for person in ("vendor_admin", "other_vendor_admin"):
        mails = [m for m in mail_sink.to(email_of(person)) if "sans suite" in m["Subject"]]
        assert len(mails) == 1 and REASONS in mails[0].get_content()
    assert not [m for m in mail_sink.to(email_of("third_vendor_admin")) if "sans suite" in m["Subject"]]
    shown = expect(await client.get(f"/specific-contracts/{cid}", headers=world["vendor_member"].headers), 200)
    assert shown["status"] == "cancelled"

    # Final: not again, and nothing moves — no offer prepared, submitted or withdrawn.
    assert expect(await cancel(client, world, cid), 409)["rule"] == "G8"
    expect(await client.post(f"/specific-contracts/{cid}/offers", headers=world["vendor_admin"].headers), 409)
    expect(await submit(client, world, draft["id"], "other_vendor_admin"), 409)
    expect(await client.post(f"/offers/{sealed['id']}/withdraw", headers=world["vendor_admin"].headers), 409)
    # At the deadline nobody opens the offers: they stay sealed, their content never released (D13).
    clock.set(DEADLINE)
    expect(await open_offers(client, world, cid), 409)
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=world["buyer_admin"].headers), 409)
    rows = await fetch(settings, "SELECT o.status, k.released_key FROM offer o JOIN contract_key k "
                       "ON k.specific_contract_id = o.specific_contract_id WHERE o.id = $1", uuid.UUID(sealed["id"]))
    assert [(r["status"], r["released_key"]) for r in rows] == [("submitted", None)]
    sealed_read = expect(await client.get(f"/offers/{sealed['id']}/unsealed-parts",
                                          headers=world["buyer_admin"].headers), 403)
    assert sealed_read["rule"] == "D13"

    record = await fetch(settings, "SELECT previous_status, reasons, notified FROM sans_suite_declaration "
                         "WHERE specific_contract_id = $1", uuid.UUID(cid))
    assert [(r["previous_status"], r["reasons"], r["notified"]) for r in record] == [("open", REASONS, 2)]
    audited = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'specific_contract.cancelled' "
                          "AND target_id = $1", cid)
    assert len(audited) == 1 and REASONS in audited[0]["details"]


async def test_cancelled_in_standstill_cancels_the_award_and_abandons_the_pending_contract(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, award = await awarded_contract(client, world, clock, standstill=True)
    admin = world["buyer_admin"].headers
    contract = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                        json={"amountCents": 2_000_000}), 201)
    kid = contract["id"]

    done = expect(await cancel(client, world, cid), 200)
    assert (done["previousStatus"], done["cancelledAwardId"], done["abandonedContractId"]) == (
        "standstill", award["id"], kid)
    assert done["notified"] == 3  # the three invited vendors, the awardee included
    assert set(await told(settings, cid)) == {email_of(p) for p in VENDORS}
    rows = await fetch(settings, "SELECT (SELECT status FROM award WHERE id = $1) AS award, "
                       "(SELECT status FROM contract WHERE id = $2) AS contract", uuid.UUID(award["id"]),
                       uuid.UUID(kid))
    assert (rows[0]["award"], rows[0]["contract"]) == ("cancelled", "cancelled")
    abandoned = expect(await client.get(f"/contracts/{kid}", headers=world["vendor_member"].headers), 200)
    assert abandoned["transitions"][-1] == {"fromStatus": "pending", "toStatus": "cancelled", "action": "abandon",
                                            "at": abandoned["transitions"][-1]["at"], "reasons": REASONS}
    awardee = await fetch(settings, "SELECT body FROM notification WHERE kind = 'contract.cancelled' AND "
                          "recipient_email = $1", email_of("vendor_admin"))
    assert len(awardee) == 1 and REASONS in awardee[0]["body"]

    # Nothing moves: no signature (even once the standstill is over), no new contract, award, score or result.
    clock.advance(timedelta(days=12))
    for person in ("buyer_admin", "vendor_admin"):
        expect(await sign(client, world, kid, person, minimal_pdf(f"trop tard {person}")), 409)
    expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin, json={"amountCents": 1}), 409)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin,
                             json={"offerId": award["offerId"], "reasons": "Encore."}), 409)
    expect(await client.put(f"/offers/{award['offerId']}/scores", headers=admin, json=scores(1, 1)), 409)
    expect(await client.post(f"/offers/{award['offerId']}/rejection", headers=admin,
                             json={"grounds": "irregular", "reasons": "?"}), 409)
    assert expect(await cancel(client, world, cid), 409)["rule"] == "G8"
    # The vendors learn there is no award any more, not that it is still to come.
    result = expect(await client.get(f"/specific-contracts/{cid}/my-evaluation",
                                     headers=world["vendor_member"].headers), 409)
    assert "sans suite" in result["detail"]
    signatures = await fetch(settings, "SELECT count(*) AS n FROM contract_signature WHERE contract_id = $1",
                             uuid.UUID(kid))
    assert signatures[0]["n"] == 0


async def test_cancelled_during_evaluation_closes_a_pending_abnormally_low_procedure(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, offers = await evaluation(client, world, clock)
    b = offers["other_vendor_admin"]
    path = f"/offers/{b}/abnormally-low"
    due = clock.now() + timedelta(days=5)
    expect(await client.post(path, headers=world["buyer_evaluator"].headers,
                             json={"reasons": ALT_REASONS, "justificationDueAt": due.isoformat()}), 201)
    assert expect(await cancel(client, world, cid), 200)["previousStatus"] == "evaluation"
    # The procedure is on record but nothing of it moves any more; nor does the rest of the evaluation.
    for response in (
        await client.post(f"{path}/justification", headers=world["other_vendor_admin"].headers,
                          json={"text": "Justification."}),
        await client.put(f"{path}/justification/document", content=minimal_pdf("j"),
                         headers={**world["other_vendor_admin"].headers, "content-type": "application/pdf"}),
        await client.post(f"{path}/decision", headers=world["buyer_admin"].headers,
                          json={"accepted": True}),
        await client.post(f"/offers/{offers['vendor_admin']}/abnormally-low", headers=world["buyer_evaluator"].headers,
                          json={"reasons": ALT_REASONS, "justificationDueAt": due.isoformat()}),
        await client.put(f"/offers/{b}/scores", headers=world["buyer_evaluator"].headers, json=scores(50, 50)),
    ):
        assert (response.status_code, response.json()["rule"]) == (409, "G8"), response.text
    assert expect(await client.get(path, headers=world["other_vendor_member"].headers), 200)["status"] == \
        "justification_requested"


async def test_a_contracted_specific_contract_is_not_declared_sans_suite(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": 900_000}), 201)["id"]
    for person in ("buyer_admin", "vendor_admin"):
        expect(await sign(client, world, kid, person, minimal_pdf(f"signé {person}")), 201)
    refused = expect(await cancel(client, world, cid), 409)
    assert refused["rule"] == "G8" and "contracted" in refused["detail"]
    assert await told(settings, cid) == {}
    contract = expect(await client.get(f"/contracts/{kid}", headers=world["buyer_admin"].headers), 200)
    assert contract["status"] == "active"
